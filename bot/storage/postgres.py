"""PostgreSQL storage (asyncpg): sessions, the inbox and outbox, and the journal, shared by
every process that uses one database. Selected by a ``postgresql://`` NERVEBOT_DB.

The schema is versioned like the SQLite one (`MIGRATIONS`, applied in order under an advisory
lock, so processes starting together migrate once). Besides the `Mailbox` every backend has,
PostgreSQL is a `WorkQueue`: worker processes claim waiting updates one conversation at a
time in arrival order (``FOR UPDATE SKIP LOCKED``, and a partial unique index that allows one
claimed row per conversation), so several workers never answer one person's messages at once
or out of order. A claim is a lease: the row of a worker that died goes back to waiting when
its lease runs out, and `finish` only counts for the worker that still holds the row, so an
update is answered once even then. Outgoing replies are claimed the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Sequence
from typing import Any

from bot.errors import StoreError, StoreUnavailable
from bot.events import Reply, SessionKey
from bot.storage.journal import KEEP_UNANSWERED_DAYS, AuditEntry, Journal
from bot.storage.mailbox import (
    REMEMBER_ANSWERED,
    Arrival,
    Change,
    Mailbox,
    Outgoing,
    Receipt,
    Received,
    WorkQueue,
    outbox_rows,
    reply_from_json,
)
from bot.storage.store import DEFAULT_TTL_SECONDS, Clock, Session, SessionStore

_log = logging.getLogger(__name__)

#: Schema migrations; entry N moves the database from version N to N+1.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE sessions (
        platform TEXT NOT NULL, user_id TEXT NOT NULL, data TEXT NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (platform, user_id)
    );
    CREATE INDEX sessions_updated_at ON sessions (updated_at);
    CREATE TABLE content_audit (
        id BIGSERIAL PRIMARY KEY, at DOUBLE PRECISION NOT NULL, version TEXT NOT NULL,
        source TEXT NOT NULL, accepted BOOLEAN NOT NULL, errors INTEGER NOT NULL
    );
    CREATE TABLE usage (
        day TEXT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL, count BIGINT NOT NULL,
        PRIMARY KEY (day, kind, key)
    );
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE unanswered (
        user_hash TEXT NOT NULL, at DOUBLE PRECISION NOT NULL, text TEXT NOT NULL
    );
    CREATE INDEX unanswered_user ON unanswered (user_hash);
    CREATE INDEX unanswered_at ON unanswered (at);
    """,
    """
    CREATE TABLE inbox (
        seq BIGSERIAL PRIMARY KEY,
        platform TEXT NOT NULL, update_id TEXT NOT NULL,
        conversation TEXT NOT NULL, user_id TEXT NOT NULL, payload TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'waiting',  -- waiting, claimed, done or dead
        at DOUBLE PRECISION NOT NULL, worker TEXT, lease_until DOUBLE PRECISION,
        UNIQUE (platform, update_id)
    );
    CREATE INDEX inbox_open ON inbox (platform, conversation, seq)
        WHERE state IN ('waiting', 'claimed');
    CREATE INDEX inbox_waiting ON inbox (platform, seq) WHERE state = 'waiting';
    -- one update of a conversation in progress at a time, whatever the workers do
    CREATE UNIQUE INDEX inbox_one_claimed ON inbox (platform, conversation)
        WHERE state = 'claimed';
    CREATE TABLE outbox (
        id BIGSERIAL PRIMARY KEY,
        platform TEXT NOT NULL, conversation TEXT NOT NULL, user_id TEXT NOT NULL,
        address TEXT NOT NULL, reply TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, progress INTEGER NOT NULL DEFAULT 0,
        next_at DOUBLE PRECISION NOT NULL, deadline DOUBLE PRECISION NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',  -- pending, sending or failed
        reason TEXT, at DOUBLE PRECISION NOT NULL, worker TEXT, lease_until DOUBLE PRECISION
    );
    CREATE INDEX outbox_open ON outbox (platform, conversation, id)
        WHERE state IN ('pending', 'sending');
    CREATE UNIQUE INDEX outbox_one_sending ON outbox (platform, conversation)
        WHERE state = 'sending';
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
#: The advisory lock that serialises migrations of one database ("nervebot" in ASCII).
_MIGRATION_LOCK = 0x6E657276_65626F74
#: How long a claim holds an update or a reply before another worker may take it over.
LEASE = 60.0
#: How often a worker looks for claims whose lease ran out (their worker stopped).
RECLAIM_EVERY = 5.0


def is_postgres_url(value: str) -> bool:
    """True for a ``postgresql://`` or ``postgres://`` database address."""
    return value.startswith(("postgresql://", "postgres://"))


