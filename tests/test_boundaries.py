"""Architecture rules that a reviewer would otherwise have to remember.

`bot/` is built in rooms, lowest first; a room may import only from the rooms below it:

    shared        events, markup, errors, settings, logs (the vocabulary every room speaks)
    content       the content format and loading
    storage       the session store, the SQLite file, the journal
    language      reading free text (knows the content, not where it is stored)
    conversation  the dialogue rules, answer building and the engine
    moderation    what moderators run: full validation, transcript tests, live reload, tools
    root          cli.py, the one composition root (and __main__)

Every import counts, including the ones inside functions: a lazy import is still a circle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BOT = ROOT / "bot"
FORBIDDEN = ("telegram", "discord", "adapters", "aiohttp")

SHARED = {"events", "markup", "errors", "settings", "logs"}
ROOMS = ("shared", "content", "storage", "language", "conversation", "moderation", "root")
#: Which rooms each room may import from (itself included).
ALLOWED: dict[str, set[str]] = {
    "shared": {"shared"},
    "content": {"shared", "content"},
    "storage": {"shared", "storage"},
    "language": {"shared", "content", "language"},
    "conversation": {"shared", "content", "storage", "language", "conversation"},
    "moderation": {"shared", "content", "storage", "language", "conversation", "moderation"},
    "root": set(ROOMS),
}


def module_name(path: Path, package_root: Path) -> str:
    """``bot/language/text.py`` -> ``bot.language.text`` (a package's ``__init__`` is the package)."""
    parts = list(path.relative_to(package_root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, known: set[str], name: str = "") -> Iterator[str]:
    """Every module of ``known`` that ``path`` (module ``name``) imports, lazily or not."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield from _known_prefix(alias.name, known)
        elif isinstance(node, ast.ImportFrom) and (node.module or node.level):
            module = node.module or ""
            if node.level:  # `from .text import x` inside bot.language -> bot.language.text
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, *([module] if module else [])])
            found = False
            for alias in node.names:  # `from bot import markup` imports the module bot.markup
                candidate = f"{module}.{alias.name}"
                if candidate in known:
                    found = True
                    yield candidate
            if not found:
                yield from _known_prefix(module, known)


def _known_prefix(name: str, known: set[str]) -> Iterator[str]:
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in known:
            yield candidate
            return


def import_graph(package: Path) -> dict[str, set[str]]:
    """Module -> the modules of the same package it imports."""
    paths = {module_name(p, package): p for p in package.rglob("*.py")}
    known = set(paths)
    return {
        name: {m for m in imported_modules(path, known, name) if m != name}
        for name, path in paths.items()
    }


def room_of(module: str) -> str:
    """The room a ``bot`` module lives in."""
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in ("cli", "__main__"):
        return "root"
    if parts[1] in SHARED:
        return "shared"
    return parts[1]


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one member (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


# --------------------------------------------------------------------------- the rules


def test_every_module_is_in_a_known_room() -> None:
    rooms = {module: room_of(module) for module in import_graph(BOT)}
    assert {m: r for m, r in rooms.items() if r not in ROOMS} == {}
    # every room exists, so a renamed folder cannot silently escape the rules
    assert set(rooms.values()) == set(ROOMS)


def test_no_import_circle_between_modules() -> None:
    assert cycles(import_graph(BOT)) == []


def test_no_import_circle_between_rooms() -> None:
    graph = import_graph(BOT)
    rooms: dict[str, set[str]] = {}
    for module, deps in graph.items():
        rooms.setdefault(room_of(module), set()).update(
            room_of(d) for d in deps if room_of(d) != room_of(module)
        )
    assert cycles(rooms) == []


def test_rooms_import_only_from_rooms_below() -> None:
    graph = import_graph(BOT)
    offenders = sorted(
        f"{module} ({room_of(module)}) imports {dep} ({room_of(dep)})"
        for module, deps in graph.items()
        for dep in deps
        if room_of(dep) not in ALLOWED[room_of(module)]
    )
    assert offenders == []


def test_the_room_order_is_a_strict_layering() -> None:
    for position, room in enumerate(ROOMS):
        assert ALLOWED[room] <= set(ROOMS[: position + 1]), room


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
    names = {p.stem for d in ("bot", "adapters") for p in (ROOT / d).rglob("*.py")}
    assert not names & {"telegram", "discord"}


# --------------------------------------------------------------------------- the checker itself


def _write(root: Path, files: dict[str, str]) -> Path:
    package = root / "bot"
    for name, text in files.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return package


def test_a_lazy_import_circle_is_found(tmp_path: Path) -> None:
    package = _write(
        tmp_path,
        {
            "__init__.py": "",
            "content/__init__.py": "",
            "content/loader.py": "def f():\n    from bot.moderation.lint import lint\n",
            "moderation/__init__.py": "",
            "moderation/lint.py": "from bot.conversation.engine import Engine\n",
            "conversation/__init__.py": "",
            "conversation/engine.py": "from bot.content import loader\n",
        },
    )
    graph = import_graph(package)
    assert graph["bot.content.loader"] == {"bot.moderation.lint"}
    assert cycles(graph) == [
        ["bot.content.loader", "bot.conversation.engine", "bot.moderation.lint"]
    ]


@pytest.mark.parametrize(
    ("module", "room"),
    [
        ("bot.events", "shared"),
        ("bot.cli", "root"),
        ("bot", "root"),
        ("bot.language.safety", "language"),
        ("bot.storage", "storage"),
    ],
)
def test_room_of(module: str, room: str) -> None:
    assert room_of(module) == room


def test_relative_imports_are_resolved(tmp_path: Path) -> None:
    package = _write(
        tmp_path,
        {
            "__init__.py": "",
            "events.py": "",
            "storage/__init__.py": "",
            "storage/store.py": "from ..conversation import engine\nfrom . import sqlite\n",
            "storage/sqlite.py": "",
            "conversation/__init__.py": "",
            "conversation/engine.py": "",
        },
    )
    graph = import_graph(package)
    assert graph["bot.storage.store"] == {"bot.conversation.engine", "bot.storage.sqlite"}


def test_an_upward_import_is_an_offence(tmp_path: Path) -> None:
    package = _write(
        tmp_path,
        {
            "__init__.py": "",
            "events.py": "",
            "storage/__init__.py": "",
            "storage/store.py": "from bot import events\nfrom bot.conversation import engine\n",
            "conversation/__init__.py": "",
            "conversation/engine.py": "",
        },
    )
    graph = import_graph(package)
    assert graph["bot.storage.store"] == {"bot.events", "bot.conversation.engine"}
    bad = [d for d in graph["bot.storage.store"] if room_of(d) not in ALLOWED["storage"]]
    assert bad == ["bot.conversation.engine"]
