"""Answer retrieval: cards ranked by words, meaning and named entities; honest uncertainty."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bot.content.loader import Bundle, bundled_content_dir, read_content
from bot.content.model import Card, Entity
from bot.conversation.dialogue import UNANSWERED, Dialogue
from bot.events import Incoming, SessionKey
from bot.language import retrieval
from bot.language.embedding import Embedder
from bot.language.retrieval import CardIndex
from bot.storage.store import Session

CARDS = (
    Card(id="b6_with_magnesium", title="B6 and magnesium together",
         about=("vitamin_b6", "magnesium"),
         asks=("can i take b6 and magnesium together", "magnesium with vitamin b6 ok"),
         answer="Taking **B6** and magnesium together is common; mind the B6 limit.",
         source="NIH ODS"),
    Card(id="mg_forms", title="Magnesium forms", about=("magnesium", "mg_glycinate"),
         asks=("is magnesium glycinate better than oxide", "which magnesium absorbs best"),
         answer="Glycinate is gentle; oxide is poorly absorbed.", source="NIH ODS"),
    Card(id="ppi_b12", title="Acid reflux tablets and B12",
         about=("ppi", "vitamin_b12"),
         asks=("do ppis lower b12", "omeprazole and low b12"),
         answer="Years of PPIs can lower B12 absorption.", source="NIH ODS"),
    Card(id="cramp_night", title="Night cramps", about=("night_cramps",),
         asks=("what causes leg cramps at night", "why do i get cramps in bed"),
         answer="Night cramps are common and usually have no clear cause.", source="NHS"),
    Card(id="cramp_pregnancy", title="Cramps in pregnancy", about=("pregnancy",),
         asks=("leg cramps when pregnant", "cramps in pregnancy at night"),
         answer="Leg cramps are common in pregnancy; stretching helps.", source="NHS"),
    Card(id="cramp_stretch", title="Stretches for cramps", about=("night_cramps",),
         asks=("what causes leg cramps at night", "stretches for a cramp"),
         answer="Stretch the calf: pull your toes towards you.", source="NHS"),
    Card(id="with_food", title="Supplements with or without food",
         about=("supplement_timing",),
         asks=("should i take my supplements with food", "vitamins on an empty stomach"),
         answer="Most are fine either way; fat-soluble ones absorb better with a meal.",
         source="NIH ODS"),
)  # fmt: skip
ENTITIES = (
    Entity(id="ppi", kind="medicine", names=("ppi", "omeprazole", "losec", "lansoprazole")),
    Entity(id="ace_inhibitor", kind="medicine", names=("ramipril", "lisinopril")),
    Entity(id="mg_glycinate", kind="form", names=("glycinate", "magnesium glycinate")),
    Entity(id="night_cramps", kind="condition", names=("night cramps", "cramps at night")),
    Entity(id="pregnancy", kind="life_stage", names=("pregnant", "pregnancy")),
    Entity(id="supplement_timing", kind="topic", names=("empty stomach", "with food")),
)


@pytest.fixture(scope="module")
def base() -> Bundle:
    read = read_content(bundled_content_dir())
    assert read.bundle is not None
    return read.bundle


@pytest.fixture(scope="module")
def bundle(base: Bundle) -> Bundle:
    """The bundled content with a few cards of its own; the shipped question model, learnt
    on the real cards, does not apply to these (tests/test_question_model.py tests it)."""
    return dataclasses.replace(
        base,
        cards={c.id: c for c in CARDS},
        entities={e.id: e for e in ENTITIES},
        questions=None,
    )


@pytest.fixture(scope="module", params=["with model", "words only"])
def dialogue(request: pytest.FixtureRequest, bundle: Bundle, embedder: Embedder) -> Dialogue:
    return Dialogue(bundle, embedder if request.param == "with model" else None)


def ask(dialogue: Dialogue, text: str) -> tuple[str, list[tuple[str, str]], list[str]]:
    turn = dialogue.respond(Session(), Incoming(SessionKey("t", "1"), text=text))
    reply = "\n".join(r.text for r in turn.replies)
    buttons = [b.id for r in turn.replies for b in r.buttons]
    return reply, turn.events, buttons


def test_a_question_naming_two_things_gets_the_card_about_both(dialogue: Dialogue) -> None:
    reply, _, _ = ask(dialogue, "is it ok to take vitamin b6 and magnesium at the same time")
    assert "Taking **B6** and magnesium together" in reply


def test_a_brand_name_finds_its_medicine_class(dialogue: Dialogue) -> None:
    reply, _, _ = ask(dialogue, "can losec make my b12 drop")
    assert "Years of PPIs can lower B12" in reply
    index = dialogue.cards
    assert index.vocabulary.find("been on losec for years, is my magnesium ok") == [
        "ppi",
        "magnesium",
    ]


def test_a_qualifier_beats_the_generic_nutrient_card(dialogue: Dialogue) -> None:
    reply, _, _ = ask(dialogue, "magnesium glycinate or oxide, which is better")
    assert "Glycinate is gentle" in reply


def test_the_older_answers_stay_where_the_router_knew_them(dialogue: Dialogue) -> None:
    reply, _, _ = ask(dialogue, "what foods have magnesium")
    assert "pumpkin seeds" in reply.lower()
    reply, _, _ = ask(dialogue, "what is tetany")
    assert "Tetany" in reply


def test_with_food_is_not_a_request_for_the_food_list(dialogue: Dialogue) -> None:
    # "food" is close to the food-list word "foods", but only the listed words ask for the list
    reply, _, _ = ask(dialogue, "magnesium on an empty stomach or with food?")
    assert "fat-soluble ones absorb better" in reply
    assert "pumpkin seeds" not in reply.lower()
    reply, _, _ = ask(dialogue, "best foods for magnesium")
    assert "pumpkin seeds" in reply.lower()


def test_what_a_question_says_it_is_not_about_is_read_without_it(dialogue: Dialogue) -> None:
    ranked, named = dialogue.cards.rank("leg cramps at night, im not pregnant")
    assert "pregnancy" not in named
    assert ranked[0].candidate.ref != "card:cramp_pregnancy"
    pregnant, _ = dialogue.cards.rank("leg cramps when im pregnant")
    assert pregnant[0].candidate.ref == "card:cramp_pregnancy"
    vocabulary = dialogue.cards.vocabulary
    assert vocabulary.read("cramps at night, if not pregnant").affirmed == "cramps at night if"
    assert vocabulary.read("cramps, apart from being pregnant").affirmed == "cramps"
    # said of a thing or of someone else, a nutrient, a medicine, denied with "no", or nothing
    # left without it: still what it asks about
    for text in (
        "is that not safe in pregnancy",
        "not taking glycinate, should i",
        "not on omeprazole any more",
        "cramps so no pregnancy then?",
        "whether or not pregnant women should take it",
        "is d3 not vegan",
        "shes not pregnant",
        "im not pregnant",
    ):
        assert vocabulary.read(text).affirmed == text
    # after a told age, "not" is said of the asker too; a number right after a name is no age
    assert "pregnancy" not in vocabulary.read("cramps at night? 45, not pregnant, active").named
    assert "pregnancy" not in vocabulary.read("32f not pregnant, is b6 ok").named
    assert "pregnancy" not in vocabulary.read("32 year old, not pregnant, cramps").named
    assert "pregnancy" in vocabulary.read("took 400 not pregnant women's doses").named
    assert "vegan" in vocabulary.read("is the holland and barrett b12 50 not vegan?").named


def test_a_food_the_asker_does_without_leaves_its_group_out_of_food_lists(base: Bundle) -> None:
    dialogue = Dialogue(base, None)  # the shipped vocabulary, whose foods have groups
    vocabulary = dialogue.cards.vocabulary
    for text, groups in (
        ("which foods have vitamin d? i hate fish", {"fish"}),
        ("foods with vitamin d, i dont eat any fish", {"fish"}),
        ("calcium foods but im allergic to dairy", {"dairy"}),
        ("vitamin d foods without fish please", {"fish"}),
        ("im not allergic to dairy, what has calcium", set()),  # undone by "not"
        ("i dont hate fish, what has vitamin d", set()),
        ("which foods have vitamin d", set()),
        ("is fish good for b12", set()),
        ("does salmon have vitamin d", set()),
    ):
        assert vocabulary.avoided(text) == groups, text
    # never an entity a card should be about, and cards about it lose ground; its words stay
    reading = vocabulary.read("which foods have vitamin d? i hate fish")
    assert "oily_fish" not in reading.named and reading.shunned == ("oily_fish",)
    assert "fish" in reading.affirmed
    reply, _, _ = ask(dialogue, "which foods have vitamin d? i dont eat fish")
    assert "without fish" in reply and "• salmon" not in reply.lower()  # the list, not the tip
    assert "milk" in reply.lower()
    plain, _, _ = ask(dialogue, "which foods have vitamin d")
    assert "• salmon" in plain.lower() and "without fish" not in plain.lower()


def test_a_food_list_names_only_the_groups_it_left_out(base: Bundle) -> None:
    answers = Dialogue(base, None).answers
    vitamin_d = answers.foods("vitamin_d", avoids=frozenset({"fish", "meat"})).text
    assert "without fish" in vitamin_d and "meat" not in vitamin_d.split("\n")[0]
    assert "• salmon" not in vitamin_d.lower()
    # every row avoided: the whole list, with no note (nothing would be left to show)
    d = base.nutrients["vitamin_d"]
    fish_only = d.model_copy(update={"foods": tuple(f for f in d.foods if "fish" in f.contains)})
    only_fish = dataclasses.replace(base, nutrients={**base.nutrients, "vitamin_d": fish_only})
    listed = Dialogue(only_fish, None).answers.foods("vitamin_d", avoids=frozenset({"fish"}))
    assert fish_only.foods and "without" not in listed.text.split("\n")[0]
    assert all(f.food in listed.text for f in fish_only.foods)


def test_only_a_food_belongs_to_a_food_group() -> None:
    with pytest.raises(ValueError, match="only a food"):
        Entity(id="ppi", kind="medicine", names=("ppi",), group="fish")


def test_an_age_names_its_life_stage(base: Bundle) -> None:
    stages = dataclasses.replace(
        base,
        entities={
            "child": Entity(id="child", kind="life_stage", names=("kids",), ages=(1, 12)),
            "older_age": Entity(
                id="older_age", kind="life_stage", names=("elderly",), ages=(65, 130)
            ),
        },
    )
    find = CardIndex(stages, None).vocabulary.find
    for text in ("my 9 yo has cramps", "my 8yo", "a 3 year old", "my son is 6", "my 3yr old"):
        assert "child" in find(text), text
    for text in ("im 75, do i need b12", "my nan is 84", "a 72 yr old man", "i am 80", "age 70"):
        assert "older_age" in find(text), text
    # a time, an amount, a size, a lab value or an adult's age is no life stage
    for text in (
        "been vegan 3 yrs", "im 34 weeks pregnant", "taking 400 mg", "im 45", "for 9 years",
        "im 100% sure", "im 6'5 and cramp", "hes 6 foot", "im 90 kilos", "im 6 wks pregnant",
        "cramp in the 100m sprint", "my dad's b12 is 150", "potassium is 3.4", "im 1 of them",
    ):  # fmt: skip
        assert not {"child", "older_age"} & set(find(text)), text
    # a told age overrides a life stage named in words
    assert find("the kids are fine but my dad is 80") == ["older_age"]


def test_a_told_result_reads_as_low_or_high_against_its_range(base: Bundle) -> None:
    find = CardIndex(base, None).vocabulary.find
    for text in (
        "potassium 3.3 on my bloods", "my b12 was 150", "calcium came back at 2.05",
        "what is a normal vitamin d level? my result says 38 nmol/L", "vit d 12ng/ml",
        "b12 is only 110 pmol/l", "b12 level 180 ng/l what does it mean",
    ):  # fmt: skip
        assert "result_low" in find(text) and "result_high" not in find(text), text
    for text in ("potassium came back at 6.1", "adjusted calcium 2.72", "b12 is 1,200 pg/ml",
                 "my vitamin d is 150 nmol/l"):  # fmt: skip
        assert "result_high" in find(text) and "result_low" not in find(text), text
    # a result in range, a dose, a count, a number before the name, one that may be in
    # another unit (vitamin d "38": nmol/L or ng/mL; calcium "9.5" mg/dL), or another test's
    for text in (
        "my potassium is 4.1", "b12 1000mcg daily", "taking potassium 3 times a day",
        "vitamin d 38", "calcium 9.5", "is 3.4 potassium low", "b12 fine, ferritin 15",
        "magnesium 0.6", "took vitamin d 4000 iu for 30 days", "is b12 1000 safe",
        "b12 100 a day", "b12 2.4", "b12 1000mcgs", "potassium 2.5 grams",
        "b12 fine, ferritin 15 ng/ml", "b12 is 300, folate 2.5 ng/ml",
        "potassium 4.2, phosphate 0.7 mmol/l", "active b12 is 40", "ionised calcium 1.2",
        "b12 nan",
    ):  # fmt: skip
        assert not {"result_low", "result_high"} & set(find(text)), text


def test_a_card_about_the_opposite_result_is_not_an_answer(bundle: Bundle) -> None:
    index = CardIndex(
        dataclasses.replace(
            bundle,
            cards={
                "falsely_high": Card(
                    id="falsely_high", title="A falsely high potassium",
                    about=("potassium", "result_high"),
                    asks=("my potassium came back high should i repeat it",
                          "gp wants to repeat my potassium blood test"),
                    answer="A damaged sample can read high.", source="Merck",
                ),
                "k_range": Card(
                    id="k_range", title="Normal potassium", about=("potassium",),
                    asks=("what is a normal potassium level", "is my potassium normal"),
                    answer="3.5 to 5.3 mmol/L.", source="Merck",
                ),
            },
            entities={
                "result_low": Entity(id="result_low", kind="test", names=("came back low",),
                                     decisive=False, opposite="result_high"),
                "result_high": Entity(id="result_high", kind="test", names=("came back high",),
                                      decisive=False, opposite="result_low"),
            },
        ),
        None,
    )  # fmt: skip
    low, _ = index.rank("my potassium 3.1, gp wants to repeat my potassium blood test")
    assert "card:falsely_high" not in [r.candidate.ref for r in low]
    high, _ = index.rank("my potassium 6.1, gp wants to repeat my potassium blood test")
    assert high[0].candidate.ref == "card:falsely_high"


def _stage_index(bundle: Bundle) -> CardIndex:
    """Cards for children, for older people, for everyone from babies to older people, and a
    card with no stage whose example question names a child (no model: words alone)."""

    def card(cid: str, about: tuple[str, ...], asks: tuple[str, ...]) -> Card:
        return Card(id=cid, title=cid, about=about, asks=asks, answer="An answer.", source="NHS")

    stages = {
        "baby": (0, 0.99),
        "child": (1, 12),
        "teenager": (13, 17),
        "older_age": (65, 130),
    }
    return CardIndex(
        dataclasses.replace(
            bundle,
            cards={
                "kids_magnesium": card("kids_magnesium", ("magnesium", "child"),
                                       ("magnesium for my child with cramps", "can kids take magnesium")),
                "older_magnesium": card("older_magnesium", ("magnesium", "older_age"),
                                        ("magnesium for elderly people with cramps", "magnesium in older age")),
                "everyone": card("everyone", ("vitamin_d", "baby", "child", "older_age"),
                                 ("vitamin d advice for everyone", "who should take vitamin d")),
                "cereal": card("cereal", ("vitamin_b12",),
                               ("my child lives on cereal does that cover b12", "is b12 in cereal absorbed")),
            },
            entities={
                eid: Entity(id=eid, kind="life_stage", names=(eid.replace("_", " "),), ages=ages)
                for eid, ages in stages.items()
            },
        ),
        None,
    )  # fmt: skip


def test_a_life_stage_rules_out_cards_for_ages_that_do_not_meet_it(bundle: Bundle) -> None:
    index = _stage_index(bundle)
    ranked, named = index.rank("my 80 year old mum has cramps, would magnesium help")
    assert named[:1] == ["older_age"]
    assert ranked[0].candidate.ref == "card:older_magnesium"
    opposed = {
        ref: value
        for ref, value in zip(index.refs, index._opposed(named), strict=True)
        if ref.startswith("card:")
    }
    assert opposed == {
        "card:kids_magnesium": 1.0,  # 1 to 12
        "card:older_magnesium": 0.0,
        "card:everyone": 0.0,  # babies to older people: a teenager too
        "card:cereal": 0.0,  # no stage declared; its example's child does not make it one
    }
    opposed_teen = dict(zip(index.refs, index._opposed(["teenager"]), strict=True))
    assert opposed_teen["card:everyone"] == 0.0 and opposed_teen["card:kids_magnesium"] == 1.0
    # two stages named ("my 10 year old and my gran"): a card for either is not ruled out
    two = dict(zip(index.refs, index._opposed(["child", "older_age"]), strict=True))
    assert two["card:kids_magnesium"] == 0.0 and two["card:older_magnesium"] == 0.0


def test_a_moderator_is_told_of_a_broken_result_range_or_opposite(content_copy: Path) -> None:
    folder = content_copy
    (folder / "extra.yaml").write_text(
        "result_ranges:\n"
        "  - {nutrient: no_such, low: 1, high: 2, unit: mmol, most: 3, source: NHS}\n"
        "entities:\n"
        "  - {id: odd, kind: test, names: [odd thing], opposite: no_such}\n",
        encoding="utf-8",
    )
    messages = [str(p) for p in read_content(folder).problems]
    assert any("extra.yaml:2:" in m and "'no_such', which is no nutrient" in m for m in messages)
    assert any("extra.yaml:4:" in m and "opposite 'no_such' is no entity" in m for m in messages)
    (folder / "extra.yaml").write_text(
        "result_ranges:\n"
        "  - {nutrient: potassium, low: 5, high: 2, unit: mmol, most: 3, source: NHS}\n",
        encoding="utf-8",
    )
    messages = [str(p) for p in read_content(folder).problems]
    assert any("0 < low < high < most" in m for m in messages), messages


def test_an_age_belongs_to_a_life_stage_only() -> None:
    with pytest.raises(ValueError, match="only a life stage"):
        Entity(id="ppi", kind="medicine", names=("ppi",), ages=(1, 2))
    with pytest.raises(ValueError, match="from the younger"):
        Entity(id="child", kind="life_stage", names=("kids",), ages=(12, 1))


def test_a_small_word_is_never_a_name_by_its_stem(base: Bundle) -> None:
    find = CardIndex(base, None).vocabulary.find
    assert "oily_fish" not in find("my mum is 78, should she take b12 at her age")
    assert "oily_fish" in find("is herring good for vitamin d")


def test_a_symptom_with_a_near_miss_question_offers_cards_and_the_check(
    bundle: Bundle, embedder: Embedder
) -> None:
    # a symptom described, with no card sure enough: the nearest cards, then the check
    dialogue = Dialogue(bundle, embedder)
    reply, events, buttons = ask(dialogue, "my calves twitch at night")
    assert "Did you mean" in reply and "k:card:cramp_night" in buttons
    assert "symptom check" in reply
    offer = dialogue.answers.triage_offer()
    assert {b.id for b in offer.buttons} <= set(buttons)
    assert any(kind == UNANSWERED for kind, _ in events)


def test_a_medicine_question_without_a_card_is_honest_and_points_to_a_pharmacist(
    dialogue: Dialogue,
) -> None:
    reply, events, _ = ask(dialogue, "is ramipril going to mess with my potassium")
    assert "rather not guess" in reply and "pharmacist" in reply
    assert (UNANSWERED, "is ramipril going to mess with my potassium") in events


@pytest.mark.parametrize("meaning", [True, False], ids=["with model", "words only"])
def test_a_symptom_naming_a_medicine_no_card_covers_is_honest_then_offers_the_check(
    base: Bundle, embedder: Embedder, meaning: bool
) -> None:
    # a symptom message reads as a request for the check; a medicine in it that no card
    # answers for gets the honest reply and a pharmacist first, never a generic list
    dialogue = Dialogue(base, embedder if meaning else None)
    text = "started naproxen last week and my calves keep cramping, could that be it"
    reply, events, buttons = ask(dialogue, text)
    assert "rather not guess" in reply and "pharmacist" in reply
    assert (UNANSWERED, text) in events and ("intent", "card_unknown") in events
    assert {b.id for b in dialogue.answers.triage_offer().buttons} <= set(buttons)
    # without a medicine, the same kind of message still gets the check, not "I don't know"
    reply, events, _ = ask(dialogue, "my calves keep cramping since last week, could that be it")
    assert "rather not guess" not in reply
    # and a list asked for is never replaced, least of all the red-flag list
    for text, intent in [
        ("warning signs, i take naproxen", "redflags"),
        ("when to see a doctor, i'm on naproxen", "redflags"),
        ("other causes, i take naproxen", "causes"),
    ]:
        reply, events, _ = ask(dialogue, text)
        assert ("intent", intent) in events and "rather not guess" not in reply, (text, events)


def test_a_near_miss_offers_did_you_mean_buttons_that_answer(
    bundle: Bundle, embedder: Embedder
) -> None:
    dialogue = Dialogue(bundle, embedder)
    # two cards share the example question: the bot cannot tell which is meant, so it asks
    reply, events, buttons = ask(dialogue, "what causes leg cramps at night")
    assert "Did you mean" in reply
    assert {"k:card:cramp_night", "k:card:cramp_stretch"} <= set(buttons)
    assert any(kind == UNANSWERED for kind, _ in events)  # moderators see near-misses too
    turn = dialogue.respond(Session(), Incoming(SessionKey("t", "1"), button="k:card:cramp_night"))
    assert "Night cramps are common" in turn.replies[0].text
    stale = dialogue.respond(Session(), Incoming(SessionKey("t", "1"), button="k:card:gone"))
    assert "earlier message" in stale.replies[0].text


def test_ranking_reports_its_signals(bundle: Bundle, embedder: Embedder) -> None:
    index = CardIndex(bundle, embedder)
    ranked, named = index.rank("omeprazole and low b12")
    assert ranked[0].candidate.ref == "card:ppi_b12"
    assert named == ["ppi", "vitamin_b12"]
    top = ranked[0]
    assert top.lexical > 0.5 and top.semantic > 0.5 and top.entities == 1.0


def test_a_card_about_supplements_in_general_is_not_ruled_out_by_a_nutrient(
    bundle: Bundle,
) -> None:
    general = Card(
        id="storage", title="Storing supplements", any_nutrient=True,
        asks=("how should i store my vitamins", "do supplements go off"),
        answer="Somewhere cool and dry.", source="NHS",
    )  # fmt: skip

    def entities(card: Card, text: str) -> float:
        index = CardIndex(dataclasses.replace(bundle, cards={**bundle.cards, "storage": card}))
        return float(index.signals(text).entities[index.refs.index("card:storage")])

    assert entities(general, "how should i store my vitamin d drops") == 0.0
    narrow = general.model_copy(update={"any_nutrient": False})
    assert entities(narrow, "how should i store my vitamin d drops") == -1.0
    # a medicine it is not about still counts against it
    assert entities(general, "how should i store my omeprazole") == -1.0
    # nor is a nutrient its examples name something it is mainly about
    named = general.model_copy(
        update={"asks": ("how should i store my vitamin d", "do b12 go off")}
    )
    index = CardIndex(dataclasses.replace(bundle, cards={**bundle.cards, "storage": named}))
    assert float(index.signals("store magnesium?").unasked[index.refs.index("card:storage")]) == 0


def test_a_card_mainly_about_what_the_question_never_names_loses_ground(
    bundle: Bundle, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = CardIndex(bundle, embedder)

    def unasked(text: str, ref: str) -> float:
        return float(index.signals(text).unasked[index.refs.index(ref)])

    # the PPI card's examples name PPIs and B12: a question about B12 alone misses part
    alone = unasked("why would my b12 be low", "card:ppi_b12")
    assert 0 < alone < 1
    assert unasked("omeprazole and b12", "card:ppi_b12") < alone
    # a nutrient named inside a form's name is named ("magnesium glycinate": magnesium)
    assert unasked("is magnesium glycinate gentle", "card:mg_forms") == 0.0
    assert unasked("is it fine", "card:ppi_b12") == 0.0  # a question that names nothing
    # never by a near spelling: "hypokalemia" names potassium, not calcium's "hypocalcaemia"
    assert index.vocabulary.read("what is hypokalemia").nutrients == {"potassium"}
    # the share costs the candidate score, in proportion
    ppi = index.refs.index("card:ppi_b12")
    with_it = float(index._scores("why would my b12 be low")[0][ppi])
    monkeypatch.setattr(retrieval, "W_UNASKED", 0.0)
    without = float(index._scores("why would my b12 be low")[0][ppi])
    assert with_it == pytest.approx(without - 0.1 * alone)


def test_cards_must_name_known_entities(tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "content"
    shutil.copytree(bundled_content_dir(), folder)
    (folder / "extra_cards.yaml").write_text(
        "cards:\n"
        "  - id: odd_card\n"
        "    title: Odd\n"
        "    about: [no_such_thing]\n"
        "    asks: [one, two]\n"
        "    answer: An answer.\n"
        "    source: NHS\n",
        encoding="utf-8",
    )
    read = read_content(folder)
    messages = [str(p) for p in read.problems]
    assert any(":4:13:" in m and "'no_such_thing' is no entity" in m for m in messages), messages


def test_a_nutrients_fact_is_about_what_its_topics_words_name(base: Bundle) -> None:
    """A nutrient's fact is about what its topic's words name ("too much", "why low", "rda"):
    a question naming it does not count against the fact, as it does against a card not
    about it."""
    index = CardIndex(base, None)
    about = {r: index._candidates[index.refs.index(r)].about for r in index.refs}
    assert {"magnesium", "upper_limit_topic"} <= about["nutrient:magnesium:upper_limit"]
    assert "why_low" in about["nutrient:calcium:at_risk"]
    assert "daily_amount" in about["nutrient:vitamin_d:intake"]
    ranked, named = index.rank("is 500 mg of magnesium too much", limit=len(index.refs))
    entities = {r.candidate.ref: r.entities for r in ranked}
    assert "upper_limit_topic" in named
    assert entities["nutrient:magnesium:upper_limit"] == 1.0
    assert entities["nutrient:magnesium:role"] < entities["nutrient:magnesium:upper_limit"]


def test_where_the_asker_lives_rules_out_the_other_countrys_advice(base: Bundle) -> None:
    """Ireland and the UK are each other's `Entity.opposite`: "we're in ireland" is not
    answered by the UK's advice, which the question would otherwise favour by its words."""
    index = CardIndex(base, None)
    ranked, named = index.rank(
        "breastfed baby vitamin d drops, we're in ireland", limit=len(index.refs)
    )
    scores = {r.candidate.ref: r.score for r in ranked}
    assert "ireland" in named
    assert scores["card:ireland_vitamin_d"] > scores["card:uk_vitamin_d_children"] + 0.5
    ranked, named = index.rank(
        "breastfed baby vitamin d drops, we're in the uk", limit=len(index.refs)
    )
    scores = {r.candidate.ref: r.score for r in ranked}
    assert scores["card:uk_vitamin_d_children"] > scores.get("card:ireland_vitamin_d", 0.0)