def redact(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    scheme, sep, rest = url.partition("://")
    if "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{host}"


def _schema_name(schema: str) -> str:
    if not schema.replace("_", "").isalnum() or not schema[:1].isalpha():
        raise StoreError(f"not a schema name: {schema!r}")
    return schema


async def open_pool(url: str, schema: str = "public", max_size: int = 10) -> Any:
    """A connection pool on ``url`` whose connections use ``schema``, migrated to the latest
    schema version. Raises `StoreUnavailable` when the server cannot be reached and
    `StoreError` when the database belongs to a newer nervebot."""
    import asyncpg

    schema = _schema_name(schema)
    try:
        pool = await asyncpg.create_pool(
            url,
            min_size=1,
            max_size=max_size,
            server_settings={"search_path": schema, "application_name": "nervebot"},
            command_timeout=30,
        )
    except (OSError, asyncpg.PostgresError) as exc:
        raise StoreUnavailable(f"cannot open database {redact(url)}: {exc}") from exc
    except ValueError as exc:  # a malformed address; its text may hold the password
        raise StoreError(f"not a database address: {redact(url)}") from exc
    try:
        async with pool.acquire() as db, db.transaction():
            await db.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
            await db.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            await db.execute(
                "CREATE TABLE IF NOT EXISTS nervebot_schema (version INTEGER NOT NULL)"
            )
            version = await db.fetchval("SELECT max(version) FROM nervebot_schema") or 0
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{redact(url)} has schema version {version}; "
                    f"this nervebot knows up to {SCHEMA_VERSION}"
                )
            for target in range(version, SCHEMA_VERSION):
                await db.execute(MIGRATIONS[target])
                await db.execute("INSERT INTO nervebot_schema (version) VALUES ($1)", target + 1)
                _log.info("database %s migrated to schema version %d", redact(url), target + 1)
    except BaseException:
        await pool.close()
        raise
    return pool


