#!/usr/bin/env bash
# Make .venv with openclrs installed (editable) plus its test tools.
# A torch that is already installed system-wide (say, your CUDA build) is reused;
# otherwise torch==2.13.0 is installed (on Linux from PyPI that is a CUDA build;
# where a local CPU wheel is on disk, pip takes that).
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv --system-site-packages .venv
fi
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
  .venv/bin/python -m pip install -q torch==2.13.0
fi
.venv/bin/python -m pip install -q -e ".[test]" "setuptools>=77"
