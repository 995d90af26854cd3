"""The engine with a real SQLite file: ordering, privacy, restarts and storage failures."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from bot.content.loader import Bundle
from bot.conversation.engine import Engine
from bot.events import Incoming, SessionKey, Urgency
from bot.storage.sqlite import SQLiteStore
from bot.storage.store import MemoryStore, Session

ALICE = SessionKey("console", "alice")


def _rows(path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as db:
        return list(db.execute("SELECT platform, user_id FROM sessions"))


async def test_user_mid_triage_continues_after_restart(bundle: Bundle, tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    async with SQLiteStore(path) as store:
        engine = Engine(bundle, store)
        await engine.handle(Incoming(ALICE, text="/triage"))
        replies = await engine.handle(Incoming(ALICE, button="triage.q_what.cramp"))
        assert replies[-1].node == "q_where"
    async with SQLiteStore(path) as store:
        engine = Engine(bundle, store)
        replies = await engine.handle(Incoming(ALICE, button="triage.q_where.legs_feet"))
    assert replies[-1].node == "q_duration"


async def _leave_a_check_unfinished(bundle: Bundle, path: Path, *texts: str) -> None:
    """Alice starts the check, answers with ``texts``, and the process stops."""
    async with SQLiteStore(path) as store:
        engine = Engine(bundle, store)
        for text in ("/triage", *texts):
            await engine.handle(Incoming(ALICE, text=text))


async def test_after_a_restart_asking_for_the_check_offers_to_carry_on(
    bundle: Bundle, tmp_path: Path
) -> None:
    path = tmp_path / "s.sqlite3"
    await _leave_a_check_unfinished(bundle, path, "cramps", "i drink like 4 coffees a day")
    async with SQLiteStore(path) as store:  # a restart, or /quit and a new terminal chat
        engine = Engine(bundle, store)
        offer = (await engine.handle(Incoming(ALICE, text="/triage")))[-1]
        assert "question 2 of 11" in offer.text
        assert [b.id for b in offer.buttons] == ["resume", "restart:triage"]
        replies = await engine.handle(Incoming(ALICE, button="resume"))
        assert replies[-1].node == "q_where"
        for step in ("legs", "days", "now and then", "none", "varied", "none", "none"):
            replies = await engine.handle(Incoming(ALICE, text=step))
        # the caffeine question was answered in passing before the restart: it is skipped
        assert replies[-1].node == "q_sleep"


async def test_start_in_a_new_chat_offers_to_carry_on_an_unfinished_check(
    bundle: Bundle, tmp_path: Path
) -> None:
    path = tmp_path / "s.sqlite3"
    await _leave_a_check_unfinished(bundle, path, "cramps")
    async with SQLiteStore(path) as store:  # the terminal chat says /start when it opens
        replies = await Engine(bundle, store).handle(Incoming(ALICE, text="/start"))
        assert [b.id for b in replies[-1].buttons] == ["resume", "restart:triage"]


async def test_about_says_how_long_this_deployment_keeps_things(bundle: Bundle) -> None:
    from bot.storage.journal import MemoryJournal

    store = MemoryStore(ttl_seconds=7 * 86400)
    about = (
        await Engine(bundle, store, MemoryJournal(keep_days=3)).handle(
            Incoming(ALICE, text="/about")
        )
    )[0].text
    assert "7 days pass" in about and "kept for 3 days" in about
    about = (
        await Engine(bundle, store, MemoryJournal(keep_days=0)).handle(
            Incoming(ALICE, text="/about")
        )
    )[0].text
    assert "are not kept" in about and "\n" not in about.split("\n\n")[0]  # no hard breaks


async def test_stateless_questions_store_nothing(engine: Engine, sqlite_store: SQLiteStore) -> None:
    await engine.handle(Incoming(ALICE, text="what foods have magnesium?"))
    await engine.handle(Incoming(ALICE, text="/nutrient calcium"))
    assert _rows(sqlite_store.path) == []


async def test_answers_are_cleared_when_the_check_ends(
    engine: Engine, sqlite_store: SQLiteStore
) -> None:
    await engine.handle(Incoming(ALICE, text="/triage"))
    assert _rows(sqlite_store.path) == [("console", "alice")]
    for button in [
        "triage.q_what.twitch",
        "triage.q_where.eye_face",
        "triage.q_duration.days",
        "triage.q_frequency.daily",
        "triage.q_other.none",
        "triage.q_diet.varied",
        "triage.q_meds.no_meds",
        "triage.q_alcohol.alcohol_none",
        "triage.q_caffeine.caffeine_low",
        "triage.q_sleep.sleep_fine",
    ]:
        await engine.handle(Incoming(ALICE, button=button))
    stored = await sqlite_store.get(ALICE)
    assert stored is not None and len(stored.answers) == 10
    replies = await engine.handle(Incoming(ALICE, button="triage.q_age.under_50"))
    assert replies[-1].urgency is Urgency.SELF_CARE
    assert _rows(sqlite_store.path) == []


async def test_forget_deletes_the_row(engine: Engine, sqlite_store: SQLiteStore) -> None:
    bob = SessionKey("console", "bob")
    await engine.handle(Incoming(ALICE, text="/triage"))
    await engine.handle(Incoming(bob, text="/triage"))
    await engine.handle(Incoming(ALICE, text="/forget"))
    replies = await engine.handle(Incoming(ALICE, button="forget:yes"))
    assert "deleted" in replies[0].text
    assert _rows(sqlite_store.path) == [("console", "bob")]


async def test_one_users_turns_run_in_order(bundle: Bundle) -> None:
    class SlowStore(MemoryStore):
        async def get(self, key: SessionKey) -> Session | None:
            await asyncio.sleep(0.01)
            return await super().get(key)

    engine = Engine(bundle, SlowStore())
    buttons = ["triage.q_what.cramp", "triage.q_where.legs_feet", "triage.q_duration.days"]
    await engine.handle(Incoming(ALICE, text="/triage"))
    results = await asyncio.gather(*(engine.handle(Incoming(ALICE, button=b)) for b in buttons))
    assert [r[-1].node for r in results] == ["q_where", "q_duration", "q_frequency"]
    assert engine._locks == {}


async def test_read_only_database_keeps_answering(
    engine: Engine, sqlite_store: SQLiteStore
) -> None:
    await sqlite_store._conn().execute("PRAGMA query_only = ON")
    replies = await engine.handle(Incoming(ALICE, text="/triage"))
    assert replies[0].node == "q_what"
    assert "couldn't save" in replies[-1].text
    replies = await engine.handle(Incoming(ALICE, text="I can't breathe"))
    assert replies[0].urgency is Urgency.EMERGENCY


async def test_locked_database_keeps_answering(bundle: Bundle, tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    async with SQLiteStore(path, busy_timeout_ms=20, locked_backoff=0) as store:
        engine = Engine(bundle, store)
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            replies = await engine.handle(Incoming(ALICE, text="/triage"))
            assert replies[0].node == "q_what"
            other = await engine.handle(
                Incoming(SessionKey("console", "bob"), text="what is tetany")
            )
            assert "Tetany" in other[0].text
            forget = await engine.handle(Incoming(ALICE, text="/forget"))
            assert forget
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        replies = await engine.handle(Incoming(ALICE, text="/triage"))
        assert "couldn't save" not in replies[-1].text


async def test_forget_that_cannot_delete_says_so(engine: Engine, sqlite_store: SQLiteStore) -> None:
    await engine.handle(Incoming(ALICE, text="/triage"))
    await engine.handle(Incoming(ALICE, text="/forget"))
    await sqlite_store._conn().execute("PRAGMA query_only = ON")
    replies = await engine.handle(Incoming(ALICE, button="forget:yes"))
    assert len(replies) == 1 and "couldn't delete" in replies[0].text


async def test_session_from_older_content_is_reconciled(
    engine: Engine, sqlite_store: SQLiteStore
) -> None:
    await sqlite_store.save(
        ALICE,
        Session(flow="triage", node="q_gone", answers={"q_what": "nope"}, content_version="old"),
    )
    replies = await engine.handle(Incoming(ALICE, button="triage.q_gone.x"))
    assert "just been updated" in replies[0].text and replies[0].node == "q_what"
    stored = await sqlite_store.get(ALICE)
    assert (
        stored is not None
        and stored.answers == {}
        and stored.content_version == engine.content.version
    )


async def test_many_users_concurrently(engine: Engine) -> None:
    keys = [SessionKey("console", f"u{i}") for i in range(100)]
    await asyncio.gather(*(engine.handle(Incoming(k, text="/triage")) for k in keys))
    results = await asyncio.gather(
        *(engine.handle(Incoming(k, button="triage.q_what.twitch")) for k in keys)
    )
    assert all(r[-1].node == "q_where" for r in results)


async def test_a_private_check_never_shows_in_a_group(bundle: Bundle) -> None:
    key = SessionKey("test", "alice")
    async with MemoryStore() as store:
        engine = Engine(bundle, store)
        await engine.handle(Incoming(key, text="/triage"))
        await engine.handle(Incoming(key, button="triage.q_what.twitch"))
        # the same person, in a group: typed answers and old buttons do not reach the check
        for turn in (
            Incoming(key, text="1", public=True),
            Incoming(key, text="eyelid", public=True),
            Incoming(key, button="triage.q_where.eye_face", public=True),
            Incoming(key, button="resume", public=True),
            Incoming(key, text="what foods have magnesium?", public=True),
        ):
            replies = await engine.handle(turn)
            assert all(
                r.flow != "triage" and "Where do you feel it?" not in r.text for r in replies
            )
        # back in private, the check is where it was
        replies = await engine.handle(Incoming(key, button="triage.q_where.eye_face"))
        assert replies[-1].node == "q_duration"
