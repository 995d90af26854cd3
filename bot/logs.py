"""Logging set-up: our own levels, and caps on libraries that would log secrets or text.

httpx logs every request URL at INFO, and Telegram's URLs contain the bot token;
python-telegram-bot and discord.py log whole updates (message text) at DEBUG. Those
loggers are therefore held at WARNING/INFO whatever level the operator asks for.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable

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


#: Shapes of bot tokens: Telegram's "123456:secret" and Discord's three dotted parts.
_TOKEN_SHAPES = re.compile(
    r"\b\d{5,12}:[A-Za-z0-9_-]{20,}"
    r"|\b[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{20,}"
)
REDACTED = "[token]"


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every known secret, and anything shaped like a bot token, replaced."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return _TOKEN_SHAPES.sub(REDACTED, text)


class Redactor(logging.Filter):
    """A log filter that redacts secrets from every record's message and traceback."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = tuple(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        """Render the message once, redacted; drop its arguments."""
        message = redact(record.getMessage(), self._secrets)
        if record.exc_info:
            formatter = logging.Formatter()
            message += "\n" + redact(formatter.formatException(record.exc_info), self._secrets)
            record.exc_info = None
            record.exc_text = None
        record.msg, record.args = message, None
        return True


def configure(level: str | int, secrets: Iterable[str] = ()) -> None:
    """Log to stderr at ``level``, with the library caps above and secrets redacted."""
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    root = logging.getLogger()
    root.setLevel(level)
    redactor = Redactor(secrets)
    for handler in root.handlers:
        for old in [f for f in handler.filters if isinstance(f, Redactor)]:
            handler.removeFilter(old)
        handler.addFilter(redactor)
    cap_libraries()


def cap_libraries() -> None:
    """Hold the chatty libraries at their caps."""
    for name, cap in CAPS.items():
        logging.getLogger(name).setLevel(cap)
