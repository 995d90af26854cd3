"""Engine benchmark: 1,000 simulated users x 20 messages through the engine and SQLite on disk.

The engine runs as `nervebot run` builds it: SQLite session store, the usage journal and the
safety recall net's packaged model.
Compared, in the same run, with a baseline: a bare aiosqlite loop that reads and writes one
session row per message (same file settings: WAL, synchronous=NORMAL, autocommit).

Each side runs in its own process (so peak RSS is its own) in two phases:
- saturated: all users at once, each sending its next message as soon as the last is answered;
  gives messages/s (capacity) and latency with 1,000 messages in flight;
- paced: the same users with random think time between messages (uniform, mean 0.5 s), so
  1,000 users offer about 2,000 messages/s, far above what real people type; gives the
  latency a user sees under a heavy but sustainable load.

Then `nervebot chat --json` is started a few times and timed to its first answer, and the
safety check (findings, context, rules, recall net) is timed alone on every vignette in
tests/data.

``--reading`` only times the reading of a message: the safety check over every vignette and
the answer lookup (topic router and answer cards) over every held-out question.

``--store-only`` only measures saturated messages/s of the engine's own path (per-user
lock, session read and write, usage journal) with a conversation that answers every turn
with one fixed reply, against the baseline: what the store costs without any reading.

``--reading --busy`` times the reading while another process keeps one core busy;
``--blas-threads N`` lets numpy's BLAS use N threads there (the bot keeps it to one:
`bot.language.embedding.one_blas_thread`).

``--stemmers RUNS`` only times `nervebot chat --json` to its first answer, with PyStemmer and
with the pure-Python stemmer it replaces.

Usage: python benchmarks/engine.py [--users 1000] [--messages 20] [--reading [--busy]
       [--blas-threads N]] [--store-only] [--stemmers RUNS]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# One user's 20 turns: greeting, a full symptom check, questions, a red flag, a new check.
SCRIPT: list[tuple[str, str]] = [
    ("text", "hello"),
    ("text", "/triage"),
    ("button", "triage.q_what.twitch"),
    ("button", "triage.q_where.eye_face"),
    ("text", "a few days"),
    ("button", "triage.q_frequency.daily"),
    ("button", "triage.q_other.none"),
    ("text", "what foods have magnesium?"),
    ("button", "triage.q_diet.varied"),
    ("button", "triage.q_meds.no_meds"),
    ("button", "triage.q_alcohol.alcohol_none"),
    ("button", "triage.q_caffeine.caffeine_high"),
    ("button", "triage.q_sleep.both"),
    ("button", "triage.q_age.under_50"),
    ("text", "can coffee make my eye twitch"),
    ("text", "/nutrient b12"),
    ("button", "n:vitamin_b12:intake"),
    ("text", "no chest pain, but I can't breathe well"),
    ("text", "/triage"),
    ("button", "triage.q_what.cramp"),
]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _drive(handle, users: int, messages: int, pace: float | None) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Run every user's script; ``pace`` is the mean think time in seconds (None: no pause)."""
    latencies: list[float] = []
    rng = random.Random(7)

    async def user(index: int) -> None:
        if pace:
            await asyncio.sleep(rng.uniform(0, 2 * pace))
        for turn in range(messages):
            kind, value = SCRIPT[turn % len(SCRIPT)]
            started = time.perf_counter()
            await handle(index, kind, value)
            latencies.append(time.perf_counter() - started)
            if pace:
                await asyncio.sleep(rng.uniform(0, 2 * pace))

    started = time.perf_counter()
    await asyncio.gather(*(user(i) for i in range(users)))
    elapsed = time.perf_counter() - started
    return {
        "messages": len(latencies),
        "seconds": elapsed,
        "rate": len(latencies) / elapsed,
        "p50_ms": _percentile(latencies, 0.50) * 1000,
        "p99_ms": _percentile(latencies, 0.99) * 1000,
    }


