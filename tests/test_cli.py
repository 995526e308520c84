"""The top-level ``openclrs`` command (more in tests/cli/)."""

import json

import pytest

from openclrs.cli import main


def test_show_prints_every_step(capsys):
    assert main(["show", "insertion_sort", "--length", "5", "--seed", "2"]) == 0
    out = capsys.readouterr().out
    assert "5 hint steps" in out and "hints, step 4" in out and "outputs" in out
    assert main(["show", "insertion_sort", "--length", "5", "--step", "-1"]) == 0
    out = capsys.readouterr().out
    assert "hints, step 4" in out and "hints, step 3" not in out


def test_unknown_algorithm_suggests(capsys):
    with pytest.raises(SystemExit):
        main(["show", "insertion_srot"])
    assert "did you mean 'insertion_sort'" in capsys.readouterr().err


def test_bad_values(capsys):
    with pytest.raises(SystemExit):
        main(["show", "insertion_sort", "--length", "0"])
    assert "positive integer" in capsys.readouterr().err
    assert main(["show", "insertion_sort", "--option", "p=0.5"]) == 2
    assert capsys.readouterr().err == ("error: the insertion_sort sampler has no "
                                       "option p; its options are high, low\n")


def test_generate_custom_set(tmp_path, capsys):
    args = ["generate", "--root", str(tmp_path), "--name", "mine", "--algorithms",
            "insertion_sort", "--lengths", "5", "8", "--num-samples", "3", "--seed", "4",
            "--quiet", "--workers", "1"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "6 samples" in out
    manifest = json.load(open(tmp_path / "mine" / "manifest.json"))
    assert set(manifest["parts"]) == {"insertion_sort/custom_n5.safetensors",
                                      "insertion_sort/custom_n8.safetensors"}
    assert main(args[:-3] + ["--option", "p=0.1", "--quiet"]) == 2
    assert "no option" in capsys.readouterr().err
    assert main(["generate", "--root", str(tmp_path), "--num-samples", "3"]) == 2
    assert "need --lengths" in capsys.readouterr().err
