"""Discord end to end: the real discord.py client against a loopback fake REST API and gateway."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import discord
import pytest

from adapters.discord_bot import (
    DiscordAdapter,
    check_token,
    parse_guild_ids,
    render,
    to_markdown,
    use_endpoints,
)
from bot.content.loader import Bundle, bundled_content_dir
from bot.conversation.engine import Engine
from bot.errors import ConfigError
from bot.events import Reply, SessionKey
from bot.moderation.content_manager import ContentManager
from bot.storage.mailbox import Arrival
from bot.storage.sqlite import SQLiteStore
from bot.storage.store import Session, SessionStore
from tests.fakes.discord_api import APP_ID, GUILD_ID, MANAGE_GUILD, MOD_ROLE_ID, TOKEN, FakeDiscord
from tests.helpers import TRIAGE

ALICE, BOB, MOD = 1001, 1002, 1003
EPHEMERAL = 64


@pytest.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDiscord]:
    server = FakeDiscord()
    await server.start()
    monkeypatch.setattr(discord.http.Route, "BASE", discord.http.Route.BASE)
    monkeypatch.setattr(
        discord.gateway.DiscordWebSocket,
        "DEFAULT_GATEWAY",
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY,
    )
    use_endpoints(server.api_base, server.gateway_url)
    yield server
    await server.stop()


@asynccontextmanager
async def running(
    fake: FakeDiscord,
    bundle: Bundle,
    store: SessionStore,
    content_dir: Path | None = None,
    **kwargs: Any,
) -> AsyncIterator[DiscordAdapter]:
    engine = Engine(bundle, store)
    manager = ContentManager(engine, content_dir or bundled_content_dir())
    adapter = DiscordAdapter(engine, TOKEN, content=manager, **kwargs)
    stop = asyncio.Event()
    task = asyncio.create_task(adapter.run(stop))
    try:
        ready = asyncio.create_task(adapter.client.ready.wait())
        done, _ = await asyncio.wait({ready, task}, timeout=20, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            task.result()
        assert ready in done, "the client never became ready"
        yield adapter
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    async with SQLiteStore(tmp_path / "d.sqlite3") as opened:
        yield opened


def custom_ids(message: dict[str, Any]) -> list[str]:
    return [c["custom_id"] for row in message.get("components", []) for c in row["components"]]


async def test_commands_are_synced_to_the_listed_guild(
    fake: FakeDiscord, bundle: Bundle, store: SQLiteStore
) -> None:
    async with running(fake, bundle, store, guild_ids=[GUILD_ID]):
        pass
    names = {c["name"] for c in fake.synced[str(GUILD_ID)]}
    assert {
        "triage",
        "nutrient",
        "foods",
        "redflags",
        "about",
        "help",
        "reset",
        "forget",
        "ask",
        "content",
    } <= names
    foods = next(c for c in fake.synced[str(GUILD_ID)] if c["name"] == "foods")
    assert [(o["name"], o["required"], o.get("autocomplete")) for o in foods["options"]] == [
        ("nutrient", True, True),
        ("diet", False, True),
    ]
    content = next(c for c in fake.synced[str(GUILD_ID)] if c["name"] == "content")
    assert {o["name"] for o in content["options"]} == {"status", "reload"}


async def test_a_process_connects_as_its_own_shard(
    fake: FakeDiscord, bundle: Bundle, store: SQLiteStore
) -> None:
    from bot.cli import _shard
    from bot.settings import Settings

    options = _shard(Settings(discord_shard_ids="1", discord_shard_count=2))
    assert options == {"shard_id": 1, "shard_count": 2}
    async with running(fake, bundle, store, **options):
        pass
    assert fake.identify_shards[-1] == [1, 2]
    with pytest.raises(ConfigError):  # one shard per process, within the count
        _shard(Settings(discord_shard_ids="0,1", discord_shard_count=2))
    with pytest.raises(ConfigError):
        _shard(Settings(discord_shard_ids="2", discord_shard_count=2))


async def test_global_sync_without_guild_ids(
    fake: FakeDiscord, bundle: Bundle, store: SQLiteStore
) -> None:
    async with running(fake, bundle, store):
        pass
    assert "global" in fake.synced and str(GUILD_ID) not in fake.synced


async def test_nutrient_command_is_public_and_escaped(
    fake: FakeDiscord, bundle: Bundle, store: SQLiteStore
) -> None:
    async with running(fake, bundle, store):
        found = await fake.slash("nutrient", ALICE, {"name": "magnesium"})
        answers = await fake.wait_answers(found)
        odd = await fake.slash("nutrient", ALICE, {"name": "@everyone *zz*"})
        odd_answers = await fake.wait_answers(odd)
    ack = fake.callback_for(found)
    assert (
        ack is not None and ack["type"] == 5 and not (ack["data"] or {}).get("flags", 0) & EPHEMERAL
    )
    assert answers[0]["content"].startswith("**Magnesium**")
    assert "nb:n:magnesium:symptoms" in custom_ids(answers[0])
    assert answers[0]["allowed_mentions"] == {"parse": []}
    assert (
        "@\u200beveryone" in odd_answers[0]["content"] and "\\*zz\\*" in odd_answers[0]["content"]
    )


async def test_autocomplete_offers_the_content_nutrients(
    fake: FakeDiscord, bundle: Bundle, store: SQLiteStore
) -> None:
    async with running(fake, bundle, store):
        typed = await fake.autocomplete("nutrient", "name", "vit", ALICE)
        await fake.wait_for(lambda: fake.callback_for(typed) is not None)
    ack = fake.callback_for(typed)
    assert ack is not None and ack["type"] == 8
    assert {c["value"] for c in ack["data"]["choices"]} == {
        "vitamin_b12",
        "vitamin_d",
        "vitamin_b6",
    }


async def test_full_triage_by_buttons_is_ephemeral(
    fake: FakeDiscord, bundle: Bundle, store: SQLiteStore
) -> None:
    async with running(fake, bundle, store):
        start = await fake.slash("triage", ALICE)
        first = await fake.wait_answers(start)
        assert custom_ids(first[0])[0] == "nb:triage.q_what.twitch"
        last: list[dict[str, Any]] = []
        for custom_id in TRIAGE:
            pressed = await fake.press(f"nb:{custom_id}", ALICE)
            last = await fake.wait_answers(pressed)
            ack = fake.callback_for(pressed)
            assert ack is not None and ack["data"]["flags"] & EPHEMERAL
    assert fake.callback_for(start)["data"]["flags"] & EPHEMERAL  # type: ignore[index]
    assert first[0]["flags"] & EPHEMERAL
    assert "Your symptom check" in last[-1]["content"] and last[-1]["flags"] & EPHEMERAL


async def test_red_flag_via_ask(fake: FakeDiscord, bundle: Bundle, store: SQLiteStore) -> None:
    async with running(fake, bundle, store):
        asked = await fake.slash(
            "ask", ALICE, {"question": "my face is drooping and my speech is slurred"}
        )
        answers = await fake.wait_answers(asked)
    assert answers[0]["content"].startswith("🚨") and "999" in answers[0]["content"]
    assert answers[0]["flags"] & EPHEMERAL


async def test_forget_deletes_stored_data(
    fake: FakeDiscord, bundle: Bundle, store: SQLiteStore
) -> None:
    async with running(fake, bundle, store):
        await fake.wait_answers(await fake.slash("triage", ALICE))
        assert await store.get(SessionKey("discord", str(ALICE))) is not None
        confirm = await fake.wait_answers(await fake.slash("forget", ALICE))
        assert "nb:forget:yes" in custom_ids(confirm[0])
        done = await fake.wait_answers(await fake.press("nb:forget:yes", ALICE))
    assert "deleted" in done[0]["content"]
    assert await store.get(SessionKey("discord", str(ALICE))) is None


async def test_direct_messages_are_answered(
    fake: FakeDiscord, bundle: Bundle, store: SQLiteStore
) -> None:
    async with running(fake, bundle, store):
        await fake.dm(BOB, "can coffee make my eye twitch?")
        await fake.wait_for(lambda: len(fake.channel_messages(1_000_000 + BOB)) >= 1)
        answers = await fake.wait_answers(await fake.slash("triage", BOB, guild=False))
    sent = fake.channel_messages(1_000_000 + BOB)
    assert "caffeine" in sent[0]["content"] and sent[0]["allowed_mentions"] == {"parse": []}
    assert not answers[0]["flags"] & EPHEMERAL  # in DMs nothing needs hiding


async def test_moderators_and_others_on_content_reload(
    fake: FakeDiscord,
    bundle: Bundle,
    store: SQLiteStore,
    content_copy: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("INFO")
    async with running(
        fake, bundle, store, content_dir=content_copy, moderator_role="Content Mods"
    ) as adapter:
        denied = await fake.wait_answers(await fake.slash("content", BOB, sub="reload"))
        status = await fake.wait_answers(
            await fake.slash("content", MOD, sub="status", permissions=MANAGE_GUILD)
        )
        faq = content_copy / "faq.yaml"
        faq.write_text(
            faq.read_text().replace("Yes, caffeine is one of", "Indeed, caffeine is one of")
        )
        # a reload runs every transcript test of the content first (about 20 s on one slow
        # shared core): the wait only bounds a failure
        by_role = await fake.wait_answers(
            await fake.slash("content", ALICE, sub="reload", roles=[MOD_ROLE_ID]), timeout=180
        )
        answer = await fake.wait_answers(
            await fake.slash("ask", BOB, {"question": "can coffee make my eye twitch"})
        )
        (content_copy / "safety.yaml").write_text("safety: [broken\n")
        broken = await fake.wait_answers(
            await fake.slash("content", MOD, sub="reload", permissions=MANAGE_GUILD)
        )
        still = await fake.wait_answers(
            await fake.slash("ask", BOB, {"question": "can coffee make my eye twitch"})
        )
        live = adapter._engine.content.version
    assert "Only moderators" in denied[0]["content"] and denied[0]["flags"] & EPHEMERAL
    assert "Content version" in status[0]["content"] and "6 nutrients" in status[0]["content"]
    assert "Reloaded" in by_role[0]["content"] and by_role[0]["flags"] & EPHEMERAL
    assert answer[0]["content"].startswith("Indeed, caffeine")
    assert (
        "Not reloaded" in broken[0]["content"]
        and "safety.yaml:2:1: YAML syntax error" in broken[0]["content"]
    )
    assert still[0]["content"].startswith("Indeed, caffeine") and live in broken[0]["content"]
    logged = [r.getMessage() for r in caplog.records if r.getMessage().startswith("content")]
    assert any(f"discord user {BOB}" in m and "refused" in m for m in logged)
    assert any(f"discord user {ALICE}" in m and "is live" in m for m in logged)
    assert any(f"discord user {MOD}" in m and "rejected" in m for m in logged)


async def test_button_pressed_after_a_restart(
    fake: FakeDiscord, bundle: Bundle, store: SQLiteStore
) -> None:
    async with running(fake, bundle, store):
        await fake.wait_answers(await fake.slash("triage", ALICE))
        await fake.wait_answers(await fake.press("nb:triage.q_what.cramp", ALICE))
    async with running(fake, bundle, store):
        answers = await fake.wait_answers(await fake.press("nb:triage.q_where.legs_feet", ALICE))
    assert fake.identified == 2
    assert "How long has it been going on?" in answers[0]["content"]


async def test_acknowledged_within_three_seconds_while_the_store_is_slow(
    fake: FakeDiscord, bundle: Bundle, tmp_path: Path
) -> None:
    class SlowStore(SQLiteStore):
        async def get(self, key: SessionKey) -> Session | None:
            await asyncio.sleep(4)
            return await super().get(key)

    async with SlowStore(tmp_path / "slow.sqlite3") as slow, running(fake, bundle, slow):
        asked = await fake.slash("triage", ALICE)
        answers = await fake.wait_answers(asked, timeout=20)
    ack = fake.callback_for(asked)
    assert ack is not None and ack["at"] - fake.dispatched_at[asked["id"]] < 3.0
    assert (
        answers[0]["at"] - fake.dispatched_at[asked["id"]] >= 4.0
    )  # the slow store did delay the answer


def test_rendering_and_limits() -> None:
    parts = render(Reply("**Big**\n\n" + "\n\n".join(["chunk " * 120] * 10)))
    assert len(parts) > 1 and all(len(p) <= 2000 for p in parts)
    assert (
        to_markdown("<@123456789012345678> @here _x_ **b**")
        == "<@\u200b123456789012345678> @\u200bhere \\_x\\_ **b**"
    )


def test_token_and_guild_checks() -> None:
    assert check_token(TOKEN) == TOKEN
    for bad in (None, "", "abc", "a.b.c", "123456:telegram-style"):
        with pytest.raises(ConfigError):
            check_token(bad)
    assert parse_guild_ids(" 1, 2 ") == [1, 2]
    with pytest.raises(ConfigError):
        parse_guild_ids("1,x")


async def test_rejected_content_is_reported_in_the_moderator_channel(
    fake: FakeDiscord, bundle: Bundle, store: SQLiteStore, content_copy: Path
) -> None:
    channel = 940000000000000001
    async with running(fake, bundle, store, content_dir=content_copy) as adapter:
        manager = ContentManager(adapter._engine, content_copy)
        manager.add_notifier(lambda text: adapter.notify(channel, text))
        (content_copy / "faq.yaml").write_text("faq: [oops\n", encoding="utf-8")
        result = await manager.reload("file watch")
        await fake.wait_for(lambda: bool(fake.channel_messages(channel)))
    assert not result.ok
    posted = fake.channel_messages(channel)[0]
    assert "not applied" in posted["content"] and "faq.yaml" in posted["content"]
    assert posted["allowed_mentions"] == {"parse": []}


async def test_interactions_left_in_the_inbox_are_answered_after_a_restart(
    fake: FakeDiscord, bundle: Bundle, store: SQLiteStore
) -> None:
    """A process died after acknowledging an interaction: the next one sends its follow-up."""
    interaction = fake._interaction(2, {"id": "1", "name": "about", "type": 1}, BOB, guild=False)
    left = {"user": BOB, "text": "/about", "reply": True,
            "address": {"app": APP_ID, "token": interaction["token"], "ephemeral": False}}  # fmt: skip
    await store.receive(
        [Arrival("discord", f"i{interaction['id']}", str(BOB), str(BOB), json.dumps(left))]
    )
    async with running(fake, bundle, store):
        answers = await fake.wait_answers(interaction)
        for _ in range(200):
            if not await store.outbox("discord"):
                break
            await asyncio.sleep(0.02)
        assert await store.outbox("discord") == [] and await store.waiting("discord") == []
    assert len(answers) == 1 and "health-education" in answers[0]["content"]


async def test_an_ingress_stores_and_a_worker_answers_on_a_shared_database(
    fake: FakeDiscord, bundle: Bundle, postgres_url: str, pg_schema: str
) -> None:
    from bot.storage.postgres import PostgresStore

    ingress_store = PostgresStore(postgres_url, schema=pg_schema, worker="ingress")
    worker_store = PostgresStore(postgres_url, schema=pg_schema, worker="worker")
    async with (
        ingress_store,
        worker_store,
        running(fake, bundle, ingress_store, role="ingress"),
    ):
        asked = await fake.slash("nutrient", ALICE, {"name": "magnesium"})
        await fake.wait_for(lambda: fake.callback_for(asked) is not None)  # deferred at once
        for _ in range(300):  # deferred first, stored next: the write may lag on a slow machine
            if (await ingress_store.delivery_counts("discord"))["waiting"] == 1:
                break
            await asyncio.sleep(0.05)
        assert (await ingress_store.delivery_counts("discord"))["waiting"] == 1
        await asyncio.sleep(0.3)
        assert fake.answers(asked) == []  # the ingress only stores it
        worker = DiscordAdapter(Engine(bundle, worker_store), TOKEN, role="worker")
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        try:
            answers = await fake.wait_answers(asked)
            assert worker.healthy()
        finally:
            stop.set()
            await asyncio.wait_for(task, 20)
    assert answers[0]["content"].startswith("**Magnesium**")
    assert fake.identified == 1  # the worker never opened a gateway connection
