"""The journal: the content audit log and anonymous usage counts (no user ids, ever).

Usage counts are kept per day as (kind, key, count) and flushed in batches, so counting
costs no database round trip per message; at most a few seconds of counts are lost on a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sqlite3
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import aiosqlite

from bot.errors import StoreError
from bot.storage import database
from bot.storage.resource import AsyncResource

_log = logging.getLogger(__name__)

#: Seconds between flushes of buffered usage counts.
FLUSH_EVERY = 5.0

_PII = [
    (re.compile(r"\S+@\S+\.\S+"), "[email]"),
    (re.compile(r"https?://\S+|www\.\S+"), "[link]"),
    (re.compile(r"@\w+"), "[handle]"),
    (re.compile(r"\+?\d[\d\s().-]{6,}\d"), "[number]"),
    (re.compile(r"\b\d{2,}\b"), "[n]"),
]


def scrub(text: str, limit: int = 120) -> str:
    """A fallback message with identifiers removed (emails, links, handles, numbers)."""
    for pattern, mask in _PII:
        text = pattern.sub(mask, text)
    return " ".join(text.split())[:limit].casefold()


@dataclass(frozen=True)
class AuditEntry:
    """One content load or rejected load."""

    at: float
    version: str
    source: str
    accepted: bool
    errors: int


class Journal(AsyncResource, ABC):
    """Where audit entries and usage counts go; async context manager."""

    def __init__(self) -> None:
        self._pending: Counter[tuple[str, str, str]] = Counter()

    def count(self, events: Iterable[tuple[str, str]], at: float | None = None) -> None:
        """Buffer usage events (kind, key) for today; cheap, no I/O."""
        day = time.strftime("%Y-%m-%d", time.gmtime(at if at is not None else time.time()))
        for kind, key in events:
            self._pending[(day, kind, key)] += 1

    def _take(self) -> Counter[tuple[str, str, str]]:
        pending, self._pending = self._pending, Counter()
        return pending

    @abstractmethod
    async def flush(self) -> None:
        """Write buffered usage counts."""

    @abstractmethod
    async def audit(self, entry: AuditEntry) -> None:
        """Record a content load or rejection."""

    @abstractmethod
    async def audit_log(self, limit: int = 100) -> list[AuditEntry]:
        """The latest audit entries, newest first."""

    @abstractmethod
    async def usage(self, since_day: str) -> list[tuple[str, str, int]]:
        """(kind, key, count) summed over days from ``since_day`` (YYYY-MM-DD) on."""

    async def close(self) -> None:
        """Flush and release resources."""
        await self.flush()


class MemoryJournal(Journal):
    """In-process journal for tests and the terminal chat."""

    def __init__(self) -> None:
        super().__init__()
        self.entries: list[AuditEntry] = []
        self.totals: Counter[tuple[str, str, str]] = Counter()

    async def flush(self) -> None:
        self.totals.update(self._take())

    async def audit(self, entry: AuditEntry) -> None:
        self.entries.append(entry)

    async def audit_log(self, limit: int = 100) -> list[AuditEntry]:
        return list(reversed(self.entries))[:limit]

    async def usage(self, since_day: str) -> list[tuple[str, str, int]]:
        await self.flush()
        summed: Counter[tuple[str, str]] = Counter()
        for (day, kind, key), n in self.totals.items():
            if day >= since_day:
                summed[(kind, key)] += n
        return [(k, key, n) for (k, key), n in sorted(summed.items())]


class SQLiteJournal(Journal):
    """The journal in the bot's SQLite file (its own connection; WAL makes that cheap)."""

    def __init__(self, path: str | Path, flush_every: float = FLUSH_EVERY) -> None:
        super().__init__()
        self.path = Path(path)
        self._db: aiosqlite.Connection | None = None
        self._flush_every = flush_every
        self._flusher: asyncio.Task[None] | None = None

    async def open(self) -> None:
        """Open the file, migrating it to the latest schema if needed."""
        try:
            self._db = await database.connect(self.path)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open the journal in {self.path}: {exc}") from exc
        self._flusher = asyncio.create_task(self._flush_loop())

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self._flush_every)
            await self.flush()

    def _conn(self) -> aiosqlite.Connection:
        if self._db is None:
            raise StoreError("journal is not open")
        return self._db

    async def flush(self) -> None:
        """Write buffered counts in one transaction; on failure keep them for the next try."""
        pending = self._take()
        if not pending or self._db is None:
            self._pending.update(pending)
            return
        try:
            await self._db.executemany(
                "INSERT INTO usage (day, kind, key, count) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (day, kind, key) DO UPDATE SET count = count + excluded.count",
                [(day, kind, key, n) for (day, kind, key), n in pending.items()],
            )
        except sqlite3.Error as exc:
            _log.warning("usage counts not written yet: %s", exc)
            self._pending.update(pending)

    async def audit(self, entry: AuditEntry) -> None:
        try:
            await self._conn().execute(
                "INSERT INTO content_audit (at, version, source, accepted, errors) VALUES (?, ?, ?, ?, ?)",
                (entry.at, entry.version, entry.source, int(entry.accepted), entry.errors),
            )
        except sqlite3.Error as exc:
            _log.warning("audit entry not written: %s", exc)

    async def audit_log(self, limit: int = 100) -> list[AuditEntry]:
        rows = await self._conn().execute_fetchall(
            "SELECT at, version, source, accepted, errors FROM content_audit ORDER BY at DESC, rowid DESC LIMIT ?",
            (limit,),
        )
        return [AuditEntry(r[0], r[1], r[2], bool(r[3]), r[4]) for r in rows]

    async def usage(self, since_day: str) -> list[tuple[str, str, int]]:
        await self.flush()
        rows = await self._conn().execute_fetchall(
            "SELECT kind, key, SUM(count) FROM usage WHERE day >= ? GROUP BY kind, key ORDER BY kind, key",
            (since_day,),
        )
        return [(r[0], r[1], int(r[2])) for r in rows]

    async def _close_db(self) -> None:
        await database.close_quietly(self._db)
        self._db = None

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        await self.flush()
        await self._close_db()
