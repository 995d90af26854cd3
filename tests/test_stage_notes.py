"""Life-stage notes: what is different for a stage follows an answer that leaves it out."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bot.content.loader import Bundle, read_content
from bot.content.model import Card, Entity, StageNote
from bot.conversation.answers import STAGE_NOTES, Answers
from bot.conversation.dialogue import Dialogue
from bot.events import Incoming, SessionKey
from bot.language.embedding import Embedder
from bot.language.retrieval import CardIndex, Decision
from bot.moderation.explain import as_text, explain
from bot.storage.store import Session

CARDS = (
    Card(id="mg_safe", title="How much magnesium is safe", about=("magnesium",),
         asks=("how much magnesium is too much", "is a lot of magnesium safe"),
         answer="The supplement upper limit for adults, pregnant or not, is 350 mg a day.",
         source="NIH ODS"),
    Card(id="teen_sleep", title="Teenagers and sleep", about=("teenager",),
         asks=("how much sleep does a teenager need", "my teen is always tired"),
         answer="Teenagers need 8 to 10 hours of sleep.", source="NHS"),
)  # fmt: skip
ENTITIES = (
    Entity(id="teenager", kind="life_stage", names=("teenager", "teen", "teens"), ages=(13, 17)),
    Entity(id="pregnancy", kind="life_stage", names=("pregnant", "pregnancy")),
    Entity(id="mg_glycinate", kind="form", names=("glycinate",)),
)
NOTES = {
    ("teenager", "magnesium"): StageNote(
        stage="teenager", about=("magnesium",), note="For teenagers: TEEN NOTE.", source="ODS"
    ),
    ("pregnancy", "magnesium"): StageNote(
        stage="pregnancy", about=("magnesium",), note="In pregnancy: PREG NOTE.", source="NHS"
    ),
}


@pytest.fixture(scope="module")
def small(bundle: Bundle) -> Bundle:
    return dataclasses.replace(
        bundle,
        cards={c.id: c for c in CARDS},
        entities={e.id: e for e in ENTITIES},
        stage_notes=NOTES,
        faq={},
        questions=None,
    )


@pytest.fixture(scope="module", params=["with model", "words only"])
def dialogue(request: pytest.FixtureRequest, small: Bundle, embedder: Embedder) -> Dialogue:
    return Dialogue(small, embedder if request.param == "with model" else None)


def ask(dialogue: Dialogue, text: str) -> str:
    turn = dialogue.respond(Session(), Incoming(SessionKey("t", "1"), text=text))
    return "\n".join(r.text for r in turn.replies)


def test_a_named_stage_adds_its_note_after_an_answer_that_leaves_it_out(
    dialogue: Dialogue,
) -> None:
    reply = ask(dialogue, "i'm pregnant, how much magnesium is too much")
    assert reply.index("upper limit for adults, pregnant or not") < reply.index("PREG NOTE")
    assert "Source: NHS" in reply.split("PREG NOTE", 1)[1]


def test_no_note_without_a_stage_or_when_the_answer_is_about_it(dialogue: Dialogue) -> None:
    assert "NOTE" not in ask(dialogue, "how much magnesium is too much")
    reply = ask(dialogue, "how much sleep does a teenager need")
    assert "8 to 10 hours" in reply and "TEEN NOTE" not in reply
    assert (
        Answers(dialogue.bundle).stage_notes(
            frozenset({"magnesium", "teenager"}), ["teenager", "magnesium"]
        )
        == []
    )


@pytest.mark.parametrize(
    ("text", "stage"),
    [
        ("i'm not pregnant, how much magnesium is too much", "pregnancy"),
        ("not pregnant or a teen, how much magnesium is too much", "teenager"),
        ("my wife isnt pregnant, how much magnesium is too much", "pregnancy"),
        ("when i was pregnant, how much magnesium was too much", "pregnancy"),
        ("after my pregnancy, how much magnesium is too much", "pregnancy"),
        ("i was pregnant last year, how much magnesium is too much", "pregnancy"),
        ("no longer breastfeeding, which foods have calcium", "breastfeeding"),
    ],
)
def test_a_stage_that_is_not_or_no_longer_so_adds_nothing(
    dialogue: Dialogue, bundle: Bundle, text: str, stage: str
) -> None:
    assert stage in CardIndex(bundle, None).vocabulary.stages_not_now(text), text
    if text.startswith("i'm not"):
        reply = ask(dialogue, text)
        assert "upper limit for adults, pregnant or not" in reply and "NOTE" not in reply


def test_a_stage_said_in_passing_still_counts(dialogue: Dialogue) -> None:
    for text in ("i was told im pregnant, how much magnesium is too much",
                 "not sure but im pregnant, how much magnesium is too much"):  # fmt: skip
        assert not dialogue.cards.vocabulary.stages_not_now(text), text
    assert "PREG NOTE" in ask(dialogue, "i'm pregnant, how much magnesium is too much")


def test_a_question_in_the_grey_zone_gets_the_note_before_the_choices(small: Bundle) -> None:
    dialogue = Dialogue(small, None)
    turn = dialogue.respond(
        Session(), Incoming(SessionKey("t", "1"), text="is magnesium ok in pregnancy")
    )
    (reply,) = turn.replies
    assert reply.text.startswith("In pregnancy: PREG NOTE.")
    assert reply.text.endswith(small.message("did_you_mean_more"))
    assert "k:card:mg_safe" in [b.id for b in reply.buttons]
    shown = explain(dialogue, "is magnesium ok in pregnancy")
    assert shown["stage_notes"] == [{"stage": "pregnancy", "on": ["magnesium"]}]
    assert "before the choices, the note for pregnancy on magnesium" in as_text(shown)

    # with nothing to note, the plain "Did you mean"
    def offered(*named: str) -> Decision:
        return Decision("suggest", (), named, frozenset(), "grey zone")

    assert Answers(small).notes_for(offered("magnesium"), answered=False) == []
    assert Answers(small).notes_for(offered("pregnancy", "magnesium"), answered=False) == [
        NOTES[("pregnancy", "magnesium")]
    ]


def test_notes_follow_what_the_question_names_at_most_two(small: Bundle) -> None:
    answers = Answers(small)
    # one note on each thing: the first stage named that has one
    first = answers.stage_notes(frozenset({"magnesium"}), ["pregnancy", "teenager", "magnesium"])
    assert [n.stage for n in first] == ["pregnancy"] and STAGE_NOTES == 2
    later = answers.stage_notes(frozenset({"magnesium"}), ["child", "teenager", "magnesium"])
    assert [n.stage for n in later] == ["teenager"]
    # an answer about several nutrients, none of them named: no note can be chosen
    assert answers.stage_notes(frozenset({"magnesium", "calcium"}), ["teenager"]) == []
    # its one nutrient, when the question names none
    assert answers.stage_notes(frozenset({"magnesium"}), ["teenager"]) == [
        NOTES[("teenager", "magnesium")]
    ]
    notes = answers.stage_notes(frozenset({"magnesium"}), ["teenager"])
    reply = answers.answer("card:mg_safe", notes)
    assert reply is not None and reply.text.endswith("Source: ODS")


def test_every_shipped_note_follows_an_answer_about_what_it_covers(bundle: Bundle) -> None:
    answers = Answers(bundle)
    assert len(bundle.stage_notes) >= 40
    for (stage, about), note in bundle.stage_notes.items():
        assert answers.stage_notes(frozenset({about}), [stage, about]) == [note]
        assert note.note.strip() and note.source.strip()


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("  - stage: magnesium\n    about: [calcium]", "stage 'magnesium' is no life stage"),
        ("  - stage: no_such\n    about: [calcium]", "stage 'no_such' is no life stage"),
        ("  - stage: teenager\n    about: [no_such]", "about 'no_such' is no entity or nutrient"),
        ("  - stage: teenager\n    about: [calcium]", "a second note on 'calcium' for 'teenager'"),
    ],
)
def test_a_moderator_is_told_what_is_wrong_with_a_note(
    content_copy: Path, entry: str, problem: str
) -> None:
    folder = content_copy
    (folder / "extra_notes.yaml").write_text(
        f"stage_notes:\n{entry}\n    note: A note.\n    source: NHS\n", encoding="utf-8"
    )
    read = read_content(folder)
    assert read.bundle is None
    messages = [str(p) for p in read.problems]
    # the second of two notes on the same pair is the one named (files are read by name)
    assert any(".yaml:" in m and problem in m for m in messages), messages
