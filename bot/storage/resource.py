"""A base for async resources used as ``async with``: open on enter, close on exit."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class AsyncResource:
    """``async with resource:`` calls `open`, then `close` on the way out."""

    async def open(self) -> None:
        """Acquire resources (nothing by default)."""

    async def close(self) -> None:
        """Release resources (nothing by default)."""

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
