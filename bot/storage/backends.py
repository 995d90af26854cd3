"""Which database NERVEBOT_DB names, and the store and journal for it.

A file path or ``sqlite:///path`` keeps the embedded SQLite file (the default); a
``postgresql://user:pass@host/db`` address (optionally ``?schema=NAME``) selects PostgreSQL,
shared by several processes.
"""

from __future__ import annotations

import os
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from bot.storage.journal import FLUSH_EVERY, KEEP_UNANSWERED_DAYS, Journal, SQLiteJournal
from bot.storage.postgres import PostgresJournal, PostgresStore, is_postgres_url, redact
from bot.storage.sqlite import SQLiteStore
from bot.storage.store import DEFAULT_TTL_SECONDS


@dataclass(frozen=True)
class Database:
    """A database as NERVEBOT_DB or ``--db`` names it: a SQLite ``path``, or a PostgreSQL
    ``url`` with the ``schema`` its tables live in."""

    path: Path | None = None
    url: str | None = None
    schema: str = "public"

    @classmethod
    def parse(cls, target: str | Path) -> Database:
        """Read a path, ``sqlite:///path`` or ``postgresql://...[?schema=NAME]``."""
        text = str(target)
        if is_postgres_url(text):
            parts = urllib.parse.urlsplit(text)
            query = urllib.parse.parse_qs(parts.query)
            schema = query.pop("schema", ["public"])[0]
            rest = urllib.parse.urlencode(query, doseq=True)
            return cls(url=urllib.parse.urlunsplit(parts._replace(query=rest)), schema=schema)
        if text.startswith("sqlite://"):
            text = text.removeprefix("sqlite://")  # sqlite:///abs/path -> /abs/path
        return cls(path=Path(os.path.expanduser(text)))

    @property
    def shared(self) -> bool:
        """True for a server database several processes share."""
        return self.url is not None

    def __str__(self) -> str:
        return redact(self.url) if self.url else str(self.path)


def open_store(
    db: Database, ttl_seconds: float = DEFAULT_TTL_SECONDS, worker: str = ""
) -> SQLiteStore | PostgresStore:
    """The session store and mailbox of ``db`` (not yet opened: use ``async with``)."""
    if db.url is not None:
        return PostgresStore(db.url, ttl_seconds=ttl_seconds, schema=db.schema, worker=worker)
    assert db.path is not None
    return SQLiteStore(db.path, ttl_seconds=ttl_seconds)


def open_journal(
    db: Database, keep_days: float = KEEP_UNANSWERED_DAYS, flush_every: float = FLUSH_EVERY
) -> Journal:
    """The journal of ``db`` (not yet opened: use ``async with``)."""
    if db.url is not None:
        return PostgresJournal(db.url, db.schema, flush_every=flush_every, keep_days=keep_days)
    assert db.path is not None
    return SQLiteJournal(db.path, flush_every=flush_every, keep_days=keep_days)
