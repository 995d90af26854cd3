"""Common words are read as written, never as a typo of another word (content/real_words.yaml)."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

from bot.content.loader import Bundle, bundled_content_dir, load_content
from bot.language.retrieval import Vocabulary
from bot.language.safety import RedFlagScanner
from bot.language.text import PhraseMatcher, same_but_ending, words
from bot.language.understand import Understanding

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import real_words


@pytest.fixture(scope="module")
def bundle() -> Bundle:
    return load_content(bundled_content_dir())


def test_a_real_word_is_not_a_typo_but_keeps_its_endings() -> None:
    plain = PhraseMatcher([("shoulder", "site"), ("twitch", "symptom"), ("seizure", "fit")])
    real = PhraseMatcher(
        [("shoulder", "site"), ("twitch", "symptom"), ("seizure", "fit")],
        real_words=["should", "twitchy"],
    )
    assert [m.payload for m in plain.find(words("should i worry"))] == ["site"]
    assert real.find(words("should i worry")) == []
    assert [m.payload for m in real.find(words("my eye is twitchy"))] == ["symptom"]
    assert [m.payload for m in real.find(words("a siezure"))] == ["fit"]  # a typo still is one
    assert [m.payload for m in real.find(words("my sholder hurts"))] == ["site"]


@pytest.mark.parametrize(
    ("word", "other", "same"),
    [
        ("cramp", "crampy", True),
        ("crampy", "cramp", True),
        ("tremble", "trembly", True),
        ("trembly", "tremble", True),
        ("throw", "thrown", True),
        ("thrown", "throwing", True),
        ("dizzy", "dizzied", True),
        ("breath", "breathe", True),
        ("alcoholic", "alcohol", True),  # a longer word that begins with a content word
        ("should", "shoulder", False),
        ("taking", "talking", False),
        ("starting", "statin", False),
        ("stat", "statin", False),
        ("digital", "digitalis", False),
    ],
)
def test_same_but_ending(word: str, other: str, same: bool) -> None:
    """``word`` is what the person wrote, ``other`` a word of the content's phrases."""
    assert same_but_ending(word, other) is same


def test_lookalikes_are_the_common_words_read_as_another_word() -> None:
    found = real_words.lookalikes(
        ["shoulder", "seizure", "twitch"], ["should", "seizures", "twitchy", "house", "shouldered"]
    )
    assert found == ["should"]


def test_the_shipped_list_is_the_one_the_content_needs(bundle: Bundle) -> None:
    shipped = (bundled_content_dir() / "real_words.yaml").read_text(encoding="utf-8")
    assert shipped == real_words.render(real_words.real_words(bundle)), (
        "phrases changed since the list was written: run python tools/real_words.py"
    )
    assert {"starting", "tables"} <= bundle.real_words


@pytest.mark.parametrize(
    "text",
    [
        "my leg feels weak after the long run should i rest",
        "my face feels a bit numb after the dentist, should i worry",
    ],
)
def test_should_is_not_a_shoulder_so_no_stroke(bundle: Bundle, text: str) -> None:
    # the safety check's own look-alike list (never_fuzzy), not the real-words list
    assert "should" in bundle.safety.never_fuzzy
    assert RedFlagScanner.for_bundle(bundle).scan(text) == []


@pytest.mark.parametrize(
    ("text", "flag"),
    [
        ("pain in my chest going to my left sholder and arm", "chest_breathing"),
        ("i think im having a siezure", "seizure"),
        ("her face is dropping on one side", "stroke"),
        ("my arm and leg on the left went numb and weak all of a sudden", "stroke"),
        # a common word that is someone's typo of a red-flag word still counts in safety
        ("struggling to breath and my lips look blue", "chest_breathing"),
        ("he is grasping for air and turning blue", "chest_breathing"),
        ("my throat is selling up after i ate peanuts", "anaphylaxis"),
        ("i took 20 tables tonight", "poisoning"),
    ],
)
def test_typos_and_lay_words_still_raise_the_flag(bundle: Bundle, text: str, flag: str) -> None:
    hits = RedFlagScanner.for_bundle(bundle).scan(text)
    assert flag in [h.flag.id for h in hits]
    assert hits[0].urgency.value == "emergency"


@pytest.mark.parametrize("text", ["i have thrown up twice", "been seating a lot at night"])
def test_a_flow_answer_reads_every_word_as_a_possible_typo(bundle: Bundle, text: str) -> None:
    # the triage flow's answer that raises the urgency: real words never apply to flow choices
    understanding = Understanding(dataclasses.replace(bundle, real_words=frozenset(words(text))))
    node = bundle.nodes[("triage", "q_other")]
    choice = understanding.choice("triage", node, text)
    assert choice is not None and choice.id == "fluid_loss"


def test_the_safety_check_reads_every_word_as_a_possible_typo(bundle: Bundle) -> None:
    assert "tables" in bundle.real_words  # answering reads "tables" as written...
    reader = RedFlagScanner.for_bundle(bundle).reader
    found = {f.concept for f in reader.read("i took 20 tables").findings}
    assert "pills" in found  # ...the safety check still reads it as "tablets"


def test_starting_is_not_a_statin(bundle: Bundle) -> None:
    vocabulary = Vocabulary(bundle)
    assert "statin" not in vocabulary.find("just starting magnesium, how long until it works")
    assert "statin" in vocabulary.find("started statins last month, legs cramping")
    assert "statin" in vocabulary.find("on a stattin for my cholesterol")
    assert "caffeine_alcohol" in vocabulary.find("does being alcoholic affect b12")
