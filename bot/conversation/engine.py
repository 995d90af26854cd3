"""The engine: per-user ordering, the session store, and `Dialogue` for the rules."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from bot.content.loader import Bundle
from bot.conversation.dialogue import MAX_SCAN, UNANSWERED, Dialogue, Retention
from bot.conversation.flood import FloodGuard, Verdict
from bot.errors import StoreError
from bot.events import Incoming, Reply, SessionKey
from bot.language.embedding import Embedder
from bot.storage.journal import Journal
from bot.storage.mailbox import Change, Mailbox, Receipt
from bot.storage.store import Session, SessionStore

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Answered:
    """The replies of a turn, and whether they were queued in the outbox (else: send them)."""

    replies: list[Reply]
    queued: bool


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
        self._store = store
        self._journal = journal
        self._dialogue = Dialogue(content, embedder, self._retention())
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
        self._dialogue = Dialogue(content, self._embedder, self._retention())
        _log.info("content version %s is live", content.version)

    def _retention(self) -> Retention:
        """How long sessions and unanswered questions are kept here, for /about."""
        keep = self._journal.keep_days if self._journal is not None else 0.0
        return Retention(self._store.ttl_seconds / 86400, keep)

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

    @property
    def mailbox(self) -> Mailbox | None:
        """The store's inbox and outbox, when it has them (crash-safe delivery)."""
        return self._store if isinstance(self._store, Mailbox) else None

    async def handle(self, incoming: Incoming) -> list[Reply]:
        """Answer one turn, never with an exception for bad input.

        Every turn gets at least one reply, except a flood: past a user's limit the first
        message is asked to slow down and later ones get nothing (an empty list), unless
        they hold a red flag, which is always answered.
        """
        return (await self.answer(incoming)).replies

    async def answer(
        self, incoming: Incoming, receipt: Receipt | None = None, must_reply: bool = False
    ) -> Answered:
        """Answer one turn; with a ``receipt`` the session, the inbox row and the replies
        are committed together, and the replies are queued in the outbox (``queued``).

        If that commit fails, the replies are returned unqueued for the caller to send.
        ``must_reply``: a dropped flood message still gets "slow down" (a platform waits).
        """
        verdict = self._flood.check(incoming.key)
        if verdict is not Verdict.ALLOW and not self._red_flag(incoming):
            _log.debug("flood from a %s user: %s", incoming.key.platform, verdict.value)
            replies = (
                [Reply(self._dialogue.bundle.message("slow_down"))]
                if verdict is Verdict.WARN or must_reply
                else []
            )
            return await self._commit(receipt, replies, None)
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
            change: Change | None = None
            if turn.forget or (session.is_empty() and stored is not None):
                change = Change(incoming.key, None, forget=turn.forget)
            elif not session.is_empty():
                change = Change(incoming.key, session)
            if turn.forget and self._journal is not None:
                try:
                    await self._journal.forget(incoming.key)
                except (StoreError, sqlite3.Error) as exc:
                    _log.warning("could not forget the journal of a user: %s", exc)
                    saved = False
            replies = turn.replies
            if receipt is not None and saved:
                answered = await self._commit(receipt, replies, change)
                if answered.queued:
                    self._saved(True)
                    return answered
                saved = False  # the commit failed: answer directly, without saving
            elif change is not None:
                try:
                    if change.session is None:
                        await self._store.delete(incoming.key)
                    else:
                        await self._store.save(incoming.key, change.session)
                except (StoreError, sqlite3.Error) as exc:
                    self._saved(False, exc)
                    saved = False
                else:
                    self._saved(True)
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
            return Answered(replies, queued=False)

    async def _commit(
        self,
        receipt: Receipt | None,
        replies: list[Reply],
        change: Change | None,
    ) -> Answered:
        """Finish an inbox row with its replies; unqueued if there is no row or it fails."""
        mailbox = self.mailbox
        if receipt is None or mailbox is None:
            return Answered(replies, queued=False)
        try:
            await mailbox.finish(receipt, replies, change, time.time())
        except (StoreError, sqlite3.Error) as exc:
            self._saved(False, exc)
            return Answered(replies, queued=False)
        return Answered(replies, queued=True)

    def _saved(self, ok: bool, exc: Exception | None = None) -> None:
        """Log a change between writes working and failing, once per outage."""
        if not ok and self._writes_ok:
            _log.warning("session writes fail (%s); answering without saving", exc)
        elif ok and not self._writes_ok:
            _log.warning("session writes work again")
        self._writes_ok = ok

    def _red_flag(self, incoming: Incoming) -> bool:
        text = (incoming.text or "")[:MAX_SCAN]
        return bool(text) and bool(self._dialogue.scanner.scan(text))

    async def purge_expired(self) -> int:
        """Delete expired sessions, old unanswered questions and old delivery records;
        returns how many sessions."""
        try:
            if self._journal is not None:
                await self._journal.purge()
            if self.mailbox is not None:
                await self.mailbox.purge_mail(time.time())
            return await self._store.purge_expired()
        except (StoreError, sqlite3.Error) as exc:
            _log.warning("could not purge expired data: %s", exc)
            return 0
