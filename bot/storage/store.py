"""Session state and the narrow store interface every backend implements."""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.errors import StoreError
from bot.events import SessionKey
from bot.storage.resource import AsyncResource

Clock = Callable[[], float]

#: Idle sessions older than this are expired (30 days).
DEFAULT_TTL_SECONDS = 30 * 24 * 3600


@dataclass
class Session:
    """What the bot remembers about one user: where they are, and unfinished answers."""

    flow: str | None = None
    node: str | None = None
    answers: dict[str, str] = field(default_factory=dict)
    pending: str | None = None
    content_version: str | None = None
    node_sig: str | None = None

    def is_empty(self) -> bool:
        """True when there is nothing worth storing."""
        return self.flow is None and self.pending is None and not self.answers

    def to_json(self) -> str:
        """Serialise for storage."""
        data = {
            "flow": self.flow,
            "node": self.node,
            "answers": self.answers,
            "pending": self.pending,
            "content_version": self.content_version,
            "node_sig": self.node_sig,
        }
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str) -> Session:
        """Deserialise; unknown or malformed fields are dropped, never fatal."""
        try:
            data: Any = json.loads(raw)
        except ValueError:
            return cls()
        if not isinstance(data, dict):
            return cls()

        def _str(name: str) -> str | None:
            value = data.get(name)
            return value if isinstance(value, str) else None

        answers = data.get("answers")
        clean = (
            {k: v for k, v in answers.items() if isinstance(k, str) and isinstance(v, str)}
            if isinstance(answers, dict)
            else {}
        )
        return cls(
            _str("flow"),
            _str("node"),
            clean,
            _str("pending"),
            _str("content_version"),
            _str("node_sig"),
        )


class SessionStore(AsyncResource, ABC):
    """Stores one `Session` per `SessionKey`; async context manager, closed on exit."""

    #: idle time after which a session expires (what /about tells people)
    ttl_seconds: float = DEFAULT_TTL_SECONDS

    @abstractmethod
    async def get(self, key: SessionKey) -> Session | None:
        """The live session of ``key``, or None if there is none or it has expired."""

    @abstractmethod
    async def save(self, key: SessionKey, session: Session) -> None:
        """Insert or replace the session of ``key`` atomically."""

    @abstractmethod
    async def delete(self, key: SessionKey) -> None:
        """Remove everything stored for ``key`` (no error if there is nothing)."""

    @abstractmethod
    async def purge_expired(self) -> int:
        """Delete idle sessions past the time-to-live; returns how many."""


class MemoryStore(SessionStore):
    """An in-process store: for tests, and the reference for the store contract."""

    def __init__(self, ttl_seconds: float = DEFAULT_TTL_SECONDS, clock: Clock = time.time) -> None:
        self._rows: dict[SessionKey, tuple[str, float]] = {}
        self._ttl = self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._closed = False

    def _check(self) -> None:
        if self._closed:
            raise StoreError("store is closed")

    async def get(self, key: SessionKey) -> Session | None:
        self._check()
        row = self._rows.get(key)
        if row is None or row[1] < self._clock() - self._ttl:
            return None
        return Session.from_json(row[0])

    async def save(self, key: SessionKey, session: Session) -> None:
        self._check()
        self._rows[key] = (session.to_json(), self._clock())

    async def delete(self, key: SessionKey) -> None:
        self._check()
        self._rows.pop(key, None)

    async def purge_expired(self) -> int:
        self._check()
        cutoff = self._clock() - self._ttl
        old = [k for k, (_, at) in self._rows.items() if at < cutoff]
        for k in old:
            del self._rows[k]
        return len(old)

    async def close(self) -> None:
        self._closed = True
