"""The layout is one way down: trace engine -> data -> models -> training ->
text -> lm -> capability subpackages -> cli. A module imports only from its own
layer or the layers below it (function-level imports included), so that the
core never depends on what is built on it."""

import ast
import os

import openclrs

ROOT = os.path.dirname(openclrs.__file__)

# top-level module or subpackage of openclrs -> its layer
LAYERS = {
    # the trace engine and the bottom layer every part may use
    "files": 0, "extras": 0, "devices": 0, "specs": 0, "probes": 0, "footprint": 0,
    "algorithms": 0, "samplers": 0, "transforms": 0, "display": 0,
    "sparse": 0, "distributions": 0,
    "data": 1,
    "models": 2,
    "training": 3,
    "text": 4,
    # the language-model harness of CLRS-Text, which TransNAR and the
    # diagnostics build on
    "lm": 5,
    # capabilities: each imports the core, nothing in the core imports them,
    # and none imports another
    "compat": 6, "pictures": 6, "halting": 6, "diagnostics": 6, "transnar": 6,
    "cli": 7, "__main__": 7,
}
CAPABILITIES = {"compat", "pictures", "halting", "diagnostics", "transnar"}


def modules():
    for folder, _, names in os.walk(ROOT):
        for name in names:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                relative = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
                yield relative, path


def openclrs_imports(relative: str, path: str) -> set[str]:
    """The top-level openclrs parts that the module at ``path`` imports."""
    package = relative.split(".")[:-1]  # (for an __init__, its own package)
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name.split(".") for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - (node.level - 1)]
                target = base + (node.module.split(".") if node.module else [])
                if not target:  # `from . import x` at the top of openclrs
                    targets = [[a.name] for a in node.names]
                else:
                    targets = [target + ([a.name] if not node.module and len(base) == 0
                                         else []) for a in node.names]
                targets = [["openclrs"] + t for t in targets]
            else:
                targets = [node.module.split(".")] if node.module else []
        else:
            continue
        for t in targets:
            if t and t[0] == "openclrs" and len(t) > 1:
                found.add(t[1])
    return found


def test_every_part_has_a_layer():
    parts = {relative.split(".")[0] for relative, _ in modules()} - {"__init__"}
    assert parts <= set(LAYERS), f"give these a layer in tests/test_layout.py: " \
                                 f"{sorted(parts - set(LAYERS))}"


def test_imports_go_one_way_down():
    wrong = []
    for relative, path in modules():
        part = relative.split(".")[0]
        if part == "__init__":
            continue
        for used in openclrs_imports(relative, path) - {part}:
            if used not in LAYERS:
                continue
            if LAYERS[used] > LAYERS[part] or (used in CAPABILITIES and part != "cli"):
                wrong.append(f"openclrs.{relative} imports openclrs.{used}")
    assert not wrong, "imports against the layering:\n" + "\n".join(sorted(wrong))
