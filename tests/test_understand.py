"""Free-text understanding: FAQ phrasings, nutrients with topics, choices by words."""

from __future__ import annotations

import pytest

from bot.content.loader import bundled_content_dir, load_content
from bot.language.understand import Intent, Understanding

BUNDLE = load_content(bundled_content_dir())
U = Understanding(BUNDLE)
FAQ_PHRASINGS = [(e.id, q) for e in BUNDLE.faq.values() for q in e.questions]


@pytest.mark.parametrize(("faq_id", "question"), FAQ_PHRASINGS)
def test_every_faq_phrasing_reaches_its_own_answer(faq_id: str, question: str) -> None:
    assert U.route(question) == Intent("faq", faq_id)


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("how much magnesium do I need", Intent("nutrient", "magnesium", "intake")),
        ("magnesuim", Intent("nutrient", "magnesium", None)),
        ("symptoms of low potassium", Intent("nutrient", "potassium", "symptoms")),
        ("foods rich in b12", Intent("foods", "vitamin_b12")),
        ("I'm vegan", Intent("diet", "vegan")),
        # a diet answers for the nutrients it concerns; B6's foods are not in the vegan tips
        ("vegan sources of b12", Intent("diet", "vegan")),
        ("which foods are high in b6? im vegetarian", Intent("foods", "vitamin_b6")),
        ("what should I eat", Intent("foods")),
        ("I drink too much coffee", Intent("cause", "caffeine_alcohol")),
        ("my leg keeps twitching", Intent("triage_offer")),
        ("hi", Intent("greet")),
        ("asdf qwerty", Intent("fallback")),
    ],
)
def test_routing(text: str, intent: Intent) -> None:
    assert U.route(text) == intent


def test_choice_by_number_label_or_synonym() -> None:
    node = BUNDLE.nodes[("triage", "q_what")]
    assert U.choice("triage", node, "2") is node.choices[1]
    assert U.choice("triage", node, "pins and needles in my toes") is node.choices[3]
    assert U.choice("triage", node, "Twitchng") is node.choices[0]
    assert U.choice("triage", node, "99") is None
    assert U.choice("triage", node, "purple") is None
