"""Unanswered questions: scrubbed, kept a few days, keyed so /forget removes them, or not kept."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from bot.content.loader import Bundle
from bot.conversation.engine import Engine
from bot.events import Incoming, SessionKey
from bot.storage.journal import MemoryJournal, SQLiteJournal, scrub
from bot.storage.sqlite import SQLiteStore

ALICE, BOB = SessionKey("telegram", "424242"), SessionKey("telegram", "515151")


@pytest.mark.parametrize(
    ("text", "gone", "mask"),
    [
        ("my name is Jo Smith and my calves hurt", "jo smith", "[name]"),
        ("call me Priya, twitching eyelid", "priya", "[name]"),
        ("I live at 12 Acacia Avenue, is that near a clinic", "acacia", "[address]"),
        ("postcode SW1A 1AA, cramps", "sw1a", "[postcode]"),
        ("ring me on five five five one two three four", "five five", "[number]"),
        ("my password is hunter2 lol", "hunter2", "[secret]"),
        ("PIN: 4821 for the app", "4821", "[secret]"),
    ],
)
def test_scrub_removes_what_identifies_a_person(text: str, gone: str, mask: str) -> None:
    shown = scrub(text)
    assert gone not in shown and mask in shown


async def test_questions_are_kept_scrubbed_and_forget_removes_them(
    bundle: Bundle, tmp_path: Path
) -> None:
    db = tmp_path / "s.sqlite3"
    async with SQLiteStore(db) as store, SQLiteJournal(db, flush_every=3600) as journal:
        engine = Engine(bundle, store, journal)
        await engine.handle(Incoming(ALICE, text="purple monkey dishwasher, my name is Jo"))
        await engine.handle(Incoming(BOB, text="purple monkey dishwasher, my name is Jo"))
        assert await journal.questions(0) == [("purple monkey dishwasher, [name]", 2)]
        with sqlite3.connect(db) as conn:
            rows = "\n".join(str(r) for r in conn.execute("SELECT * FROM unanswered"))
        assert "424242" not in rows and "Jo" not in rows  # a salted hash, a scrubbed text
        await engine.handle(Incoming(ALICE, text="/forget"))
        await engine.handle(Incoming(ALICE, button="forget:yes"))
        assert await journal.questions(0) == [("purple monkey dishwasher, [name]", 1)]  # Bob's


async def test_questions_expire_after_the_keeping_time(tmp_path: Path) -> None:
    async with SQLiteJournal(tmp_path / "s.sqlite3", flush_every=3600, keep_days=14) as journal:
        now = time.time()
        journal.unanswered(ALICE, "old question", at=now - 15 * 86400)
        journal.unanswered(ALICE, "new question", at=now - 86400)
        assert await journal.purge(now) == 1
        assert await journal.questions(0) == [("new question", 1)]


async def test_keeping_questions_can_be_turned_off(tmp_path: Path) -> None:
    async with SQLiteJournal(tmp_path / "s.sqlite3", flush_every=3600, keep_days=0) as journal:
        journal.unanswered(ALICE, "a question")
        assert await journal.questions(0) == []
    memory = MemoryJournal(keep_days=0)
    memory.unanswered(ALICE, "a question")
    assert await memory.questions(0) == []


async def test_the_salt_survives_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite3"
    async with SQLiteJournal(db, flush_every=3600) as journal:
        journal.unanswered(ALICE, "a question")
    async with SQLiteJournal(db, flush_every=3600) as journal:
        await journal.forget(ALICE)  # found by the same hash after a restart
        assert await journal.questions(0) == []
