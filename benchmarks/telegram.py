"""Telegram adapter benchmark: updates/s through the real adapter against the loopback fake API.

200 chats each send 10 messages at once (2,000 updates queued on the fake Bot API server).
Measured from the first getUpdates until every chat has its answers. Baseline, in the same
run and on the same fake: a minimal python-telegram-bot echo bot with concurrent updates.
The adapter runs with its real engine, its SQLite store on disk, per-chat ordering and
retrying request layer; its flood limits are switched off here (they exist to slow sending
down, which is not what this measures). Each side runs 3 times, alternating; the best counts.

Usage: python benchmarks/telegram.py [--chats 200] [--messages 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# this file is named like the library: keep its own folder off the import path
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters

from adapters.telegram_bot import ChatRateLimiter, TelegramAdapter
from bot.content.loader import bundled_content_dir, load_content
from bot.conversation.engine import Engine
from bot.storage.journal import SQLiteJournal
from bot.storage.sqlite import SQLiteStore
from tests.fakes.telegram_api import TOKEN, FakeBotApi

QUESTIONS = ["what is tetany?", "/nutrient magnesium", "can coffee make my eye twitch", "/about"]


async def _measure(api: FakeBotApi, total: int, start: Any, stop: Any) -> float:
    await start()
    await api.wait_for(lambda: "getUpdates" in api.methods(), timeout=60)
    began = time.perf_counter()
    await api.wait_for(lambda: len(api.sent) >= total, timeout=600)
    elapsed = time.perf_counter() - began
    await stop()
    return total / elapsed


def _queue(api: FakeBotApi, chats: int, messages: int) -> int:
    for m in range(messages):
        for c in range(chats):
            api.message(10_000 + c, QUESTIONS[(c + m) % len(QUESTIONS)])
    return chats * messages


async def run_echo(chats: int, messages: int) -> float:
    api = FakeBotApi(poll_cap=0.05)
    await api.start()
    total = _queue(api, chats, messages)

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None and update.message.text is not None
        await update.message.reply_text(update.message.text)

    app = Application.builder().token(TOKEN).base_url(api.base_url).concurrent_updates(True).build()
    app.add_handler(MessageHandler(filters.TEXT, echo))

    async def start() -> None:
        await app.initialize()
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(timeout=1)

    async def stop() -> None:
        assert app.updater is not None
        await app.updater.stop()
        await app.stop()
        await app.shutdown()

    try:
        return await _measure(api, total, start, stop)
    finally:
        await api.stop()


async def run_adapter(chats: int, messages: int) -> float:
    api = FakeBotApi(poll_cap=0.05)
    await api.start()
    total = _queue(api, chats, messages)
    bundle = load_content(bundled_content_dir())
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.sqlite3"
        async with SQLiteStore(db) as store, SQLiteJournal(db) as journal:
            limits = ChatRateLimiter(overall_per_second=0, group_per_minute=0, chat_per_second=0)
            adapter = TelegramAdapter(
                Engine(bundle, store, journal),
                TOKEN,
                base_url=api.base_url,
                rate_limiter=limits,
                poll_timeout=1,
            )
            halt = asyncio.Event()
            task: asyncio.Task[None] | None = None

            async def start() -> None:
                nonlocal task
                task = asyncio.create_task(adapter.run(halt))

            async def stop() -> None:
                halt.set()
                assert task is not None
                await task

            try:
                return await _measure(api, total, start, stop)
            finally:
                await api.stop()


async def main() -> None:
    logging.basicConfig(level=logging.CRITICAL)  # connection resets at teardown are expected
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chats", type=int, default=200)
    parser.add_argument("--messages", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(
        f"command: python benchmarks/telegram.py --chats {args.chats} --messages {args.messages} --rounds {args.rounds}"
    )
    echo, adapter = [], []
    for _ in range(args.rounds):
        echo.append(await run_echo(args.chats, args.messages))
        adapter.append(await run_adapter(args.chats, args.messages))
    print(f"\n{'updates/s':<36} {'best':>8} {'median':>8}")
    print(f"{'echo bot (baseline)':<36} {max(echo):>8.0f} {statistics.median(echo):>8.0f}")
    print(
        f"{'nervebot Telegram adapter':<36} {max(adapter):>8.0f} {statistics.median(adapter):>8.0f}"
    )
    print(f"\nadapter / echo (best): {max(adapter) / max(echo):.2f} (goal >= 0.80)")


if __name__ == "__main__":
    asyncio.run(main())
