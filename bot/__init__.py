"""nervebot: a platform-neutral health-education conversation engine."""

from __future__ import annotations

__version__ = "0.1.0"