async def _engine_worker(
    db: Path, users: int, messages: int, pace: float | None
) -> dict[str, float]:
    from bot.content.loader import bundled_content_dir, load_content
    from bot.conversation.engine import Engine
    from bot.conversation.flood import FloodGuard
    from bot.events import Incoming, SessionKey
    from bot.language.embedding import load_embedder
    from bot.storage.journal import SQLiteJournal
    from bot.storage.sqlite import SQLiteStore

    bundle = load_content(bundled_content_dir())
    async with SQLiteStore(db) as store, SQLiteJournal(db) as journal:
        # capacity is measured without the per-user flood limit (its users type 2 messages/s)
        engine = Engine(bundle, store, journal, load_embedder(), FloodGuard.off())
        keys = [SessionKey("bench", str(i)) for i in range(users)]

        async def handle(index: int, kind: str, value: str) -> None:
            incoming = Incoming(keys[index], **{kind: value})
            replies = await engine.handle(incoming)
            assert replies

        return await _drive(handle, users, messages, pace)


class _FixedReply:
    """A conversation that answers every turn with one reply and moves the session along:
    the engine's own path without reading a message (``--store-only``)."""

    def __init__(self, bundle):  # type: ignore[no-untyped-def]
        self.bundle = bundle

    def respond(self, session, incoming):  # type: ignore[no-untyped-def]
        from bot.conversation.dialogue import Turn
        from bot.events import Reply

        session.flow, session.node = "triage", "q_what"
        turn = Turn(public=incoming.public)
        turn.replies.append(Reply("ok"))
        return turn


async def _stub_worker(db: Path, users: int, messages: int, pace: float | None) -> dict[str, float]:
    from bot.content.loader import bundled_content_dir, load_content
    from bot.conversation.engine import Engine
    from bot.conversation.flood import FloodGuard
    from bot.events import Incoming, SessionKey
    from bot.storage.journal import SQLiteJournal
    from bot.storage.sqlite import SQLiteStore

    bundle = load_content(bundled_content_dir())
    async with SQLiteStore(db) as store, SQLiteJournal(db) as journal:
        engine = Engine(bundle, store, journal, None, FloodGuard.off())
        engine._dialogue = _FixedReply(bundle)  # type: ignore[assignment]  # only the store path
        keys = [SessionKey("bench", str(i)) for i in range(users)]

        async def handle(index: int, kind: str, value: str) -> None:
            assert await engine.handle(Incoming(keys[index], **{kind: value}))

        return await _drive(handle, users, messages, pace)


async def _baseline_worker(
    db: Path, users: int, messages: int, pace: float | None
) -> dict[str, float]:
    import aiosqlite

    async with aiosqlite.connect(db, isolation_level=None) as conn:
        await conn.execute("PRAGMA journal_mode = WAL")
        await conn.execute("PRAGMA synchronous = NORMAL")
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS sessions (platform TEXT NOT NULL, user_id TEXT NOT NULL, "
            "data TEXT NOT NULL, updated_at REAL NOT NULL, PRIMARY KEY (platform, user_id)) WITHOUT ROWID"
        )

        async def handle(index: int, kind: str, value: str) -> None:
            rows = await conn.execute_fetchall(
                "SELECT data FROM sessions WHERE platform = ? AND user_id = ?",
                ("bench", str(index)),
            )
            data = json.loads(rows[0][0]) if rows else {}
            data["last"] = value
            await conn.execute(
                "INSERT INTO sessions VALUES (?, ?, ?, ?) ON CONFLICT (platform, user_id) "
                "DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
                ("bench", str(index), json.dumps(data), time.time()),
            )

        return await _drive(handle, users, messages, pace)


