"""The bot's SQLite file: one versioned schema (sessions, audit log, usage) and how to open it."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from pathlib import Path

import aiosqlite

from bot.errors import StoreError

_log = logging.getLogger(__name__)

#: Schema migrations; entry N moves the database from user_version N to N+1.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS sessions (
        platform   TEXT NOT NULL,
        user_id    TEXT NOT NULL,
        data       TEXT NOT NULL,
        updated_at REAL NOT NULL,
        PRIMARY KEY (platform, user_id)
    ) WITHOUT ROWID;
    """,
    "CREATE INDEX IF NOT EXISTS sessions_updated_at ON sessions (updated_at);",
    """
    CREATE TABLE IF NOT EXISTS content_audit (
        at REAL NOT NULL, version TEXT NOT NULL, source TEXT NOT NULL,
        accepted INTEGER NOT NULL, errors INTEGER NOT NULL
    );
    """,
    """
    CREATE TABLE IF NOT EXISTS usage (
        day TEXT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL, count INTEGER NOT NULL,
        PRIMARY KEY (day, kind, key)
    ) WITHOUT ROWID;
    """,
    # questions the bot could not answer: scrubbed text, kept a few days, keyed to a salted
    # hash of the user so /forget removes them; the salt never leaves the database
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;",
    """
    CREATE TABLE IF NOT EXISTS unanswered (
        user_hash TEXT NOT NULL, at REAL NOT NULL, text TEXT NOT NULL
    );
    """,
    "CREATE INDEX IF NOT EXISTS unanswered_user ON unanswered (user_hash);",
    "CREATE INDEX IF NOT EXISTS unanswered_at ON unanswered (at);",
    # unanswered questions used to be kept, unkeyed and forever, among the usage counts
    "DELETE FROM usage WHERE kind = 'fallback';",
    # the inbox: every update before the platform is told it arrived (see bot.storage.mailbox);
    # state is waiting, done (payload cleared) or dead (set aside, payload cleared)
    """
    CREATE TABLE IF NOT EXISTS inbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: the courier remembers seqs
        platform TEXT NOT NULL, update_id TEXT NOT NULL,
        conversation TEXT NOT NULL, user_id TEXT NOT NULL, payload TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'waiting', at REAL NOT NULL,
        UNIQUE (platform, update_id)
    );
    """,
    "CREATE INDEX IF NOT EXISTS inbox_state ON inbox (platform, state, seq);",
    # the outbox: replies until sent (then deleted) or given up (kept without text as failed)
    """
    CREATE TABLE IF NOT EXISTS outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: the courier remembers ids
        platform TEXT NOT NULL, conversation TEXT NOT NULL, user_id TEXT NOT NULL,
        address TEXT NOT NULL, reply TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, progress INTEGER NOT NULL DEFAULT 0,
        next_at REAL NOT NULL, deadline REAL NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending', reason TEXT, at REAL NOT NULL
    );
    """,
    "CREATE INDEX IF NOT EXISTS outbox_state ON outbox (platform, state, id);",
)
SCHEMA_VERSION = len(MIGRATIONS)


async def connect(path: Path, busy_timeout_ms: int = 2000) -> aiosqlite.Connection:
    """Open (creating) the file in WAL mode, autocommit, and migrate it to the latest schema.

    Raises `sqlite3.Error` or `OSError` when the file cannot be opened for writing, and
    `StoreError` when it belongs to a newer nervebot.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    db = await aiosqlite.connect(path, isolation_level=None)
    try:
        await db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        await db.execute("PRAGMA journal_mode = WAL")
        await db.execute("PRAGMA synchronous = NORMAL")
        await _migrate(db, path)
    except BaseException:
        await close_quietly(db)
        raise
    return db


async def _migrate(db: aiosqlite.Connection, path: Path) -> None:
    version = int(next(iter(await db.execute_fetchall("PRAGMA user_version")))[0])
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{path} has schema version {version}; this nervebot knows up to {SCHEMA_VERSION}"
        )
    for target in range(version, SCHEMA_VERSION):
        await db.execute("BEGIN IMMEDIATE")
        try:
            await db.execute(MIGRATIONS[target])
            await db.execute(f"PRAGMA user_version = {target + 1}")
            await db.execute("COMMIT")
        except BaseException:
            await db.execute("ROLLBACK")
            raise
        _log.info("database %s migrated to schema version %d", path, target + 1)


async def close_quietly(db: aiosqlite.Connection | None) -> None:
    """Close a connection, ignoring errors (it may already be broken)."""
    if db is not None:
        with contextlib.suppress(sqlite3.Error):
            await db.close()