def test_an_example_naming_the_opposite_does_not_make_a_card_about_it(base: Bundle) -> None:
    """The Irish card's example "is the irish advice the same as the uk" names the UK, but a
    card says where it is about (`Card.about`): a question from Britain rules it out."""
    index = CardIndex(base, None)
    ireland = next(c for c in index._candidates if c.ref == "card:ireland_vitamin_d")
    assert "ireland" in ireland.about and "uk" not in ireland.about
    assert any("uk" in index.vocabulary.find(ask) for ask in ireland.asks)
    ranked, named = index.rank("im black british, does the vitamin d advice differ for me?")
    assert "uk" in named
    assert "card:ireland_vitamin_d" not in [r.candidate.ref for r in ranked[:3]]


def test_a_card_about_another_nutrient_loses_to_one_about_the_named(base: Bundle) -> None:
    """`CardIndex._other_nutrient`: a card about B12 is no answer to a magnesium question,
    however close its words; a card about supplements in general is never ruled out."""
    index = CardIndex(base, None)
    refs = index.refs
    other = index._other_nutrient(["vegan", "magnesium"])
    assert other[refs.index("card:vegan_b12_sources")] == 1.0
    assert other[refs.index("card:magnesium_rich_foods")] == 0.0
    # a card about supplements in general that names calcium or magnesium is no B6 card, and
    # still not ruled out for a question about B6
    general = [i for i, c in enumerate(index._candidates) if c.any_nutrient]
    assert refs.index("card:swallowing_big_tablets") in general
    assert not index._other_nutrient(["vitamin_b6"])[general].any()
    assert not index._other_nutrient(["vegan"]).any()  # no nutrient named: nothing ruled out
    ranked, _ = index.rank("best vegan sources of magnesium?")
    assert ranked[0].candidate.ref != "card:vegan_b12_sources"
    assert "magnesium" in ranked[0].candidate.about
    # a nutrient inside a form's name is named ("mag glycinate"); a card is about the nutrients
    # it declares, not those its example questions add (the card on supplements' price)
    other = index.signals("is mag glycinate ok with vitamin d3 and b12").other_nutrient
    assert other[refs.index("card:mg_forms")] == 0.0
    price = index.signals("is an expensive b6 supplement better than a cheap one").other_nutrient
    assert price[refs.index("card:supplement_price_quality")] == 0.0


