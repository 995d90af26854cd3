"""One contract for the session store, run against every implementation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from bot.errors import StoreError
from bot.events import SessionKey
from bot.storage.postgres import PostgresStore
from bot.storage.sqlite import SQLiteStore
from bot.storage.store import MemoryStore, Session, SessionStore

TTL = 100.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


StoreFactory = Callable[[Path, FakeClock], SessionStore]

BACKENDS: dict[str, StoreFactory] = {
    "memory": lambda _path, clock: MemoryStore(ttl_seconds=TTL, clock=clock),
    "sqlite": lambda path, clock: SQLiteStore(path / "s.sqlite3", ttl_seconds=TTL, clock=clock),
}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=[*sorted(BACKENDS), "postgres"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[SessionStore]:
    if request.param == "postgres":  # a real server (see conftest), a fresh schema per test
        url, schema = request.getfixturevalue("postgres_url"), request.getfixturevalue("pg_schema")
        backend: SessionStore = PostgresStore(url, ttl_seconds=TTL, clock=clock, schema=schema)
    else:
        backend = BACKENDS[request.param](tmp_path, clock)
    async with backend as opened:
        yield opened


ALICE = SessionKey("telegram", "42")
BOB = SessionKey("telegram", "43")
ALICE_ON_DISCORD = SessionKey("discord", "42")


async def test_missing_session_is_none(store: SessionStore) -> None:
    assert await store.get(ALICE) is None


async def test_save_then_get_round_trips(store: SessionStore) -> None:
    session = Session(
        flow="triage", node="q_where", answers={"q_what": "twitch"}, content_version="v1"
    )
    await store.save(ALICE, session)
    assert await store.get(ALICE) == session


async def test_save_replaces_atomically(store: SessionStore) -> None:
    await store.save(ALICE, Session(flow="triage", node="q_what"))
    await store.save(ALICE, Session(flow="triage", node="q_where", answers={"q_what": "cramp"}))
    got = await store.get(ALICE)
    assert got is not None and got.node == "q_where" and got.answers == {"q_what": "cramp"}


async def test_keys_are_separate_by_user_and_platform(store: SessionStore) -> None:
    await store.save(ALICE, Session(flow="triage", node="q_what"))
    assert await store.get(BOB) is None
    assert await store.get(ALICE_ON_DISCORD) is None


async def test_delete_removes_and_tolerates_missing(store: SessionStore) -> None:
    await store.save(ALICE, Session(flow="triage", node="q_what"))
    await store.save(BOB, Session(flow="triage", node="q_what"))
    await store.delete(ALICE)
    await store.delete(ALICE)
    assert await store.get(ALICE) is None
    assert await store.get(BOB) is not None


async def test_idle_sessions_expire_and_are_purged(store: SessionStore, clock: FakeClock) -> None:
    await store.save(ALICE, Session(flow="triage", node="q_what"))
    clock.now += TTL / 2
    await store.save(BOB, Session(flow="triage", node="q_what"))
    clock.now += TTL / 2 + 1
    assert await store.get(ALICE) is None
    assert await store.get(BOB) is not None
    assert await store.purge_expired() == 1
    assert await store.purge_expired() == 0
    assert await store.get(BOB) is not None


async def test_saving_refreshes_expiry(store: SessionStore, clock: FakeClock) -> None:
    await store.save(ALICE, Session(flow="triage", node="q_what"))
    clock.now += TTL - 1
    await store.save(ALICE, Session(flow="triage", node="q_where"))
    clock.now += TTL - 1
    assert await store.get(ALICE) is not None


async def test_concurrent_saves_of_many_users(store: SessionStore) -> None:
    keys = [SessionKey("console", str(i)) for i in range(50)]
    await asyncio.gather(
        *(store.save(k, Session(flow="triage", node=f"n{i}")) for i, k in enumerate(keys))
    )
    got = await asyncio.gather(*(store.get(k) for k in keys))
    assert [s.node if s else None for s in got] == [f"n{i}" for i in range(50)]


async def test_text_of_any_kind_round_trips(store: SessionStore) -> None:
    key = SessionKey("discord", "ü🙂'; DROP TABLE sessions; --")
    session = Session(flow="triage", node="q'\"", answers={"a": "🙂\n\x00"})
    await store.save(key, session)
    assert await store.get(key) == session


async def test_closed_store_raises_store_error(tmp_path: Path, clock: FakeClock) -> None:
    for name, factory in BACKENDS.items():
        store = factory(tmp_path / name, clock)
        (tmp_path / name).mkdir()
        async with store:
            pass
        with pytest.raises(StoreError):
            await store.get(ALICE)
