"""Logging set-up: our own levels, and caps on libraries that would log secrets or text.

httpx logs every request URL at INFO, and Telegram's URLs contain the bot token;
python-telegram-bot and discord.py log whole updates (message text) at DEBUG. Those
loggers are therefore held at WARNING/INFO whatever level the operator asks for, and are
never more verbose than the operator's level either (at the default WARNING, discord.py's
"logging in using static token" stays quiet). A few library warnings that are no concern of
an operator (discord.py's "voice will NOT be supported": nervebot has no voice) are shown at
DEBUG only.
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

#: Library loggers, and parts of messages from them that only matter when debugging.
QUIET = {
    "discord.client": ("voice will NOT be supported",),
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
    cap_libraries(root.level)


class Demote(logging.Filter):
    """Shows records whose message contains one of ``fragments`` at DEBUG, when that is on."""

    def __init__(self, fragments: Iterable[str]) -> None:
        super().__init__()
        self.fragments = tuple(fragments)

    def filter(self, record: logging.LogRecord) -> bool:
        """Pass other records; demote a matching one, shown only if the root logs DEBUG."""
        if record.levelno <= logging.DEBUG:
            return True
        message = record.getMessage()
        if not any(fragment in message for fragment in self.fragments):
            return True
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return logging.getLogger().isEnabledFor(logging.DEBUG)


def cap_libraries(level: str | int = logging.NOTSET) -> None:
    """Hold the chatty libraries at their caps, and at ``level`` where that is quieter."""
    wanted = logging.getLevelName(level) if isinstance(level, str) else level
    wanted = wanted if isinstance(wanted, int) else logging.NOTSET
    for name, cap in CAPS.items():
        logging.getLogger(name).setLevel(max(cap, wanted))
    for name, fragments in QUIET.items():
        logger = logging.getLogger(name)
        for old in [f for f in logger.filters if isinstance(f, Demote)]:
            logger.removeFilter(old)
        logger.addFilter(Demote(fragments))
