"""Waiting on a fake server's state from a test."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class Waitable:
    """Mix-in: `wait_for` wakes on every `_notify` (called whenever the bot talks to the fake)."""

    _changed: asyncio.Condition

    def _last_calls(self) -> object:
        return None

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 15.0) -> None:
        """Wait until ``predicate()`` holds, or fail with the fake's last calls."""
        deadline = time.monotonic() + timeout
        async with self._changed:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out; last calls: {self._last_calls()}")
                try:
                    await asyncio.wait_for(self._changed.wait(), left)
                except TimeoutError:
                    continue