class PostgresStore(SessionStore, Mailbox, WorkQueue):
    """Sessions, inbox and outbox in a PostgreSQL database; opened by ``async with`` or `open`.

    ``worker`` names this process in the claims it makes (any unique string).
    """

    def __init__(
        self,
        url: str,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        clock: Clock = time.time,
        schema: str = "public",
        worker: str = "",
        max_connections: int = 10,
    ) -> None:
        self.url = url
        self.schema = schema
        self.worker = worker or f"pid-{os.getpid()}"
        self.read_only = False
        self._ttl = self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._max = max_connections
        self._pool: Any = None
        self._next_reclaim = 0.0
        #: sessions read with a claim, each served once to the turn that follows it
        self._prefetched: dict[SessionKey, str | None] = {}

    def __repr__(self) -> str:
        return f"PostgresStore({redact(self.url)!r}, schema={self.schema!r})"

    async def open(self) -> None:
        """Connect and migrate."""
        self._pool = await open_pool(self.url, self.schema, self._max)

    async def close(self) -> None:
        """Close every connection."""
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    def _p(self) -> Any:
        if self._pool is None:
            raise StoreUnavailable(f"database {redact(self.url)} is not open")
        return self._pool

    async def _run(self, method: str, sql: str, *args: object) -> Any:
        """One statement on a pooled connection; database failures become `StoreError`s."""
        import asyncpg

        try:
            return await getattr(self._p(), method)(sql, *args)
        except (OSError, asyncpg.InterfaceError, asyncpg.CannotConnectNowError) as exc:
            raise StoreUnavailable(f"database {redact(self.url)} is unavailable: {exc}") from exc
        except asyncpg.PostgresError as exc:
            raise StoreError(f"database {redact(self.url)} failed: {exc}") from exc

    # ------------------------------------------------------------------ sessions

    async def get(self, key: SessionKey) -> Session | None:
        if key in self._prefetched:  # read with this worker's claim of the conversation
            data = self._prefetched.pop(key)
            return None if data is None else Session.from_json(data)
        data = await self._run(
            "fetchval",
            "SELECT data FROM sessions WHERE platform = $1 AND user_id = $2 AND updated_at >= $3",
            key.platform,
            key.user_id,
            self._clock() - self._ttl,
        )
        return None if data is None else Session.from_json(data)

    async def save(self, key: SessionKey, session: Session) -> None:
        self._prefetched.pop(key, None)
        await self._run(
            "execute", _UPSERT, key.platform, key.user_id, session.to_json(), self._clock()
        )

    async def delete(self, key: SessionKey) -> None:
        self._prefetched.pop(key, None)
        await self._run(
            "execute",
            "DELETE FROM sessions WHERE platform = $1 AND user_id = $2",
            key.platform,
            key.user_id,
        )

    async def purge_expired(self) -> int:
        status = await self._run(
            "execute", "DELETE FROM sessions WHERE updated_at < $1", self._clock() - self._ttl
        )
        return _count(status)

    # ------------------------------------------------------------------ mailbox

    async def receive(self, arrivals: Sequence[Arrival]) -> int:
        if not arrivals:
            return 0
        rows = await self._run(
            "fetch",
            "INSERT INTO inbox (platform, update_id, conversation, user_id, payload, at) "
            "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], "
            "$6::float8[]) ON CONFLICT (platform, update_id) DO NOTHING RETURNING seq",
            [a.platform for a in arrivals],
            [a.update_id for a in arrivals],
            [a.conversation for a in arrivals],
            [a.user_id for a in arrivals],
            [a.payload for a in arrivals],
            [self._clock()] * len(arrivals),
        )
        return len(rows)

    async def waiting(self, platform: str, limit: int = 500) -> list[Received]:
        rows = await self._run(
            "fetch",
            "SELECT platform, update_id, conversation, user_id, payload, seq FROM inbox "
            "WHERE platform = $1 AND state = 'waiting' ORDER BY seq LIMIT $2",
            platform,
            limit,
        )
        return [Received(*row) for row in rows]

    async def finish(
        self, receipt: Receipt, replies: Sequence[Reply], change: Change | None, now: float
    ) -> None:
        """One statement, so one round trip and one transaction: the update is marked done
        only by the worker that holds it (or by anyone, if no one claimed it), and the
        session and replies are written only if it was; a worker whose lease ran out and was
        taken over writes nothing."""
        key = change.key if change is not None else SessionKey(receipt.platform, receipt.user_id)
        self._prefetched.pop(key, None)
        rows = outbox_rows(receipt, replies, now)
        done = await self._run(
            "fetchval",
            _FINISH,
            now,
            receipt.seq,
            self.worker,
            key.platform,
            key.user_id,
            change.session.to_json() if change is not None and change.session else None,
            self._clock(),
            change is not None and change.session is not None,  # save the session
            change is not None and change.session is None,  # delete it
            change is not None and change.forget,  # drop the user's unsent replies
            receipt.platform,
            receipt.conversation,
            receipt.user_id,
            receipt.address,
            [r[4] for r in rows],
            [r[6] for r in rows],
        )
        if not done:
            _log.info("update %d was already answered elsewhere", receipt.seq)

    async def set_aside(self, seq: int, reason: str) -> None:
        await self._run(
            "execute",
            "UPDATE inbox SET state = 'dead', payload = '', at = $1, worker = NULL, "
            "lease_until = NULL WHERE seq = $2",
            self._clock(),
            seq,
        )

    async def outbox(self, platform: str, limit: int = 500) -> list[tuple[Outgoing, float]]:
        rows = await self._run(
            "fetch",
            "SELECT id, platform, conversation, address, reply, attempts, progress, deadline, "
            "next_at FROM outbox WHERE platform = $1 AND state = 'pending' ORDER BY id LIMIT $2",
            platform,
            limit,
        )
        return [_outgoing(row) for row in rows]

    async def sent(self, outgoing_id: int) -> None:
        await self._run("execute", "DELETE FROM outbox WHERE id = $1", outgoing_id)

    async def postpone(self, outgoing_id: int, at: float, attempts: int, progress: int) -> None:
        await self._run(
            "execute",
            "UPDATE outbox SET next_at = $1, attempts = $2, progress = $3, state = 'pending', "
            "worker = NULL, lease_until = NULL WHERE id = $4",
            at,
            attempts,
            progress,
            outgoing_id,
        )

    async def give_up(self, outgoing_id: int, reason: str, now: float) -> None:
        await self._run(
            "execute",
            "UPDATE outbox SET state = 'failed', reason = $1, reply = '', address = '', at = $2, "
            "worker = NULL, lease_until = NULL WHERE id = $3",
            reason[:200],
            now,
            outgoing_id,
        )

    async def delivery_counts(self, platform: str | None = None) -> dict[str, int]:
        inbox = await self._run(
            "fetch",
            "SELECT state, count(*) FROM inbox WHERE ($1::text IS NULL OR platform = $1) "
            "GROUP BY state",
            platform,
        )
        outbox = await self._run(
            "fetch",
            "SELECT state, count(*) FROM outbox WHERE ($1::text IS NULL OR platform = $1) "
            "GROUP BY state",
            platform,
        )
        got = {f"in:{s}": n for s, n in inbox} | {f"out:{s}": n for s, n in outbox}
        return {
            "waiting": got.get("in:waiting", 0) + got.get("in:claimed", 0),
            "set_aside": got.get("in:dead", 0),
            "unsent": got.get("out:pending", 0) + got.get("out:sending", 0),
            "failed": got.get("out:failed", 0),
        }

    async def purge_mail(self, now: float) -> int:
        cutoff = now - REMEMBER_ANSWERED
        done = await self._run(
            "execute", "DELETE FROM inbox WHERE state IN ('done', 'dead') AND at < $1", cutoff
        )
        failed = await self._run(
            "execute", "DELETE FROM outbox WHERE state = 'failed' AND at < $1", cutoff
        )
        return _count(done) + _count(failed)

    # ------------------------------------------------------------------ work queue

    async def claim(self, platform: str, limit: int = 10, lease: float = LEASE) -> list[Received]:
        import asyncpg

        now = self._clock()
        await self._reclaim_now_and_then(now)
        try:
            rows = await self._run(
                "fetch",
                _CLAIM,
                platform,
                limit,
                self.worker,
                now + lease,
                now - self._ttl,
            )
        except StoreError as exc:  # another worker claimed the conversation first: next time
            if isinstance(exc.__cause__, asyncpg.UniqueViolationError):
                return []
            raise
        for r in rows:  # the turn reads its session next: it came with the claim
            self._prefetched[SessionKey(r[0], r[3])] = r[6]
        while len(self._prefetched) > 10_000:
            self._prefetched.pop(next(iter(self._prefetched)))
        return [
            Received(r[0], r[1], r[2], r[3], r[4], r[5]) for r in sorted(rows, key=lambda r: r[5])
        ]

    async def claim_outbox(
        self, platform: str, limit: int = 10, lease: float = LEASE
    ) -> list[tuple[Outgoing, float]]:
        import asyncpg

        now = self._clock()
        await self._reclaim_now_and_then(now)
        try:
            rows = await self._run(
                "fetch",
                _CLAIM_OUT,
                platform,
                limit,
                self.worker,
                now + lease,
                now,
            )
        except StoreError as exc:
            if isinstance(exc.__cause__, asyncpg.UniqueViolationError):
                return []
            raise
        return [_outgoing(row) for row in sorted(rows, key=lambda r: r[0])]

    async def release(self) -> int:
        waiting = await self._run(
            "execute",
            "UPDATE inbox SET state = 'waiting', worker = NULL, lease_until = NULL "
            "WHERE state = 'claimed' AND worker = $1",
            self.worker,
        )
        pending = await self._run(
            "execute",
            "UPDATE outbox SET state = 'pending', worker = NULL, lease_until = NULL "
            "WHERE state = 'sending' AND worker = $1",
            self.worker,
        )
        return _count(waiting) + _count(pending)

    async def _reclaim_now_and_then(self, now: float) -> None:
        """Take back expired claims every few seconds, not on every claim (2 round trips)."""
        if now >= self._next_reclaim:
            self._next_reclaim = now + RECLAIM_EVERY
            await self.reclaim(now)

    async def reclaim(self, now: float) -> int:
        waiting = await self._run(
            "execute",
            "UPDATE inbox SET state = 'waiting', worker = NULL, lease_until = NULL "
            "WHERE state = 'claimed' AND lease_until < $1",
            now,
        )
        pending = await self._run(
            "execute",
            "UPDATE outbox SET state = 'pending', worker = NULL, lease_until = NULL "
            "WHERE state = 'sending' AND lease_until < $1",
            now,
        )
        taken = _count(waiting) + _count(pending)
        if taken:
            _log.warning("took back %d claims whose lease ran out (a worker stopped)", taken)
        return taken


