"""Red flags: every phrasing in the content escalates; negated and benign text does not."""

from __future__ import annotations

import pytest

from bot.content.loader import Bundle, bundled_content_dir, load_content
from bot.language.safety import RedFlagScanner

BUNDLE = load_content(bundled_content_dir())
SCANNER = RedFlagScanner(BUNDLE.safety)
FLAG_PHRASES = [
    (
        flag.id,
        phrase.replace("...", "really"),
        flag.also[0].replace("...", "really") if flag.also else "",
    )
    for flag in BUNDLE.safety.red_flags
    for phrase in flag.phrases
]
FLAG_CONCEPTS = [
    (flag.id, " and ".join(group[-1].replace("...", "really") for group in concept))
    for flag in BUNDLE.safety.red_flags
    for concept in flag.concepts
]


@pytest.mark.parametrize(("flag_id", "phrase", "also"), FLAG_PHRASES)
def test_every_content_phrase_raises_its_flag(flag_id: str, phrase: str, also: str) -> None:
    ids = {h.flag.id for h in SCANNER.scan(f"help, {phrase} {also} right now")}
    assert flag_id in ids


@pytest.mark.parametrize(("flag_id", "text"), FLAG_CONCEPTS)
def test_every_content_concept_raises_its_flag(flag_id: str, text: str) -> None:
    assert flag_id in {h.flag.id for h in SCANNER.scan(text)}


def test_concept_words_must_share_a_sentence() -> None:
    assert SCANNER.scan("The leg is puffy. The weather is warm.") == []
    assert "dvt" in {h.flag.id for h in SCANNER.scan("the leg is puffy and warm")}


@pytest.mark.parametrize(
    ("text", "flag_id"),
    [
        ("siezure", "seizure"),
        ("I had a seizur", "seizure"),
        ("cant breath", "chest_breathing"),
        ("I CAN’T BREATHE", "chest_breathing"),
        ("heart racing", "palpitations"),
        ("face drooping", "stroke"),
        ("face dropping on the left", "stroke"),
        ("I passed out", "unconscious"),
        ("without any warning I collapsed", "unconscious"),
        ("no, and now my chest pain is worse", "chest_breathing"),
        ("not sure if it was a seizure", "seizure"),
        ("Convulsions!!", "seizure"),
    ],
)
def test_misspellings_and_tricky_phrasings_escalate(text: str, flag_id: str) -> None:
    assert flag_id in {h.flag.id for h in SCANNER.scan(text)}


@pytest.mark.parametrize(
    "text",
    [
        "no chest pain, just an eyelid twitch",
        "I don't have chest pain or shortness of breath",
        "never had a seizure",
        "there's no numbness on one side",
        "I painted the fence and my arm cramps",
        "my eyelid keeps twitching",
        "what foods have potassium",
        "do water pills cause cramps",
        "can PPIs cause spasms",
        "I drink a lot of coffee",
        "my calf cramps at night",
        "is it serious?",
    ],
)
def test_benign_and_negated_text_does_not_escalate(text: str) -> None:
    assert SCANNER.scan(text) == []


def test_most_urgent_first(bundle: Bundle) -> None:
    hits = SCANNER.scan("my heart is racing and I had a seizure")
    assert [h.urgency.value for h in hits][:1] == ["emergency"]
    assert {h.flag.id for h in hits} >= {"seizure", "palpitations"}
