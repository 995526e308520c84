"""Running ``openclrs`` as a user does: a fresh interpreter, its exit status,
its stdout and stderr."""

from __future__ import annotations

import os
import subprocess
import sys

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}


def run_cli(*args, stdout=subprocess.PIPE, timeout=120, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "openclrs", *map(str, args)], stdout=stdout,
                          stderr=subprocess.PIPE, text=True, env=ENV, timeout=timeout, **kwargs)


def run_python(code: str, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=ENV, timeout=timeout)


def one_line_error(err: str) -> str:
    """The single ``error: ...`` line a user error prints (no traceback)."""
    lines = err.strip().splitlines()
    assert "Traceback" not in err, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]
