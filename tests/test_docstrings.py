"""The public API documents itself: Args / Returns / Raises on every public function that needs them.

"Public" is a top-level function in its module's `__all__` (every public top-level function where a
module has none), plus `from_pretrained` / `__call__` of public classes. The check reads the source
with `ast` (nothing is imported): a function with parameters needs `Args:`, one that returns or
yields a value needs `Returns:`, one with a `raise` statement needs `Raises:`. The CLI is exempt
(argparse documents it).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "fusionrs"
METHODS = ("from_pretrained", "__call__")


def _public_names(tree: ast.Module) -> set[str] | None:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            # a literal list, or an expression over literals (e.g. `sorted([...])`): its string constants
            return {n.value for n in ast.walk(node.value) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    return None


def _public_functions(tree: ast.Module):
    names = _public_names(tree)
    for node in tree.body:
        if node.name.startswith("_") if isinstance(node, (ast.FunctionDef, ast.ClassDef)) else True:
            continue
        if names is not None and node.name not in names:
            continue
        if isinstance(node, ast.FunctionDef):
            yield node.name, node
        else:
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name in METHODS:
                    yield f"{node.name}.{item.name}", item


def _missing_sections(function: ast.FunctionDef) -> list[str]:
    params = [a.arg for a in function.args.args + function.args.kwonlyargs if a.arg not in ("self", "cls")]
    if not params:
        return []
    doc = ast.get_docstring(function) or ""
    returns = any(isinstance(n, (ast.Return, ast.Yield, ast.YieldFrom)) and getattr(n, "value", None) is not None
                  for n in ast.walk(function))
    raises = any(isinstance(n, ast.Raise) for n in ast.walk(function))
    return [section for section, needed in (("Args:", True), ("Returns:", returns), ("Raises:", raises))
            if needed and section not in doc]


def test_public_functions_have_args_returns_raises():
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "cli" in path.relative_to(PACKAGE).parts:
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        for name, function in _public_functions(tree):
            missing = _missing_sections(function)
            if missing:
                problems.append(f"{path.relative_to(PACKAGE.parent)}:{function.lineno} {name}: no {', '.join(missing)}")
    assert not problems, f"{len(problems)} public functions lack docstring sections:\n" + "\n".join(problems)


def test_the_checker_sees_a_missing_section():
    source = "def f(x):\n    '''Does f.\n\n    Args:\n        x: a value.\n    '''\n    if x:\n        raise ValueError(x)\n    return x\n"
    function = ast.parse(source).body[0]
    assert _missing_sections(function) == ["Returns:", "Raises:"]
