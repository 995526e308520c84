"""The README's Python examples run as written (each block on its own, in a
fresh interpreter, with a temporary data folder)."""

import os
import re
import subprocess
import sys

import pytest

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


def python_blocks() -> list[tuple[int, str]]:
    with open(README, encoding="utf-8") as f:
        text = f.read()
    return [(text.count("\n", 0, m.start()) + 1, m.group(1))
            for m in re.finditer(r"```python\n(.*?)```", text, re.S)]


def test_the_readme_has_examples():
    assert len(python_blocks()) >= 4


@pytest.mark.parametrize("line, code", python_blocks(), ids=lambda v: f"line{v}"
                         if isinstance(v, int) else "")
def test_readme_example_runs(line, code, tmp_path):
    env = {**os.environ, "OPENCLRS_DATA_DIR": str(tmp_path / "data"), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"README.md line {line}:\n{done.stderr[-3000:]}"
