"""Architecture rules that a reviewer would otherwise have to remember."""

from __future__ import annotations

import ast
from pathlib import Path

BOT = Path(__file__).resolve().parents[1] / "bot"
FORBIDDEN = ("telegram", "discord", "adapters", "aiohttp")


def test_core_imports_no_platform_code() -> None:
    offenders = []
    for path in BOT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert offenders == []


def test_no_module_shadows_a_platform_library() -> None:
    root = BOT.parent
    names = {p.stem for d in ("bot", "adapters") for p in (root / d).glob("*.py")}
    assert not names & {"telegram", "discord"}
