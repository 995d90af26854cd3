"""Moderator views: flow pictures and anonymous usage statistics."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from bot.content.loader import Bundle
from bot.conversation.engine import Engine
from bot.events import Incoming, Reply, SessionKey
from bot.moderation import graph
from bot.storage.journal import SQLiteJournal, scrub
from bot.storage.mailbox import Arrival, Receipt
from bot.storage.sqlite import SQLiteStore

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False,
    )  # fmt: skip


def test_mermaid_shows_every_node_choice_and_urgency(bundle: Bundle) -> None:
    flow = bundle.flows["triage"]
    text = graph.mermaid(bundle, flow)
    assert text.startswith("flowchart TD")
    for node in flow.nodes:
        assert f"    {node.id}" in text
    assert 'q_where -->|"Eyelid or face"| q_duration' in text
    assert "flag_stroke" in text and "escalate: stroke" in text
    assert (
        f"stroke:{graph.COLOURS['emergency']}" in text
        and f"stroke:{graph.COLOURS['routine']}" in text
    )
    assert 'result(["Outcome: report"])' in text


def test_dot_and_svg(bundle: Bundle, tmp_path: Path) -> None:
    text = graph.dot(bundle, bundle.flows["menu"])
    assert text.startswith('digraph "menu"') and '"main" -> "action_triage"' in text
    done = run("graph", "triage", "--format", "svg", "-o", str(tmp_path / "t.svg"))
    if shutil.which("dot"):
        assert done.returncode == 0, done.stderr
        assert "<svg" in (tmp_path / "t.svg").read_text()
    else:
        assert done.returncode == 2 and "Graphviz" in done.stderr


def test_unknown_flow_is_a_clear_error() -> None:
    done = run("graph", "nope")
    assert done.returncode == 2 and "flows: menu, triage" in done.stderr


def test_scrub_removes_identifiers() -> None:
    assert scrub("Mail me at jo@example.org or +44 7700 900123, I'm @jo_b, age 42") == (
        "mail me at [email] or [number], i'm [handle], age [n]"
    )


async def test_stats_from_real_conversations(bundle: Bundle, tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite3"
    async with SQLiteStore(db) as store, SQLiteJournal(db) as journal:
        engine = Engine(bundle, store, journal)

        async def say(user: str, *turns: str) -> None:
            for turn in turns:
                if turn.startswith("!"):
                    await engine.handle(Incoming(SessionKey("telegram", user), button=turn[1:]))
                else:
                    await engine.handle(Incoming(SessionKey("telegram", user), text=turn))

        complete = ["/triage", "!triage.q_what.twitch", "!triage.q_where.eye_face", "!triage.q_duration.days",
                    "!triage.q_frequency.daily", "!triage.q_other.none", "!triage.q_diet.varied",
                    "!triage.q_meds.no_meds", "!triage.q_alcohol.alcohol_none", "!triage.q_caffeine.caffeine_low",
                    "!triage.q_sleep.sleep_fine", "!triage.q_age.under_50"]  # fmt: skip
        await say("11111", *complete)
        await say("22222", "/triage", "!triage.q_what.cramp")  # leaves at q_where
        await say("33333", "/triage", "!triage.q_what.cramp")
        await say(
            "44444",
            "I can't breathe",
            "my heart is racing and my legs feel weak",
            "purple monkey dishwasher jo@example.org",
        )
        # the delivery figures: one update set aside, one waiting, one reply failed
        await store.receive([Arrival("telegram", str(n), "1", "1", "{}") for n in range(3)])
        bad, done, _ = await store.waiting("telegram")
        await store.set_aside(bad.seq, "ValueError")
        await store.finish(Receipt(done.seq, "telegram", "1", "1", "{}"), [Reply("x")], None, 0)
        ((reply, _),) = await store.outbox("telegram")
        await store.give_up(reply.id, "blocked", time.time())
    stats = run("stats", "--json", "--db", str(db))
    assert stats.returncode == 0, stats.stderr
    data = json.loads(stats.stdout)
    assert data["flows"]["triage"] == {"started": 3, "completed": 1}
    assert data["drop_off"] == {"triage.q_where": 2}
    assert data["red_flags_by_urgency"] == {"emergency": 1, "urgent": 1}
    assert data["unanswered"] == {"purple monkey dishwasher [email]": 1}
    assert data["delivery"] == {"waiting": 1, "set_aside": 1, "unsent": 0, "failed": 1}
    table = run("stats", "--db", str(db))
    assert "Where people leave a flow" in table.stdout and "triage.q_where  2" in table.stdout
    assert any(
        line.endswith(" 1") and "replies not delivered" in line
        for line in table.stdout.splitlines()
    )
    with sqlite3.connect(db) as conn:
        usage = "\n".join(str(r) for r in conn.execute("SELECT * FROM usage"))
    assert "11111" not in usage and "44444" not in usage and "example.org" not in usage


def test_stats_without_a_database_is_a_clear_error(tmp_path: Path) -> None:
    done = run("stats", "--db", str(tmp_path / "missing.sqlite3"))
    assert done.returncode == 2 and "no session database" in done.stderr