class PostgresJournal(Journal):
    """The journal in a PostgreSQL database (the audit log, usage counts, unanswered
    questions); shares nothing with the store but the database."""

    def __init__(
        self,
        url: str,
        schema: str = "public",
        flush_every: float = 5.0,
        keep_days: float = KEEP_UNANSWERED_DAYS,
    ) -> None:
        super().__init__(keep_days)
        self.url = url
        self.schema = schema
        self._flush_every = flush_every
        self._pool: Any = None
        self._flusher: Any = None

    def __repr__(self) -> str:
        return f"PostgresJournal({redact(self.url)!r}, schema={self.schema!r})"

    async def open(self) -> None:
        """Connect, migrate, and take the database's salt (one for every process)."""
        self._pool = await open_pool(self.url, self.schema, max_size=2)
        await self._pool.execute(
            "INSERT INTO meta (key, value) VALUES ('salt', $1) ON CONFLICT (key) DO NOTHING",
            self._salt,
        )
        self._salt = str(await self._pool.fetchval("SELECT value FROM meta WHERE key = 'salt'"))
        self._flusher = asyncio.create_task(self._flush_loop())

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self._flush_every)
            try:
                await self.flush()
            except Exception as exc:  # the next flush tries again
                _log.warning("journal not written yet: %s", exc)

    def _p(self) -> Any:
        if self._pool is None:
            raise StoreUnavailable(f"journal {redact(self.url)} is not open")
        return self._pool

    async def flush(self) -> None:
        """Write buffered counts and questions; on failure keep them for the next try."""
        if self._pool is None:
            return
        questions, self._questions = self._questions, []
        pending = self._take()
        try:
            async with self._pool.acquire() as db, db.transaction():
                if questions:
                    await db.executemany(
                        "INSERT INTO unanswered (user_hash, at, text) VALUES ($1, $2, $3)",
                        questions,
                    )
                if pending:
                    await db.executemany(
                        "INSERT INTO usage (day, kind, key, count) VALUES ($1, $2, $3, $4) "
                        "ON CONFLICT (day, kind, key) DO UPDATE "
                        "SET count = usage.count + excluded.count",
                        [(d, k, key, n) for (d, k, key), n in sorted(pending.items())],
                    )
        except Exception:
            self._questions = questions + self._questions
            self._pending.update(pending)
            raise

    async def forget(self, key: SessionKey) -> None:
        user = self._hash(key)
        self._questions = [q for q in self._questions if q[0] != user]
        await self._p().execute("DELETE FROM unanswered WHERE user_hash = $1", user)

    async def purge(self, now: float | None = None) -> int:
        await self.flush()
        cutoff = (now if now is not None else time.time()) - self.keep_days * 86400
        if self.keep_days <= 0:
            cutoff = float("inf")
        return _count(await self._p().execute("DELETE FROM unanswered WHERE at < $1", cutoff))

    async def questions(self, since: float) -> list[tuple[str, int]]:
        await self.flush()
        rows = await self._p().fetch(
            "SELECT text, count(*) AS n FROM unanswered WHERE at >= $1 GROUP BY text "
            "ORDER BY n DESC, text",
            since,
        )
        return [(str(r[0]), int(r[1])) for r in rows]

    async def audit(self, entry: AuditEntry) -> None:
        try:
            await self._p().execute(
                "INSERT INTO content_audit (at, version, source, accepted, errors) "
                "VALUES ($1, $2, $3, $4, $5)",
                entry.at,
                entry.version,
                entry.source,
                entry.accepted,
                entry.errors,
            )
        except Exception as exc:
            _log.warning("audit entry not written: %s", exc)

    async def audit_log(self, limit: int = 100) -> list[AuditEntry]:
        rows = await self._p().fetch(
            "SELECT at, version, source, accepted, errors FROM content_audit "
            "ORDER BY at DESC, id DESC LIMIT $1",
            limit,
        )
        return [AuditEntry(r[0], r[1], r[2], bool(r[3]), r[4]) for r in rows]

    async def usage(self, since_day: str) -> list[tuple[str, str, int]]:
        await self.flush()
        rows = await self._p().fetch(
            "SELECT kind, key, sum(count) FROM usage WHERE day >= $1 GROUP BY kind, key "
            "ORDER BY kind, key",
            since_day,
        )
        return [(r[0], r[1], int(r[2])) for r in rows]

    async def close(self) -> None:
        """Flush what is buffered and close the connections."""
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        with contextlib.suppress(Exception):
            await self.flush()
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


