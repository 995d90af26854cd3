"""Telegram end to end: the real python-telegram-bot Application against a loopback fake API."""

from __future__ import annotations

import asyncio
import logging
import socket
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adapters.telegram_bot import (
    ChatRateLimiter,
    TelegramAdapter,
    WebhookConfig,
    check_token,
    render,
    to_html,
)
from bot import logs
from bot.content.loader import Bundle
from bot.conversation.engine import Engine
from bot.errors import ConfigError
from bot.events import Reply, Urgency
from bot.storage.sqlite import SQLiteStore
from tests.fakes.telegram_api import BOT_USERNAME, TOKEN, FakeBotApi, Fault
from tests.helpers import TRIAGE

ALICE, BOB = 1001, 1002
GROUP = -5005


def fast_limits() -> ChatRateLimiter:
    return ChatRateLimiter(chat_per_second=200, chat_burst=200, overall_per_second=1000)


@asynccontextmanager
async def running(
    api: FakeBotApi, bundle: Bundle, db: Path, **kwargs: Any
) -> AsyncIterator[tuple[TelegramAdapter, SQLiteStore]]:
    kwargs.setdefault("rate_limiter", fast_limits())
    async with SQLiteStore(db) as store:
        adapter = TelegramAdapter(
            Engine(bundle, store), TOKEN, base_url=api.base_url, poll_timeout=1, **kwargs
        )
        stop = asyncio.Event()
        task = asyncio.create_task(adapter.run(stop))
        try:
            await api.wait_for(
                lambda: (
                    "getUpdates" in api.methods() or "setWebhook" in api.methods() or task.done()
                )
            )
            if task.done():
                task.result()
            yield adapter, store
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    markup = message.get("reply_markup") or {}
    return [b for row in markup.get("inline_keyboard", []) for b in row]


async def test_start_registers_commands_and_shows_the_menu(
    api: FakeBotApi, bundle: Bundle, tmp_path: Path
) -> None:
    async with running(api, bundle, tmp_path / "s.db"):
        api.message(ALICE, "/start")
        sent = await api.wait_sent(ALICE, 2)
    commands = next(p for m, p in api.calls if m == "setMyCommands")["commands"]
    assert {"command": "triage", "description": "A short symptom check"} in commands
    assert "deleteWebhook" in api.methods()
    assert "<b>nervebot</b>" in sent[0]["text"] and sent[0]["parse_mode"] == "HTML"
    assert {"text": "Check my symptoms", "callback_data": "menu.main.triage"} in buttons(sent[1])


async def test_full_triage_by_button_presses(
    api: FakeBotApi, bundle: Bundle, tmp_path: Path
) -> None:
    async with running(api, bundle, tmp_path / "s.db"):
        api.press(ALICE, "menu.main.triage")
        await api.wait_sent(ALICE, 1)
        for count, data in enumerate(TRIAGE, start=2):
            api.press(ALICE, data)
            await api.wait_sent(ALICE, count)
        sent = api.sent_to(ALICE)
    assert "What are you noticing most?" in sent[0]["text"]
    assert "Your symptom check" in sent[-1]["text"] and "self-care" in sent[-1]["text"]
    assert api.methods().count("answerCallbackQuery") == len(TRIAGE) + 1
    assert any(b.get("callback_data") == "c:stress_sleep" for b in buttons(sent[-1]))


async def test_free_text_question_and_html_escaping(
    api: FakeBotApi, bundle: Bundle, tmp_path: Path
) -> None:
    async with running(api, bundle, tmp_path / "s.db"):
        api.message(ALICE, "what foods have magnesium?")
        api.message(ALICE, "/nutrient <b>x & y</b>")
        sent = await api.wait_sent(ALICE, 2)
    assert "Pumpkin seeds" in sent[0]["text"]
    assert "&lt;b&gt;x &amp; y&lt;/b&gt;" in sent[1]["text"]
    assert "<b>x" not in sent[1]["text"]


