"""Shared fixtures: the bundled content, stores on real SQLite files in temp folders."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.content.loader import Bundle, bundled_content_dir, load_content
from bot.conversation.engine import Engine
from bot.language.embedding import Embedder, WordLlamaEmbedder
from bot.storage.sqlite import SQLiteStore
from tests.fakes.telegram_api import FakeBotApi

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


# --------------------------------------------------------------------------- no internet, ever

_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "0.0.0.0", ""}


def _is_local(address: object) -> bool:
    if isinstance(address, (str, bytes)):  # unix socket path
        return True
    if isinstance(address, tuple) and address:
        host = str(address[0])
        return host in _LOOPBACK_HOSTS or host.startswith("127.")
    return False


@pytest.fixture(autouse=True)
def no_internet(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail loudly on any connection that is not to this machine (like PTB's own tests)."""
    import socket

    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def guard(address: object) -> None:
        if not _is_local(address):
            raise RuntimeError(f"test tried to reach the network: {address!r}")

    def connect(self: socket.socket, address: object) -> None:
        guard(address)
        return real_connect(self, address)  # type: ignore[arg-type]

    def connect_ex(self: socket.socket, address: object) -> int:
        guard(address)
        return real_connect_ex(self, address)  # type: ignore[arg-type]

    def getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
        if host is not None and not _is_local((host,)):
            raise RuntimeError(f"test tried to resolve a network name: {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture(autouse=True)
def no_leaked_database_threads() -> Iterator[None]:
    """A test that leaves an aiosqlite connection open fails: its worker thread would keep the
    interpreter from exiting (the suite would pass, then hang)."""
    import threading
    import time

    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 5.0
    while True:
        leaked = [
            t
            for t in threading.enumerate()
            if t not in before and "connection_worker" in t.name and t.is_alive()
        ]
        if not leaked or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not leaked, f"database connections left open: {[t.name for t in leaked]}"


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    """A fake Telegram Bot API on loopback, started for one test."""
    fake = FakeBotApi()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The packaged embedding model, loaded once (from its package folder, never downloaded)."""
    return WordLlamaEmbedder()


#: The PostgreSQL server the tests use: .ci/run starts one and sets this; a developer's local
#: server with the same role and database works too.
POSTGRES_URL = os.environ.get(
    "NERVEBOT_TEST_POSTGRES", "postgresql://nervebot:nervebot@127.0.0.1:5432/nervebot"
)


def _in_a_thread(coroutine: Any) -> Any:
    """Run ``coroutine`` to the end on a thread of its own (a fixture may be asked for from
    inside a running event loop)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The test server's address; the tests that need it are skipped, saying why, without one."""
    try:
        import asyncpg
    except ImportError:  # pragma: no cover - the test extras install it
        pytest.skip("asyncpg is not installed (pip install '.[test]')")

    async def probe() -> None:
        db = await asyncpg.connect(POSTGRES_URL, timeout=5)
        await db.close()

    try:
        _in_a_thread(probe())
    except Exception as exc:
        if os.environ.get("NERVEBOT_REQUIRE_POSTGRES"):  # CI started one: its absence is a failure
            pytest.fail(f"no PostgreSQL server at NERVEBOT_TEST_POSTGRES: {exc}")
        pytest.skip(f"no PostgreSQL server at NERVEBOT_TEST_POSTGRES ({exc}); .ci/run starts one")
    return POSTGRES_URL


@pytest.fixture
def pg_schema(postgres_url: str) -> Iterator[str]:
    """A fresh, empty schema on the test server for one test, dropped afterwards."""
    import asyncpg

    name = f"t_{uuid.uuid4().hex[:16]}"
    yield name

    async def drop() -> None:
        db = await asyncpg.connect(postgres_url)
        try:
            await db.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        finally:
            await db.close()

    _in_a_thread(drop())
