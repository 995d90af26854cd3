"""Logging set-up: our own levels, and caps on libraries that would log secrets or text.

httpx logs every request URL at INFO, and Telegram's URLs contain the bot token;
python-telegram-bot and discord.py log whole updates (message text) at DEBUG. Those
loggers are therefore held at WARNING/INFO whatever level the operator asks for.
"""

from __future__ import annotations

import logging
import sys

#: Library loggers and the most verbose level they may use.
CAPS = {
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
    "telegram": logging.INFO,
    "discord": logging.INFO,
    "aiohttp": logging.INFO,
    "tornado": logging.INFO,
    "aiosqlite": logging.INFO,
    "apscheduler": logging.WARNING,
}


def configure(level: str | int) -> None:
    """Log to stderr at ``level``, with the library caps above."""
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger().setLevel(level)
    cap_libraries()


def cap_libraries() -> None:
    """Hold the chatty libraries at their caps."""
    for name, cap in CAPS.items():
        logging.getLogger(name).setLevel(cap)
