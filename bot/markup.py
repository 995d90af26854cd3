"""The small reply markup every adapter renders: ``**bold**`` spans, lines and paragraphs.

A backslash escapes ``*`` and ``\\``. Everything else is plain text, so adapters escape each
span for their platform and nothing a user typed can become markup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SPECIAL = re.compile(r"([\\*])")


@dataclass(frozen=True, slots=True)
class Span:
    """A run of plain text, bold or not."""

    text: str
    bold: bool = False


def escape(text: str) -> str:
    """Make any text (for example, what a user typed) safe to put inside markup."""
    return _SPECIAL.sub(r"\\\1", text)


def parse(markup: str) -> list[Span]:
    """Split markup into spans; an unclosed ``**`` is kept as literal text."""
    spans: list[Span] = []
    buf: list[str] = []
    bold = False
    i = 0
    n = len(markup)
    while i < n:
        ch = markup[i]
        if ch == "\\" and i + 1 < n and markup[i + 1] in "\\*":
            buf.append(markup[i + 1])
            i += 2
            continue
        if ch == "*" and i + 1 < n and markup[i + 1] == "*":
            if not bold and "**" not in markup[i + 2 :]:
                buf.append("**")
                i += 2
                continue
            if buf:
                spans.append(Span("".join(buf), bold))
                buf = []
            bold = not bold
            i += 2
            continue
        buf.append(ch)
        i += 1
    if buf:
        spans.append(Span("".join(buf), bold))
    return spans


def plain(markup: str) -> str:
    """The text without markup, as a reader sees it."""
    return "".join(span.text for span in parse(markup))
