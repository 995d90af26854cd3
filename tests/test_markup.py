"""The reply markup: user text is escaped and never becomes formatting."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot import markup


def test_bold_spans() -> None:
    assert markup.parse("a **b** c") == [
        markup.Span("a "),
        markup.Span("b", True),
        markup.Span(" c"),
    ]


def test_unclosed_bold_is_literal() -> None:
    assert markup.plain("2 ** 3") == "2 ** 3"


@given(st.text())
def test_escaped_text_is_plain_text(text: str) -> None:
    spans = markup.parse(markup.escape(text))
    assert "".join(s.text for s in spans) == text
    assert not any(s.bold for s in spans)
