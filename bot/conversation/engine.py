"""The engine: per-user ordering, the session store, and `Dialogue` for the rules."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bot.content.loader import Bundle
from bot.conversation.dialogue import MAX_SCAN, UNANSWERED, Dialogue
from bot.conversation.flood import FloodGuard, Verdict
from bot.errors import StoreError
from bot.events import Incoming, Reply, SessionKey
from bot.language.recall import Embedder
from bot.storage.journal import Journal
from bot.storage.store import Session, SessionStore

_log = logging.getLogger(__name__)


class Engine:
    """Answers `Incoming` turns with `Reply` lists; one user's turns run in order."""

    def __init__(
        self,
        content: Bundle,
        store: SessionStore,
        journal: Journal | None = None,
        embedder: Embedder | None = None,
        flood: FloodGuard | None = None,
    ) -> None:
        self._flood = flood or FloodGuard()
        self._writes_ok = True
        self._embedder = embedder
        self._dialogue = Dialogue(content, embedder)
        self._store = store
        self._journal = journal
        self._locks: dict[SessionKey, tuple[asyncio.Lock, int]] = {}

    @property
    def embedder(self) -> Embedder | None:
        """The model behind the safety recall net (None: rules only)."""
        return self._embedder

    @property
    def content(self) -> Bundle:
        """The content bundle answers come from."""
        return self._dialogue.bundle

    def swap_content(self, content: Bundle) -> None:
        """Serve ``content`` from the next turn on (turns in progress finish on the old one)."""
        self._dialogue = Dialogue(content, self._embedder)
        _log.info("content version %s is live", content.version)

    @asynccontextmanager
    async def _user_lock(self, key: SessionKey) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    async def handle(self, incoming: Incoming) -> list[Reply]:
        """Answer one turn, never with an exception for bad input.

        Every turn gets at least one reply, except a flood: past a user's limit the first
        message is asked to slow down and later ones get nothing (an empty list), unless
        they hold a red flag, which is always answered.
        """
        verdict = self._flood.check(incoming.key)
        if verdict is not Verdict.ALLOW and not self._red_flag(incoming):
            _log.debug("flood from a %s user: %s", incoming.key.platform, verdict.value)
            if verdict is Verdict.WARN:
                return [Reply(self._dialogue.bundle.message("slow_down"))]
            return []
        async with self._user_lock(incoming.key):
            dialogue = self._dialogue
            saved = True
            try:
                stored = await self._store.get(incoming.key)
            except StoreError as exc:
                _log.warning("session read failed for a %s user: %s", incoming.key.platform, exc)
                stored, saved = None, False
            session = stored or Session()
            turn = dialogue.respond(session, incoming)
            if self._journal is not None:
                self._journal.count(e for e in turn.events if e[0] != UNANSWERED)
                for _, question in (e for e in turn.events if e[0] == UNANSWERED):
                    self._journal.unanswered(incoming.key, question)
            try:
                if turn.forget and self._journal is not None:
                    await self._journal.forget(incoming.key)
                if turn.forget or (session.is_empty() and stored is not None):
                    await self._store.delete(incoming.key)
                elif not session.is_empty():
                    await self._store.save(incoming.key, session)
            except (StoreError, sqlite3.Error) as exc:
                if self._writes_ok:  # once per outage, not once per message
                    _log.warning("session writes fail (%s); answering without saving", exc)
                self._writes_ok, saved = False, False
            else:
                if not self._writes_ok:
                    _log.warning("session writes work again")
                self._writes_ok = True
            replies = turn.replies
            if turn.forget and not saved:
                replies = [Reply(dialogue.bundle.message("forget_failed"))]
            elif not saved and not session.is_empty():
                replies = [*replies, Reply(dialogue.bundle.message("not_saved"))]
            _log.debug(
                "turn platform=%s user=%s replies=%d",
                incoming.key.platform,
                incoming.key.user_id,
                len(replies),
            )
            return replies

    def _red_flag(self, incoming: Incoming) -> bool:
        text = (incoming.text or "")[:MAX_SCAN]
        return bool(text) and bool(self._dialogue.scanner.scan(text))

    async def purge_expired(self) -> int:
        """Delete expired sessions and old unanswered questions; returns how many sessions."""
        try:
            if self._journal is not None:
                await self._journal.purge()
            return await self._store.purge_expired()
        except (StoreError, sqlite3.Error) as exc:
            _log.warning("could not purge expired data: %s", exc)
            return 0
