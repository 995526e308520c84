"""A missing optional package is one line naming the pip extra that brings it."""

import subprocess
import sys

BLOCK = """
import sys
class Block:  # as if the package were not installed
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] == {name!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
sys.meta_path.insert(0, Block())
from openclrs.cli import main
sys.exit(main({argv!r}))
"""


def run_without(package, argv, tmp_path):
    return subprocess.run([sys.executable, "-c", BLOCK.format(name=package, argv=argv)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)


def test_training_without_torch_names_the_extra(tmp_path):
    done = run_without("torch", ["train", "--algorithm", "bfs", "--steps", "1",
                                 "--out", str(tmp_path / "run")], tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines()[-1] == \
        'error: torch is not installed: pip install "openclrs[torch]"'
    assert not (tmp_path / "run").exists()


def test_checkpoints_without_safetensors_name_the_extra(tmp_path):
    run = str(tmp_path / "run")
    subprocess.run([sys.executable, "-m", "openclrs", "text", "train", "--algorithms", "minimum",
                    "--lengths", "4", "--steps", "2", "--n-layer", "1", "--n-embd", "16",
                    "--n-head", "2", "--threads", "1", "--out", run, "--quiet"], check=True,
                   cwd=tmp_path, timeout=300)
    done = run_without("safetensors", ["text", "evaluate", "--checkpoint", run, "--lengths", "4",
                                       "--num-samples", "1", "--quiet"], tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        "error: safetensors is not installed (needed to read a checkpoint): "
        'pip install "openclrs[torch]"')


def test_text_evaluate_without_torch_names_the_extra(tmp_path):
    """The LM commands import torch plainly: the exit policy says what to install."""
    done = run_without("torch", ["text", "evaluate", "--checkpoint", str(tmp_path),
                                 "--lengths", "4"], tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines()[-1] == \
        'error: torch is not installed: pip install "openclrs[torch]"'


def test_a_missing_module_inside_an_installed_package_is_a_bug():
    from openclrs.cli import policy

    assert policy.is_user_error(ModuleNotFoundError("No module named 'torch'", name="torch"))
    inside = ModuleNotFoundError("No module named 'torch.nonexistent'", name="torch.nonexistent")
    assert not policy.is_user_error(inside)  # torch is installed: a traceback, exit 1
