"""The full check a moderator runs (``nervebot validate``): the format, then the warnings."""

from __future__ import annotations

from pathlib import Path

from bot.content.loader import Bundle, read_content
from bot.errors import Problem
from bot.moderation.lint import lint


def validate_dir(root: Path) -> tuple[Bundle | None, list[Problem]]:
    """Check a content folder; returns the bundle (None on any error) and every problem.

    Warnings (severity ``warning``) come only for content whose format is valid, and never
    make the bundle None.
    """
    read = read_content(root)
    if read.bundle is None:
        return None, read.problems
    warnings = lint(read.files, read.bundle, Path(root))
    return read.bundle, sorted({*read.problems, *warnings})
