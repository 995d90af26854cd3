"""Live content updates on a running Telegram bot: valid edits go live, broken ones never do."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.telegram_bot import ChatRateLimiter, TelegramAdapter
from bot.content.loader import load_content
from bot.conversation.engine import Engine
from bot.events import Incoming, SessionKey
from bot.moderation.content_manager import ContentManager
from bot.storage.journal import MemoryJournal, SQLiteJournal
from bot.storage.sqlite import SQLiteStore
from bot.storage.store import MemoryStore
from tests.fakes.telegram_api import TOKEN, FakeBotApi
from tests.helpers import edit

ALICE, MODS = 1001, -777
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
async def live(
    content_copy: Path, tmp_path: Path
) -> AsyncIterator[tuple[FakeBotApi, SQLiteJournal, Engine]]:
    api = FakeBotApi()
    await api.start()
    db = tmp_path / "live.sqlite3"
    async with SQLiteStore(db) as store, SQLiteJournal(db) as journal:
        engine = Engine(load_content(content_copy), store, journal)
        manager = ContentManager(engine, content_copy, journal)
        limits = ChatRateLimiter(chat_per_second=100, chat_burst=100)
        adapter = TelegramAdapter(
            engine, TOKEN, base_url=api.base_url, rate_limiter=limits, poll_timeout=1
        )
        manager.add_notifier(lambda text: adapter.notify(MODS, text))
        await manager.record_startup()
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(adapter.run(stop)),
            asyncio.create_task(manager.watch(stop, debounce_ms=100)),
        ]
        await api.wait_for(lambda: "getUpdates" in api.methods())
        await asyncio.wait_for(manager.watching.wait(), 20)  # every edit from now on is seen
        try:
            yield api, journal, engine
        finally:
            stop.set()
            await asyncio.wait_for(asyncio.gather(*tasks), 20)
    await api.stop()


async def _audits(journal: SQLiteJournal, count: int) -> None:
    for _ in range(300):
        if len(await journal.audit_log()) >= count:
            return
        await asyncio.sleep(0.1)
    import io

    stacks = io.StringIO()
    for task in asyncio.all_tasks():
        task.print_stack(file=stacks)
    raise AssertionError(f"audit log has {await journal.audit_log()}\n{stacks.getvalue()}")


async def test_edits_while_running(
    live: tuple[FakeBotApi, SQLiteJournal, Engine], content_copy: Path, tmp_path: Path
) -> None:
    api, journal, engine = live
    # a user is mid-way through the check when the content changes
    api.message(ALICE, "/triage")
    api.press(ALICE, "triage.q_what.twitch")
    await api.wait_sent(ALICE, 2)

    # 1. a valid edit is served on the next message
    edit(content_copy / "faq.yaml", "Yes, caffeine is one of", "Indeed, caffeine is one of")
    await _audits(journal, 2)
    api.press(ALICE, "q:coffee_eye_twitch")
    sent = await api.wait_sent(ALICE, 3)
    assert sent[2]["text"].startswith("Indeed, caffeine")

    # 2. a broken edit is rejected, moderators hear of it, the old text keeps being served
    safety = content_copy / "safety.yaml"
    good_safety = safety.read_text(encoding="utf-8")
    safety.write_text(good_safety[: len(good_safety) // 2], encoding="utf-8")  # half-written file
    await _audits(journal, 3)
    notice = await api.wait_sent(MODS, 1)
    assert "not applied" in notice[0]["text"] and "safety.yaml" in notice[0]["text"]
    api.press(ALICE, "q:coffee_eye_twitch")
    sent = await api.wait_sent(ALICE, 4)
    assert sent[3]["text"].startswith("Indeed, caffeine")

    # a valid file that breaks a transcript test is rejected too
    assert "phrases: [seizure, seizures," in good_safety
    safety.write_text(
        good_safety.replace("phrases: [seizure, seizures,", "phrases: ["), encoding="utf-8"
    )
    await _audits(journal, 4)

    # 3. the question the user is on gets other choices: they are told and asked again
    safety.write_text(good_safety, encoding="utf-8")
    for path in [content_copy / "flows" / "triage.yaml", *(content_copy / "tests").glob("*.yaml")]:
        text = path.read_text(encoding="utf-8")
        path.write_text(
            text.replace("eye_face", "eyes_or_face").replace(
                "Eyelid or face", "Eyelids, eyes or face"
            ),
            encoding="utf-8",
        )
    await _audits(journal, 5)
    api.press(ALICE, "triage.q_where.eye_face")  # a button from before the update
    sent = await api.wait_sent(ALICE, 5)
    assert "just been updated" in sent[4]["text"] and "Where do you feel it?" in sent[4]["text"]
    labels = [b["text"] for row in sent[4]["reply_markup"]["inline_keyboard"] for b in row]
    assert "Eyelids, eyes or face" in labels
    api.press(ALICE, "triage.q_where.eyes_or_face")
    sent = await api.wait_sent(ALICE, 6)
    assert "How long" in sent[5]["text"]

    log = await journal.audit_log()
    assert [(e.source, e.accepted) for e in reversed(log)] == [
        ("startup", True),
        ("file watch", True),
        ("file watch", False),
        ("file watch", False),
        ("file watch", True),
    ]
    assert log[2].errors >= 1 and log[1].errors >= 1
    assert engine.content.version == log[0].version

    # nervebot content log prints it
    await journal.flush()
    shown = subprocess.run(
        [sys.executable, "-m", "bot", "content", "log", "--db", str(tmp_path / "live.sqlite3")],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.strip().splitlines()
    assert len(lines) == 6 and "file watch" in lines[1] and "rejected" in shown.stdout


async def test_vanished_node_goes_back_to_the_nearest_point(content_copy: Path) -> None:
    engine = Engine(load_content(content_copy), MemoryStore(), MemoryJournal())
    key = SessionKey("console", "u")
    for turn in ("/triage", "twitching", "eyelid", "a few days"):
        replies = await engine.handle(Incoming(key, text=turn))
    assert replies[-1].node == "q_frequency"
    triage = content_copy / "flows" / "triage.yaml"
    text = triage.read_text(encoding="utf-8").replace("next: q_frequency", "next: q_other")
    start = text.index("      - id: q_frequency")
    end = text.index("      - id: q_other")
    triage.write_text(text[:start] + text[end:], encoding="utf-8")
    for path in (content_copy / "tests").glob("*.yaml"):
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        kept = [line for line in lines if "q_frequency" not in line]
        path.write_text("".join(kept), encoding="utf-8")
    engine.swap_content(load_content(content_copy))
    replies = await engine.handle(Incoming(key, text="daily"))
    assert "just been updated" in replies[0].text
    assert replies[0].node == "q_other"  # right after the last answer that still leads somewhere


async def test_an_edit_before_the_watcher_is_armed_is_not_lost(content_copy: Path) -> None:
    journal = MemoryJournal()
    engine = Engine(load_content(content_copy), MemoryStore(), journal)
    manager = ContentManager(engine, content_copy, journal)
    started = engine.content.version
    # the moderator saves while the bot is still starting, before the watcher is armed
    edit(content_copy / "faq.yaml", "Yes, caffeine is one of", "Indeed, caffeine is one of")
    stop = asyncio.Event()
    watcher = asyncio.create_task(manager.watch(stop, debounce_ms=100))
    try:
        await asyncio.wait_for(manager.watching.wait(), 20)
        for _ in range(300):
            if engine.content.version != started:
                break
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await asyncio.wait_for(watcher, 20)
    assert engine.content.version != started
    replies = await engine.handle(
        Incoming(SessionKey("console", "u"), button="q:coffee_eye_twitch")
    )
    assert replies[0].text.startswith("Indeed, caffeine")
    assert [(e.source, e.accepted) for e in await journal.audit_log()] == [("file watch", True)]
