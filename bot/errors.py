"""The exception tree of nervebot.

NervebotError
├── ContentError        content could not be loaded or is invalid (carries every problem)
├── StoreError          the session store failed
│   └── StoreUnavailable  locked, read-only or missing database: answer without saving
├── ConfigError         settings are missing or malformed (exit code 2 at the CLI)
└── DeliveryError       a reply could not be sent now (``retry``: it may succeed later)
"""

from __future__ import annotations

from dataclasses import dataclass


class NervebotError(Exception):
    """Base class of every error nervebot raises on purpose."""


@dataclass(frozen=True, order=True)
class Problem:
    """One content problem, printed as ``path:line:col: message``."""

    path: str
    line: int
    col: int
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        tag = "" if self.severity == "error" else f"{self.severity}: "
        return f"{self.path}:{self.line}:{self.col}: {tag}{self.message}"


class ContentError(NervebotError):
    """Content is invalid; ``problems`` lists every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        first = str(problems[0]) if problems else "invalid content"
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(first + more)


class StoreError(NervebotError):
    """The session store failed."""


class StoreUnavailable(StoreError):
    """The database is locked, read-only or unreachable; the bot answers without saving."""


class ConfigError(NervebotError):
    """A setting is missing or malformed."""


class DeliveryError(NervebotError):
    """A reply could not be sent; ``retry`` if a later try may succeed, ``progress`` parts sent."""

    def __init__(self, message: str, *, retry: bool, progress: int = 0) -> None:
        super().__init__(message)
        self.retry = retry
        self.progress = progress
