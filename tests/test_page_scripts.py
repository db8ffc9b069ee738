"""The page scripts as Streamlit compiles them: without magic, and with nothing that magic would have shown."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

from ui.services import MAIN_SCRIPT

ROOT = MAIN_SCRIPT.parent
SCRIPTS = [MAIN_SCRIPT, *sorted((ROOT / "pages").glob("*.py"))]


def test_magic_is_off_in_the_served_config() -> None:
    """Magic's rewrite of a page script is paid on every visit that finds Streamlit's script cache emptied."""
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["runner"]["magicEnabled"] is False


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_no_page_relies_on_magic(script: Path) -> None:
    """Every bare expression is a call or a docstring, which magic leaves alone: turning it off hides nothing."""
    tree = ast.parse(script.read_text())
    shown = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Expr)
             and not isinstance(node.value, ast.Call | ast.Yield | ast.YieldFrom | ast.Await)
             and not (isinstance(node.value, ast.Constant) and isinstance(node.value.value, str))]
    assert not shown, f"{script.name}: bare expressions at lines {shown} would need magic to be shown"
