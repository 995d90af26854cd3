"""Scale benchmark: turns per second with 1, 2 and 4 worker processes on PostgreSQL, next to
the single-process bot on SQLite, in the same run.

Each side answers the same inbox: ``--users`` conversations x ``--messages`` updates each,
stored before the clock starts. A turn is the whole delivery path the bot runs: claim (or, on
SQLite, look at) the inbox, the engine's turn (session read, rules, safety check), the
transaction that saves the session, marks the update done and queues the replies, then the
outbox: claim the replies and record them sent. Sending itself is a no-op, so the figures are
the bot's and the database's cost, not a network's. Every process counts its database round
trips (asyncpg statements, or SQLite statements). Latency is per turn, from the claim to the
commit.

On a machine with few cores, more workers cannot add cores: the figures show how the per-turn
cost splits between the bot (CPU in the worker) and the database (round trips), and what one
core delivers, which is what the sizing table in the README uses.

Needs a PostgreSQL server: NERVEBOT_TEST_POSTGRES (as the tests use) or --postgres URL.

Usage: python benchmarks/scale.py [--users 200] [--messages 10] [--workers 1 2 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_POSTGRES = "postgresql://nervebot:nervebot@127.0.0.1:5432/nervebot"
#: What each conversation sends, in turn: a check by buttons and a few questions.
SCRIPT = [
    ("text", "/triage"), ("button", "triage.q_what.cramp"), ("button", "triage.q_where.legs_feet"),
    ("text", "a few nights a week"), ("button", "triage.q_frequency.at_night"),
    ("text", "can coffee make my eye twitch"), ("button", "triage.q_other.none"),
    ("text", "what foods have magnesium?"), ("button", "triage.q_diet.varied"),
    ("button", "triage.q_meds.no_meds"),
]  # fmt: skip


def _payloads(users: int, messages: int) -> list[tuple[str, str, str]]:
    """(update id, conversation, payload) in arrival order: round robin over conversations."""
    out = []
    for n in range(messages):
        kind, value = SCRIPT[n % len(SCRIPT)]
        for user in range(users):
            payload = json.dumps({"user": str(user), kind: value})
            out.append((f"{n}-{user}", str(user), payload))
    return out


def _count_round_trips(kind: str) -> list[int]:
    """Patch the driver so every statement sent to the database is counted; returns the counter."""
    counter = [0]
    if kind == "postgres":
        import asyncpg

        for name in ("execute", "executemany", "fetch", "fetchval", "fetchrow"):
            original = getattr(asyncpg.Connection, name)

            async def counted(self: Any, *args: Any, _original: Any = original, **kw: Any) -> Any:
                counter[0] += 1
                return await _original(self, *args, **kw)

            setattr(asyncpg.Connection, name, counted)
    else:
        import aiosqlite

        for name in ("execute", "execute_fetchall", "executemany"):
            original = getattr(aiosqlite.Connection, name)

            async def counted_sqlite(
                self: Any, *args: Any, _original: Any = original, **kw: Any
            ) -> Any:
                counter[0] += 1
                return await _original(self, *args, **kw)

            setattr(aiosqlite.Connection, name, counted_sqlite)
    return counter


def _worker(kind: str, target: str, schema: str, total: int, out: Any, index: int) -> None:
    """One process: answer the inbox until every update is answered and every reply sent."""
    counter = _count_round_trips(kind)
    from bot.content.loader import bundled_content_dir, load_content
    from bot.conversation.delivery import Courier, Letter
    from bot.conversation.engine import Engine
    from bot.events import Incoming, Reply, SessionKey
    from bot.language.embedding import load_embedder
    from bot.storage.postgres import PostgresStore
    from bot.storage.sqlite import SQLiteStore

    latencies: list[float] = []

    async def main() -> None:
        store: Any = (
            PostgresStore(target, schema=schema, worker=f"bench-{index}")
            if kind == "postgres"
            else SQLiteStore(target)
        )
        async with store:
            engine = Engine(load_content(bundled_content_dir()), store, embedder=load_embedder())
            original = engine.answer

            async def timed(*args: Any, **kw: Any) -> Any:
                started = time.perf_counter()
                try:
                    return await original(*args, **kw)
                finally:
                    latencies.append(time.perf_counter() - started)

            engine.answer = timed  # type: ignore[method-assign]

            async def read(payload: str) -> Letter:
                data = json.loads(payload)
                key = SessionKey("bench", data["user"])
                incoming = (
                    Incoming(key, button=data["button"])
                    if "button" in data
                    else Incoming(key, text=data["text"])
                )
                return Letter(incoming, data["user"])

            async def send(address: str, reply: Reply, progress: int) -> None:
                return None

            courier = Courier("bench", engine, store, read, send, poll=0.05)
            stop = asyncio.Event()
            run = asyncio.create_task(courier.run(stop, grace=5))
            started = time.perf_counter()
            polls = 0
            while True:  # the benchmark's own look at the counts is not the bot's cost
                polls += 1
                counts = await store.delivery_counts("bench")
                if counts["waiting"] == 0 and counts["unsent"] == 0:
                    break
                await asyncio.sleep(0.05)
            elapsed = time.perf_counter() - started
            counter[0] -= 2 * polls
            stop.set()
            await run
            out.put({"elapsed": elapsed, "turns": len(latencies), "trips": counter[0],
                     "latencies": latencies})  # fmt: skip

    asyncio.run(main())


async def _fill(kind: str, target: str, schema: str, users: int, messages: int) -> None:
    from bot.storage.mailbox import Arrival
    from bot.storage.postgres import PostgresStore
    from bot.storage.sqlite import SQLiteStore

    store: Any = PostgresStore(target, schema=schema) if kind == "postgres" else SQLiteStore(target)
    async with store:
        arrivals = [Arrival("bench", u, c, c, p) for u, c, p in _payloads(users, messages)]
        for start in range(0, len(arrivals), 1000):
            await store.receive(arrivals[start : start + 1000])


async def _drop(url: str, schema: str) -> None:
    import asyncpg

    db = await asyncpg.connect(url)
    try:
        await db.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    finally:
        await db.close()


def run_side(kind: str, workers: int, args: argparse.Namespace) -> dict[str, float]:
    """Fill an inbox, answer it with ``workers`` processes, and sum up."""
    total = args.users * args.messages
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    with tempfile.TemporaryDirectory() as tmp:
        target = args.postgres if kind == "postgres" else str(Path(tmp) / "bench.sqlite3")
        asyncio.run(_fill(kind, target, schema, args.users, args.messages))
        ctx = multiprocessing.get_context("spawn")
        out = ctx.Queue()
        procs = [
            ctx.Process(target=_worker, args=(kind, target, schema, total, out, i))
            for i in range(workers)
        ]
        wall = time.perf_counter()
        for p in procs:
            p.start()
        results = [out.get(timeout=1800) for _ in procs]
        for p in procs:
            p.join()
        wall = time.perf_counter() - wall
        if kind == "postgres":
            asyncio.run(_drop(args.postgres, schema))
    turns = sum(r["turns"] for r in results)
    latencies = sorted(x for r in results for x in r["latencies"])
    elapsed = max(r["elapsed"] for r in results)
    return {
        "turns": turns,
        "per_s": turns / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "trips_per_turn": sum(r["trips"] for r in results) / max(turns, 1),
        "wall_s": wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--messages", type=int, default=10)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument(
        "--postgres", default=os.environ.get("NERVEBOT_TEST_POSTGRES", DEFAULT_POSTGRES)
    )
    args = parser.parse_args()
    workers = " ".join(map(str, args.workers))
    print(
        f"command: python benchmarks/scale.py --users {args.users} --messages {args.messages} "
        f"--workers {workers}"
    )
    print(f"cores: {os.cpu_count()}; {args.users * args.messages} turns per side\n")
    rows = [("SQLite, one process (baseline)", run_side("sqlite", 1, args))]
    for n in args.workers:
        rows.append(
            (f"PostgreSQL, {n} worker{'s' if n > 1 else ''}", run_side("postgres", n, args))
        )
    base = rows[0][1]["per_s"]
    print(
        f"{'side':<34} {'turns/s':>8} {'vs base':>8} {'p50 ms':>7} {'p99 ms':>7} {'db trips/turn':>14}"
    )
    for name, r in rows:
        print(
            f"{name:<34} {r['per_s']:>8.0f} {r['per_s'] / base:>8.2f} {r['p50_ms']:>7.1f} "
            f"{r['p99_ms']:>7.1f} {r['trips_per_turn']:>14.1f}"
        )
    single = next((r for name, r in rows if name == "PostgreSQL, 1 worker"), None)
    if single is not None:  # one worker is one core's worth of bot; the database is apart
        print(f"\nPostgreSQL, per core (one worker): {single['per_s']:.0f} turns/s")


if __name__ == "__main__":
    main()
