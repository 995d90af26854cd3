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
from bot.storage.group_commit import GroupCommit, Job
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
            # with 2 s per queued write this took 40 s; now one batch waits ~1 s, later ones none
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
    batches: list[list[str]] = []
    release = asyncio.Event()

    async def write_batch(batch: list[Job]) -> None:
        batches.append([str(job.statements[0][0]) for job in batch])
        await release.wait()
        for job in batch:
            job.settle([])

    group = GroupCommit(write_batch)
    first = asyncio.create_task(group.write([("turn0", ())]))
    await asyncio.sleep(0.01)  # the first batch is being written; the rest queue behind it
    later = [asyncio.create_task(group.write([(f"turn{n}", ())])) for n in (1, 2, 3)]
    await asyncio.sleep(0.01)
    later.append(asyncio.create_task(group.write([("sent", ())], urgent=True)))
    await asyncio.sleep(0.01)
    release.set()
    await asyncio.wait_for(asyncio.gather(first, *later), 5)
    assert batches == [["turn0"], ["sent", "turn1", "turn2", "turn3"]]


async def test_a_writer_cancelled_while_waiting_is_never_written_nor_blocks_the_others() -> None:
    written: list[str] = []
    release = asyncio.Event()

    async def write_batch(batch: list[Job]) -> None:
        await release.wait()
        for job in batch:
            written.append(str(job.statements[0][0]))
            job.settle([])

    group = GroupCommit(write_batch)
    first = asyncio.create_task(group.write([("first", ())]))
    await asyncio.sleep(0.01)
    cancelled = asyncio.create_task(group.write([("cancelled", ())]))
    later = asyncio.create_task(group.write([("later", ())]))
    await asyncio.sleep(0.01)
    cancelled.cancel()
    release.set()
    await asyncio.wait_for(asyncio.gather(first, later), 5)
    assert await asyncio.wait_for(group.write([("after", ())]), 5) == []
    assert written == ["first", "later", "after"]
    assert cancelled.cancelled()


async def test_a_batch_writer_that_raises_fails_its_writes_and_the_next_are_written() -> None:
    async def write_batch(batch: list[Job]) -> None:
        if any(job.statements[0][0] == "bad" for job in batch):
            raise RuntimeError("boom")
        for job in batch:
            job.settle([1])

    group = GroupCommit(write_batch)
    with pytest.raises(StoreError, match="boom"):
        await asyncio.wait_for(group.write([("bad", ())]), 5)
    assert await asyncio.wait_for(group.write([("good", ())], counted=True), 5) == [1]


async def test_writes_that_arrive_together_share_a_transaction(tmp_path: Path) -> None:
    """Under load many turns are committed at once: fewer transactions than writes."""
    path = tmp_path / "s.sqlite3"
    keys = [SessionKey("t", str(n)) for n in range(60)]
    statements: list[str] = []
    async with SQLiteStore(path) as store:
        assert store._db is not None
        await store._db.set_trace_callback(statements.append)
        await asyncio.gather(*(store.save(k, Session(flow="triage", node="q_what")) for k in keys))
        await store._db.set_trace_callback(None)
    async with SQLiteStore(path) as again:  # a fresh cache: read from the file
        assert [await again.get(k) for k in keys] == [Session(flow="triage", node="q_what")] * len(
            keys
        )
    begins = sum(s.startswith("BEGIN") for s in statements)
    assert 1 <= begins < len(keys) // 2, statements[:5]


async def test_one_failing_write_in_a_batch_fails_alone(tmp_path: Path) -> None:
    """A write that breaks a constraint rolls back its batch; the others are then written
    one by one, and only it fails."""
    keys = [SessionKey("t", str(n)) for n in range(10)]
    async with SQLiteStore(tmp_path / "s.sqlite3") as store:
        saves = [store.save(k, Session(flow="triage", node="q_what")) for k in keys]
        bad = store._transaction([("INSERT INTO sessions (platform) VALUES (?)", ("t",))])
        results = await asyncio.gather(*saves[:5], bad, *saves[5:], return_exceptions=True)
    assert isinstance(results[5], StoreError) and not isinstance(results[5], StoreUnavailable)
    assert [r for n, r in enumerate(results) if n != 5] == [None] * 10
    async with SQLiteStore(tmp_path / "s.sqlite3") as again:
        assert [await again.get(k) for k in keys] == [Session(flow="triage", node="q_what")] * len(
            keys
        )


