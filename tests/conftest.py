"""Shared fixtures: the bundled content, stores on real SQLite files in temp folders."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.engine import Engine
from bot.loader import Bundle, bundled_content_dir, load_content
from bot.sqlite_store import SQLiteStore

CONTENT = bundled_content_dir()


@pytest.fixture(scope="session")
def bundle() -> Bundle:
    return load_content(CONTENT)


@pytest.fixture
def content_copy(tmp_path: Path) -> Path:
    """A writable copy of the bundled content, for tests that break it."""
    target = tmp_path / "content"
    shutil.copytree(CONTENT, target)
    return target


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    async with SQLiteStore(tmp_path / "sessions.sqlite3") as store:
        yield store


@pytest.fixture
async def engine(bundle: Bundle, sqlite_store: SQLiteStore) -> Engine:
    return Engine(bundle, sqlite_store)
