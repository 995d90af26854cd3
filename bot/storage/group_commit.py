"""Group commit: writes that arrive while one batch is being written are written together."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from bot.errors import StoreError, StoreUnavailable

_log = logging.getLogger(__name__)

#: One SQL statement and its parameters.
Statement = tuple[str, tuple[object, ...]]

#: The most writes one batch takes; the rest wait for the next.
BATCH_LIMIT = 500


@dataclass(eq=False)
class Job:
    """One caller's statements, written in order in one transaction, and its future.

    ``counted``: the caller wants each statement's row count, so the statements are run one
    by one (never merged with other jobs' into one ``executemany``).
    """

    statements: Sequence[Statement]
    counted: bool
    done: asyncio.Future[list[int]]

    def settle(self, counts: list[int] | None = None, error: BaseException | None = None) -> None:
        """Hand the caller its row counts (empty when not ``counted``) or the error."""
        if self.done.done():  # the caller was cancelled
            return
        if error is not None:
            self.done.set_exception(error)
        else:
            self.done.set_result(counts if counts is not None and self.counted else [])


#: Writes a batch and settles every job in it (`Job.settle`).
BatchWriter = Callable[[list[Job]], Awaitable[None]]


class GroupCommit:
    """Queues writes and hands them in batches, one batch at a time, to a `BatchWriter`.

    While a batch is being written, new writes wait; the next batch takes all of them, urgent
    ones first (recording a reply as sent must not wait behind turns). Under load many turns
    then share one transaction, and the database never sits idle while the event loop passes
    the writer from one turn to the next; alone, a write goes at once. One caller's writes
    keep their order (a caller awaits each before the next).
    """

    def __init__(self, write_batch: BatchWriter, limit: int = BATCH_LIMIT) -> None:
        self._write_batch = write_batch
        self._limit = limit
        self._queues: tuple[deque[Job], deque[Job]] = (deque(), deque())  # urgent, ordinary
        self._drainer: asyncio.Task[None] | None = None

    async def write(
        self, statements: Sequence[Statement], *, urgent: bool = False, counted: bool = False
    ) -> list[int]:
        """Write ``statements`` in one transaction (perhaps with others' writes); the row
        count of each when ``counted``, else an empty list."""
        loop = asyncio.get_running_loop()
        job = Job(tuple(statements), counted, loop.create_future())
        queue = self._queues[0 if urgent else 1]
        queue.append(job)
        if self._drainer is None:
            self._drainer = loop.create_task(self._drain())
        try:
            return await asyncio.shield(job.done)
        except asyncio.CancelledError:
            if job in queue:  # not taken yet: it is never written
                queue.remove(job)
            raise

    async def _drain(self) -> None:
        batch: list[Job] = []
        try:
            while any(self._queues):
                batch = []
                for queue in self._queues:
                    while queue and len(batch) < self._limit:
                        batch.append(queue.popleft())
                try:
                    await self._write_batch(batch)
                except Exception as exc:  # a writer must settle its jobs; never leave one waiting
                    _log.exception("a batch of writes failed unexpectedly")
                    for job in batch:
                        job.settle(error=StoreError(f"the write failed: {exc}"))
        finally:
            self._drainer = None
            closed = StoreUnavailable("the store closed before the write was made")
            for job in [*batch, *self._queues[0], *self._queues[1]]:
                job.settle(error=closed)
            for queue in self._queues:
                queue.clear()

    async def wait(self) -> None:
        """Wait until every write queued so far is written (before closing the store)."""
        while self._drainer is not None:
            await asyncio.wait({self._drainer})