async def test_counts_are_right_when_writes_share_a_batch(tmp_path: Path) -> None:
    now = [1000.0]
    async with SQLiteStore(tmp_path / "s.sqlite3", ttl_seconds=10, clock=lambda: now[0]) as store:
        for n in range(3):
            await store.save(SessionKey("old", str(n)), Session(flow="triage"))
        now[0] += 100
        saves = [store.save(SessionKey("new", str(n)), Session(flow="triage")) for n in range(20)]
        purged, *_ = await asyncio.gather(store.purge_expired(), *saves)
    assert purged == 3


async def test_closing_the_store_writes_what_is_queued_first(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    keys = [SessionKey("t", str(n)) for n in range(30)]
    store = SQLiteStore(path)
    await store.open()
    saves = [asyncio.create_task(store.save(k, Session(flow="triage"))) for k in keys]
    await asyncio.sleep(0)  # queued, not yet written
    await store.close()
    await asyncio.gather(*saves)
    async with SQLiteStore(path) as again:
        assert [await again.get(k) for k in keys] == [Session(flow="triage")] * len(keys)


async def test_a_value_sqlite_cannot_take_fails_only_its_own_write(tmp_path: Path) -> None:
    """A payload with a lone surrogate cannot be bound: that arrival fails, the turns
    written in the same batch do not."""
    from bot.storage.mailbox import Arrival

    keys = [SessionKey("t", str(n)) for n in range(8)]
    async with SQLiteStore(tmp_path / "s.sqlite3") as store:
        bad = store.receive([Arrival("telegram", "1", "1", "1", "\ud800")])
        saves = [store.save(k, Session(flow="triage")) for k in keys]
        results = await asyncio.gather(bad, *saves, return_exceptions=True)
    assert isinstance(results[0], StoreError) and not isinstance(results[0], StoreUnavailable)
    assert results[1:] == [None] * len(keys)


async def test_a_failing_job_in_a_batch_leaves_none_of_its_statements(tmp_path: Path) -> None:
    """Written job by job after the batch fails, each job is still all or nothing."""
    path = tmp_path / "s.sqlite3"
    lost, kept = SessionKey("t", "lost"), SessionKey("t", "kept")
    async with SQLiteStore(path) as store:
        torn = store._transaction(
            [
                (
                    "INSERT INTO sessions (platform, user_id, data, updated_at) VALUES (?, ?, ?, ?)",
                    (lost.platform, lost.user_id, "{}", 1e12),
                ),
                ("INSERT INTO sessions (platform) VALUES (?)", ("t",)),  # breaks NOT NULL
            ]
        )
        results = await asyncio.gather(
            torn, store.save(kept, Session(flow="triage")), return_exceptions=True
        )
    assert isinstance(results[0], StoreError) and results[1] is None
    async with SQLiteStore(path) as again:
        assert await again.get(lost) is None
        assert await again.get(kept) == Session(flow="triage")


async def test_the_store_records_a_sent_reply_before_the_turns_queued_with_it(
    tmp_path: Path,
) -> None:
    statements: list[str] = []
    async with SQLiteStore(tmp_path / "s.sqlite3") as store:
        assert store._db is not None
        await store._db.set_trace_callback(statements.append)
        saves = [store.save(SessionKey("t", str(n)), Session(flow="triage")) for n in range(10)]
        await asyncio.gather(*saves, store.sent(12345))
        await store._db.set_trace_callback(None)
    writes = [s for s in statements if s.startswith(("INSERT", "DELETE"))]
    assert writes[0].startswith("DELETE FROM outbox"), writes[:3]
    assert len(writes) == 11


async def test_after_a_lock_elsewhere_writes_fail_at_once_without_asking_sqlite(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.sqlite3"
    statements: list[str] = []
    async with SQLiteStore(path, busy_timeout_ms=50, locked_backoff=3600) as store:
        assert store._db is not None
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            with pytest.raises(StoreUnavailable):
                await store.save(KEY, Session(flow="triage"))
            await store._db.set_trace_callback(statements.append)
            with pytest.raises(StoreUnavailable, match="locked elsewhere"):
                await store.save(KEY, Session(flow="triage"))
            await store._db.set_trace_callback(None)
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
    assert statements == []


async def test_a_batch_keeps_within_its_round_trips_and_statements() -> None:
    """A run of one statement from jobs that want no counts is one round trip; others one each."""
    batches: list[list[str]] = []

    async def write_batch(batch: list[Job]) -> None:
        batches.append([str(sql) for job in batch for sql, _ in job.statements])
        for job in batch:
            job.settle([])

    group = GroupCommit(write_batch, round_trips=3, statements=8)
    writes = [group.write([("save", ())]) for _ in range(10)]  # one run, but 8 statements at most
    turns = [group.write([("a", ()), ("b", ())]) for _ in range(3)]  # two round trips each
    counted = [group.write([("save", ())], counted=True) for _ in range(2)]  # never merged
    big = group.write([(str(n), ()) for n in range(5)])  # over the limit: goes alone
    await asyncio.wait_for(asyncio.gather(*writes, *turns, *counted, big), 5)
    assert batches == [
        ["save"] * 8,
        ["save"] * 2 + ["a", "b"],
        ["a", "b"],
        ["a", "b", "save"],
        ["save"],
        ["0", "1", "2", "3", "4"],
    ]


def test_runs_merge_only_the_same_statement_of_jobs_that_want_no_counts() -> None:
    from bot.storage.group_commit import runs

    loop = asyncio.new_event_loop()
    try:
        job = lambda statements, counted=False: Job(statements, counted, loop.create_future())  # noqa: E731
        batch = [
            job([("up", (1,))]),
            job([("up", (2,)), ("ins", (3,)), ("ins", (4,))]),
            job([("ins", (5,))], counted=True),
            job([("ins", (6,))]),
        ]
        assert runs(batch) == [
            ("up", [(0, (1,)), (1, (2,))]),
            ("ins", [(1, (3,)), (1, (4,))]),
            ("ins", [(2, (5,))]),
            ("ins", [(3, (6,))]),
        ]
    finally:
        loop.close()


async def test_a_batch_cancelled_mid_write_leaves_no_transaction_open(tmp_path: Path) -> None:
    """A drain cancelled while its BEGIN is on the way still rolls back: later writes commit."""
    path = tmp_path / "s.sqlite3"
    async with SQLiteStore(path) as store:
        saves = [
            asyncio.create_task(store.save(SessionKey("t", str(n)), Session(flow="triage")))
            for n in range(5)
        ]
        await asyncio.sleep(0)  # the saves are queued and the drain task created
        await asyncio.sleep(0)  # the drain has sent its BEGIN and waits for it
        drain = store._writer._drainer
        assert drain is not None and not drain.done()
        drain.cancel()
        results = await asyncio.gather(*saves, return_exceptions=True)
        assert all(isinstance(r, StoreUnavailable) for r in results)
        await store.save(KEY, Session(flow="triage", node="q_where"))
        assert store._db is not None and not store._db.in_transaction
    async with SQLiteStore(path) as again:
        assert await again.get(KEY) == Session(flow="triage", node="q_where")


async def test_a_write_queued_behind_a_drain_cancelled_before_it_ran_fails_not_hangs() -> None:
    async def write_batch(batch: list[Job]) -> None:
        for job in batch:
            job.settle([])

    group = GroupCommit(write_batch)
    first = asyncio.create_task(group.write([("first", ())]))
    await asyncio.sleep(0)  # queued; the drain task is created and not yet started
    assert group._drainer is not None
    group._drainer.cancel()
    with pytest.raises(StoreUnavailable):
        await asyncio.wait_for(first, 5)
    await asyncio.wait_for(group.wait(), 5)


async def test_writes_still_go_after_the_drain_was_cancelled_before_it_ran() -> None:
    """Loop shutdown may cancel the drain before its first step: later writes must not hang."""
    written: list[str] = []

    async def write_batch(batch: list[Job]) -> None:
        for job in batch:
            written.append(str(job.statements[0][0]))
            job.settle([])

    group = GroupCommit(write_batch)
    first = asyncio.create_task(group.write([("first", ())]))
    await asyncio.sleep(0)  # the job is queued and the drain task created, not yet started
    assert group._drainer is not None
    group._drainer.cancel()
    await asyncio.sleep(0)
    assert await asyncio.wait_for(group.write([("second", ())]), 5) == []
    await group.wait()
    assert "second" in written
    with pytest.raises(StoreUnavailable):  # the cancelled drain's own write failed, not hung
        await asyncio.wait_for(first, 5)
