"""`nervebot run all`: one process, one engine and store, both platforms; one failing spares the other."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fakes.discord_api import TOKEN as DISCORD_TOKEN
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.telegram_api import TOKEN as TELEGRAM_TOKEN
from tests.fakes.telegram_api import FakeBotApi

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakeBotApi, FakeDiscord]]:
    telegram, discord = FakeBotApi(), FakeDiscord()
    await telegram.start()
    await discord.start()
    yield telegram, discord
    await discord.stop()
    await telegram.stop()


def _clean_env() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TELEGRAM_", "DISCORD_", "NERVEBOT_"))
    }


async def _start(
    telegram: FakeBotApi, discord: FakeDiscord | None, db: Path
) -> asyncio.subprocess.Process:
    """`nervebot run all` against the fakes; without ``discord``, no Discord token is set."""
    env = _clean_env()
    env.update(
        PYTHONPATH=str(ROOT), NERVEBOT_DB=str(db),
        TELEGRAM_BOT_TOKEN=TELEGRAM_TOKEN, TELEGRAM_BASE_URL=telegram.base_url,
    )  # fmt: skip
    if discord is not None:
        env.update(
            DISCORD_BOT_TOKEN=DISCORD_TOKEN, DISCORD_API_BASE_URL=discord.api_base,
            DISCORD_GATEWAY_URL=discord.gateway_url,
        )  # fmt: skip
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", "all", env=env, cwd=db.parent,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def _stop(proc: asyncio.subprocess.Process) -> tuple[int, str]:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
    try:
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
    return proc.returncode or 0, err.decode()


async def test_both_platforms_share_one_engine_and_store(
    fakes: tuple[FakeBotApi, FakeDiscord], tmp_path: Path
) -> None:
    telegram, discord = fakes
    proc = await _start(telegram, discord, tmp_path / "all.db")
    try:
        await telegram.wait_for(lambda: "getUpdates" in telegram.methods(), timeout=30)
        await discord.wait_for(
            lambda: discord.identified > 0 and "global" in discord.synced, timeout=30
        )
        telegram.message(7, "/triage")
        answer = await discord.wait_answers(await discord.slash("triage", 8), timeout=30)
        await telegram.wait_sent(7, 1)
        health = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "health", "--db", str(tmp_path / "all.db"),
            env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        healthy, _ = await health.communicate()
        assert health.returncode == 0, healthy
    finally:
        code, err = await _stop(proc)
    assert code == 0, err
    assert "noticing" in answer[0]["content"]
    with sqlite3.connect(tmp_path / "all.db") as db:
        rows = sorted(db.execute("SELECT platform, user_id FROM sessions"))
    assert rows == [("discord", "8"), ("telegram", "7")]


async def test_discord_failing_does_not_take_telegram_down(
    fakes: tuple[FakeBotApi, FakeDiscord], tmp_path: Path
) -> None:
    telegram, discord = fakes
    discord.reject_login = True
    proc = await _start(telegram, discord, tmp_path / "all.db")
    try:
        await discord.wait_for(
            lambda: any(p == "/users/@me" for _, p, _ in discord.calls), timeout=30
        )
        await asyncio.sleep(0.5)
        assert proc.returncode is None  # still running
        telegram.message(7, "/about")
        sent = await telegram.wait_sent(7, 1, timeout=30)
    finally:
        code, err = await _stop(proc)
    assert "health-education" in sent[0]["text"]
    assert "discord failed" in err and "Traceback" not in err
    assert code == 1  # reported in the exit code as well


async def test_run_all_with_only_a_telegram_token_serves_telegram_and_skips_discord(
    api: FakeBotApi, tmp_path: Path
) -> None:
    """The Docker, compose and systemd default is `run all`: one token is enough."""
    proc = await _start(api, None, tmp_path / "all.db")
    try:
        await api.wait_for(lambda: "getUpdates" in api.methods(), timeout=30)
        assert proc.returncode is None  # serving, not exiting for the missing Discord token
        api.message(7, "/about")
        sent = await api.wait_sent(7, 1, timeout=30)
    finally:
        code, err = await _stop(proc)
    assert code == 0, err
    assert "health-education" in sent[0]["text"]
    skipped = [line for line in err.splitlines() if "skipping" in line]
    assert len(skipped) == 1, err
    assert "discord (DISCORD_BOT_TOKEN is not set)" in skipped[0]
    assert "telegram" not in skipped[0]
    assert "Traceback" not in err


def test_run_all_without_any_token_exits_2(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot", "run", "all"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
        env={**_clean_env(), "PYTHONPATH": str(ROOT), "NERVEBOT_DB": str(tmp_path / "s.db")},
        check=False,
    )  # fmt: skip
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "TELEGRAM_BOT_TOKEN" in lines[0] and "DISCORD_BOT_TOKEN" in lines[0]
    assert not (tmp_path / "s.db").exists()  # refused before anything was opened