async def test_red_flag_in_the_middle_of_triage(
    api: FakeBotApi, bundle: Bundle, tmp_path: Path
) -> None:
    async with running(api, bundle, tmp_path / "s.db"):
        api.message(ALICE, "/triage")
        await api.wait_sent(ALICE, 1)
        api.press(ALICE, "triage.q_what.cramp")
        await api.wait_sent(ALICE, 2)
        api.message(ALICE, "my throat is tightening, I cant breath")
        sent = await api.wait_sent(ALICE, 3)
        assert sent[2]["text"].startswith("🚨")
        assert "999" in sent[2]["text"] and {
            "text": "Continue",
            "callback_data": "resume",
        } in buttons(sent[2])
        api.press(ALICE, "resume")
        await api.wait_sent(ALICE, 4)
        api.press(ALICE, "triage.q_what.twitch")  # a button of an older message
        sent = await api.wait_sent(ALICE, 5)
    assert "Where do you feel it?" in sent[3]["text"]
    assert "earlier message" in sent[4]["text"] and "Where do you feel it?" in sent[4]["text"]


async def test_forget_deletes_stored_data(api: FakeBotApi, bundle: Bundle, tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    async with running(api, bundle, db):
        api.message(ALICE, "/triage")
        await api.wait_sent(ALICE, 1)
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT count(*) FROM sessions").fetchone()[0] == 1
        api.message(ALICE, "/forget")
        sent = await api.wait_sent(ALICE, 2)
        assert {"text": "Yes, delete it", "callback_data": "forget:yes"} in buttons(sent[1])
        api.press(ALICE, "forget:yes")
        sent = await api.wait_sent(ALICE, 3)
    assert "deleted" in sent[2]["text"]
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM sessions").fetchone()[0] == 0


async def test_stickers_photos_and_edits(api: FakeBotApi, bundle: Bundle, tmp_path: Path) -> None:
    async with running(api, bundle, tmp_path / "s.db"):
        api.message(
            ALICE,
            extra={
                "sticker": {
                    "file_id": "s1",
                    "file_unique_id": "u1",
                    "width": 1,
                    "height": 1,
                    "is_animated": False,
                    "is_video": False,
                    "type": "regular",
                }
            },
        )
        api.message(ALICE, extra={"location": {"latitude": 1.0, "longitude": 2.0}})
        api.message(ALICE, "hello again", edited=True)
        api.message(ALICE, "/about")
        sent = await api.wait_sent(ALICE, 3)
        await asyncio.sleep(0.3)
    assert "only read text" in sent[0]["text"] and "only read text" in sent[1]["text"]
    assert "health-education" in sent[2]["text"]
    assert len(api.sent_to(ALICE)) == 3  # the edit got no answer


async def test_group_chat_answers_only_commands_and_mentions(
    api: FakeBotApi, bundle: Bundle, tmp_path: Path
) -> None:
    async with running(api, bundle, tmp_path / "s.db"):
        api.message(ALICE, "my eyelid twitches, what is it?", chat_id=GROUP, chat_type="group")
        api.message(ALICE, "/start@some_other_bot", chat_id=GROUP, chat_type="group")
        api.message(
            ALICE,
            f"@{BOT_USERNAME} can coffee make my eye twitch?",
            chat_id=GROUP,
            chat_type="group",
        )
        api.message(BOB, f"/triage@{BOT_USERNAME}", chat_id=GROUP, chat_type="group")
        api.message(
            BOB,
            extra={"photo": [{"file_id": "p", "file_unique_id": "p", "width": 1, "height": 1}]},
            chat_id=GROUP,
            chat_type="group",
        )
        sent = await api.wait_sent(GROUP, 2)
        await asyncio.sleep(0.3)
    assert len(api.sent_to(GROUP)) == 2
    assert "caffeine" in sent[0]["text"]
    assert "private chat" in sent[1]["text"]
    assert {
        "text": "Continue in a private chat",
        "url": f"https://t.me/{BOT_USERNAME}?start=triage",
    } in buttons(sent[1])
    assert "reply_parameters" in sent[1]


async def test_deep_link_start_opens_the_check_in_private(
    api: FakeBotApi, bundle: Bundle, tmp_path: Path
) -> None:
    async with running(api, bundle, tmp_path / "s.db"):
        api.message(ALICE, "/start triage")
        sent = await api.wait_sent(ALICE, 2)
    assert "What are you noticing most?" in sent[1]["text"]


async def test_one_chat_in_order_many_chats_at_once(
    api: FakeBotApi, bundle: Bundle, tmp_path: Path
) -> None:
    chats = list(range(2000, 2020))
    async with running(api, bundle, tmp_path / "s.db"):
        for chat in chats:
            api.message(chat, "/triage")
            for data in TRIAGE[:4]:
                api.press(chat, data)
        for chat in chats:
            await api.wait_sent(chat, 5)
    for chat in chats:
        sent = api.sent_to(chat)
        assert [("noticing" in m["text"], "Where" in m["text"], "How long" in m["text"],
                 "How often" in m["text"], "any of these" in m["text"]) for m in sent] == [
            (True, False, False, False, False), (False, True, False, False, False),
            (False, False, True, False, False), (False, False, False, True, False),
            (False, False, False, False, True),
        ]  # fmt: skip


async def test_429_and_502_are_retried_without_stalling_other_chats(
    api: FakeBotApi, bundle: Bundle, tmp_path: Path
) -> None:
    api.faults.append(Fault("sendMessage", 429, times=2, chat_id=ALICE, retry_after=2))
    api.faults.append(Fault("sendMessage", 502, times=3, chat_id=BOB))
    limiter = ChatRateLimiter(chat_per_second=100, chat_burst=100)
    async with running(api, bundle, tmp_path / "s.db", rate_limiter=limiter):
        for i in range(3):
            api.message(ALICE, f"/nutrient {['magnesium', 'calcium', 'potassium'][i]}")
        for i in range(3):
            api.message(BOB, f"/nutrient {['vitamin d', 'b12', 'b6'][i]}")
        for i in range(5):
            api.message(3000 + i, "/about")
        others = [(await api.wait_sent(3000 + i, 1))[0] for i in range(5)]
        alice = await api.wait_sent(ALICE, 3, timeout=30)
        bob = await api.wait_sent(BOB, 3, timeout=30)
    first_429 = min(at for method, status, at in api.fault_hits if status == 429)
    # Alice waited out Telegram's 2 s twice; everyone else was answered meanwhile
    assert min(m["at"] for m in alice) >= first_429 + 2
    assert max(m["at"] for m in others) < min(m["at"] for m in alice)
    assert [m["text"].split("\n")[0] for m in alice] == [
        "<b>Magnesium</b>",
        "<b>Calcium</b>",
        "<b>Potassium</b>",
    ]
    assert [m["text"].split("\n")[0] for m in bob] == [
        "<b>Vitamin D</b>",
        "<b>Vitamin B12</b>",
        "<b>Vitamin B6</b>",
    ]
    assert [h[1] for h in api.fault_hits].count(429) == 2 and [h[1] for h in api.fault_hits].count(
        502
    ) == 3


async def test_restart_mid_triage_continues_and_no_update_twice(
    api: FakeBotApi, bundle: Bundle, tmp_path: Path
) -> None:
    db = tmp_path / "s.db"
    async with running(api, bundle, db):
        api.message(ALICE, "/triage")
        await api.wait_sent(ALICE, 1)
        api.press(ALICE, "triage.q_what.cramp")
        await api.wait_sent(ALICE, 2)
    processed = api.confirmed_offset
    async with running(api, bundle, db):
        api.press(ALICE, "triage.q_where.legs_feet")
        sent = await api.wait_sent(ALICE, 3)
        await asyncio.sleep(0.3)
    assert processed >= 3  # the offset past both updates was confirmed before stopping
    assert len(api.sent_to(ALICE)) == 3  # nothing was answered twice
    assert "How long has it been going on?" in sent[2]["text"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _wait_listening(port: int) -> None:
    for _ in range(200):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return
    raise AssertionError(f"nothing listens on port {port}")


async def test_webhook_checks_the_secret(api: FakeBotApi, bundle: Bundle, tmp_path: Path) -> None:
    port = _free_port()
    webhook = WebhookConfig.parse(
        "https://bot.example.org/tg-hook", "s3cret-Value_1", f"127.0.0.1:{port}"
    )
    update = {"update_id": 77, "message": {"message_id": 5, "date": 0, "text": "/about",
              "chat": {"id": ALICE, "type": "private", "first_name": "A"},
              "from": {"id": ALICE, "is_bot": False, "first_name": "A"},
              "entities": [{"type": "bot_command", "offset": 0, "length": 6}]}}  # fmt: skip
    async with running(api, bundle, tmp_path / "s.db", webhook=webhook):
        await _wait_listening(port)
        set_webhook = next(p for m, p in api.calls if m == "setWebhook")
        assert set_webhook["url"] == "https://bot.example.org/tg-hook"
        assert set_webhook["secret_token"] == "s3cret-Value_1"
        url = f"http://127.0.0.1:{port}/tg-hook"
        async with aiohttp.ClientSession() as http:
            async with http.post(url, json=update) as no_secret:
                assert no_secret.status == 403
            async with http.post(
                url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"}
            ) as bad:
                assert bad.status == 403
            await asyncio.sleep(0.2)
            assert api.sent_to(ALICE) == []
            async with http.post(
                url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret-Value_1"}
            ) as ok:
                assert ok.status == 200
        sent = await api.wait_sent(ALICE, 1)
    assert "health-education" in sent[0]["text"]


async def test_logs_hold_ids_not_text_or_token(
    api: FakeBotApi, bundle: Bundle, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    logs.cap_libraries()  # as the command line does
    async with running(api, bundle, tmp_path / "s.db"):
        api.message(ALICE, "my private symptom zebra")
        await api.wait_sent(ALICE, 1)
    messages = "\n".join(r.getMessage() for r in caplog.records)
    assert "update " in messages and "message" in messages
    assert "zebra" not in messages
    assert TOKEN.split(":")[1] not in messages
    info = "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.INFO)
    assert "zebra" not in info


def test_rendering_splits_long_replies_on_paragraphs() -> None:
    paragraph = "word " * 300
    reply = Reply("**Title**\n\n" + "\n\n".join([paragraph] * 6), urgency=Urgency.URGENT)
    parts = render(reply)
    assert len(parts) > 1 and all(len(p) <= 4096 for p in parts)
    assert parts[0].startswith("<b>Title</b>")
    assert all(p.rstrip().endswith("word") for p in parts)  # cut between words, never inside one
    assert to_html("a <b> & **bold**") == "a &lt;b&gt; &amp; <b>bold</b>"


def test_token_and_webhook_checks() -> None:
    assert check_token(TOKEN) == TOKEN
    for bad in (None, "", "abc", "123 456:xx", "123456:bad token"):
        with pytest.raises(ConfigError):
            check_token(bad)
    with pytest.raises(ConfigError, match="SECRET is required"):
        WebhookConfig.parse("https://x.org/h", None, "0.0.0.0:8443")
    with pytest.raises(ConfigError, match="host:port"):
        WebhookConfig.parse("https://x.org/h", "abc", "8443")


async def test_nervebot_run_telegram_serves_and_stops_cleanly_on_sigterm(
    api: FakeBotApi, tmp_path: Path
) -> None:
    """The real command line, as an operator starts it, against the fake API."""
    import signal

    proc = await _start_run(api, tmp_path, TOKEN)
    try:
        await api.wait_for(lambda: "getUpdates" in api.methods(), timeout=30)
        api.message(ALICE, "/triage")
        await api.wait_sent(ALICE, 1)
        proc.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
    assert proc.returncode == 0, stderr.decode()
    assert "Traceback" not in stderr.decode()
    assert api.confirmed_offset >= 2  # the processed update was confirmed before exit
    with sqlite3.connect(tmp_path / "run.db") as conn:
        assert conn.execute("SELECT count(*) FROM sessions").fetchone()[0] == 1


async def test_a_rejected_token_is_never_printed(api: FakeBotApi, tmp_path: Path) -> None:
    """Telegram answers 401: the process ends with a clear line, and no log line holds the token."""
    wrong = "987654:ANOTHER-secret_value-that-must-not-leak"
    proc = await _start_run(api, tmp_path, wrong, "-vv")
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    shown = out.decode() + err.decode()
    assert proc.returncode != 0
    assert "telegram failed" in shown and "[token]" in shown
    assert "ANOTHER-secret_value" not in shown and wrong not in shown


async def test_a_flood_from_one_user_builds_no_backlog(
    api: FakeBotApi, bundle: Bundle, tmp_path: Path
) -> None:
    async with running(api, bundle, tmp_path / "s.db"):
        for n in range(300):
            api.message(ALICE, f"hello {n}")
        api.message(ALICE, "I can't breathe")  # a red flag at the end of the flood
        api.message(BOB, "/about")
        await api.wait_sent(BOB, 1)
        await api.wait_for(lambda: any("emergency" in m["text"] for m in api.sent_to(ALICE)))
        await api.wait_for(lambda: len(api.sent_to(ALICE)) >= 22)
        await asyncio.sleep(0.3)  # nothing more is coming: the rest was dropped, not queued
    texts = [m["text"] for m in api.sent_to(ALICE)]
    # the burst (20 greetings), one "slow down", the emergency, and whatever the bucket refilled
    # while the flood was read (2 a second): far fewer than the 301 sent, so no backlog
    assert 22 <= len(texts) < 100
    assert sum("one at a time" in t for t in texts) >= 1


async def test_in_groups_only_this_bots_exact_mention_counts(
    api: FakeBotApi, bundle: Bundle, tmp_path: Path
) -> None:
    async with running(api, bundle, tmp_path / "s.db"):
        api.message(
            ALICE, f"@{BOT_USERNAME}2 what foods have magnesium?", chat_id=GROUP, chat_type="group"
        )
        api.message(ALICE, f"hey @{BOT_USERNAME}_fan, cramps?", chat_id=GROUP, chat_type="group")
        api.message(
            ALICE,
            f"what foods have potassium @{BOT_USERNAME.upper()}",
            chat_id=GROUP,
            chat_type="group",
        )
        sent = await api.wait_sent(GROUP, 1)
        await asyncio.sleep(0.3)
    assert len(api.sent_to(GROUP)) == 1 and "potassium" in sent[0]["text"]


async def _requests_until_done(
    method: str, failure: type[Exception], failures: int
) -> tuple[int, str]:
    """Send one Bot API request through RetryingRequest over an httpx MockTransport."""
    import httpx

    from adapters.telegram_bot import RetryingRequest

    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if len(seen) <= failures:
            raise failure("simulated", request=request)
        return httpx.Response(200, json={"ok": True, "result": True})

    request = RetryingRequest(
        retries=5, backoff=0.0, httpx_kwargs={"transport": httpx.MockTransport(handler)}
    )
    await request.initialize()
    try:
        code, _ = await request.do_request(f"https://api.example.invalid/bot123:x/{method}", "POST")
        outcome = str(code)
    except Exception as exc:  # what the caller sees
        outcome = type(exc).__name__
    finally:
        await request.shutdown()
    return len(seen), outcome


async def test_requests_that_certainly_were_not_sent_are_retried() -> None:
    import httpx

    for failure in (httpx.PoolTimeout, httpx.ConnectError, httpx.ConnectTimeout):
        assert await _requests_until_done("sendMessage", failure, 3) == (4, "200")


async def test_a_message_that_may_have_arrived_is_retried_at_most_once() -> None:
    import httpx

    for failure in (httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.ReadError):
        # the first attempt may have arrived; one more try, then give up (no third copy)
        assert await _requests_until_done("sendMessage", failure, 5) == (
            2,
            "TimedOut" if failure is httpx.ReadTimeout else "NetworkError",
        )
        assert await _requests_until_done("sendMessage", failure, 1) == (2, "200")
        # reads are harmless to repeat
        assert await _requests_until_done("getUpdates", failure, 3) == (4, "200")


async def test_a_token_revoked_while_running_ends_the_process(
    api: FakeBotApi, tmp_path: Path
) -> None:
    """Polling gets 401 mid-run: the process exits non-zero with a clear, redacted line."""
    proc = await _start_run(api, tmp_path, TOKEN)
    try:
        await api.wait_for(lambda: "getUpdates" in api.methods(), timeout=30)
        api.token = "999999:the-token-was-revoked"  # every request now gets 401
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
    assert proc.returncode == 1
    assert "rejected the bot token" in err.decode() and TOKEN not in err.decode()


async def test_the_heartbeat_is_written_only_while_updates_can_arrive(tmp_path: Path) -> None:
    from bot import cli

    beat = tmp_path / "hb"
    stop = asyncio.Event()
    task = asyncio.create_task(cli._heartbeat(beat, stop, lambda: False))
    await asyncio.sleep(0.2)
    stop.set()
    await task
    assert not beat.exists()
    stop = asyncio.Event()
    task = asyncio.create_task(cli._heartbeat(beat, stop, lambda: True))
    for _ in range(100):
        if beat.exists():
            break
        await asyncio.sleep(0.05)
    assert beat.exists()
    stop.set()
    await task
    assert not beat.exists()  # removed on a clean stop


async def _start_run(
    api: FakeBotApi, tmp_path: Path, token: str, *flags: str
) -> asyncio.subprocess.Process:
    """`nervebot [flags] run telegram` as an operator starts it, against the fake Bot API."""
    import os
    import sys

    root = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "NERVEBOT_"))}
    env.update(
        TELEGRAM_BOT_TOKEN=token,
        TELEGRAM_BASE_URL=api.base_url,
        NERVEBOT_DB=str(tmp_path / "run.db"),
        PYTHONPATH=str(root),
    )
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *flags, "run", "telegram",
        env=env, cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
