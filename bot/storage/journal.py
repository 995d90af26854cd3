"""The journal: the content audit log, anonymous usage counts, and unanswered questions.

Usage counts are kept per day as (kind, key, count), with no user ids, and flushed in batches,
so counting costs no database round trip per message; at most a few seconds of counts are lost
on a crash. Questions the bot could not answer are kept scrubbed of identifiers, for a few days
(`keep_days`, 0 = not at all), under a salted hash of the user so that /forget removes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import secrets
import sqlite3
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import aiosqlite

from bot.errors import StoreError
from bot.events import SessionKey
from bot.storage import database
from bot.storage.resource import AsyncResource

_log = logging.getLogger(__name__)

#: Seconds between flushes of buffered usage counts.
FLUSH_EVERY = 5.0

#: Unanswered questions held in memory at most while the database cannot be written.
MAX_BUFFERED = 10_000
#: Days unanswered questions are kept by default.
KEEP_UNANSWERED_DAYS = 14.0

_NUMBER_WORD = (
    r"(?:zero|oh|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty"
    r"|forty|fifty|sixty|seventy|eighty|ninety|hundred|double|triple)"
)
_STREET = (
    r"(?:street|st|road|rd|avenue|ave|lane|ln|drive|dr|close|way|court|ct|place|pl|crescent"
    r"|terrace|boulevard|blvd|square|sq|gardens|grove|hill|park)"
)
_PII = [
    (re.compile(r"\S+@\S+\.\S+"), "[email]"),
    (re.compile(r"https?://\S+|www\.\S+"), "[link]"),
    (re.compile(r"@\w+"), "[handle]"),
    # credentials: everything after "password is", "pin:", "passcode" ...
    (
        re.compile(
            r"\b(?:password|passcode|passwd|pin|pwd|login|username|user name)\b\W*(?:is\W+)?\S+",
            re.I,
        ),
        "[secret]",
    ),
    # names people give: "my name is Jo Smith", "I'm called Jo", "call me Jo"
    (
        re.compile(
            r"\b(?:my name is|my name's|i am called|i'm called|im called|call me)\s+[a-z][\w'-]*(?:\s+[A-Z][\w'-]*)?",
            re.I,
        ),
        "[name]",
    ),
    # addresses: "12 Acacia Avenue", "flat 3, 40 High St"
    (re.compile(rf"\b\d+[a-z]?\s+(?:[A-Za-z][\w'-]*\s+){{0,3}}{_STREET}\b\.?", re.I), "[address]"),
    (re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}\b", re.I), "[postcode]"),
    # numbers spelled out: "five five five, one two three four"
    (re.compile(rf"\b{_NUMBER_WORD}(?:[\s,.-]+{_NUMBER_WORD}){{3,}}\b", re.I), "[number]"),
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
    """Where audit entries, usage counts and unanswered questions go; async context manager."""

    def __init__(self, keep_days: float = KEEP_UNANSWERED_DAYS) -> None:
        self._pending: Counter[tuple[str, str, str]] = Counter()
        self._questions: list[tuple[str, float, str]] = []
        self.keep_days = keep_days
        self._salt = secrets.token_hex(16)

    def _hash(self, key: SessionKey) -> str:
        data = f"{self._salt}\x00{key.platform}\x00{key.user_id}".encode()
        return hashlib.sha256(data).hexdigest()[:32]

    def unanswered(self, key: SessionKey, text: str, at: float | None = None) -> None:
        """Buffer a question the bot could not answer (scrubbed), unless keeping them is off."""
        if self.keep_days > 0:
            when = at if at is not None else time.time()
            self._questions.append((self._hash(key), when, scrub(text)))

    @abstractmethod
    async def forget(self, key: SessionKey) -> None:
        """Delete every unanswered question of ``key`` (what /forget does here)."""

    @abstractmethod
    async def purge(self, now: float | None = None) -> int:
        """Delete unanswered questions older than `keep_days`; returns how many."""

    @abstractmethod
    async def questions(self, since: float) -> list[tuple[str, int]]:
        """(question, how often) of unanswered questions since ``since``, most frequent first."""

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

    def __init__(self, keep_days: float = KEEP_UNANSWERED_DAYS) -> None:
        super().__init__(keep_days)
        self.entries: list[AuditEntry] = []
        self.totals: Counter[tuple[str, str, str]] = Counter()
        self.kept: list[tuple[str, float, str]] = []

    async def flush(self) -> None:
        self.totals.update(self._take())
        self.kept += self._questions
        self._questions = []

    async def forget(self, key: SessionKey) -> None:
        await self.flush()
        self.kept = [q for q in self.kept if q[0] != self._hash(key)]

    async def purge(self, now: float | None = None) -> int:
        await self.flush()
        cutoff = (now if now is not None else time.time()) - self.keep_days * 86400
        before = len(self.kept)
        self.kept = [q for q in self.kept if q[1] >= cutoff]
        return before - len(self.kept)

    async def questions(self, since: float) -> list[tuple[str, int]]:
        await self.flush()
        return Counter(t for _, at, t in self.kept if at >= since).most_common()

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

    def __init__(
        self,
        path: str | Path,
        flush_every: float = FLUSH_EVERY,
        keep_days: float = KEEP_UNANSWERED_DAYS,
    ) -> None:
        super().__init__(keep_days)
        self.path = Path(path)
        self._db: aiosqlite.Connection | None = None
        self._flush_every = flush_every
        self._flusher: asyncio.Task[None] | None = None
        self._warned = False

    async def open(self) -> None:
        """Open the file, migrating it; if it cannot be written, keep counting in memory."""
        await self._connect()
        self._flusher = asyncio.create_task(self._flush_loop())

    async def _connect(self) -> bool:
        """Open the database; False (with a warning) when it cannot be written now."""
        try:
            self._db = await database.connect(self.path)
            await self._db.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('salt', ?)", (self._salt,)
            )
            rows = await self._db.execute_fetchall("SELECT value FROM meta WHERE key = 'salt'")
            self._salt = str(next(iter(rows))[0])  # the same salt for the life of the file
        except (sqlite3.Error, OSError) as exc:
            await self._close_db()
            if not self._warned:
                _log.warning(
                    "journal %s is not writable (%s); keeping counts in memory", self.path, exc
                )
                self._warned = True
            return False
        if self._warned:
            _log.warning("journal %s is writable again", self.path)
            self._warned = False
        return True

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self._flush_every)
            await self.flush()

    def _conn(self) -> aiosqlite.Connection:
        if self._db is None:
            raise StoreError("journal is not open")
        return self._db

    async def flush(self) -> None:
        """Write buffered counts and questions; on failure keep them for the next try."""
        if self._db is None and not await self._connect():
            del self._questions[:-MAX_BUFFERED]  # while the file cannot be written, keep the newest
            return
        questions, self._questions = self._questions, []
        if questions and self._db is not None:
            try:
                await self._db.executemany(
                    "INSERT INTO unanswered (user_hash, at, text) VALUES (?, ?, ?)", questions
                )
            except sqlite3.Error as exc:
                _log.warning("unanswered questions not written yet: %s", exc)
                self._questions = questions + self._questions
        elif questions:
            self._questions = questions + self._questions
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

    async def forget(self, key: SessionKey) -> None:
        user = self._hash(key)
        self._questions = [q for q in self._questions if q[0] != user]
        await self._conn().execute("DELETE FROM unanswered WHERE user_hash = ?", (user,))

    async def purge(self, now: float | None = None) -> int:
        await self.flush()
        cutoff = (now if now is not None else time.time()) - self.keep_days * 86400
        if self.keep_days <= 0:
            cutoff = float("inf")  # keeping them was turned off: none stays
        cursor = await self._conn().execute("DELETE FROM unanswered WHERE at < ?", (cutoff,))
        return cursor.rowcount

    async def questions(self, since: float) -> list[tuple[str, int]]:
        await self.flush()
        rows = await self._conn().execute_fetchall(
            "SELECT text, COUNT(*) AS n FROM unanswered WHERE at >= ? GROUP BY text "
            "ORDER BY n DESC, text",
            (since,),
        )
        return [(str(r[0]), int(r[1])) for r in rows]

    async def audit(self, entry: AuditEntry) -> None:
        if self._db is None:
            await self._connect()
        try:
            await self._conn().execute(
                "INSERT INTO content_audit (at, version, source, accepted, errors) VALUES (?, ?, ?, ?, ?)",
                (entry.at, entry.version, entry.source, int(entry.accepted), entry.errors),
            )
        except (sqlite3.Error, StoreError) as exc:
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
