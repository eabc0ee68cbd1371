"""The package's imports run one way: every stage imports only from itself and stages to its left.

    errors, version < core < results < weights < metrics, synth < translate, captions < data
      < clip, vlm < pipelines < hub < reproduce < space < cli        (fusionrs/__init__.py: the facade)

Parsed with `ast`, nothing is imported: top-level, function-level and TYPE_CHECKING imports all
count, relative imports are resolved. The rule is data (STAGE_RANK, ALLOWED, ...) so a new package
or a deliberate change is one line here and in docs/architecture.md.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "fusionrs"
ROOT = "fusionrs"
FACADE = "fusionrs"  # fusionrs/__init__.py: imports data / pipelines lazily to install hooks; nobody imports it

# package -> rank; a module may import from its own package or from a package of a strictly lower rank.
# Top-level modules (errors.py, version.py, results.py) are packages of their own.
STAGE_RANK: dict[str, float] = {
    "errors": 0,
    "version": 0,
    "core": 1,
    "results": 1.5,  # at the core level: may import core (atomic writes), nothing above it
    "weights": 2,
    "metrics": 3,
    "synth": 3,
    "translate": 4,
    "captions": 4,
    "data": 5,
    "clip": 6,
    "vlm": 6,
    "pipelines": 7,
    "hub": 8,
    "reproduce": 9,
    "space": 10,
    "cli": 11,
    FACADE: 12,
}

# Stricter rules on top of the ranks: package -> the only other fusionrs packages it may import.
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "version": set(),
    "core": {"errors", "version"},  # core imports no stage
    "synth": set(),  # a numpy leaf: imports no other fusionrs package, not even errors or core
}
MODEL_FAMILIES = {"translate", "captions", "clip", "vlm"}
NO_MODEL_FAMILY = {"metrics"}  # metrics score outputs; they never load a model family
APPLICATION = {"cli", "space"}  # only cli (and space itself) may import these

# (importing module, imported module) edges that still break the order. Each is being fixed in a folder
# owned by someone else; delete the line when it is fixed (test_known_exceptions_still_exist says when).
KNOWN_EXCEPTIONS: set[tuple[str, str]] = set()


@dataclass(frozen=True)
class Edge:
    module: str  # importing module, dotted
    path: str  # file, relative to the repository
    line: int
    imported: str  # dotted module the import resolves to ("fusionrs" for the top-level package)
    statement: str

    @property
    def source(self) -> str:
        return package_of(self.module)

    @property
    def target(self) -> str:
        return package_of(self.imported)

    def __str__(self) -> str:
        return f"{self.path}:{self.line} ({self.module}) imports {self.imported!r}: {self.statement}"


def package_of(module: str) -> str:
    """`fusionrs.data.loading` -> `data`; `fusionrs.errors` -> `errors`; `fusionrs` -> the facade."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else FACADE


def _module_name(path: Path) -> tuple[str, bool]:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    is_package = parts[-1] == "__init__"
    return ".".join(parts[:-1] if is_package else parts), is_package


def _is_submodule(dotted: str) -> bool:
    rel = Path(*dotted.split(".")[1:]) if "." in dotted else Path()
    return (PACKAGE_DIR / rel).with_suffix(".py").is_file() or (PACKAGE_DIR / rel / "__init__.py").is_file()


def _edges_of(path: Path) -> list[Edge]:
    module, is_package = _module_name(path)
    rel_path = str(path.relative_to(PACKAGE_DIR.parent))
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel_path)
    edges = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            # `from fusionrs.x import y` where y is a submodule imports fusionrs.x.y; otherwise fusionrs.x
            names = [f"{origin}.{a.name}" if _is_submodule(f"{origin}.{a.name}") else origin for a in node.names]
        else:
            continue
        statement = ast.get_source_segment(path.read_text(encoding="utf-8"), node) or ""
        for name in dict.fromkeys(names):
            if name == ROOT or name.startswith(ROOT + "."):
                edges.append(Edge(module, rel_path, node.lineno, name, " ".join(statement.split())))
    return edges


def _all_edges() -> list[Edge]:
    return [edge for path in sorted(PACKAGE_DIR.rglob("*.py")) for edge in _edges_of(path)]


EDGES = _all_edges()


def _known(edge: Edge) -> bool:
    return (edge.module, edge.imported) in KNOWN_EXCEPTIONS


def _cross(edges=EDGES) -> list[Edge]:
    return [e for e in edges if e.source != e.target and not _known(e)]


def _report(bad: list[Edge], rule: str) -> str:
    return f"{len(bad)} import(s) break the rule: {rule} (docs/architecture.md)\n" + "\n".join(f"  {e}" for e in bad)


def test_the_parser_sees_the_known_graph():
    pairs = {(e.module, e.imported) for e in EDGES}
    assert ("fusionrs.core.dinov2", "fusionrs.core.paths") in pairs  # function-level import
    assert ("fusionrs.data.loading", "fusionrs.data.world_records") in pairs
    assert any(e.source == "clip" and e.target == "errors" for e in EDGES)


def test_every_package_has_a_stage():
    found = {package_of(_module_name(p)[0]) for p in PACKAGE_DIR.rglob("*.py")}
    missing = sorted(found - set(STAGE_RANK))
    assert not missing, f"packages without a stage in STAGE_RANK (add them, and to docs/architecture.md): {missing}"


def test_every_edge_respects_the_stage_order():
    bad = [e for e in _cross() if STAGE_RANK[e.target] >= STAGE_RANK[e.source]]
    assert not bad, _report(bad, "a module imports only its own package or packages to its left")


def test_leaf_packages_import_only_what_they_may():
    bad = [e for e in _cross() if e.source in ALLOWED and e.target not in ALLOWED[e.source]]
    assert not bad, _report(bad, "core imports no stage; synth imports no other fusionrs package")


def test_metrics_import_no_model_family():
    bad = [e for e in _cross() if e.source in NO_MODEL_FAMILY and e.target in MODEL_FAMILIES]
    assert not bad, _report(bad, f"metrics import none of {sorted(MODEL_FAMILIES)}")


def test_library_modules_import_neither_cli_space_nor_the_top_level_package():
    bad = [
        e for e in EDGES if not _known(e) and (
            (e.target in APPLICATION and e.source not in APPLICATION)
            or (e.target == "space" and e.source not in {"space", "cli"})
            or (e.imported == ROOT and e.module != ROOT)
        )
    ]
    assert not bad, _report(bad, "nothing imports fusionrs.cli / fusionrs.space, and no module imports `fusionrs` itself")


def test_no_import_cycle_between_packages():
    graph: dict[str, set[str]] = {}
    for e in _cross():
        graph.setdefault(e.source, set()).add(e.target)
    # Tarjan's strongly connected components
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    details = []
    for component in cycles:
        details += [f"  {e}" for e in _cross() if e.source in component and e.target in component]
    assert not cycles, f"import cycles between packages {cycles}:\n" + "\n".join(details)


def test_known_exceptions_still_exist():
    """A fixed exception must leave KNOWN_EXCEPTIONS, so the rule tightens as the fixes land (it is empty now)."""
    pairs = {(e.module, e.imported) for e in EDGES}
    gone = sorted(exception for exception in KNOWN_EXCEPTIONS if exception not in pairs)
    assert not gone, f"{gone} no longer occur: remove them from KNOWN_EXCEPTIONS in tests/test_import_graph.py"
