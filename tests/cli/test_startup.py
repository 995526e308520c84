"""The command line's shape: every command module imports alone (no import
circle), --help pages import nothing heavy, each group keeps its defaults."""

from __future__ import annotations

import json

import pytest

from openclrs.cli import COMMANDS, build_parser, main

from .helpers import run_python

CLI_MODULES = ["arguments", "policy", "engine", "training", "text", "lm"]


@pytest.mark.parametrize("module", CLI_MODULES)
def test_each_command_module_imports_alone(module):
    done = run_python(f"import openclrs.cli.{module} as m; print(m.__name__)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"openclrs.cli.{module}"


# --help of each page, and the heavy modules it must not import. Building a
# parser needs argparse and the spec table, nothing that computes.
HEAVY = ("torch", "numpy", "safetensors", "matplotlib", "pyarrow", "transformers")
HELP_PAGES = {page: HEAVY for page in (
    "--help", "list --help", "show --help", "generate --help", "train --help",
    "evaluate --help", "plot --help", "text --help", "text generate --help", "text config --help",
    "text train --help", "text evaluate --help")}


@pytest.mark.parametrize("page", HELP_PAGES)
def test_help_imports_nothing_heavy(page):
    """`--help` took 1.65 s when the CLI imported torch and numpy to build its
    parser; the module list is checked rather than the time, which varies."""
    code = ("import json, sys\nfrom openclrs.cli import main\n"
            f"try:\n    main({page.split()!r})\nexcept SystemExit as e:\n    code = e.code\n"
            "print(json.dumps([code, sorted(m for m in sys.modules if '.' not in m)]),"
            " file=sys.stderr)")
    done = run_python(code)
    status, modules = json.loads(done.stderr.strip().splitlines()[-1])
    assert status == 0 and "usage: openclrs" in done.stdout
    assert not set(modules) & set(HELP_PAGES[page]), f"{page} imports " \
        f"{sorted(set(modules) & set(HELP_PAGES[page]))}"


def test_command_table_matches_the_groups():
    """`openclrs --help` lists commands from COMMANDS without importing their
    modules; each module's own registration says the same."""
    full = build_parser()
    sub = next(a for a in full._actions if a.dest == "command")
    assert list(sub.choices) == list(COMMANDS)
    helps = {a.dest: a.help for a in sub._choices_actions}
    assert helps == {name: help_text for name, (_, help_text) in COMMANDS.items()}


def test_engine_and_diagnose_take_their_help_line_from_commands(monkeypatch):
    """list, show, generate and diagnose register with cli.arguments.add_command:
    their line in `openclrs --help` is COMMANDS' own, not a copy."""
    import openclrs.cli as cli

    names = ("list", "show", "generate", "diagnose")
    table = {name: (module, f"{name}: the table's line" if name in names else line)
             for name, (module, line) in COMMANDS.items()}
    monkeypatch.setattr(cli, "COMMANDS", table)
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    helps = {a.dest: a.help for a in sub._choices_actions}
    assert {name: helps[name] for name in names} == {name: table[name][1] for name in names}


def test_text_config_keeps_the_text_default(capsys):
    """The top-level CLI once set num_samples=1000 for any command with
    --lengths; the text split's own default is 10,000."""
    assert main(["text", "config", "--lengths", "8", "--algorithms", "bfs"]) == 0
    out = capsys.readouterr().out
    assert "x 10,000 examples" in out and "= 10,000 examples" in out
