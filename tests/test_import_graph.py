"""The package's import graph has no cycle, counting imports inside functions too.

An import cycle hidden behind a function-level import still couples the two modules both ways
(each needs the other to work) and breaks as soon as someone moves the import. So the graph here
has an edge for every ``import`` / ``from ... import`` of a ``monai_despeckle`` module anywhere in
a file (module level, inside functions, in ``try`` blocks) and for ``importlib.import_module``
with a literal name. Only ``if TYPE_CHECKING:`` blocks are left out: they never run.

Importing ``a.b.c`` runs ``a/__init__.py`` and ``a/b/__init__.py`` first, so an edge also goes to
each package on the way, except the importer's own packages (already being imported); a module
that imports a name from one of its own packages (``from monai_despeckle import io`` inside
``io/...``) depends on that package's ``__init__`` and gets the edge.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "monai_despeckle"
ROOT = PACKAGE.name


def _module_names() -> dict[str, Path]:
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


MODULES = _module_names()


def _known(name: str) -> str | None:
    """The module ``name`` refers to, or its nearest enclosing module (``pkg.function`` → ``pkg``)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(module: str, path: Path) -> set[str]:
    """Every package module that ``module`` imports, anywhere in its file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"
    targets: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            for alias in node.names:  # a submodule, else a name defined by the module ``source``
                submodule = f"{source}.{alias.name}"
                targets.add(submodule if submodule in MODULES else source)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            targets.add(node.args[0].value)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    own = {*_ancestors(module), module}
    edges: set[str] = set()
    for target in targets:
        if target != ROOT and not target.startswith(ROOT + "."):
            continue
        found = _known(target)
        if found is None:
            continue
        edges.update(a for a in _ancestors(found) if a not in own)  # run on the way
        if found != module:
            edges.add(found)  # what the code asked for, even if it is one of its own packages
    return edges


def import_graph() -> dict[str, set[str]]:
    """Module → the package modules it imports (see the module docstring)."""
    return {name: _imported(name, path) for name, path in MODULES.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := walk(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := walk(start)):
            return cycle
    return None


def test_the_package_has_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_walker_sees_imports_inside_functions_and_packages_on_the_way():
    graph = import_graph()
    # monai_despeckle.cli imports its command modules with importlib and a computed name, but
    # commands import the package root for the version: the root is an edge of every module
    assert "monai_despeckle.resolver" in graph["monai_despeckle.inference"]
    assert "monai_despeckle.runtime" in graph["monai_despeckle.resolver"]  # the package on the way
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize(
    "layer", ["monai_despeckle.runtime", "monai_despeckle.io", "monai_despeckle.networks"]
)
def test_lower_layers_do_not_import_the_application(layer):
    """The runtime, IO and networks know nothing of methods, bundles, commands or front ends."""
    application = (
        "resolver",
        "methods",
        "bundles",
        "bundle_format",
        "export",
        "inference",
        "cli",
        "commands",
    )
    graph = import_graph()
    for module, targets in graph.items():
        if module == layer or module.startswith(layer + "."):
            upward = sorted(t for t in targets if t.removeprefix(ROOT + ".").split(".")[0] in application)
            assert not upward, f"{module} imports {upward}"


def test_the_data_package_sits_below_its_users():
    """``data`` builds on ``io`` and ``simulation``; training, evaluation, segmentation and batch use it."""
    users = ("engines", "evaluation", "segmentation", "batch", "inference", "resolver", "cli", "commands")
    graph = import_graph()
    for module, targets in graph.items():
        if module == f"{ROOT}.data" or module.startswith(f"{ROOT}.data."):
            upward = sorted(t for t in targets if t.removeprefix(ROOT + ".").split(".")[0] in users)
            assert not upward, f"{module} imports {upward}"
    for user in ("engines.data", "evaluation.datasets", "segmentation.data", "batch"):
        assert any(t.startswith(f"{ROOT}.data") for t in graph[f"{ROOT}.{user}"]), user
