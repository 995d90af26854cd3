"""The SQLite session store (aiosqlite): WAL mode, atomic upserts, versioned schema."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import aiosqlite

from bot.errors import StoreError, StoreUnavailable
from bot.events import Reply, SessionKey
from bot.storage import database
from bot.storage.group_commit import GroupCommit, Job, Statement, runs
from bot.storage.mailbox import (
    REMEMBER_ANSWERED,
    Arrival,
    Change,
    Mailbox,
    Outgoing,
    Receipt,
    Received,
    outbox_rows,
    reply_from_json,
)
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


#: Seconds a write waits for another process's lock before the turn answers without saving.
WRITE_WAIT_MS = 1000
#: After a write found the file locked, later writes fail at once for this long (no queue).
LOCKED_BACKOFF = 1.0
#: How often a store that could not write tries to become writable again.
REOPEN_EVERY = 30.0


class SQLiteStore(SessionStore, Mailbox):
    """Sessions, inbox and outbox in one SQLite file; opened by ``async with`` or `open`.

    Reads are served from a write-through cache of recent sessions (``cache_size``), so a turn
    costs one database round trip (the write) or none; this assumes one process owns the
    file, which is how nervebot runs it (several processes share state in a server database).
    Writes are committed in groups (`GroupCommit`): those that arrive while one batch is being
    written share the next batch's transaction.
    Cache misses are read on a connection of their own, so they never queue behind a write
    that waits for a lock. A write waits at most about a second for a lock another process
    holds; while the file stays locked, later writes fail at once (the turn is answered and
    says it could not save). A file that cannot be written (read-only, or a folder that cannot
    be written) is served read-only, with one warning, and retried every `REOPEN_EVERY` seconds.
    """

    def __init__(
        self,
        path: str | Path,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        clock: Clock = time.time,
        busy_timeout_ms: int = WRITE_WAIT_MS,
        cache_size: int = 10_000,
        locked_backoff: float = LOCKED_BACKOFF,
        reopen_every: float = REOPEN_EVERY,
    ) -> None:
        self._locked_backoff = locked_backoff
        self._reopen_every = reopen_every
        self.path = Path(path)
        self._reader: aiosqlite.Connection | None = None
        self._writer = GroupCommit(self._write_batch)
        self._blocked_until = 0.0
        self._reopen_at = 0.0
        self._ttl = self.ttl_seconds = ttl_seconds
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
        if self.path.parent.exists() and not self.path.parent.is_dir():
            raise StoreUnavailable(f"cannot create session database {self.path}: not a folder")
        try:
            self._db = await database.connect(self.path, self._busy_ms)
        except (sqlite3.Error, OSError) as exc:
            _log.warning(
                "session database %s is not writable (%s); answering without saving until it is",
                self.path,
                exc,
            )
            self.read_only = True
            self._reopen_at = time.monotonic() + self._reopen_every
            if self.path.exists():
                try:
                    uri = f"{self.path.resolve().as_uri()}?mode=ro"
                    self._reader = await aiosqlite.connect(uri, uri=True, isolation_level=None)
                    await self._reader.execute("SELECT 1 FROM sessions LIMIT 1")
                except sqlite3.Error as exc2:
                    _log.warning("session database %s cannot be read either: %s", self.path, exc2)
                    await database.close_quietly(self._reader)
                    self._reader = None
            return
        await self._open_reader()

    async def _open_reader(self) -> None:
        """A second connection for reads, so they never wait behind a write."""
        try:
            self._reader = await aiosqlite.connect(self.path, isolation_level=None)
            await self._reader.execute("PRAGMA query_only = ON")
        except sqlite3.Error as exc:  # reads then share the writer's connection
            _log.info("no separate read connection for %s: %s", self.path, exc)
            await database.close_quietly(self._reader)
            self._reader = None

    def _conn(self) -> aiosqlite.Connection:
        if self._db is None:
            raise StoreUnavailable(f"session database {self.path} is not writable")
        return self._db

    def _read_conn(self) -> aiosqlite.Connection:
        reader = self._reader or self._db
        if reader is None:
            raise StoreUnavailable(f"session database {self.path} cannot be read")
        return reader

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
                await self._read_conn().execute_fetchall(
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
        cursor = await self._write(
            "DELETE FROM sessions WHERE updated_at < ?", (cutoff,), counted=True
        )
        for key in [k for k, (data, at) in self._cache.items() if data is not None and at < cutoff]:
            del self._cache[key]
        return max(cursor, 0)

    async def _write(
        self, sql: str, params: tuple[object, ...], urgent: bool = False, counted: bool = False
    ) -> int:
        """Write one statement; its row count when ``counted`` (else -1)."""
        counts = await self._writer.write([(sql, params)], urgent=urgent, counted=counted)
        return counts[0] if counts else -1

    async def _transaction(
        self, statements: Sequence[Statement], counted: bool = False
    ) -> list[int]:
        """Run ``statements`` in one write transaction; each one's row count when
        ``counted`` (else an empty list)."""
        return await self._writer.write(statements, counted=counted)

    async def _write_batch(self, batch: list[Job]) -> None:
        """Write a batch of jobs in one transaction and settle each (`GroupCommit`).

        One statement alone is written as it is (autocommit). If the batch fails for a reason
        of its own (not a lock, a read-only file or a full disk), each job is written alone,
        so one job's fault never fails the others.
        """
        try:
            counts = await self._commit(batch)
        except StoreError as exc:
            if len(batch) > 1 and not isinstance(exc, StoreUnavailable):
                for job in batch:
                    await self._write_batch([job])
                return
            for job in batch:
                job.settle(error=exc)
            return
        for job, job_counts in zip(batch, counts, strict=True):
            job.settle(job_counts)

    async def _commit(self, batch: list[Job]) -> list[list[int]]:
        """Run every job's statements in one transaction; each job's row counts (-1 where
        statements of several jobs ran as one ``executemany``).

        Raises `StoreUnavailable` for the file (locked, read-only, full) and a plain
        `StoreError` for what one statement did (a constraint, a value SQLite cannot take)."""
        if self.read_only and not await self._try_reopen():
            raise StoreUnavailable(f"session database {self.path} is read-only")
        if time.monotonic() < self._blocked_until:
            raise StoreUnavailable(f"session database {self.path} is locked elsewhere")
        db = self._conn()
        if len(batch) == 1 and len(batch[0].statements) == 1:
            sql, params = batch[0].statements[0]
            try:
                return [[(await db.execute(sql, params)).rowcount]]
            except Exception as exc:
                raise self._failed(exc) from exc
        try:
            # deferred: the write lock is taken by the first statement, one round trip later
            # than BEGIN IMMEDIATE would take it (`BATCH_ROUND_TRIPS` bounds how long it is held)
            await db.execute("BEGIN")
            counts = await self._run(db, batch)
            await db.execute("COMMIT")
        except BaseException as exc:
            # always: a BEGIN still queued when the batch was cancelled runs before this
            with contextlib.suppress(Exception):
                await db.execute("ROLLBACK")
            if isinstance(exc, Exception):
                raise self._failed(exc) from exc
            raise
        return counts

    @staticmethod
    async def _run(db: aiosqlite.Connection, batch: list[Job]) -> list[list[int]]:
        """Run the batch's statements in order, one round trip per run (`runs`): a run of
        several as one ``executemany``, whose row counts are -1."""
        counts: list[list[int]] = [[] for _ in batch]
        for sql, rows in runs(batch):
            if len(rows) == 1:
                n, params = rows[0]
                counts[n].append((await db.execute(sql, params)).rowcount)
            else:
                await db.executemany(sql, [params for _, params in rows])
                for n, _ in rows:
                    counts[n].append(-1)
        return counts

    def _failed(self, exc: Exception) -> StoreError:
        """Note what a failed write says about the file (locked elsewhere, read-only); a
        failure that is no SQLite error (a value it cannot bind) is the statement's own."""
        if isinstance(exc, ValueError) and "connection" in str(exc).lower():
            return StoreUnavailable(f"session database {self.path} is closed: {exc}")
        if not isinstance(exc, sqlite3.Error):
            return StoreError(f"session database {self.path}: a write failed: {exc}")
        text = str(exc).lower()
        if "locked" in text or "busy" in text:
            self._blocked_until = time.monotonic() + self._locked_backoff
        elif "readonly" in text or "read-only" in text:
            self.read_only = True  # until a reopen finds the file writable again
            self._reopen_at = time.monotonic() + self._reopen_every
        return _unavailable(exc, self.path)

    # ------------------------------------------------------------------ mailbox

    async def receive(self, arrivals: Sequence[Arrival]) -> int:
        if not arrivals:
            return 0
        now = self._clock()
        counts = await self._transaction(
            [
                (
                    "INSERT INTO inbox (platform, update_id, conversation, user_id, payload, at) "
                    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (platform, update_id) DO NOTHING",
                    (a.platform, a.update_id, a.conversation, a.user_id, a.payload, now),
                )
                for a in arrivals
            ],
            counted=True,
        )
        return sum(max(c, 0) for c in counts)

    async def waiting(self, platform: str, limit: int = 500) -> list[Received]:
        rows = await self._read(
            "SELECT platform, update_id, conversation, user_id, payload, seq FROM inbox "
            "WHERE platform = ? AND state = 'waiting' ORDER BY seq LIMIT ?",
            (platform, limit),
        )
        return [Received(*row) for row in rows]

    async def finish(
        self, receipt: Receipt, replies: Sequence[Reply], change: Change | None, now: float
    ) -> None:
        statements: list[Statement] = []
        if change is not None:
            key = change.key
            if change.session is None:
                statements.append(
                    (
                        "DELETE FROM sessions WHERE platform = ? AND user_id = ?",
                        (key.platform, key.user_id),
                    )
                )
            else:
                data = change.session.to_json()
                statements.append((_UPSERT, (key.platform, key.user_id, data, self._clock())))
            if change.forget:
                statements.append(
                    (
                        "DELETE FROM outbox WHERE platform = ? AND user_id = ?",
                        (key.platform, key.user_id),
                    )
                )
        statements.append(
            (
                "UPDATE inbox SET state = 'done', payload = '', at = ? WHERE seq = ?",
                (now, receipt.seq),
            )
        )
        statements.extend(
            (
                "INSERT INTO outbox (platform, conversation, user_id, address, reply, next_at, "
                "deadline, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )
            for row in outbox_rows(receipt, replies, now)
        )
        await self._transaction(statements)
        if change is not None:
            data_or_none = None if change.session is None else change.session.to_json()
            self._remember(change.key, data_or_none, self._clock())

    async def set_aside(self, seq: int, reason: str) -> None:
        await self._write(
            "UPDATE inbox SET state = 'dead', payload = '', at = ? WHERE seq = ?",
            (self._clock(), seq),
        )

    async def outbox(self, platform: str, limit: int = 500) -> list[tuple[Outgoing, float]]:
        rows = await self._read(
            "SELECT id, platform, conversation, address, reply, attempts, progress, deadline, "
            "next_at FROM outbox WHERE platform = ? AND state = 'pending' ORDER BY id LIMIT ?",
            (platform, limit),
        )
        return [
            (Outgoing(i, p, c, a, reply_from_json(r), n, g, d), next_at)
            for i, p, c, a, r, n, g, d, next_at in rows
        ]

    async def sent(self, outgoing_id: int) -> None:
        await self._write("DELETE FROM outbox WHERE id = ?", (outgoing_id,), urgent=True)

    async def postpone(self, outgoing_id: int, at: float, attempts: int, progress: int) -> None:
        await self._write(
            "UPDATE outbox SET next_at = ?, attempts = ?, progress = ? WHERE id = ?",
            (at, attempts, progress, outgoing_id),
            urgent=True,
        )

    async def give_up(self, outgoing_id: int, reason: str, now: float) -> None:
        await self._write(
            "UPDATE outbox SET state = 'failed', reason = ?, reply = '', address = '', at = ? "
            "WHERE id = ?",
            (reason[:200], now, outgoing_id),
        )

    async def delivery_counts(self, platform: str | None = None) -> dict[str, int]:
        inbox = await self._read(
            "SELECT state, count(*) FROM inbox WHERE (? IS NULL OR platform = ?) GROUP BY state",
            (platform, platform),
        )
        outbox = await self._read(
            "SELECT state, count(*) FROM outbox WHERE (? IS NULL OR platform = ?) GROUP BY state",
            (platform, platform),
        )
        got = {f"in:{state}": n for state, n in inbox} | {f"out:{state}": n for state, n in outbox}
        return {
            "waiting": got.get("in:waiting", 0),
            "set_aside": got.get("in:dead", 0),
            "unsent": got.get("out:pending", 0),
            "failed": got.get("out:failed", 0),
        }

    async def purge_mail(self, now: float) -> int:
        cutoff = now - REMEMBER_ANSWERED
        counts = await self._transaction(
            [
                ("DELETE FROM inbox WHERE state != 'waiting' AND at < ?", (cutoff,)),
                ("DELETE FROM outbox WHERE state = 'failed' AND at < ?", (cutoff,)),
            ],
            counted=True,
        )
        return sum(max(c, 0) for c in counts)

    async def _read(self, sql: str, params: tuple[object, ...]) -> list[sqlite3.Row]:
        try:
            return list(await self._read_conn().execute_fetchall(sql, params))
        except sqlite3.Error as exc:
            raise _unavailable(exc, self.path) from exc

    async def _try_reopen(self) -> bool:
        """After `REOPEN_EVERY` seconds, try to open the file for writing again."""
        if time.monotonic() < self._reopen_at:
            return False
        self._reopen_at = time.monotonic() + self._reopen_every
        try:
            db = await database.connect(self.path, self._busy_ms)
        except (sqlite3.Error, OSError):
            return False
        await database.close_quietly(self._reader)
        await database.close_quietly(self._db)  # a connection that found the file read-only
        self._db, self._reader, self.read_only = db, None, False
        await self._open_reader()
        _log.warning("session database %s is writable again", self.path)
        return True

    async def _close_quietly(self) -> None:
        await database.close_quietly(self._reader)
        await database.close_quietly(self._db)
        self._db = self._reader = None

    async def close(self) -> None:
        await self._writer.wait()  # the writes already queued go first
        await self._close_quietly()
