"""The SQLite session store (aiosqlite): WAL mode, atomic upserts, versioned schema."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections import OrderedDict
from pathlib import Path

import aiosqlite

from bot.errors import StoreError, StoreUnavailable
from bot.events import SessionKey
from bot.storage import database
from bot.storage.store import DEFAULT_TTL_SECONDS, Clock, Session, SessionStore

_log = logging.getLogger(__name__)


_UPSERT = (
    "INSERT INTO sessions (platform, user_id, data, updated_at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (platform, user_id) DO UPDATE SET data = excluded.data, "
    "updated_at = excluded.updated_at"
)


def _unavailable(exc: sqlite3.Error, path: Path) -> StoreError:
    text = str(exc).lower()
    if isinstance(exc, sqlite3.OperationalError) or "readonly" in text or "locked" in text:
        return StoreUnavailable(f"session database {path} is unavailable: {exc}")
    return StoreError(f"session database {path} failed: {exc}")


class SQLiteStore(SessionStore):
    """Sessions in one SQLite file; opened by ``async with`` or `open`.

    Reads are served from a write-through cache of recent sessions (``cache_size``), so a turn
    costs one database round trip (the write) or none; this assumes one process owns the
    file, which is how nervebot runs it (several processes share state in a server database).
    """

    def __init__(
        self,
        path: str | Path,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        clock: Clock = time.time,
        busy_timeout_ms: int = 2000,
        cache_size: int = 10_000,
    ) -> None:
        self.path = Path(path)
        self._ttl = ttl_seconds
        self._clock = clock
        self._busy_ms = busy_timeout_ms
        self._db: aiosqlite.Connection | None = None
        self.read_only = False
        self._cache: OrderedDict[SessionKey, tuple[str | None, float]] = (
            OrderedDict()
        )  # None: no row
        self._cache_size = cache_size

    def _remember(self, key: SessionKey, data: str | None, at: float) -> None:
        if self._cache_size <= 0:
            return
        self._cache[key] = (data, at)
        self._cache.move_to_end(key)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    async def open(self) -> None:
        """Open the file, enable WAL and migrate; falls back to read-only if it cannot write."""
        try:
            self._db = await database.connect(self.path, self._busy_ms)
        except (sqlite3.Error, OSError) as exc:
            if not self.path.exists():
                raise StoreUnavailable(
                    f"cannot create session database {self.path}: {exc}"
                ) from exc
            _log.warning(
                "session database %s is not writable (%s); opening read-only", self.path, exc
            )
            try:
                uri = f"{self.path.resolve().as_uri()}?mode=ro"
                self._db = await aiosqlite.connect(uri, uri=True, isolation_level=None)
                await self._db.execute("SELECT 1 FROM sessions LIMIT 1")
            except sqlite3.Error as exc2:
                await self._close_quietly()
                raise StoreUnavailable(
                    f"cannot open session database {self.path}: {exc2}"
                ) from exc2
            self.read_only = True

    def _conn(self) -> aiosqlite.Connection:
        if self._db is None:
            raise StoreError("session store is not open")
        return self._db

    async def get(self, key: SessionKey) -> Session | None:
        now = self._clock()
        cached = self._cache.get(key)
        if cached is not None:
            data, at = cached
            if data is None:
                return None
            if at >= now - self._ttl:
                return Session.from_json(data)
        try:
            rows = list(
                await self._conn().execute_fetchall(
                    "SELECT data, updated_at FROM sessions WHERE platform = ? AND user_id = ? AND updated_at >= ?",
                    (key.platform, key.user_id, now - self._ttl),
                )
            )
        except sqlite3.Error as exc:
            raise _unavailable(exc, self.path) from exc
        if not rows:
            self._remember(key, None, now)
            return None
        self._remember(key, rows[0][0], rows[0][1])
        return Session.from_json(rows[0][0])

    async def save(self, key: SessionKey, session: Session) -> None:
        data, now = session.to_json(), self._clock()
        await self._write(_UPSERT, (key.platform, key.user_id, data, now))
        self._remember(key, data, now)

    async def delete(self, key: SessionKey) -> None:
        await self._write(
            "DELETE FROM sessions WHERE platform = ? AND user_id = ?", (key.platform, key.user_id)
        )
        self._remember(key, None, self._clock())

    async def purge_expired(self) -> int:
        cutoff = self._clock() - self._ttl
        cursor = await self._write("DELETE FROM sessions WHERE updated_at < ?", (cutoff,))
        for key in [k for k, (data, at) in self._cache.items() if data is not None and at < cutoff]:
            del self._cache[key]
        return max(cursor, 0)

    async def _write(self, sql: str, params: tuple[object, ...]) -> int:
        if self.read_only:
            raise StoreUnavailable(f"session database {self.path} is read-only")
        try:
            # one round trip to the database thread; the cursor needs no separate close
            cursor = await self._conn().execute(sql, params)
            return cursor.rowcount
        except sqlite3.Error as exc:
            raise _unavailable(exc, self.path) from exc

    async def _close_quietly(self) -> None:
        await database.close_quietly(self._db)
        self._db = None

    async def close(self) -> None:
        await self._close_quietly()
