"""PostgreSQL: claims by several workers (one conversation at a time, in order, once), the
journal shared by processes, and NERVEBOT_DB selecting the server. Against a real server."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.content.loader import Bundle
from bot.conversation.engine import Engine
from bot.events import Incoming, Reply, SessionKey
from bot.storage.backends import Database, open_journal, open_store
from bot.storage.journal import AuditEntry
from bot.storage.mailbox import Arrival, Receipt
from bot.storage.postgres import PostgresJournal, PostgresStore, redact

ROOT = Path(__file__).resolve().parents[1]


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def workers(
    postgres_url: str, pg_schema: str, clock: Clock
) -> AsyncIterator[list[PostgresStore]]:
    """Three stores on one database, as three worker processes would have."""
    stores = [
        PostgresStore(postgres_url, clock=clock, schema=pg_schema, worker=f"w{i}") for i in range(3)
    ]
    for store in stores:
        await store.open()
    yield stores
    for store in stores:
        await store.close()


def arrival(n: int, conversation: str) -> Arrival:
    return Arrival("telegram", str(n), conversation, conversation, json.dumps({"n": n}))


def receipt(seq: int, conversation: str) -> Receipt:
    return Receipt(seq, "telegram", conversation, conversation, "{}")


async def test_claims_take_one_update_per_conversation_in_order(
    workers: list[PostgresStore],
) -> None:
    a, b, _ = workers
    await a.receive([arrival(1, "x"), arrival(2, "x"), arrival(3, "y"), arrival(4, "x")])
    first = await a.claim("telegram", limit=10)
    assert [(r.conversation, r.update_id) for r in first] == [("x", "1"), ("y", "3")]
    assert await b.claim("telegram", limit=10) == []  # both conversations are in progress
    await a.finish(receipt(first[0].seq, "x"), [Reply("one")], None, 1.0)
    second = await b.claim("telegram", limit=10)
    assert [(r.conversation, r.update_id) for r in second] == [("x", "2")]


async def test_a_dead_workers_claim_is_taken_over_and_answered_once(
    workers: list[PostgresStore], clock: Clock
) -> None:
    a, b, _ = workers
    await a.receive([arrival(1, "x")])
    [mine] = await a.claim("telegram", lease=30)
    assert await b.claim("telegram") == []
    clock.now += 31  # worker a stopped without finishing
    [taken] = await b.claim("telegram")
    assert taken.seq == mine.seq
    await b.finish(receipt(taken.seq, "x"), [Reply("from b")], None, clock.now)
    await a.finish(receipt(mine.seq, "x"), [Reply("from a, late")], None, clock.now)  # ignored
    sent = [o.reply.text for o, _ in await a.outbox("telegram")]
    assert sent == ["from b"]
    assert (await a.delivery_counts())["waiting"] == 0


async def test_replies_are_claimed_one_conversation_at_a_time(
    workers: list[PostgresStore], clock: Clock
) -> None:
    a, b, _ = workers
    await a.receive([arrival(1, "x"), arrival(2, "y")])
    for received in await a.claim("telegram"):
        replies = [Reply(f"{received.conversation}-1"), Reply(f"{received.conversation}-2")]
        await a.finish(receipt(received.seq, received.conversation), replies, None, clock.now)
    got = await a.claim_outbox("telegram")
    assert sorted(o.reply.text for o, _ in got) == ["x-1", "y-1"]
    assert await b.claim_outbox("telegram") == []  # each conversation has one being sent
    x1 = next(o for o, _ in got if o.conversation == "x")
    await a.sent(x1.id)
    [(x2, _)] = await b.claim_outbox("telegram")
    assert x2.reply.text == "x-2"
    await b.postpone(x2.id, clock.now + 5, 1, 0)  # a failed send: due again in 5 s
    assert await a.claim_outbox("telegram") == []
    clock.now += 6
    assert [o.reply.text for o, _ in await a.claim_outbox("telegram")] == ["x-2"]


async def test_three_workers_answer_every_update_once_in_order(
    workers: list[PostgresStore], clock: Clock
) -> None:
    conversations = [f"c{i}" for i in range(40)]
    arrivals = [arrival(n * 100 + i, c) for n in range(5) for i, c in enumerate(conversations)]
    await workers[0].receive(arrivals)
    await workers[0].receive(arrivals[:50])  # repeated deliveries are dropped
    answered: dict[str, list[int]] = defaultdict(list)

    async def work(store: PostgresStore) -> None:
        idle = 0
        while idle < 3:
            claimed = await store.claim("telegram", limit=5)
            idle = 0 if claimed else idle + 1
            for received in claimed:
                answered[received.conversation].append(received.seq)
                await asyncio.sleep(0)  # let the other workers in
                note = Reply(f"{received.update_id}")
                await store.finish(
                    receipt(received.seq, received.conversation), [note], None, clock.now
                )
            await asyncio.sleep(0.01 if not claimed else 0)

    await asyncio.gather(*(work(store) for store in workers))
    seqs = [seq for got in answered.values() for seq in got]
    assert len(seqs) == len(set(seqs)) == len(arrivals)  # each once
    assert all(got == sorted(got) for got in answered.values())  # each conversation in order
    counts = await workers[0].delivery_counts()
    assert counts["waiting"] == 0 and counts["unsent"] == len(arrivals)


async def test_the_journal_is_shared_by_processes(postgres_url: str, pg_schema: str) -> None:
    alice = SessionKey("telegram", "1")
    one = PostgresJournal(postgres_url, pg_schema, flush_every=3600)
    two = PostgresJournal(postgres_url, pg_schema, flush_every=3600)
    async with one, two:
        one.unanswered(alice, "purple monkey, my name is Jo")
        one.count([("intent", "faq")])
        two.count([("intent", "faq"), ("red_flag", "urgent:x")])
        await one.flush()
        await two.flush()
        assert await two.questions(0) == [("purple monkey, [name]", 1)]
        assert ("intent", "faq", 2) in await one.usage("2000-01-01")
        await two.forget(alice)  # the same salt in every process: found by the other one
        assert await one.questions(0) == []
        await one.audit(AuditEntry(5.0, "v1", "startup", True, 0))
        assert [e.version for e in await two.audit_log()] == ["v1"]


async def test_an_engine_keeps_sessions_in_postgres(
    bundle: Bundle, postgres_url: str, pg_schema: str
) -> None:
    db = Database.parse(f"{postgres_url}?schema={pg_schema}")
    assert db.schema == pg_schema and "schema" not in (db.url or "")
    alice = SessionKey("console", "alice")
    async with open_store(db) as store, open_journal(db) as journal:
        engine = Engine(bundle, store, journal)
        await engine.handle(Incoming(alice, text="/triage"))
        replies = await engine.handle(Incoming(alice, button="triage.q_what.cramp"))
        assert replies[-1].node == "q_where"
    async with open_store(db) as store:  # another process, or a restart
        replies = await Engine(bundle, store).handle(
            Incoming(alice, button="triage.q_where.legs_feet")
        )
        assert replies[-1].node == "q_duration"


def test_nervebot_db_selects_postgres_and_never_shows_the_password(
    postgres_url: str, pg_schema: str, tmp_path: Path
) -> None:
    url = f"{postgres_url}?schema={pg_schema}"
    env = {**os.environ, "NERVEBOT_DB": url, "HOME": str(tmp_path), "NO_COLOR": "1"}
    chat = subprocess.run(
        [sys.executable, "-m", "bot", "chat", "--json"],
        input="/triage\n", capture_output=True, text=True, env=env, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert chat.returncode == 0, chat.stderr
    assert json.loads(chat.stdout.splitlines()[-1])["node"] == "q_what"
    assert not list(tmp_path.rglob("*.sqlite3"))  # nothing went to a SQLite file
    bad = url.replace(":5432/", ":1/")  # a closed port
    failed = subprocess.run(
        [sys.executable, "-m", "bot", "chat", "--json", "--db", bad],
        input="hi\n", capture_output=True, text=True, env=env, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert failed.returncode == 2
    password = postgres_url.split("@")[0].rsplit(":", 1)[-1]
    assert f":{password}@" not in failed.stderr and ":***@" in failed.stderr
    assert redact("postgresql://u:secret@h/db") == "postgresql://u:***@h/db"


async def test_a_content_version_one_process_loads_reaches_the_others(
    bundle: Bundle, postgres_url: str, pg_schema: str, content_copy: Path
) -> None:
    from bot.content.loader import load_content
    from bot.moderation.content_manager import ContentManager

    first = load_content(content_copy)
    async with (
        PostgresStore(postgres_url, schema=pg_schema) as store,
        PostgresJournal(postgres_url, pg_schema, flush_every=3600) as journal_a,
        PostgresJournal(postgres_url, pg_schema, flush_every=3600) as journal_b,
    ):
        a, b = Engine(first, store, journal_a), Engine(first, store, journal_b)
        follower = ContentManager(a, content_copy, journal_a)
        loader = ContentManager(b, content_copy, journal_b)
        stop = asyncio.Event()
        following = asyncio.create_task(follower.follow(stop, every=0.1))
        try:
            messages = content_copy / "messages.yaml"
            text = messages.read_text(encoding="utf-8")
            messages.write_text(text.replace("Start again", "Begin again", 1), encoding="utf-8")
            assert (await loader.reload("file watch")).ok  # process b saw the edit
            for _ in range(100):  # process a did not (a network volume): it follows the log
                if a.content.version == b.content.version:
                    break
                await asyncio.sleep(0.1)
        finally:
            stop.set()
            await following
    assert a.content.version == b.content.version != first.version
