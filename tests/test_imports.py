"""The module graph of albertzero_utils: no import cycle (lazy or not), and imports only go down the layers.

Every ``import`` of the package is read with ``ast``, including those inside functions (a lazy import is
still an edge). ``LAYERS`` is the one statement of the order, bottom first; ARCHITECTURE.md shows the same.
A module may import modules of its own layer or of the layers below it, never above.
"""
from __future__ import annotations

import ast
from pathlib import Path

from albertzero_utils import paths

PACKAGE = "albertzero_utils"
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "paths", "fileio", "locks", "remote_code"),
    ("metrics", "tokenization", "squad_json", "splits"),
    ("feature_cache", "features", "data", "postprocess", "modeling", "weights", "reinit", "anatomy", "pretrain_data", "factorisation"),
    ("batching", "predict", "profiles", "profile_table", "checkpoint", "run_files", "run_identity", "micro_batch"),
    ("run_setup", "evaluation"),
    ("train", "pretrain", "model_card"),
    ("stats", "verdict", "early_gain", "plan", "results", "eta", "experiment"),
    ("plots", "display", "notebook_tools", "colab", "notebook_runs", "exercises", "grading", "dry_run"),
    ("cli", "__main__", "__init__"),
)


def module_name(path: Path) -> str:
    """``albertzero_utils/cli/train.py`` -> ``cli.train``; the package itself is ``__init__``."""
    parts = path.relative_to(paths.PACKAGE_DIR).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts)


def imports_of(path: Path) -> set[str]:
    """The package modules ``path`` imports anywhere in it (``from . import x`` counts as module ``x``)."""
    name = module_name(path)
    package = name.split(".")[:-1] if path.name != "__init__.py" else name.split(".")
    package = [] if name == "__init__" else package
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name.removeprefix(f"{PACKAGE}.") for alias in node.names if alias.name.startswith(PACKAGE)}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - (node.level - 1)] + ([node.module] if node.module else [])
            elif node.module and node.module.split(".")[0] == PACKAGE:
                base = node.module.split(".")[1:]
            else:
                continue
            for alias in node.names:
                candidate = ".".join([*base, alias.name])
                found.add(candidate if candidate in ALL_MODULES else ".".join(base) or "__init__")
    found.discard(name)
    return found


ALL_MODULES = {module_name(path) for path in paths.PACKAGE_DIR.rglob("*.py")}
GRAPH = {module_name(path): imports_of(path) for path in sorted(paths.PACKAGE_DIR.rglob("*.py"))}


def layer_of(module: str) -> int:
    top = module.split(".")[0]
    return next(i for i, layer in enumerate(LAYERS) if top in layer)


def test_every_module_has_a_layer() -> None:
    placed = {name for layer in LAYERS for name in layer}
    assert {module.split(".")[0] for module in GRAPH} <= placed, "add new modules to LAYERS (and ARCHITECTURE.md)"
    assert "features" in GRAPH["data"] and "metrics" in GRAPH["features"]  # the reader sees real edges


def test_imports_only_go_down_the_layers() -> None:
    upward = sorted(f"{module} -> {target}" for module, targets in GRAPH.items() for target in targets
                    if layer_of(target) > layer_of(module))
    assert upward == []


def test_no_import_cycle() -> None:
    state: dict[str, str] = {}

    def visit(module: str, trail: list[str]) -> None:
        state[module] = "open"
        for target in sorted(GRAPH.get(module, ())):
            assert state.get(target) != "open", "import cycle: " + " -> ".join([*trail, module, target])
            if target not in state:
                visit(target, [*trail, module])
        state[module] = "done"

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [])
