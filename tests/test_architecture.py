"""The package's layering, read from the source: no import cycle, and one module per outside concern."""

import ast
from pathlib import Path

from conftest import REPO

PACKAGE = REPO / "src" / "tagger"


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> dict[str, set[str]]:
    """Module → every module it imports (at any depth of the file), tagger's and others'."""
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
        graph[_module(path)] = found
    return graph


def test_no_import_cycle():
    everything = imports()
    graph = {m: {i for i in found if i in everything} for m, found in everything.items()}
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(graph[module]):
            assert state.get(target) != "open", f"import cycle: {' -> '.join([*path, module, target])}"
            if target not in state:
                visit(target, [*path, module])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [])


def test_mlflow_is_imported_only_by_the_tracker_and_the_mlflow_model():
    users = {m for m, found in imports().items() if any(i == "mlflow" or i.startswith("mlflow.") for i in found)}
    assert users == {"tagger.tune.tracker", "tagger.registry", "tagger.pyfunc"}