_UPSERT = (
    "INSERT INTO sessions (platform, user_id, data, updated_at) VALUES ($1, $2, $3, $4) "
    "ON CONFLICT (platform, user_id) DO UPDATE SET data = excluded.data, "
    "updated_at = excluded.updated_at"
)
#: `PostgresStore.finish` in one statement (data-modifying CTEs share one snapshot: the
#: forget deletes the replies queued before, never the ones this statement queues).
_FINISH = """
WITH done AS (
    UPDATE inbox SET state = 'done', payload = '', at = $1, worker = NULL, lease_until = NULL
    WHERE seq = $2 AND (state = 'waiting' OR (state = 'claimed' AND worker = $3))
    RETURNING seq
), saved AS (
    INSERT INTO sessions (platform, user_id, data, updated_at)
    SELECT $4, $5, $6, $7 FROM done WHERE $8
    ON CONFLICT (platform, user_id) DO UPDATE SET data = excluded.data,
        updated_at = excluded.updated_at
    RETURNING 1
), removed AS (
    DELETE FROM sessions WHERE $9 AND platform = $4 AND user_id = $5
        AND EXISTS (SELECT 1 FROM done)
    RETURNING 1
), forgot AS (
    DELETE FROM outbox WHERE $10 AND platform = $4 AND user_id = $5 AND state != 'sending'
        AND EXISTS (SELECT 1 FROM done)
    RETURNING 1
), queued AS (
    INSERT INTO outbox (platform, conversation, user_id, address, reply, next_at, deadline, at)
    SELECT $11, $12, $13, $14, r.reply, $1, r.deadline, $1
    FROM done, unnest($15::text[], $16::float8[]) WITH ORDINALITY AS r(reply, deadline, n)
    ORDER BY r.n
    RETURNING 1
)
SELECT count(*) FROM done
"""
#: The oldest open row of each conversation that has none in progress, locked without waiting
#: for rows another worker is claiming; then marked as this worker's until its lease ends.
_CLAIM = """
WITH picked AS (
    SELECT i.seq FROM inbox i
    WHERE i.platform = $1 AND i.state = 'waiting'
      AND NOT EXISTS (
          SELECT 1 FROM inbox o
          WHERE o.platform = i.platform AND o.conversation = i.conversation
            AND o.seq < i.seq AND o.state IN ('waiting', 'claimed'))
      AND NOT EXISTS (
          SELECT 1 FROM inbox b
          WHERE b.platform = i.platform AND b.conversation = i.conversation
            AND b.state = 'claimed')
    ORDER BY i.seq
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
UPDATE inbox t SET state = 'claimed', worker = $3, lease_until = $4
FROM picked WHERE t.seq = picked.seq
RETURNING t.platform, t.update_id, t.conversation, t.user_id, t.payload, t.seq,
    (SELECT s.data FROM sessions s WHERE s.platform = t.platform AND s.user_id = t.user_id
        AND s.updated_at >= $5) AS session
"""
_CLAIM_OUT = """
WITH picked AS (
    SELECT i.id FROM outbox i
    WHERE i.platform = $1 AND i.state = 'pending' AND i.next_at <= $5
      AND NOT EXISTS (
          SELECT 1 FROM outbox o
          WHERE o.platform = i.platform AND o.conversation = i.conversation
            AND o.id < i.id AND o.state IN ('pending', 'sending'))
      AND NOT EXISTS (
          SELECT 1 FROM outbox b
          WHERE b.platform = i.platform AND b.conversation = i.conversation
            AND b.state = 'sending')
    ORDER BY i.id
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
UPDATE outbox t SET state = 'sending', worker = $3, lease_until = $4
FROM picked WHERE t.id = picked.id
RETURNING t.id, t.platform, t.conversation, t.address, t.reply, t.attempts, t.progress,
          t.deadline, t.next_at
"""


def _outgoing(row: Any) -> tuple[Outgoing, float]:
    i, p, c, a, r, n, g, d, next_at = row
    return Outgoing(i, p, c, a, reply_from_json(r), n, g, d), next_at


def _count(status: str) -> int:
    """The row count of an asyncpg command status ("DELETE 3", "UPDATE 0")."""
    try:
        return int(status.rsplit(" ", 1)[-1])
    except (ValueError, AttributeError):
        return 0
