"""The courier: the inbox answered in order per conversation, the outbox sent with retries."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from bot.content.loader import Bundle
from bot.conversation.delivery import Courier, Letter
from bot.conversation.engine import Engine
from bot.errors import DeliveryError
from bot.events import Incoming, Reply, SessionKey
from bot.storage.mailbox import Arrival
from bot.storage.sqlite import SQLiteStore
from bot.storage.store import MemoryStore


async def read(payload: str) -> Letter | None:
    """The test platform's updates: {"user": ..., "text": ...} or {"button": ...}."""
    data = json.loads(payload)
    if data.get("ignore"):
        return None
    key = SessionKey("test", str(data["user"]))
    incoming = Incoming(key, text=data.get("text"), button=data.get("button"))
    return Letter(incoming, json.dumps({"to": data["user"]}))


class Outbox:
    """What the test platform received, and faults to answer with."""

    def __init__(self) -> None:
        self.got: list[tuple[str, str]] = []  # (user, text)
        self.fail: Callable[[str, Reply], DeliveryError | None] = lambda _to, _reply: None
        self.calls = 0

    async def send(self, address: str, reply: Reply, progress: int) -> None:
        self.calls += 1
        to = str(json.loads(address)["to"])
        error = self.fail(to, reply)
        if error is not None:
            raise error
        await asyncio.sleep(0)
        self.got.append((to, reply.text))

    def to(self, user: str) -> list[str]:
        return [text for who, text in self.got if who == user]

    async def wait(self, ok: Callable[[], bool], timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while not ok():
            assert time.monotonic() < deadline, f"timed out; got {self.got[-5:]}"
            await asyncio.sleep(0.01)


async def eventually(check: Callable[[], Awaitable[object]], timeout: float = 15) -> None:
    """Wait until ``check()`` gives something true."""
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "the condition never became true"
        await asyncio.sleep(0.01)


async def nothing_to_send(store: SQLiteStore) -> bool:
    """True once every reply in the outbox is marked sent."""
    return not await store.outbox("test")


def update(update_id: int, user: str, **body: object) -> Arrival:
    return Arrival("test", str(update_id), user, user, json.dumps({"user": user, **body}))


@asynccontextmanager
async def courier_running(
    bundle: Bundle,
    db: Path,
    out: Outbox,
    *,
    reader: Callable[[str], Awaitable[Letter | None]] = read,
    clock: Callable[[], float] = time.time,
    grace: float = 5.0,
) -> AsyncIterator[tuple[Courier, SQLiteStore, asyncio.Event]]:
    async with SQLiteStore(db) as store:
        courier = Courier(
            "test",
            Engine(bundle, store),
            store,
            reader,
            out.send,
            backoff=0.01,
            poll=0.05,
            clock=clock,
        )
        stop = asyncio.Event()
        task = asyncio.create_task(courier.run(stop, grace))
        try:
            yield courier, store, stop
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)


async def test_each_conversation_is_answered_in_order(bundle: Bundle, tmp_path: Path) -> None:
    commands = ["/start", "/about", "/help"]
    reference = Engine(bundle, MemoryStore())
    key = SessionKey("test", "0")
    expected = [r.text for c in commands for r in await reference.handle(Incoming(key, text=c))]

    async def uneven(payload: str) -> Letter | None:  # the first update is the slowest to read
        await asyncio.sleep(0.05 if "/start" in payload else 0)
        return await read(payload)

    out = Outbox()
    async with courier_running(bundle, tmp_path / "d.db", out, reader=uneven) as (
        courier,
        store,
        _,
    ):
        arrivals = [
            update(n * 10 + user, str(user), text=command)
            for n, command in enumerate(commands)
            for user in range(5)
        ]
        await store.receive(arrivals)
        courier.wake()
        await out.wait(lambda: len(out.got) >= 5 * len(expected))
        await asyncio.sleep(0.1)
    for user in map(str, range(5)):
        assert out.to(user) == expected


async def test_failed_sends_are_retried_in_order_until_sent(bundle: Bundle, tmp_path: Path) -> None:
    out = Outbox()
    failures = {"1": 4}

    def fail(to: str, reply: Reply) -> DeliveryError | None:
        if failures.get(to, 0) > 0:
            failures[to] -= 1
            return DeliveryError("500 Internal Server Error", retry=True)
        return None

    out.fail = fail
    async with courier_running(bundle, tmp_path / "d.db", out) as (courier, store, _):
        await store.receive([update(1, "1", text="/about"), update(2, "1", text="/help"),
                             update(3, "2", text="/about")])  # fmt: skip
        courier.wake()
        await out.wait(lambda: len(out.got) >= 3)
        await eventually(lambda: nothing_to_send(store))  # marked sent just after the send returns
    assert "health-education" in out.to("1")[0]  # the first reply first, despite 4 failures
    assert len(out.to("1")) == 2 and len(out.to("2")) == 1
    assert failures["1"] == 0


