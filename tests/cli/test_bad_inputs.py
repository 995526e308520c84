"""Bad command-line input gets one clear line naming what is wrong (exit 2),
never a traceback: paths in the way, numbers out of range, damaged files."""

from __future__ import annotations

import os

import pytest

from openclrs.cli import main

from .helpers import one_line_error

TINY = ["--algorithms", "bfs", "--lengths", "4", "--num-samples", "2", "--quiet",
        "--workers", "1"]


def error_of(capsys, *argv) -> str:
    assert main(list(map(str, argv))) == 2
    return one_line_error(capsys.readouterr().err)


def usage_error_of(capsys, *argv) -> str:
    with pytest.raises(SystemExit) as exit_:
        main(list(map(str, argv)))
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("usage: ")
    return err.strip().splitlines()[-1]


@pytest.fixture
def a_file(tmp_path):
    path = tmp_path / "afile"
    path.write_text("not a folder")
    return path


def test_root_is_a_file(capsys, a_file):
    assert str(a_file) in error_of(capsys, "generate", "--root", a_file, *TINY)
    assert str(a_file) in error_of(capsys, "generate", "--root", a_file / "below", *TINY)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_root_not_writable(capsys, tmp_path):
    tmp_path.chmod(0o500)
    try:
        assert "permission denied" in error_of(capsys, "generate", "--root", tmp_path / "d",
                                               *TINY).lower()
    finally:
        tmp_path.chmod(0o700)


def test_numbers_out_of_range(capsys, tmp_path):
    line = error_of(capsys, "generate", "--root", tmp_path, "--truncate-decimals", "400", *TINY)
    assert "truncate_decimals" in line and "400" in line
    for command in (["show", "dijkstra"], ["generate", "--root", tmp_path, *TINY]):
        line = usage_error_of(capsys, *command, "--option", "high=1e999")
        assert "high=1e999: numbers must be finite" in line
        line = usage_error_of(capsys, *command, "--option", "p=(0.1,-1e999)")
        assert "numbers must be finite" in line


def test_option_given_twice(capsys, tmp_path):
    for command in (["show", "bfs"], ["generate", "--root", tmp_path, *TINY]):
        line = usage_error_of(capsys, *command, "--option", "p=0.2", "--option", "p=0.3")
        assert "p given twice (p=0.2 and p=0.3)" in line


def test_damaged_manifest(capsys, tmp_path):
    args = ["generate", "--root", tmp_path, "--name", "mine", *TINY]
    assert main(list(map(str, args))) == 0
    capsys.readouterr()
    manifest = tmp_path / "mine" / "manifest.json"
    manifest.write_text('{"parts": ')
    line = error_of(capsys, *args)
    assert str(manifest) in line and "delete" in line


def test_text_out_is_a_file(capsys, a_file):
    assert str(a_file) in error_of(capsys, "text", "generate", "--out", a_file, "--name", "x",
                                   *TINY)


def test_text_hf_model_not_a_model(capsys, tmp_path):
    line = error_of(capsys, "text", "evaluate", "--hf-model", tmp_path, "--algorithms", "bfs",
                    "--lengths", "4", "--num-samples", "1")
    assert str(tmp_path) in line


def test_run_folders(capsys, tmp_path, a_file):
    """`train --out FILE`, `text train --out FILE`, `text train --device cuda`
    without CUDA, and a damaged run config.json."""
    torch = pytest.importorskip("torch")
    assert str(a_file) in error_of(capsys, "train", "--algorithm", "bfs", "--steps", "1",
                                   "--out", a_file, "--quiet")
    text_train = ["text", "train", "--algorithms", "bfs", "--lengths", "4", "--steps", "1",
                  "--quiet"]
    assert str(a_file) in error_of(capsys, *text_train, "--out", a_file)
    if not torch.cuda.is_available():
        line = error_of(capsys, *text_train, "--out", tmp_path / "run", "--device", "cuda")
        assert "cuda" in line.lower() and "--device cpu" in line
        assert not (tmp_path / "run").exists()
    run = tmp_path / "damaged"
    run.mkdir()
    (run / "config.json").write_text('{"algorithms": ["bfs"')
    assert str(run / "config.json") in error_of(capsys, "evaluate", "--run", run)


@pytest.mark.parametrize("command", [
    ["train", "--algorithm", "bfs", "--steps", "1", "--quiet"],
    ["text", "train", "--algorithms", "bfs", "--lengths", "4", "--steps", "1", "--quiet"],
    ["text", "evaluate", "--hf-model", ".", "--algorithms", "bfs", "--lengths", "4"],
])
def test_unknown_device(capsys, tmp_path, command):
    """torch raises RuntimeError for a device name it does not know: the
    trainers check the setting first (openclrs.devices.check_device)."""
    pytest.importorskip("torch")
    line = error_of(capsys, *command, "--out", tmp_path / "run", "--device", "foo")
    assert "'foo'" in line and "--device" in line
    assert not (tmp_path / "run").exists()


def test_options_that_would_be_ignored_or_half_done(capsys, tmp_path):
    """--splits with a custom set, a picture name that is not .png, a bad
    --gif name (refused before the PNG is drawn)."""
    assert "--splits picks canonical splits" in error_of(
        capsys, "generate", "--root", tmp_path / "d", "--splits", "test", *TINY)
    assert "ending in .png" in error_of(capsys, "plot", "bfs", "--out", tmp_path / "x.svg")
    assert not (tmp_path / "x.svg").exists()
    assert "ending in .gif" in error_of(capsys, "plot", "bfs", "--out", tmp_path / "p.png",
                                        "--gif", tmp_path / "y.png")
    assert not (tmp_path / "p.png").exists()
    assert "--device goes only with --run" in error_of(capsys, "plot", "bfs", "--out",
                                                       tmp_path / "p.png", "--device", "cpu")


def test_diagnose_out_in_the_way_is_refused_before_the_model_loads(capsys, a_file):
    line = error_of(capsys, "diagnose", "tasks", "--checkpoint", a_file.parent / "nothing",
                    "--out", a_file)
    assert "--out" in line and "a folder is needed" in line
