"""One contract for the inbox and outbox, run against every backend."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.errors import StoreUnavailable
from bot.events import Button, Reply, SessionKey, Urgency
from bot.storage.mailbox import (
    KEEP_TRYING,
    KEEP_TRYING_EMERGENCY,
    REMEMBER_ANSWERED,
    Arrival,
    Change,
    Mailbox,
    MemoryMailbox,
    Receipt,
)
from bot.storage.postgres import PostgresStore
from bot.storage.sqlite import SQLiteStore
from bot.storage.store import Session

NOW = 1_000_000.0

Factory = Callable[[Path], Any]
BACKENDS: dict[str, Factory] = {
    "memory": lambda _path: MemoryMailbox(clock=lambda: NOW),
    "sqlite": lambda path: SQLiteStore(path / "m.sqlite3", clock=lambda: NOW),
}


@pytest.fixture(params=[*sorted(BACKENDS), "postgres"])
async def box(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    if request.param == "postgres":  # a real server (see conftest), a fresh schema per test
        url, schema = request.getfixturevalue("postgres_url"), request.getfixturevalue("pg_schema")
        backend: Any = PostgresStore(url, clock=lambda: NOW, schema=schema)
    else:
        backend = BACKENDS[request.param](tmp_path)
    async with backend as opened:
        yield opened


ALICE = SessionKey("telegram", "1")


def arrival(update_id: int, conversation: str = "1", payload: str = "{}") -> Arrival:
    return Arrival("telegram", str(update_id), conversation, conversation, payload)


def receipt(seq: int, conversation: str = "1") -> Receipt:
    return Receipt(seq, "telegram", conversation, conversation, '{"chat": 1}')


async def test_a_repeated_delivery_is_dropped(box: Mailbox) -> None:
    assert await box.receive([arrival(1), arrival(2)]) == 2
    assert await box.receive([arrival(2), arrival(3)]) == 1  # 2 was already there
    assert [r.update_id for r in await box.waiting("telegram")] == ["1", "2", "3"]
    assert await box.waiting("discord") == []


async def test_waiting_is_in_arrival_order_and_keeps_the_payload(box: Mailbox) -> None:
    await box.receive([arrival(9, "a", '{"x":1}'), arrival(3, "b", '{"y":2}')])
    rows = await box.waiting("telegram")
    assert [(r.update_id, r.conversation, r.payload) for r in rows] == [
        ("9", "a", '{"x":1}'),
        ("3", "b", '{"y":2}'),
    ]
    assert rows[0].seq < rows[1].seq


async def test_finish_saves_the_session_marks_done_and_queues_replies(box: Any) -> None:
    await box.receive([arrival(1, payload='{"text":"private words"}')])
    (row,) = await box.waiting("telegram")
    replies = [Reply("one", (Button("b", "B"),)), Reply("two", urgency=Urgency.EMERGENCY)]
    await box.finish(receipt(row.seq), replies, Change(ALICE, Session(flow="triage")), NOW)
    assert await box.waiting("telegram") == []
    assert (await box.get(ALICE)).flow == "triage"
    queued = await box.outbox("telegram")
    assert [(o.reply, o.address, at) for o, at in queued] == [
        (replies[0], '{"chat": 1}', NOW),
        (replies[1], '{"chat": 1}', NOW),
    ]
    assert queued[0][0].deadline == NOW + KEEP_TRYING
    assert queued[1][0].deadline == NOW + KEEP_TRYING_EMERGENCY  # an emergency is tried longer
    assert await box.receive([arrival(1)]) == 0  # answered: a repeat is still dropped


async def test_finish_can_delete_the_session_and_forget_queued_replies(box: Any) -> None:
    await box.receive([arrival(1), arrival(2)])
    first, second = await box.waiting("telegram")
    await box.finish(receipt(first.seq), [Reply("old")], Change(ALICE, Session(flow="t")), NOW)
    await box.finish(receipt(second.seq), [], Change(ALICE, None, forget=True), NOW)
    assert await box.get(ALICE) is None
    assert await box.outbox("telegram") == []


async def test_sent_postponed_and_failed_replies(box: Mailbox) -> None:
    await box.receive([arrival(1)])
    (row,) = await box.waiting("telegram")
    await box.finish(receipt(row.seq), [Reply("a"), Reply("b"), Reply("c")], None, NOW)
    (a, _), (b, _), (c, _) = await box.outbox("telegram")
    await box.sent(a.id)
    await box.postpone(b.id, NOW + 30, attempts=2, progress=1)
    await box.give_up(c.id, "blocked by the user", NOW)
    ((left, at),) = await box.outbox("telegram")
    assert (left.id, left.attempts, left.progress, at) == (b.id, 2, 1, NOW + 30)
    assert await box.failed_count() == 1 and await box.failed_count("discord") == 0


async def test_a_set_aside_update_is_not_waiting_and_not_received_again(box: Mailbox) -> None:
    await box.receive([arrival(1), arrival(2)])
    bad, good = await box.waiting("telegram")
    await box.set_aside(bad.seq, "ValueError")
    assert [r.seq for r in await box.waiting("telegram")] == [good.seq]
    assert await box.receive([arrival(1)]) == 0


async def test_purge_forgets_old_answered_ids_and_failures(box: Mailbox) -> None:
    await box.receive([arrival(1), arrival(2)])
    done, waiting = await box.waiting("telegram")
    await box.finish(receipt(done.seq), [Reply("x")], None, NOW - REMEMBER_ANSWERED - 1)
    ((out, _),) = await box.outbox("telegram")
    await box.give_up(out.id, "gone", NOW - REMEMBER_ANSWERED - 1)
    assert await box.purge_mail(NOW) == 2
    assert await box.failed_count() == 0
    assert [r.seq for r in await box.waiting("telegram")] == [waiting.seq]  # never purged
    assert await box.receive([arrival(1)]) == 1  # long forgotten: new again


async def test_sqlite_finish_is_all_or_nothing(tmp_path: Path) -> None:
    """Another process holds the write lock: the turn's commit fails and changes nothing."""
    path = tmp_path / "m.sqlite3"
    async with SQLiteStore(path, clock=lambda: NOW, locked_backoff=0) as box:
        await box.receive([arrival(1)])
        (row,) = await box.waiting("telegram")
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        try:
            with pytest.raises(StoreUnavailable):
                await box.finish(
                    receipt(row.seq), [Reply("a")], Change(ALICE, Session(flow="t")), NOW
                )
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert [r.seq for r in await box.waiting("telegram")] == [row.seq]
        assert await box.outbox("telegram") == []
        assert await box.get(ALICE) is None
        await box.finish(receipt(row.seq), [Reply("a")], Change(ALICE, Session(flow="t")), NOW)
        assert await box.waiting("telegram") == [] and len(await box.outbox("telegram")) == 1


