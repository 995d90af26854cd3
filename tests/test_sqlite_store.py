"""What only the SQLite store does: WAL, migrations, restarts, locked and read-only files."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.content.loader import Bundle
from bot.errors import StoreError, StoreUnavailable
from bot.events import SessionKey
from bot.storage.database import MIGRATIONS, SCHEMA_VERSION
from bot.storage.sqlite import SQLiteStore
from bot.storage.store import Session

KEY = SessionKey("console", "u1")


def _pragma(path: Path, name: str) -> object:
    with sqlite3.connect(path) as db:
        return db.execute(f"PRAGMA {name}").fetchone()[0]


async def test_new_file_is_wal_and_at_the_latest_schema(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "folder" / "s.sqlite3"
    async with SQLiteStore(path):
        pass
    assert _pragma(path, "journal_mode") == "wal"
    assert _pragma(path, "user_version") == SCHEMA_VERSION


async def test_migrates_an_old_schema_and_keeps_rows(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(MIGRATIONS[0])
        db.execute(
            'INSERT INTO sessions VALUES (\'console\', \'u1\', \'{"flow": "triage", "node": "q_what"}\', 9e12)'
        )
        db.execute("PRAGMA user_version = 1")
    async with SQLiteStore(path) as store:
        got = await store.get(KEY)
    assert got is not None and got.node == "q_what"
    assert _pragma(path, "user_version") == SCHEMA_VERSION
    with sqlite3.connect(path) as db:
        names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "sessions_updated_at" in names
    with sqlite3.connect(path) as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"sessions", "content_audit", "usage"} <= tables


async def test_refuses_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    with pytest.raises(StoreError, match="schema version"):
        async with SQLiteStore(path):
            pass


async def test_sessions_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    async with SQLiteStore(path) as store:
        await store.save(
            KEY, Session(flow="triage", node="q_duration", answers={"q_what": "twitch"})
        )
    async with SQLiteStore(path) as store:
        got = await store.get(KEY)
    assert got == Session(flow="triage", node="q_duration", answers={"q_what": "twitch"})


async def test_malformed_row_reads_as_empty_session(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    async with SQLiteStore(path) as store:
        await store.save(KEY, Session(flow="triage", node="q_what"))
    with sqlite3.connect(path) as db:
        db.execute("UPDATE sessions SET data = 'not json'")
    async with SQLiteStore(path) as store:
        assert await store.get(KEY) == Session()


async def test_locked_database_raises_store_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    async with SQLiteStore(path, busy_timeout_ms=50, locked_backoff=0) as store:
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            with pytest.raises(StoreUnavailable):
                await store.save(KEY, Session(flow="triage", node="q_what"))
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        await store.save(KEY, Session(flow="triage", node="q_what"))
        assert await store.get(KEY) is not None


def _make_read_only(path: Path) -> Callable[[], None]:
    """Make ``path`` unwritable, also for root (immutable flag); returns the undo."""
    if os.geteuid() != 0:
        path.chmod(stat.S_IRUSR)
        return lambda: path.chmod(stat.S_IRUSR | stat.S_IWUSR)
    if shutil.which("chattr") is None:
        pytest.skip("running as root without chattr: cannot make a file read-only")
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"chattr +i not supported here: {done.stderr!r}")
    return lambda: subprocess.run(["chattr", "-i", str(path)], check=True)


async def _saved_then_read_only(tmp_path: Path) -> tuple[Path, Callable[[], None]]:
    """A database file holding one session, then made read-only; returns it and the undo."""
    path = tmp_path / "s.sqlite3"
    async with SQLiteStore(path) as store:
        await store.save(KEY, Session(flow="triage", node="q_what"))
    return path, _make_read_only(path)


async def test_read_only_file_keeps_reading_and_refuses_writes(tmp_path: Path) -> None:
    path, undo = await _saved_then_read_only(tmp_path)
    try:
        async with SQLiteStore(path) as store:
            assert await store.get(KEY) == Session(flow="triage", node="q_what")
            with pytest.raises(StoreUnavailable):
                await store.save(KEY, Session(flow="triage", node="q_where"))
            with pytest.raises(StoreUnavailable):
                await store.delete(KEY)
    finally:
        undo()


async def test_query_only_database_refuses_writes_cleanly(tmp_path: Path) -> None:
    """A read-only database (as root can't be denied by permissions, use SQLite's own switch)."""
    path = tmp_path / "s.sqlite3"
    async with SQLiteStore(path) as store:
        await store.save(KEY, Session(flow="triage", node="q_what"))
        await store._conn().execute("PRAGMA query_only = ON")
        with pytest.raises(StoreUnavailable):
            await store.save(KEY, Session(flow="triage", node="q_where"))
        assert (await store.get(KEY)) == Session(flow="triage", node="q_what")


async def test_unopenable_path_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreUnavailable, match="cannot"):
        async with SQLiteStore(blocker / "s.sqlite3"):
            pass


async def test_a_read_only_file_recovers_when_it_becomes_writable(tmp_path: Path) -> None:
    path, undo = await _saved_then_read_only(tmp_path)
    try:
        store = SQLiteStore(path, reopen_every=0)
        await store.open()  # no exception: the bot starts and answers without saving
        assert await store.get(KEY) == Session(flow="triage", node="q_what")
        with pytest.raises(StoreUnavailable):
            await store.save(KEY, Session(flow="triage", node="q_where"))
    finally:
        undo()
    try:
        await store.save(KEY, Session(flow="triage", node="q_where"))  # writable again
    finally:
        await store.close()
    async with SQLiteStore(path) as again:
        assert await again.get(KEY) == Session(flow="triage", node="q_where")


async def test_a_lock_held_elsewhere_does_not_make_everyone_wait(
    bundle: Bundle, tmp_path: Path
) -> None:
    """Another process holds the write lock: every user is answered before it lets go."""
    import asyncio

    from bot.conversation.engine import Engine
    from bot.events import Incoming

    path = tmp_path / "s.sqlite3"
    async with SQLiteStore(path) as store:
        for n in range(20):
            await store.save(SessionKey("t", str(n)), Session(flow="triage", node="q_what"))
    async with SQLiteStore(path) as store:  # a fresh cache: the sessions are read from disk
        engine = Engine(bundle, store)
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            turns = [
                engine.handle(Incoming(SessionKey("t", str(n)), button="triage.q_what.twitch"))
                for n in range(20)
            ]
            question = engine.handle(Incoming(SessionKey("t", "x"), text="what is tetany"))
            # with 2 s per queued write this took 40 s; now the first waits ~1 s, the rest none
            answers = await asyncio.wait_for(asyncio.gather(*turns, question), 15)
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
    moved = answers[:20]
    assert all(a[0].node == "q_where" for a in moved)  # read from disk despite the lock
    assert all("couldn't save" in a[-1].text for a in moved)
    assert "couldn't save" not in answers[20][-1].text  # nothing to save, nothing to say


async def test_recording_a_reply_as_sent_goes_before_queued_turns() -> None:
    """After a crash an unrecorded reply is sent again, so the record must not queue."""
    from bot.storage.sqlite import _WriteTurns

    turns = _WriteTurns()
    order: list[str] = []

    async def write(name: str, urgent: bool) -> None:
        async with turns.turn(urgent):
            order.append(name)
            await asyncio.sleep(0)

    async with turns.turn(False):  # a turn is writing; others queue behind it
        waiting = [asyncio.create_task(write(f"turn{n}", False)) for n in range(3)]
        await asyncio.sleep(0.01)
        waiting.append(asyncio.create_task(write("sent", True)))
        await asyncio.sleep(0.01)
    await asyncio.gather(*waiting)
    assert order[0] == "sent" and sorted(order[1:]) == ["turn0", "turn1", "turn2"]


async def test_a_writer_cancelled_while_waiting_never_blocks_the_others() -> None:
    from bot.storage.sqlite import _WriteTurns

    turns = _WriteTurns()
    done: list[str] = []

    async def write(name: str) -> None:
        async with turns.turn(False):
            done.append(name)

    async with turns.turn(False):
        cancelled = asyncio.create_task(write("cancelled"))
        later = asyncio.create_task(write("later"))
        await asyncio.sleep(0.01)
        cancelled.cancel()
    await asyncio.wait_for(later, 5)
    async with asyncio.timeout(5):  # the writer is free again
        async with turns.turn(True):
            done.append("after")
    assert done == ["later", "after"]
