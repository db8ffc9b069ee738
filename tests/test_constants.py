"""``rivya.constants`` holds every tunable of ``rivya/``: a number written at module level elsewhere is a named fact."""

from __future__ import annotations

import ast
from pathlib import Path

import rivya

# Facts of their module, not settings (the constants docstring names these kinds).
FACTS = {
    ("budgets", "_DAY"),  # seconds in a day
    ("dialect", "WRITE_LOCK_KEY"),  # the advisory lock's number: an identity
    ("download", "_CHUNK"),  # one loop's read size
    ("sniffing", "HEAD_BYTES"),  # what the signature table needs
    ("thumbnails", "BACKGROUND"),  # a colour
}


def _numeric(node: ast.expr) -> bool:
    """A literal number, or arithmetic and tuples of them (``150 * 2**20``, ``(2, 4)``)."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, (int, float)) and not isinstance(node.value, bool)
    if isinstance(node, ast.BinOp):
        return _numeric(node.left) and _numeric(node.right)
    if isinstance(node, ast.UnaryOp):
        return _numeric(node.operand)
    if isinstance(node, ast.Tuple):
        return bool(node.elts) and all(_numeric(e) for e in node.elts)
    return False


def test_no_module_of_the_app_writes_a_tunable_number_of_its_own() -> None:
    root = Path(rivya.__file__).parent
    found = set()
    for path in root.glob("*.py"):
        if path.name == "constants.py":
            continue
        for node in ast.parse(path.read_text()).body:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
            value = node.value if isinstance(node, (ast.Assign, ast.AnnAssign)) else None
            if value is None or not _numeric(value):
                continue
            for target in targets:
                for name in target.elts if isinstance(target, ast.Tuple) else [target]:
                    if isinstance(name, ast.Name) and name.id.lstrip("_").isupper():
                        found.add((path.stem, name.id))
    assert found - FACTS == set(), "move these into rivya/constants.py, or name them as facts here and in its docstring"
