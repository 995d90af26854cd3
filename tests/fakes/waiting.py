"""What the fake servers share: serving on a free loopback port, and waiting on their state."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from aiohttp import web


class Waitable:
    """Mix-in: `wait_for` wakes on every `_notify` (called whenever the bot talks to the fake)."""

    _changed: asyncio.Condition
    _runner: web.AppRunner | None = None
    port: int = 0

    async def _serve(self, app: web.Application) -> None:
        """Serve ``app`` on 127.0.0.1 at a free port (set in `port`)."""
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _close_server(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

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