def test_a_nutrient_inside_a_forms_name_counts_for_the_entity_scores(base: Bundle) -> None:
    """A form named with its nutrient ("liquid vitamin d") names the nutrient too: a card about
    vitamin D meets the question for it, as much as one about the liquid form does."""
    index = CardIndex(base, None)
    refs = index.refs
    text = "liquid vitamin d drops vs tablets, any difference?"
    reading = index.vocabulary.read(text)
    assert "vitamin_d" not in reading.named and "vitamin_d" in reading.nutrients
    entities = index.signals(text).entities
    spray = refs.index("card:vit_d_spray_vs_tablets")  # about vitamin D, not the liquid form
    assert entities[spray] > 0
    assert entities[spray] > entities[refs.index("card:supplement_storage")]


def test_a_card_about_the_named_nutrient_meets_a_form_of_it_half_way(base: Bundle) -> None:
    """A form named ("magnesium citrate") costs a card about magnesium but not that form half
    what it costs a card about neither: the question is about a medicine with magnesium."""
    index = CardIndex(base, None)
    refs = index.refs
    entities = index.signals("on cipro, can i still take my magnesium citrate").entities
    quinolone = entities[refs.index("card:quinolone_minerals")]
    assert quinolone > entities[refs.index("card:elemental_on_labels")]
    assert quinolone > entities[refs.index("card:quinolone_side_effects")]


