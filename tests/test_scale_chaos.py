"""Past one machine, on loopback: 2 webhook ingress processes and 3 workers sharing a real
PostgreSQL database, 200 users sending bursts with repeated deliveries, and workers killed
with SIGKILL at random moments and restarted. Every update is answered once, each user's
replies arrive in the order they asked, and no row is left in progress."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from tests.fakes.telegram_api import FakeBotApi
from tests.helpers import unique_texts

ROOT = Path(__file__).resolve().parents[1]
SECRET = "chaos-secret"
USERS = range(10_001, 10_201)  # 200 users
#: What each user sends in a burst: texts whose answers differ, so order shows in the replies.
BURST = ["/about", "/help", "/redflags"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(api: FakeBotApi, db: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "NERVEBOT_"))}
    env.update(
        TELEGRAM_BOT_TOKEN=api.token,
        TELEGRAM_BASE_URL=api.base_url,
        NERVEBOT_DB=db,
        NERVEBOT_WORKERS="3",
        PYTHONPATH=str(ROOT),
        **extra,
    )
    return env


async def _start(args: list[str], env: dict[str, str], cwd: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args, env=env, cwd=cwd,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def _listening(port: int, timeout: float = 60) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.1)


async def test_ingress_and_workers_answer_every_update_once_in_order_through_kills(
    api: FakeBotApi, postgres_url: str, pg_schema: str, tmp_path: Path
) -> None:
    db = f"{postgres_url}?schema={pg_schema}"
    ports = [_free_port(), _free_port()]
    ingress = []
    for i, port in enumerate(ports):  # two replicas of the webhook, as behind a load balancer
        webhook = {
            "TELEGRAM_WEBHOOK_URL": f"https://bot.example.org/hook{i}",
            "TELEGRAM_WEBHOOK_SECRET": SECRET,
            "TELEGRAM_WEBHOOK_LISTEN": f"127.0.0.1:{port}",
        }
        ingress.append(await _start(["run", "telegram"], _env(api, db, **webhook), tmp_path))
    workers = [await _start(["worker", "telegram"], _env(api, db), tmp_path) for _ in range(3)]
    rng = random.Random(13)
    updates: dict[int, list[dict[str, Any]]] = {}
    try:
        for port in ports:
            await _listening(port)
        # every user's burst at once, alternating replicas; 5% of deliveries repeated to the other
        for user in USERS:
            updates[user] = [api.message(user, text) for text in BURST]
        order = [(u, i) for u in USERS for i in range(len(BURST))]  # each burst back to back
        duplicates = 0
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        async with aiohttp.ClientSession() as http:

            async def post(update: dict[str, Any], replica: int) -> None:
                url = f"http://127.0.0.1:{ports[replica]}/hook{replica}"
                for _ in range(50):  # a replica that is busy or restarting: Telegram retries
                    try:
                        async with http.post(url, json=update, headers=headers) as response:
                            if response.status == 200:
                                return
                    except aiohttp.ClientError:
                        pass
                    await asyncio.sleep(0.2)
                raise AssertionError("an update was never accepted")

            kills = 0
            for n, (user, i) in enumerate(order):
                update = updates[user][i]
                await post(update, n % 2)
                if rng.random() < 0.05:
                    await post(update, (n + 1) % 2)
                    duplicates += 1
                if n and n % 150 == 0:  # kill a random worker mid-burst, start a new one
                    victim = rng.randrange(len(workers))
                    workers[victim].send_signal(signal.SIGKILL)
                    await workers[victim].wait()
                    workers[victim] = await _start(["worker", "telegram"], _env(api, db), tmp_path)
                    kills += 1
        expected = len(USERS) * len(BURST)

        def answered() -> bool:
            return all(len(unique_texts(api, u)) >= len(BURST) for u in USERS)

        await api.wait_for(answered, timeout=240)
        await asyncio.sleep(2)  # late repeats, if any, show up
    finally:
        for proc in [*ingress, *workers]:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        for proc in [*ingress, *workers]:
            try:
                await asyncio.wait_for(proc.wait(), 40)
            except TimeoutError:
                proc.kill()
    conn = await asyncpg.connect(postgres_url, server_settings={"search_path": pg_schema})
    try:
        inbox = dict(await conn.fetch("SELECT state, count(*) FROM inbox GROUP BY state"))
        stuck = await conn.fetchval("SELECT count(*) FROM outbox WHERE state != 'failed'")
    finally:
        await conn.close()
    repeats = 0
    reference = None
    for user in USERS:
        unique = unique_texts(api, user)
        repeats += len(api.sent_to(user)) - len(unique)
        assert len(unique) == len(BURST), (user, unique)
        reference = reference or unique
        assert unique == reference  # every user got the answers in the order they asked
    print(
        f"\nchaos: {len(USERS)} users, {expected} updates + {duplicates} repeated deliveries, "
        f"{kills} worker kills: {len(api.sent)} messages sent, {repeats} repeats; "
        f"inbox {inbox}, outbox rows left {stuck}"
    )
    assert inbox == {"done": expected}  # each update stored once, answered, none in progress
    assert stuck == 0
    # a reply is repeated only when it was on the wire, unrecorded, as its worker died
    assert repeats <= kills * 64
