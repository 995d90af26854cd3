"""A per-user token bucket, so one person flooding the bot cannot build a backlog for themselves.

Each user may send `burst` messages at once and then `rate` per second. A message over the
limit is dropped before it queues for that user's lock: the first one of a flood gets a
"please slow down" answer, the rest get nothing, until the bucket has room again. Red flags
are checked even then (the engine does that), and other users are never affected.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from bot.events import SessionKey

#: Messages a user may send at once, and per second after that.
BURST = 20
RATE = 2.0
#: Buckets idle this long are forgotten (they would be full again anyway).
FORGET_AFTER = 600.0


class Verdict(Enum):
    """What to do with one message."""

    ALLOW = "allow"
    WARN = "warn"  # the first message over the limit: say "slow down"
    DROP = "drop"  # later ones: answer nothing


@dataclass
class _Bucket:
    tokens: float
    at: float
    warned: bool = False


class FloodGuard:
    """Token buckets per `SessionKey`; ``clock`` is injectable so tests never sleep."""

    def __init__(
        self,
        burst: int = BURST,
        rate: float = RATE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._burst = float(burst)
        self._rate = rate
        self._clock = clock
        self._buckets: dict[SessionKey, _Bucket] = {}
        self._last_sweep = clock()

    @classmethod
    def off(cls) -> FloodGuard:
        """A guard that allows everything (transcript tests, benchmarks of raw capacity)."""
        return cls(burst=10**12, rate=0.0)

    def check(self, key: SessionKey) -> Verdict:
        """Take one token for ``key`` if there is one; say what to do with the message."""
        now = self._clock()
        self._sweep(now)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(self._burst, now)
        bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.at) * self._rate)
        bucket.at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            bucket.warned = False
            return Verdict.ALLOW
        if bucket.warned:
            return Verdict.DROP
        bucket.warned = True
        return Verdict.WARN

    def _sweep(self, now: float) -> None:
        if now - self._last_sweep < FORGET_AFTER:
            return
        self._last_sweep = now
        idle = [k for k, b in self._buckets.items() if now - b.at > FORGET_AFTER]
        for key in idle:
            del self._buckets[key]
