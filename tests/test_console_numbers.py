"""The terminal's button numbers: a check's options keep 1..n on every step."""

from __future__ import annotations

from adapters.console import numbering, pick_button
from bot.events import Button, Reply


def test_a_questions_options_are_numbered_from_one_whatever_comes_first() -> None:
    card = Reply("a side answer", (Button("n:magnesium", "Magnesium"), Button("menu", "Menu")))
    question = Reply(
        "Question 3 of 11", (Button("t.q.a", "A"), Button("t.q.b", "B")), flow="t", node="q"
    )
    firsts, buttons = numbering([card, question])
    assert firsts == [3, 1]
    assert pick_button("2", buttons) == Button("t.q.b", "B")
    assert pick_button("3", buttons) == Button("n:magnesium", "Magnesium")


def test_without_a_question_the_numbers_follow_the_replies() -> None:
    one, two = Reply("x", (Button("a", "A"),)), Reply("y", (Button("b", "B"),))
    assert numbering([one, two]) == ([1, 2], [Button("a", "A"), Button("b", "B")])