async def test_sqlite_answered_payloads_are_cleared(tmp_path: Path) -> None:
    """Message texts are kept only while they wait: answered and set-aside rows lose them."""
    path = tmp_path / "m.sqlite3"
    async with SQLiteStore(path, clock=lambda: NOW) as box:
        await box.receive([arrival(1, payload="my secret"), arrival(2, payload="odd secret")])
        first, second = await box.waiting("telegram")
        await box.finish(receipt(first.seq), [Reply("reply secret")], None, NOW)
        await box.set_aside(second.seq, "ValueError")
        ((out, _),) = await box.outbox("telegram")
        await box.give_up(out.id, "blocked", NOW)
    dump = "\n".join(sqlite3.connect(path).iterdump())
    assert "secret" not in dump


async def test_ids_are_never_reused_once_the_outbox_empties(box: Mailbox) -> None:
    """The courier remembers sent ids: a new reply must never get an old reply's id."""
    seen: set[int] = set()
    for n in range(3):
        await box.receive([arrival(n)])
        (row,) = await box.waiting("telegram")
        await box.finish(receipt(row.seq), [Reply(f"r{n}")], None, NOW)
        ((out, _),) = await box.outbox("telegram")
        assert out.id not in seen
        seen.add(out.id)
        await box.sent(out.id)  # the outbox is empty again
    assert await box.purge_mail(NOW + 2 * REMEMBER_ANSWERED) == 3
    await box.receive([arrival(99)])
    (row,) = await box.waiting("telegram")
    assert row.seq not in {1, 2, 3}  # nor an inbox row's arrival number