def _worker(kind: str, db: str, users: int, messages: int, pace: float) -> None:
    fn = {"engine": _engine_worker, "stub": _stub_worker}.get(kind, _baseline_worker)
    result = asyncio.run(fn(Path(db), users, messages, pace or None))
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def _spawn(kind: str, users: int, messages: int, pace: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(
            [
                sys.executable,
                __file__,
                "--worker",
                kind,
                "--db",
                str(Path(tmp) / "b.sqlite3"),
                "--users",
                str(users),
                "--messages",
                str(messages),
                "--pace",
                str(pace),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    return json.loads(done.stdout.strip().splitlines()[-1])


#: Starts the bot as ``python -m bot`` does, with PyStemmer hidden: snowballstemmer then uses
#: its own pure-Python stemmers (what an install without PyStemmer gets).
_PURE_STEMMER = (
    "import runpy, sys; sys.modules['Stemmer'] = None; runpy.run_module('bot', run_name='__main__')"
)


def _first_answer_seconds(runs: int, pure_stemmer: bool = False) -> list[float]:
    times = []
    start = ["-c", _PURE_STEMMER] if pure_stemmer else ["-m", "bot"]
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            proc = subprocess.Popen(
                [
                    sys.executable,
                    *start,
                    "chat",
                    "--json",
                    "--db",
                    str(Path(tmp) / "c.sqlite3"),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
            assert proc.stdin and proc.stdout
            proc.stdin.write("hello\n")
            proc.stdin.flush()
            proc.stdout.readline()
            times.append(time.perf_counter() - started)
            proc.stdin.close()
            proc.wait()
    return times


def _embedder(blas_threads: int | None):  # type: ignore[no-untyped-def]
    """The packaged model as the bot loads it (BLAS kept to one thread), then, with
    ``blas_threads``, BLAS allowed that many threads."""
    from bot.language.embedding import load_embedder

    embedder = load_embedder()
    if blas_threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=blas_threads, user_api="blas")
    return embedder


def _safety_cost(blas_threads: int | None = None) -> tuple[float, float, int]:
    """Mean and p99 microseconds of the safety check per message, over every vignette."""
    import yaml

    from bot.content.loader import bundled_content_dir, load_content
    from bot.language.safety import RedFlagScanner

    scanner = RedFlagScanner(load_content(bundled_content_dir()).safety, _embedder(blas_threads))
    texts = [
        text
        for path in sorted((ROOT / "tests" / "data").rglob("vignettes*.yaml"))
        for group in yaml.safe_load(path.read_text(encoding="utf-8")).values()
        for text in group
    ]
    for text in texts:  # warm the matcher's caches, as a running bot has them
        scanner.assess(text)
    costs = []
    for text in texts * 3:
        started = time.perf_counter()
        scanner.assess(text)
        costs.append(time.perf_counter() - started)
    return statistics.mean(costs) * 1e6, _percentile(costs, 0.99) * 1e6, len(texts)


def _lookup_cost(blas_threads: int | None = None) -> tuple[float, float, int]:
    """Mean and p99 microseconds of answering a question's words (the topic router and the
    answer cards' decision), over every held-out question."""
    import yaml

    from bot.content.loader import bundled_content_dir, load_content
    from bot.conversation.dialogue import Dialogue

    dialogue = Dialogue(load_content(bundled_content_dir()), _embedder(blas_threads))
    texts = [
        item["text"]
        for path in sorted((ROOT / "tests" / "data" / "heldout").glob("questions_*.yaml"))
        for item in yaml.safe_load(path.read_text(encoding="utf-8"))
    ]
    for text in texts:  # warm the caches, as a running bot has them
        dialogue.lookup(text, dialogue.understanding.route(text))
    costs = []
    for text in texts * 3:
        started = time.perf_counter()
        dialogue.lookup(text, dialogue.understanding.route(text))
        costs.append(time.perf_counter() - started)
    return statistics.mean(costs) * 1e6, _percentile(costs, 0.99) * 1e6, len(texts)


def _reading_report(blas_threads: int | None = None) -> None:
    """Print the per-message reading costs: the safety check and the answer lookup (with
    ``blas_threads``, numpy's BLAS may use that many threads, once the model is loaded)."""
    safety_mean, safety_p99, safety_n = _safety_cost(blas_threads)
    lookup_mean, lookup_p99, lookup_n = _lookup_cost(blas_threads)
    print(
        f"safety check per message (findings, context, rules, net): mean {safety_mean:.0f} us, "
        f"p99 {safety_p99:.0f} us over {safety_n} vignettes x 3"
    )
    print(
        f"answer lookup per question (topic router, answer cards): mean {lookup_mean:.0f} us, "
        f"p99 {lookup_p99:.0f} us over {lookup_n} held-out questions x 3"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--worker", choices=["engine", "baseline", "stub"])
    parser.add_argument("--db")
    parser.add_argument("--pace", type=float, default=0.0)
    parser.add_argument(
        "--think", type=float, default=0.5, help="mean think time of paced users (s)"
    )
    only = parser.add_mutually_exclusive_group()
    only.add_argument(
        "--stemmers", type=int, metavar="RUNS",
        help="only time chat --json to its first answer, with PyStemmer and without, RUNS each",
    )  # fmt: skip
    only.add_argument(
        "--reading", action="store_true",
        help="only time the reading of a message: the safety check and the answer lookup",
    )  # fmt: skip
    only.add_argument(
        "--store-only", action="store_true",
        help="only saturated messages/s with a fixed-reply conversation, against the baseline",
    )  # fmt: skip
    parser.add_argument("--busy", action="store_true", help="with --reading: one core kept busy")
    parser.add_argument("--blas-threads", type=int, help="with --reading: BLAS threads allowed")
    args = parser.parse_args()
    if args.reading:
        extra = (" --busy" if args.busy else "") + (
            f" --blas-threads {args.blas_threads}" if args.blas_threads else ""
        )
        print(f"command: python benchmarks/engine.py --reading{extra}")
        spinner = (
            subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.busy else None
        )
        try:
            _reading_report(args.blas_threads)
        finally:
            if spinner is not None:
                spinner.kill()
                spinner.wait()
        return
    if args.store_only:
        print(f"command: python benchmarks/engine.py --store-only --users {args.users}")
        base = _spawn("baseline", args.users, args.messages, 0)
        stub = _spawn("stub", args.users, args.messages, 0)
        print(f"messages/s, saturated: baseline {base['rate']:,.0f}, "
              f"engine with a fixed-reply conversation {stub['rate']:,.0f} "
              f"(ratio {stub['rate'] / base['rate']:.2f})")  # fmt: skip
        return
    if args.stemmers:
        print(f"command: python benchmarks/engine.py --stemmers {args.stemmers}")
        c_build, python = [], []
        for _ in range(args.stemmers):  # alternated, so that a busy spell hits both alike
            c_build += _first_answer_seconds(1)
            python += _first_answer_seconds(1, pure_stemmer=True)
        print(f"`nervebot chat --json` start to first answer, median of {args.stemmers}: "
              f"{statistics.median(c_build):.2f} s with PyStemmer, "
              f"{statistics.median(python):.2f} s with the pure-Python stemmer")  # fmt: skip
        return
    if args.worker:
        _worker(args.worker, args.db, args.users, args.messages, args.pace)
        return

    command = f"python benchmarks/engine.py --users {args.users} --messages {args.messages} --think {args.think}"
    print(f"command: {command}")
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    base = _spawn("baseline", args.users, args.messages, 0)
    eng = _spawn("engine", args.users, args.messages, 0)
    # paced: every user waits 0-1 s (mean 0.5 s) before each message
    pace = args.think
    offered = args.users / pace
    base_paced = _spawn("baseline", args.users, args.messages, pace)
    eng_paced = _spawn("engine", args.users, args.messages, pace)
    first = _first_answer_seconds(5)

    rows = [
        ("messages/s, saturated (1,000 in flight)", base["rate"], eng["rate"], "{:,.0f}"),
        ("p50 ms, saturated", base["p50_ms"], eng["p50_ms"], "{:.1f}"),
        ("p99 ms, saturated", base["p99_ms"], eng["p99_ms"], "{:.1f}"),
        (
            f"p50 ms, paced (~{offered:,.0f} msg/s offered)",
            base_paced["p50_ms"],
            eng_paced["p50_ms"],
            "{:.2f}",
        ),
        (
            f"p99 ms, paced (~{offered:,.0f} msg/s offered)",
            base_paced["p99_ms"],
            eng_paced["p99_ms"],
            "{:.2f}",
        ),
        ("peak RSS MB (own process)", base["peak_rss_mb"], eng["peak_rss_mb"], "{:.0f}"),
    ]
    print(f"\n{'figure':<48} {'baseline':>10} {'engine':>10}")
    for name, b, e, fmt in rows:
        print(f"{name:<48} {fmt.format(b):>10} {fmt.format(e):>10}")
    ratio = eng["rate"] / base["rate"]
    print(f"\nengine / baseline messages/s: {ratio:.2f} (goal >= 0.50)")
    print(
        f"engine p99 paced (~{offered:,.0f} msg/s offered): {eng_paced['p99_ms']:.2f} ms (goal < 20 ms)"
    )
    print(f"engine peak RSS: {eng['peak_rss_mb']:.0f} MB, recall net model loaded (goal < 200 MB)")
    print(
        f"`nervebot chat --json` start to first answer: median {statistics.median(first):.2f} s, "
        f"max {max(first):.2f} s over {len(first)} runs (goal < 1 s)"
    )
    _reading_report()


if __name__ == "__main__":
    main()
