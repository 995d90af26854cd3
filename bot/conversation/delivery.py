"""Delivery: answer the inbox in arrival order per conversation, and drain the outbox.

`Courier` runs beside a platform adapter. The adapter stores updates in the inbox and wakes
the courier; the courier reads each waiting update back (through the adapter's ``read``),
runs the turn, which commits the session, the inbox row and the replies together, and sends
queued replies (through the adapter's ``send``), retrying with backoff until a reply's
deadline, then recording it as failed. On stop it takes no new updates, finishes the turns in
progress and sends what it can within the grace period; the rest waits in the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from bot.conversation.engine import Answered, Engine
from bot.errors import DeliveryError, StoreError
from bot.events import Incoming, Reply
from bot.storage.mailbox import Mailbox, Outgoing, Receipt, Received, WorkQueue

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Letter:
    """A stored update read back: the turn to answer, and where its replies go."""

    incoming: Incoming
    address: str
    must_reply: bool = False  # the platform waits for an answer (a deferred interaction)


#: Reads a stored payload into a `Letter` (None: nothing to answer); raises if it cannot.
Reader = Callable[[str], Awaitable[Letter | None]]
#: Sends one reply to an address, skipping the parts already sent; raises `DeliveryError`.
Sender = Callable[[str, Reply, int], Awaitable[None]]


class Courier:
    """Answers one platform's inbox and sends its outbox; `run` until a stop event."""

    def __init__(
        self,
        platform: str,
        engine: Engine,
        mailbox: Mailbox,
        read: Reader,
        send: Sender,
        *,
        concurrency: int = 64,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        poll: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._platform = platform
        self._engine = engine
        self._mailbox = mailbox
        self._read = read
        self._send = send
        self._concurrency = concurrency
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._poll = poll
        self._clock = clock
        self._inbox_bell = asyncio.Event()
        self._outbox_bell = asyncio.Event()
        self._turns: set[asyncio.Task[None]] = set()
        self._sending: dict[str, asyncio.Task[None]] = {}
        self._busy: set[str] = set()  # conversations with a turn in progress
        self._running: set[int] = set()  # inbox rows being answered
        self._finished: dict[int, int] = {}  # inbox row -> query generation when it finished
        self._generation = 0
        self._unmarked: dict[int, Receipt] = {}  # answered, but the row is not marked done yet
        self._delivered: set[int] = set()  # sent: never sent again while the outbox shows it
        self._unremoved: set[int] = set()  # sent, but removing it from the outbox failed
        self._store_ok = True
        self._halt = False
        # several processes share the database: take work by claims, not by looking
        self._queue = mailbox if isinstance(mailbox, WorkQueue) else None

    def wake(self) -> None:
        """New updates are in the inbox."""
        self._inbox_bell.set()

    async def run(self, stop: asyncio.Event, grace: float = 20.0) -> None:
        """Serve until ``stop``; then finish turns in progress and send what fits in ``grace``."""
        sender = asyncio.create_task(self._send_loop(stop, grace))
        try:
            await self._dispatch_loop(stop)
            deadline = time.monotonic() + grace * 0.6
            if self._turns:
                _log.info("%s: finishing %d turns in progress", self._platform, len(self._turns))
                await asyncio.wait(set(self._turns), timeout=max(deadline - time.monotonic(), 0))
            self._outbox_bell.set()
            await sender
            # past the grace: no new sends; a send on the wire finishes (cancelling it could
            # deliver a reply without recording it, and it would go out twice)
            self._halt = True
            if self._sending:
                await asyncio.wait(set(self._sending.values()), timeout=grace * 0.2)
        finally:
            sender.cancel()
            for task in [*self._turns, *self._sending.values()]:
                task.cancel()
            await asyncio.gather(
                sender, *self._turns, *self._sending.values(), return_exceptions=True
            )
            if self._queue is not None:  # what this process claimed but did not do: others may
                with contextlib.suppress(StoreError):
                    await self._queue.release()

    # ------------------------------------------------------------------ the inbox

    async def _dispatch_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._inbox_bell.clear()
            await self._mark_unmarked()
            generation = self._generation
            self._generation += 1
            try:
                if self._queue is not None:
                    free = self._concurrency - len(self._turns)
                    rows = await self._queue.claim(self._platform, limit=free) if free > 0 else []
                else:
                    rows = await self._mailbox.waiting(self._platform, limit=1000)
                self._store_ok = True
            except StoreError as exc:
                self._store_failed(exc)
                rows = []
            self._finished = {s: g for s, g in self._finished.items() if g >= generation}
            for row in rows:
                if len(self._turns) >= self._concurrency:
                    break
                if (
                    row.seq in self._running
                    or row.seq in self._finished
                    or row.seq in self._unmarked
                    or row.conversation in self._busy
                ):
                    continue
                self._busy.add(row.conversation)
                self._running.add(row.seq)
                task = asyncio.create_task(self._turn(row))
                self._turns.add(task)
                task.add_done_callback(self._turns.discard)
            await _wait_any(stop, self._inbox_bell, seconds=self._poll)

    async def _turn(self, row: Received) -> None:
        try:
            await self._answer(row)
        finally:
            self._busy.discard(row.conversation)
            self._running.discard(row.seq)
            self._finished[row.seq] = self._generation
            self._inbox_bell.set()

    async def _answer(self, row: Received) -> None:
        try:
            letter = await self._read(row.payload)
        except Exception as exc:  # a malformed update: set aside, logged once, ids only
            _log.error(
                "%s update %s (inbox %d) cannot be read and is set aside: %s",
                self._platform,
                row.update_id,
                row.seq,
                type(exc).__name__,
            )
            with contextlib.suppress(StoreError):
                await self._mailbox.set_aside(row.seq, type(exc).__name__)
            return
        receipt = Receipt(row.seq, self._platform, row.conversation, row.user_id, "")
        if letter is None:  # nothing to answer (an edit, chatter in a group)
            await self._finish_empty(receipt)
            return
        receipt = Receipt(row.seq, self._platform, row.conversation, row.user_id, letter.address)
        try:
            answered = await self._engine.answer(letter.incoming, receipt, letter.must_reply)
        except Exception:
            _log.exception("engine failed on %s update %s", self._platform, row.update_id)
            internal = Reply(self._engine.content.message("internal_error"))
            answered = Answered([internal], queued=False)
        if answered.queued:
            self._outbox_bell.set()
            return
        self._unmarked[row.seq] = receipt  # the database refused: answer now, mark later
        await self.send_now(letter.address, answered.replies)

    async def _finish_empty(self, receipt: Receipt) -> None:
        try:
            await self._mailbox.finish(receipt, [], None, self._clock())
        except StoreError as exc:
            self._store_failed(exc)
            self._unmarked[receipt.seq] = receipt

    async def _mark_unmarked(self) -> None:
        for seq, receipt in list(self._unmarked.items()):
            try:
                await self._mailbox.finish(receipt, [], None, self._clock())
            except StoreError:
                return
            self._finished[seq] = self._generation
            del self._unmarked[seq]

    async def answer_now(self, letter: Letter) -> None:
        """Answer and send at once, without the inbox (it cannot be written)."""
        answered = await self._engine.answer(letter.incoming, None, letter.must_reply)
        await self.send_now(letter.address, answered.replies)

    async def send_now(self, address: str, replies: Sequence[Reply], tries: int = 3) -> None:
        """Send replies directly, with a few quick retries; failures are logged."""
        for reply in replies:
            progress = 0
            for attempt in range(tries):
                try:
                    await self._send(address, reply, progress)
                    break
                except DeliveryError as exc:
                    progress = exc.progress
                    if not exc.retry or attempt == tries - 1:
                        _log.warning("%s reply could not be sent: %s", self._platform, exc)
                        break
                    await asyncio.sleep(self._backoff * 2**attempt)

    # ------------------------------------------------------------------ the outbox

    async def _send_loop(self, stop: asyncio.Event, grace: float) -> None:
        drain_until: float | None = None
        while True:
            if stop.is_set() and drain_until is None:
                drain_until = time.monotonic() + grace * 0.75
            self._outbox_bell.clear()
            wake_in = self._poll
            try:
                if self._queue is not None:  # claimed: due now, one per conversation
                    room = max(self._concurrency - len(self._sending), 0)
                    rows = (
                        []
                        if self._halt or not room
                        else await self._queue.claim_outbox(self._platform, limit=room)
                    )
                else:
                    rows = await self._mailbox.outbox(self._platform, limit=1000)
                self._delivered &= {item.id for item, _ in rows}
                for outgoing_id in list(self._unremoved):
                    await self._mailbox.sent(outgoing_id)
                    self._unremoved.discard(outgoing_id)
            except StoreError as exc:
                self._store_failed(exc)
                rows = []
            now = self._clock()
            queues: dict[str, list[tuple[Outgoing, float]]] = {}
            for item, next_at in rows:
                if item.id not in self._delivered:
                    queues.setdefault(item.conversation, []).append((item, next_at))
            for conversation, queue in queues.items():
                if conversation in self._sending:
                    if self._queue is not None:  # claimed while its last send finishes: put back
                        for item, next_at in queue:
                            with contextlib.suppress(StoreError):
                                await self._mailbox.postpone(
                                    item.id, next_at, item.attempts, item.progress
                                )
                    continue
                first_at = queue[0][1]
                if first_at > now and not stop.is_set():
                    wake_in = min(wake_in, first_at - now)
                    continue
                if first_at > now:  # stopping: what must wait stays in the outbox
                    continue
                task = asyncio.create_task(self._send_queue(queue))
                self._sending[conversation] = task
                task.add_done_callback(functools.partial(self._sent_queue, conversation))
            if drain_until is not None:
                busy = self._sending or self._turns
                if not busy or time.monotonic() >= drain_until:
                    return
                wake_in = min(wake_in, max(drain_until - time.monotonic(), 0.0))
            await _wait_any(None, self._outbox_bell, seconds=max(wake_in, 0.01))

    def _sent_queue(self, conversation: str, _task: asyncio.Task[None]) -> None:
        self._sending.pop(conversation, None)
        self._outbox_bell.set()

    async def _send_queue(self, queue: list[tuple[Outgoing, float]]) -> None:
        """Send one conversation's replies in order; a reply that must wait holds the rest."""
        for item, next_at in queue:
            now = self._clock()
            if next_at > now or self._halt:
                return
            if now > item.deadline:
                await self._give_up(item, "not delivered before its deadline")
                continue
            try:
                await self._send(item.address, item.reply, item.progress)
            except DeliveryError as exc:
                if exc.retry and now < item.deadline:
                    delay = min(self._backoff * 2**item.attempts, self._max_backoff)
                    _log.info(
                        "%s reply %d not sent (%s); again in %.0f s",
                        self._platform,
                        item.id,
                        exc,
                        delay,
                    )
                    with contextlib.suppress(StoreError):
                        await self._mailbox.postpone(
                            item.id, now + delay, item.attempts + 1, exc.progress
                        )
                    return
                await self._give_up(item, str(exc))
                continue
            # remembered until a later look at the outbox no longer shows it (a look that
            # started before the row was removed must not send it again)
            self._delivered.add(item.id)
            try:
                await self._mailbox.sent(item.id)
            except StoreError as exc:  # removed on a later round
                self._unremoved.add(item.id)
                self._store_failed(exc)

    async def _give_up(self, item: Outgoing, reason: str) -> None:
        _log.warning(
            "%s reply %d to conversation %s recorded as failed after %d tries: %s",
            self._platform,
            item.id,
            item.conversation,
            item.attempts + 1,
            reason,
        )
        with contextlib.suppress(StoreError):
            await self._mailbox.give_up(item.id, reason, self._clock())

    def _store_failed(self, exc: StoreError) -> None:
        if self._store_ok:
            _log.warning("%s delivery: the database failed (%s)", self._platform, exc)
        self._store_ok = False


async def _wait_any(stop: asyncio.Event | None, bell: asyncio.Event, seconds: float) -> None:
    """Wait until ``bell`` or ``stop`` is set, or ``seconds`` pass."""
    waiters = [asyncio.create_task(bell.wait())]
    if stop is not None:
        waiters.append(asyncio.create_task(stop.wait()))
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
