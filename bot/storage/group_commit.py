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

#: The most round trips to the database one batch makes (`runs`), and the most statements it
#: holds; a batch always takes at least one job. The round trips bound how long an urgent
#: write waits for the batch in progress, and how long the write lock is held against the
#: journal's connection; statements that merge into one run cost one round trip however many.
BATCH_ROUND_TRIPS = 32
BATCH_STATEMENTS = 256


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
        if self.done.done():  # the caller was cancelled (or the job is settled already)
            return
        if error is not None:
            self.done.set_exception(error)
        else:
            self.done.set_result(counts if counts is not None and self.counted else [])


def _steps(job: Job, last: str | None) -> list[tuple[bool, str | None]]:
    """For each of ``job``'s statements after a run whose SQL is ``last`` (None: a run that
    cannot grow): whether it joins that run, and the run's SQL after it. The one rule of
    merging: the same statement again, from jobs none of which wants row counts."""
    out = []
    for sql, _ in job.statements:
        out.append((sql == last and not job.counted, None if job.counted else sql))
        last = out[-1][1]
    return out


def runs(batch: Sequence[Job]) -> list[tuple[str, list[tuple[int, tuple[object, ...]]]]]:
    """The batch's statements in order, as runs to send one round trip each: a run holds
    one statement, or the same statement from consecutive places none of whose jobs wants
    row counts (sent as one ``executemany``); each with (job's index, parameters)."""
    out: list[tuple[str, list[tuple[int, tuple[object, ...]]]]] = []
    last: str | None = None
    for n, job in enumerate(batch):
        steps = _steps(job, last)
        for (sql, params), (joins, _) in zip(job.statements, steps, strict=True):
            if joins:
                out[-1][1].append((n, params))
            else:
                out.append((sql, [(n, params)]))
        last = steps[-1][1] if steps else last
    return out


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

    def __init__(
        self,
        write_batch: BatchWriter,
        round_trips: int = BATCH_ROUND_TRIPS,
        statements: int = BATCH_STATEMENTS,
    ) -> None:
        self._write_batch = write_batch
        self._round_trips = round_trips
        self._statements = statements
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
        if self._drainer is None or self._drainer.done():
            self._drainer = loop.create_task(self._drain())
            self._drainer.add_done_callback(self._drained)
        try:
            return await job.done
        except asyncio.CancelledError:
            if job in queue:  # not taken yet: it is never written (taken: it may be)
                queue.remove(job)
            raise

    async def _drain(self) -> None:
        batch: list[Job] = []
        try:
            while any(self._queues):
                batch = self._take()
                try:
                    await self._write_batch(batch)
                except Exception as exc:  # a writer must settle its jobs; never leave one waiting
                    _log.exception("a batch of writes failed unexpectedly")
                    for job in batch:
                        job.settle(error=StoreError(f"the write failed: {exc}"))
        finally:
            self._drainer = None
            self._fail([batch, *self._queues])

    def _drained(self, task: asyncio.Task[None]) -> None:
        """A drain cancelled (even before its first step, when its own cleanup never runs)
        leaves no write waiting forever: what is still queued fails, unless a new drain took
        over."""
        if not task.cancelled() or (self._drainer is not task and self._drainer is not None):
            return
        self._drainer = None
        self._fail(self._queues)

    @staticmethod
    def _fail(groups: Sequence[list[Job] | deque[Job]]) -> None:
        """Fail every job of ``groups`` not settled yet (the store closed), and empty them."""
        closed = StoreUnavailable("the store closed before the write was made")
        for group in groups:
            for job in group:
                job.settle(error=closed)
            group.clear()

    def _take(self) -> list[Job]:
        """The next batch: queued jobs, urgent first, within the limits (at least one)."""
        batch: list[Job] = []
        trips, size, last = 0, 0, None
        for queue in self._queues:
            while queue:
                steps = _steps(queue[0], last)
                more = sum(not joins for joins, _ in steps)
                grown = size + len(queue[0].statements)
                if batch and (trips + more > self._round_trips or grown > self._statements):
                    return batch
                batch.append(queue.popleft())
                trips, size = trips + more, grown
                last = steps[-1][1] if steps else last
        return batch

    async def wait(self) -> None:
        """Wait until no write is queued or being written (writes that arrive meanwhile are
        waited for too: stop the writers first, as closing the store does)."""
        while self._drainer is not None and not self._drainer.done():
            await asyncio.wait({self._drainer})
