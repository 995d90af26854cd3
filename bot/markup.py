"""The small reply markup every adapter renders: ``**bold**`` spans, lines and paragraphs.

A backslash escapes ``*`` and ``\\``. Everything else is plain text, so adapters escape each
span for their platform and nothing a user typed can become markup.
"""

from __future__ import annotations

import re
from collections.abc import Callable
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


def bold_open(markup: str) -> bool:
    """True if ``markup`` ends inside a bold span (an odd number of unescaped ``**``)."""
    count, i = 0, 0
    while i < len(markup):
        if markup[i] == "\\":
            i += 2
            continue
        if markup.startswith("**", i):
            count += 1
            i += 2
            continue
        i += 1
    return count % 2 == 1


def _cut(text: str, limit: int, measure: Callable[[str], int]) -> int:
    """Where to cut ``text``: the last paragraph, line or word break that fits, else hard."""
    for sep in ("\n\n", "\n", " "):
        best = -1
        start = 0
        while (found := text.find(sep, start)) != -1:
            if measure(text[:found]) + 4 > limit:
                break
            best, start = found, found + len(sep)
        if best > 0:
            return best
    low, high = 1, len(text)
    while low < high:  # the longest prefix that fits
        mid = (low + high + 1) // 2
        if measure(text[:mid]) + 4 <= limit:
            low = mid
        else:
            high = mid - 1
    if text[low - 1] == "\\" and low > 1:  # never cut an escape in half
        low -= 1
    return low


def split(markup: str, limit: int, measure: Callable[[str], int] = len) -> list[str]:
    """Split markup into chunks that each measure at most ``limit`` (rendered size).

    Cuts fall on paragraph breaks where possible, then line breaks, then spaces; a bold span
    cut in two is closed and reopened so each chunk renders on its own.
    """
    chunks: list[str] = []
    rest = markup
    while measure(rest) > limit:
        cut = _cut(rest, limit, measure)
        head, rest = rest[:cut].rstrip(), rest[cut:].lstrip()
        if bold_open(head):
            head, rest = head + "**", "**" + rest
        if head:
            chunks.append(head)
    if rest or not chunks:
        chunks.append(rest)
    return chunks
