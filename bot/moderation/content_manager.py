"""Live content: what version is serving, and reloads that never break the bot.

A reload validates the whole folder and runs its transcript tests; only when both pass does
the new bundle replace the old one, in one assignment between two messages. Every load and
rejected load goes to the audit log; rejections also go to the moderators' notifiers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from bot.content.loader import Bundle, content_files, read_content, transcript_files
from bot.conversation.engine import Engine
from bot.errors import Problem
from bot.moderation.transcripts import as_problems, run_all
from bot.storage.journal import AuditEntry, Journal

_log = logging.getLogger(__name__)

Notifier = Callable[[str], Awaitable[None]]
#: How long files must stay unchanged before a reload reads them (editors save in steps).
SETTLE_SECONDS = 0.3
SETTLE_LIMIT = 10.0
#: How often (ms) the watcher wakes without a change; it is armed from its first wake.
WATCH_TICK_MS = 1000


@dataclass(frozen=True)
class ContentStatus:
    """The live content: version, when it went live, where from, and how much of it."""

    version: str
    loaded_at: float
    directory: Path
    counts: dict[str, int]


@dataclass(frozen=True)
class ReloadResult:
    """The outcome of a reload: whether it went live, the live version, and any problems."""

    ok: bool
    version: str
    problems: tuple[Problem, ...]


#: How often a process looks at the shared audit log for content another process loaded.
FOLLOW_EVERY = 5.0


def counts(bundle: Bundle) -> dict[str, int]:
    """How many of each kind of content a bundle holds."""
    return {
        "nutrients": len(bundle.nutrients),
        "faq": len(bundle.faq),
        "red_flags": len(bundle.safety.red_flags),
        "flows": len(bundle.flows),
        "causes": len(bundle.causes),
    }


def _snapshot(directory: Path) -> tuple[tuple[str, int, int], ...]:
    out = []
    for path in [*content_files(directory), *transcript_files(directory)]:
        try:
            stat = path.stat()
        except OSError:
            continue
        out.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(out)


class ContentManager:
    """Owns the content folder of a running bot."""

    def __init__(
        self,
        engine: Engine,
        directory: Path,
        journal: Journal | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._engine = engine
        self.directory = Path(directory)
        self._journal = journal
        self._clock = clock
        self._loaded_at = clock()
        self._lock = asyncio.Lock()
        self._notifiers: list[Notifier] = []
        self._started_with = _snapshot(self.directory)
        #: Set once the file watcher is armed: from then on every change is seen.
        self.watching = asyncio.Event()

    def add_notifier(self, notifier: Notifier) -> None:
        """Also tell ``notifier`` (a moderators' chat or channel) when a load is rejected."""
        self._notifiers.append(notifier)

    def status(self) -> ContentStatus:
        """What is live now."""
        bundle = self._engine.content
        return ContentStatus(bundle.version, self._loaded_at, self.directory, counts(bundle))

    async def record_startup(self) -> None:
        """Audit the content the bot started with."""
        await self._audit(self._engine.content.version, "startup", True, 0)

    async def _audit(self, version: str, source: str, accepted: bool, errors: int) -> None:
        if self._journal is not None:
            await self._journal.audit(AuditEntry(self._clock(), version, source, accepted, errors))

    async def reload(self, who: str) -> ReloadResult:
        """Validate and test the folder; if both pass, swap it in. ``who`` goes to the audit log."""
        async with self._lock:
            _log.debug("content load by %s: validating %s", who, self.directory)
            read = await asyncio.to_thread(read_content, self.directory)
            bundle, errors = read.bundle, [p for p in read.problems if p.severity == "error"]
            if bundle is not None and not errors:
                _log.debug("content load by %s: running transcript tests", who)
                _ran, failures, test_problems = await run_all(
                    bundle, self.directory, self._engine.embedder
                )
                errors = test_problems + as_problems(failures)
            live = self._engine.content.version
            if bundle is None or errors:
                version = bundle.version if bundle is not None else "invalid"
                _log.warning(
                    "content load by %s rejected: %d problem(s); version %s stays live",
                    who,
                    len(errors),
                    live,
                )
                for problem in errors[:20]:
                    _log.warning("content problem: %s", problem)
                await self._audit(version, who, False, len(errors))
                await self._notify(live, errors)
                return ReloadResult(False, live, tuple(errors))
            if bundle.version == live:
                _log.debug("content load by %s: version %s is already live", who, live)
                return ReloadResult(True, live, ())
            self._engine.swap_content(bundle)
            self._loaded_at = self._clock()
            _log.info("content load by %s: version %s is live", who, bundle.version)
            await self._audit(bundle.version, who, True, 0)
            return ReloadResult(True, bundle.version, ())

    async def _notify(self, live: str, errors: list[Problem]) -> None:
        if not self._notifiers:
            return
        listing = "\n".join(f"• {p}" for p in errors[:5])
        text = self._engine.content.message(
            "mod_watch_rejected", count=str(len(errors)), version=live, problems=listing
        )
        for notify in self._notifiers:
            try:
                await notify(text)
            except Exception as exc:  # a moderators' chat being down must not stop the bot
                _log.warning("could not notify moderators: %s", exc)

    async def _settle(self) -> None:
        """Wait until the files stop changing (an editor may save in several steps)."""
        deadline = time.monotonic() + SETTLE_LIMIT
        before = await asyncio.to_thread(_snapshot, self.directory)
        while time.monotonic() < deadline:
            await asyncio.sleep(SETTLE_SECONDS)
            now = await asyncio.to_thread(_snapshot, self.directory)
            if now == before:
                return
            before = now

    async def follow(self, stop: asyncio.Event, every: float = FOLLOW_EVERY) -> None:
        """With a database several processes share: when another process has made a newer
        version live (the shared audit log says so), load the folder too, so every process
        serves the same version within seconds even where file events do not arrive (a
        network volume, a missed event)."""
        if self._journal is None:
            return
        seen: float | None = None
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
            if stop.is_set():
                return
            try:
                latest = next(iter(await self._journal.audit_log(1)), None)
            except Exception as exc:  # the database is away: the next look tries again
                _log.info("content audit log not readable: %s", exc)
                continue
            if latest is None or latest.at == seen:
                continue
            seen = latest.at
            if latest.accepted and latest.version != self._engine.content.version:
                await self.reload("another process")

    async def watch(self, stop: asyncio.Event, debounce_ms: int = 400) -> None:
        """Reload whenever the folder changes, until ``stop`` is set."""
        from watchfiles import awatch

        _log.info("watching %s for content changes", self.directory)
        async for changes in awatch(
            self.directory,
            stop_event=stop,
            debounce=debounce_ms,
            recursive=True,
            rust_timeout=WATCH_TICK_MS,
            yield_on_timeout=True,
        ):
            changed = bool(changes)
            if not self.watching.is_set():
                self.watching.set()
                # an edit made between loading and arming would otherwise go unseen
                now = await asyncio.to_thread(_snapshot, self.directory)
                changed = changed or now != self._started_with
            if not changed:
                continue
            _log.debug("content folder changed; waiting for the files to settle")
            try:
                await self._settle()
                await self.reload("file watch")
            except Exception:  # one bad reload must not end the watching
                _log.exception("content reload after a file change failed; the live content stays")