async def test_a_reply_past_its_deadline_is_recorded_as_failed(
    bundle: Bundle, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = Outbox()
    late = [0.0]

    def fail(to: str, reply: Reply) -> DeliveryError:
        late[0] = 3600 * 2  # the API stayed down past every deadline
        return DeliveryError("502 Bad Gateway", retry=True)

    out.fail = fail
    async with courier_running(
        bundle, tmp_path / "d.db", out, clock=lambda: time.time() + late[0]
    ) as (courier, store, _):
        await store.receive([update(1, "1", text="/about")])
        courier.wake()
        await eventually(lambda: store.failed_count("test"))
        assert await store.failed_count("test") == 1
        assert await store.outbox("test") == []
    assert out.got == [] and out.calls == 1
    assert any("recorded as failed" in r.getMessage() for r in caplog.records)


async def test_a_maybe_delivered_reply_is_not_sent_again(bundle: Bundle, tmp_path: Path) -> None:
    out = Outbox()
    out.fail = lambda to, reply: DeliveryError("connection lost after sending", retry=False)
    async with courier_running(bundle, tmp_path / "d.db", out) as (courier, store, _):
        await store.receive([update(1, "1", text="/about")])
        courier.wake()
        await eventually(lambda: store.failed_count("test"))
    assert out.calls == 1


async def test_an_update_that_cannot_be_read_is_set_aside_and_logged_once(
    bundle: Bundle, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def picky(payload: str) -> Letter | None:
        if "zebra" in payload:
            raise TypeError("cannot parse")
        return await read(payload)

    out = Outbox()
    async with courier_running(bundle, tmp_path / "d.db", out, reader=picky) as (courier, store, _):
        await store.receive([update(7, "1", text="private zebra words"), update(8, "1", text="/about"),
                             update(9, "2", ignore=True)])  # fmt: skip
        courier.wake()
        await out.wait(lambda: len(out.got) >= 1)
        for _ in range(200):
            if not await store.waiting("test"):
                break
            await asyncio.sleep(0.01)
        assert await store.waiting("test") == []
    logged = [r for r in caplog.records if "set aside" in r.getMessage()]
    assert len(logged) == 1 and "7" in logged[0].getMessage()
    assert all("zebra" not in r.getMessage() for r in caplog.records)
    assert len(out.to("1")) == 1 and out.to("2") == []


async def test_after_a_restart_waiting_updates_and_unsent_replies_go_out(
    bundle: Bundle, tmp_path: Path
) -> None:
    db = tmp_path / "d.db"
    never = Outbox()
    never.fail = lambda to, reply: DeliveryError("down", retry=True)
    async with courier_running(bundle, db, never) as (courier, store, _):
        await store.receive([update(1, "1", text="/about")])
        courier.wake()
        for _ in range(500):  # answered: its reply waits in the outbox
            if not await store.waiting("test") and await store.outbox("test"):
                break
            await asyncio.sleep(0.01)
    async with SQLiteStore(db) as store:  # an update that arrived while it was down
        await store.receive([update(2, "2", text="/help")])
    out = Outbox()
    async with courier_running(bundle, db, out) as (_, store, _):
        await out.wait(lambda: len(out.got) >= 2)
        await asyncio.sleep(0.1)
    assert len(out.to("1")) == 1 and len(out.to("2")) == 1


async def test_stop_finishes_turns_in_progress_and_leaves_the_rest_waiting(
    bundle: Bundle, tmp_path: Path
) -> None:
    async def slow(payload: str) -> Letter | None:
        await asyncio.sleep(0.02)
        return await read(payload)

    db = tmp_path / "d.db"
    out = Outbox()
    users = [str(u) for u in range(20)]
    async with courier_running(bundle, db, out, reader=slow) as (courier, store, stop):
        await store.receive(
            [update(n * 100 + int(u), u, text="/about") for n in range(5) for u in users]
        )
        courier.wake()
        await out.wait(lambda: len(out.got) >= 10)
        stop.set()
    async with SQLiteStore(db) as store:
        waiting = await store.waiting("test")
        queued = await store.outbox("test")
    waiting_by_user = {u: sum(r.conversation == u for r in waiting) for u in users}
    queued_by_user = {u: sum(o.conversation == u for o, _ in queued) for u in users}
    for user in users:  # nothing lost, nothing half-done: each update is waiting, queued or sent
        assert len(out.to(user)) + queued_by_user[user] + waiting_by_user[user] == 5
    assert waiting, "the backlog stays in the inbox"


async def test_a_locked_database_still_answers_and_marks_the_update_later(
    bundle: Bundle, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import sqlite3

    db = tmp_path / "d.db"
    out = Outbox()
    caplog.set_level(logging.WARNING)
    async with courier_running(bundle, db, out) as (courier, store, _):
        await store.receive([update(1, "1", text="/about")])
        other = sqlite3.connect(db, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        try:
            courier.wake()
            await out.wait(lambda: len(out.got) >= 1)  # answered directly, not saved
        finally:
            other.execute("ROLLBACK")
            other.close()
        for _ in range(500):
            if not await store.waiting("test"):
                break
            await asyncio.sleep(0.02)
        assert await store.waiting("test") == []  # marked done once the lock was gone
        await asyncio.sleep(0.2)
    assert len(out.to("1")) == 1  # and never answered twice
