"""Live content: what version is serving, and validated reloads that never break the bot."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.engine import Engine
from bot.errors import Problem
from bot.loader import Bundle, validate_dir

_log = logging.getLogger(__name__)


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


def counts(bundle: Bundle) -> dict[str, int]:
    """How many of each kind of content a bundle holds."""
    return {
        "nutrients": len(bundle.nutrients),
        "faq": len(bundle.faq),
        "red flags": len(bundle.safety.red_flags),
        "flows": len(bundle.flows),
        "causes": len(bundle.causes),
    }


class ContentManager:
    """Owns the content folder of a running bot; reloads only valid content, atomically."""

    def __init__(
        self, engine: Engine, directory: Path, clock: Callable[[], float] = time.time
    ) -> None:
        self._engine = engine
        self.directory = Path(directory)
        self._clock = clock
        self._loaded_at = clock()
        self._lock = asyncio.Lock()

    def status(self) -> ContentStatus:
        """What is live now."""
        bundle = self._engine.content
        return ContentStatus(bundle.version, self._loaded_at, self.directory, counts(bundle))

    async def reload(self, who: str) -> ReloadResult:
        """Validate the folder; if it is clean, swap it in. ``who`` is logged with the result."""
        async with self._lock:
            bundle, problems = await asyncio.to_thread(validate_dir, self.directory)
            errors = tuple(p for p in problems if p.severity == "error")
            if bundle is None or errors:
                live = self._engine.content.version
                _log.warning(
                    "content reload by %s rejected: %d problem(s); version %s stays live",
                    who, len(errors), live,
                )  # fmt: skip
                return ReloadResult(False, live, errors)
            self._engine.swap_content(bundle)
            self._loaded_at = self._clock()
            _log.info("content reload by %s: version %s is live", who, bundle.version)
            return ReloadResult(True, bundle.version, ())