def test_a_phrase_with_a_gap_leaves_the_gaps_words_to_other_names(base: Bundle) -> None:
    find = CardIndex(base, None).vocabulary.find
    assert find("how much potassium do i need") == ["daily_amount", "potassium"]
    assert find("why is my vitamin d so low") == ["why_low", "vitamin_d"]


def test_ask_templates_may_use_only_the_name(tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "content"
    shutil.copytree(bundled_content_dir(), folder)
    (folder / "extra.yaml").write_text(
        'ask_templates:\n  extra: ["what about {nutrient}"]\n', encoding="utf-8"
    )
    messages = [str(p) for p in read_content(folder).problems]
    assert any("extra.yaml:2:" in m and "may use only {name}" in m for m in messages), messages


def test_chat_words_and_amounts_carry_no_meaning() -> None:
    from bot.language.retrieval import question_words

    assert question_words("tbh my mum takes 1000iu, 2 a day lol, is that ok tho") == (
        "takes day ok"
    )
    assert question_words("is 3.3 potassium too much") == "3.3 potassium too"  # a lab value
    assert question_words("i dont eat meat, my nan is in her 90s") == "dont eat meat nan 90s"


def test_chat_around_a_question_does_not_lower_its_words_score(bundle: Bundle) -> None:
    # the small words of chat appear in no card; weighed as the rarest words of all, they
    # used to pull a clear answer down into "Did you mean" (the meaning model still hears
    # them, so this holds for the words' part of the score)
    index = CardIndex(bundle, None)
    plain = index.decide("can losec make my b12 drop")
    chatty = index.decide("tbh my mum says can losec make my b12 drop?? she had 2 lol, idk")
    assert plain.kind == chatty.kind == "answer"
    assert chatty.ranked[0].candidate.ref == "card:ppi_b12"
    assert chatty.ranked[0].score == pytest.approx(plain.ranked[0].score)


def test_a_decision_says_why(bundle: Bundle, embedder: Embedder) -> None:
    index = CardIndex(bundle, embedder)
    assert index.decide("can i take b6 and magnesium together").reason == "worded as an example"
    assert index.decide("can losec make my b12 drop").reason in ("clear", "score")
    assert index.decide("zzz qqq").reason == "below suggest"


def test_a_qualifier_the_question_names_counts_against_a_card_not_about_it(
    bundle: Bundle,
) -> None:
    # "with food" makes the question: a card not about it answers worse; a topic marked not
    # decisive ("my pharmacist said") is only said in passing and counts for nobody
    entities = (*ENTITIES, Entity(id="pharmacist", kind="topic", names=("pharmacist",),
                                  decisive=False))  # fmt: skip
    index = CardIndex(dataclasses.replace(bundle, entities={e.id: e for e in entities}))

    def score(text: str, card: str) -> float:
        return float(index.signals(text).entities[index.refs.index(f"card:{card}")])

    # one hit and one miss of the two named: the form card misses the qualifier
    assert score("glycinate with food?", "mg_forms") == 0.0
    assert score("glycinate with food?", "with_food") == 0.0  # and the timing card the form
    # a non-decisive topic is one of the things named, never a miss
    assert score("my pharmacist said glycinate is best", "mg_forms") == 0.5
    assert score("my pharmacist said glycinate is best", "with_food") == -0.5
    assert Entity(id="x", kind="food", names=("x",)).is_decisive is False
