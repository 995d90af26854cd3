"""The question model: the bank's signal, the chance that decides, the shipped model, content checks."""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from pathlib import Path

import pytest

from bot.content.loader import QUESTION_MODEL, Bundle, bundled_content_dir, read_content
from bot.content.model import QuestionModel
from bot.conversation.dialogue import Dialogue
from bot.events import Incoming, SessionKey
from bot.language.embedding import Embedder
from bot.language.retrieval import FEATURES, W_BANK, CardIndex
from bot.storage.store import Session

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import train_questions  # noqa: E402

QUESTION = "is the stuff in epsom salts actually soaked up through the skin in a bath"


def _model(
    bank: tuple[tuple[str, tuple[str, ...]], ...], answer: float = 0.5, **weights: float
) -> QuestionModel:
    return QuestionModel(
        bank=bank,
        features=FEATURES,
        weights=tuple(weights.get(f, 0.0) for f in FEATURES),
        bias=weights.get("bias", 0.0),
        answer=answer,
    )


def _index(bundle: Bundle, embedder: Embedder, model: QuestionModel | None) -> CardIndex:
    return CardIndex(dataclasses.replace(bundle, questions=model), embedder)


# --------------------------------------------------------------------------- the bank's signal


def test_a_read_question_vouches_for_the_answers_that_answered_it(
    bundle: Bundle, embedder: Embedder
) -> None:
    ref = "card:racing_heart"  # an answer unrelated to the question, on purpose
    without = _index(bundle, embedder, _model(()))
    bank = ((QUESTION, (ref,)),)
    vouched = _index(bundle, embedder, _model(bank))
    before = without.signals(QUESTION)
    after = vouched.signals(QUESTION)
    at = vouched.refs.index(ref)
    assert before.neighbour[at] == 0.0 and after.neighbour[at] == pytest.approx(1.0, abs=1e-3)
    assert after.vote[at] > 0
    others = [i for i in range(len(vouched.refs)) if i != at]
    assert max(after.neighbour[i] for i in others) == 0.0  # it vouches for nothing else


def test_answers_the_content_no_longer_has_are_skipped(bundle: Bundle, embedder: Embedder) -> None:
    index = _index(bundle, embedder, _model(((QUESTION, ("card:no_such_card",)),), bias=50.0))
    assert max(index.signals(QUESTION).neighbour) == 0.0
    # a bank whose answers are all gone says nothing: the fixed thresholds decide again
    assert index.decide(QUESTION).chance is None


def test_what_a_read_question_vouches_for_rises_in_the_ranking(
    bundle: Bundle, embedder: Embedder
) -> None:
    ref = "card:racing_heart"
    plain = _index(bundle, embedder, _model(()))
    vouched = _index(bundle, embedder, _model(((QUESTION, (ref,)),)))
    before = {r.candidate.ref: r.score for r in plain.rank(QUESTION, limit=1000)[0]}
    after = {r.candidate.ref: r for r in vouched.rank(QUESTION, limit=1000)[0]}
    assert after[ref].score > before[ref] + 0.1  # the bank counts in the score
    assert after[ref].score == pytest.approx(before[ref] + W_BANK, abs=1e-3)
    assert after[ref].bank == pytest.approx(W_BANK, abs=1e-3)
    assert after[ref].own == pytest.approx(before[ref], abs=1e-6)


# --------------------------------------------------------------------------- the chance decides


def test_the_chance_is_the_logistic_of_the_top_candidate_s_signals(
    bundle: Bundle, embedder: Embedder
) -> None:
    index = _index(bundle, embedder, _model((), score=2.0, margin=1.0, bias=-1.0))
    _, features = index.evidence(QUESTION)
    expected = 1 / (1 + math.exp(-(2.0 * features["score"] + features["margin"] - 1.0)))
    decision = index.decide(QUESTION)
    assert decision.chance == pytest.approx(expected)


def test_a_runner_up_right_for_the_same_read_questions_is_a_twin(
    bundle: Bundle, embedder: Embedder
) -> None:
    plain = _index(bundle, embedder, _model(()))
    top, runner = plain.evidence(QUESTION)[0][:2]
    others = ("magnesium and the heart", "b12 jabs", "vitamin d in winter")
    apart = _index(bundle, embedder, _model(((others[0], (top,)), (others[1], (runner,)))))
    assert apart.evidence(QUESTION)[1]["twin"] == 0.0
    # right for the same two read questions, and one more each: 2 of the 3 (and 2 more)
    shared = tuple((q, (top, runner)) for q in others[:2])
    own = ((others[2], (top,)), ("potassium in bananas", (runner,)))
    twins = _index(bundle, embedder, _model((*shared, *own)))
    refs, features = twins.evidence(QUESTION)
    assert refs[:2] == [top, runner]  # the bank votes for both alike: the order holds
    assert features["twin"] == pytest.approx(2 / 5)


@pytest.mark.parametrize(("bias", "kind"), [(5.0, "answer"), (-5.0, "suggest")])
def test_above_the_model_s_threshold_it_answers_below_it_offers(
    bundle: Bundle, embedder: Embedder, bias: float, kind: str
) -> None:
    index = _index(bundle, embedder, _model((), answer=0.5, bias=bias))
    decision = index.decide(QUESTION)
    assert decision.kind == kind
    assert decision.reason == ("likely right" if kind == "answer" else "grey zone")


def test_without_the_embedding_model_the_fixed_thresholds_decide(bundle: Bundle) -> None:
    index = CardIndex(dataclasses.replace(bundle, questions=_model((), bias=50.0)), None)
    decision = index.decide(QUESTION)
    assert decision.chance is None and decision.reason != "likely right"


def test_a_model_reading_a_signal_this_version_lacks_is_not_used(
    bundle: Bundle, embedder: Embedder
) -> None:
    model = QuestionModel(features=("telepathy",), weights=(9.0,), bias=9.0, answer=0.5)
    decision = _index(bundle, embedder, model).decide(QUESTION)
    assert decision.chance is None


def test_the_bank_does_not_decide_which_kind_of_answer_a_plain_request_gets(
    bundle: Bundle, embedder: Embedder
) -> None:
    # every read question about vitamin D vouches for a card, never for the overview; a bare
    # "vitamin d" still gets the overview the topic router picks
    turn = Dialogue(bundle, embedder).respond(
        Session(), Incoming(SessionKey("t", "1"), text="vitamin d")
    )
    assert "absorb calcium" in turn.replies[0].text


ROUTED = "does omeprazole cause low magnesium? been on it 4 years"  # router: magnesium risks
FOOD_LIST = "im on furosemide and my legs feel really weak, which foods have potassium?"
PLAIN = "vitamin d"  # the overview
TOPIC = "calcium symptoms"  # the topic holds the whole question


def _dialogue(bundle: Bundle, embedder: Embedder, bias: float) -> Dialogue:
    """The shipped bank, and a chance of 1 (bias 50) or 0 (bias -50) for every top candidate."""
    shipped = bundle.questions
    assert shipped is not None
    model = shipped.model_copy(update={"weights": (0.0,) * len(shipped.features), "bias": bias})
    return Dialogue(dataclasses.replace(bundle, questions=model), embedder)


@pytest.mark.parametrize(("bias", "gives_way"), [(50.0, True), (-50.0, False)])
def test_the_router_s_pick_gives_way_only_when_the_model_vouches_for_another_answer(
    bundle: Bundle, embedder: Embedder, bias: float, gives_way: bool
) -> None:
    dialogue = _dialogue(bundle, embedder, bias)
    decision = dialogue.lookup(ROUTED, dialogue.understanding.route(ROUTED))
    ranked, _ = dialogue.cards.evidence(ROUTED)
    if gives_way:  # the top candidate is the answer
        assert (decision.kind, decision.reason) == ("answer", "over topic words")
        assert decision.ranked[0].candidate.ref == ranked[0]
    else:  # the router's pick stands, as before there was a model
        assert decision.reason == "topic words"
        assert decision.ranked[0].candidate.ref != ranked[0]


@pytest.mark.parametrize(
    ("text", "pick"),
    [(FOOD_LIST, "foods:potassium"), (PLAIN, "nutrient:vitamin_d:"), (TOPIC, None)],
)
def test_a_food_list_an_overview_or_a_whole_topic_never_gives_way(
    bundle: Bundle, embedder: Embedder, text: str, pick: str | None
) -> None:
    dialogue = _dialogue(bundle, embedder, 50.0)
    decision = dialogue.lookup(text, dialogue.understanding.route(text))
    ranked, _ = dialogue.cards.evidence(text)
    assert decision.reason == "topic words"
    assert decision.ranked[0].candidate.ref != ranked[0]  # another candidate ranks first...
    if pick is not None:
        assert decision.ranked[0].candidate.ref == pick  # ...and the pick answers


@pytest.mark.parametrize("text", [ROUTED, FOOD_LIST, PLAIN, TOPIC])
def test_the_trainer_s_test_of_giving_way_is_the_one_the_bot_applies(
    bundle: Bundle, embedder: Embedder, text: str
) -> None:
    stands = _dialogue(bundle, embedder, -50.0)
    pick = stands.lookup(text, stands.understanding.route(text)).ranked[0].candidate.ref
    food_list = stands.understanding.has_intent(text, "food_list", exact=True)
    vouching = _dialogue(bundle, embedder, 50.0)
    decision = vouching.lookup(text, vouching.understanding.route(text))
    assert stands.cards.may_give_way(text, pick, food_list) is (
        decision.reason == "over topic words"
    )


def test_the_trainer_counts_the_router_s_pick_where_the_chance_does_not_vouch() -> None:
    routed = train_questions.Replayed("s", (), True, "router", verdict="right", fallback="wrong")
    table = {t: rest for t, *rest in train_questions.tabulate([routed], [0.7])}
    assert table[0.65] == [1.0, 0, 0]  # the chance vouches: the top candidate answers
    assert table[0.75] == [0, 0, 1.0]  # it does not: the router's pick answers


def test_a_statement_gets_the_right_card_answered_or_offered_first(
    bundle: Bundle, embedder: Embedder
) -> None:
    turn = Dialogue(bundle, embedder).respond(
        Session(), Incoming(SessionKey("t", "1"), text="my muscles are wasting away")
    )
    offered = [b.id for r in turn.replies for b in r.buttons if b.id.startswith("k:")]
    card = bundle.cards["twitch_warning_signs"]
    answered = " ".join(card.answer.split()) in " ".join(turn.replies[0].text.split())
    assert answered or offered[:1] == ["k:card:twitch_warning_signs"], (turn.events, offered)
    assert "Benign fasciculation syndrome" not in turn.replies[0].text


# --------------------------------------------------------------------------- the shipped model


def test_the_shipped_model_was_trained_on_the_files_as_they_are(bundle: Bundle) -> None:
    model = bundle.questions
    assert model is not None
    assert model.trained_on == train_questions.digests(), (
        "a question set changed since the question model was trained: "
        "run python tools/train_questions.py and commit content/models/questions.json"
    )
    # never a held-out set: M-Q, S, U, V, X, Y, GG-ZZ and AAA-AAG are scored blind (R, T, W, Z, AA-FF read)
    held = {
        f"questions_{name}.yaml"
        for name in [
            *"mnopqsuvxy",
            "gg",
            "hh",
            "ii",
            "jj",
            "kk",
            "ll",
            "mm",
            "nn",
            "oo",
            "pp",
            "qq",
            "rr",
            "ss",
            "tt",
            "uu",
            "vv",
            "ww",
            "xx",
            "yy",
            "zz",
            "aaa",
            "aab",
            "aac",
            "aad",
            "aae",
            "aaf",
            "aag",
            "aah",
            "aai",
            "aaj",
        ]
    }
    assert not any(Path(name).name in held for name in model.trained_on)
    assert model.features == FEATURES and 0.5 <= model.answer < 1


def test_the_shipped_bank_is_labelled_from_the_answers_as_they_are(bundle: Bundle) -> None:
    model = bundle.questions
    assert model is not None
    assert model.bank == train_questions.bank_of(train_questions.asked(bundle)), (
        "an answer changed since the question bank was labelled: "
        "run python tools/train_questions.py and commit content/models/questions.json"
    )


def test_the_shipped_bank_names_answers_the_content_has(bundle: Bundle, embedder: Embedder) -> None:
    assert bundle.questions is not None and len(bundle.questions.bank) >= 500
    refs = set(CardIndex.for_bundle(bundle, embedder).refs)
    named = {ref for _, answers in bundle.questions.bank for ref in answers}
    assert len(named - refs) <= len(named) // 20  # a few may go stale as content changes


def test_a_question_the_bank_holds_is_answered_with_its_answer(
    bundle: Bundle, embedder: Embedder
) -> None:
    assert bundle.questions is not None
    index = CardIndex.for_bundle(bundle, embedder)
    answered = 0
    sample = bundle.questions.bank[::25]
    for question, refs in sample:
        decision = index.decide(question)
        answered += decision.kind == "answer" and decision.ranked[0].candidate.ref in refs
    assert answered >= len(sample) // 2  # from memory, as a check that the bank is read


# --------------------------------------------------------------------------- content checks


def test_a_broken_question_model_is_reported_and_the_content_refused(content_copy: Path) -> None:
    (content_copy / QUESTION_MODEL).write_text('{"bank": [', encoding="utf-8")
    read = read_content(content_copy)
    assert read.bundle is None
    assert any("the question model is not JSON" in p.message for p in read.problems)


def test_a_malformed_question_model_says_where(content_copy: Path) -> None:
    path = content_copy / QUESTION_MODEL
    data = json.loads(path.read_text(encoding="utf-8"))
    data["weights"] = data["weights"][:-1]
    path.write_text(json.dumps(data), encoding="utf-8")
    read = read_content(content_copy)
    assert read.bundle is None
    assert any("the question model is malformed" in p.message for p in read.problems)


def test_content_without_a_question_model_decides_by_thresholds(content_copy: Path) -> None:
    (content_copy / QUESTION_MODEL).unlink()
    read = read_content(content_copy)
    assert read.bundle is not None, read.problems
    assert read.bundle.questions is None


def test_the_question_model_is_part_of_the_content_version(content_copy: Path) -> None:
    before = read_content(content_copy).bundle
    path = content_copy / QUESTION_MODEL
    data = json.loads(path.read_text(encoding="utf-8"))
    data["answer"] = 0.9
    path.write_text(json.dumps(data), encoding="utf-8")
    after = read_content(content_copy).bundle
    assert before is not None and after is not None and before.version != after.version


def test_bundled_content_has_a_question_model() -> None:
    assert (bundled_content_dir() / QUESTION_MODEL).is_file()


def test_a_reader_s_label_decides_over_the_must_groups(
    bundle: Bundle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(train_questions, "JUDGED", tmp_path)  # no labels: the words decide
    first = train_questions.asked(bundle)[0]  # a001: "is magnesium glycinate better than oxide"
    held, missing = sorted(first.right)[0], "card:epsom_salt_bath"
    assert missing not in first.right
    (tmp_path / "questions_a.yaml").write_text(
        f'"{first.id}|{held}": partly\n"{first.id}|{missing}": right\n', "utf-8"
    )
    relabelled = train_questions.asked(bundle)[0]
    assert held not in relabelled.right  # judged partly: not right, though it holds the words
    assert missing in relabelled.right  # judged right, though it lacks them
    assert relabelled.right - {missing} == first.right - {held}  # the rest as the words say


@pytest.mark.parametrize("line", ['"a001|card:mg_forms": Right\n', '"a001": right\n'])
def test_a_reader_s_label_must_be_one_of_three(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, line: str
) -> None:
    (tmp_path / "questions_a.yaml").write_text(line, "utf-8")
    monkeypatch.setattr(train_questions, "JUDGED", tmp_path)
    with pytest.raises(SystemExit, match=r"questions_a\.yaml"):
        train_questions.judged()


def test_an_answer_is_scored_by_what_a_reader_made_of_it() -> None:
    q = train_questions.Asked("s", "text", (("x",),), frozenset({"card:a"}), "s001")
    labels = {"s001": {"card:b": "partly", "card:c": "wrong"}}
    assert train_questions.label(q, "card:a", labels) == "right"  # unjudged, holds the words
    assert train_questions.label(q, "card:b", labels) == "partly"
    assert train_questions.label(q, "card:c", labels) == "wrong"
    assert train_questions.label(q, "card:d", labels) == "wrong"  # unjudged, lacks them


def test_the_threshold_weighs_a_partly_right_answer_below_a_wrong_one() -> None:
    def table(*groups: tuple[str, int, float]) -> list[tuple[float, float, float, float]]:
        """The table of questions given as (verdict, how many, chance) groups."""
        replayed, chance = [], []
        for verdict, n, c in groups:
            made = train_questions.Replayed("s", (), verdict == "right", "model", verdict=verdict)
            replayed += [made] * n
            chance += [c] * n
        return train_questions.tabulate(replayed, chance)

    # above a chance of 0.7: 10 right; from 0.6 to 0.7, 10 more right and 6 partly right
    partly = table(("right", 10, 0.9), ("right", 10, 0.65), ("partly", 6, 0.65), ("wrong", 4, 0.2))
    rows = {t: rest for t, *rest in partly}
    assert rows[0.7] == [10 / 30, 0, 0]
    assert rows[0.6] == [20 / 30, 6 / 30, 0]
    assert train_questions.choose(partly)[0] <= 0.65  # 10 right are worth 6 partly (1 each)...
    wrong = table(("right", 10, 0.9), ("right", 10, 0.65), ("wrong", 6, 0.65), ("wrong", 4, 0.2))
    assert train_questions.choose(wrong)[0] > 0.65  # ...and not 6 wrong (3 each)


CLOSE = "is a muscle twitch ever serious enough to see a doctor about"  # two cards close


@pytest.mark.parametrize(("vouched", "answered"), [(True, True), (False, False)])
def test_a_close_runner_up_gives_way_to_the_card_the_model_vouches_for(
    bundle: Bundle, embedder: Embedder, vouched: bool, answered: bool
) -> None:
    """A question the topic router reads as a request for a list or the symptom check, whose
    two best cards are close, gets "Did you mean", unless the question model's chance reaches
    `VOUCHED` (it reads the margin itself)."""
    from bot.events import Incoming, SessionKey
    from bot.language.retrieval import MARGIN, VOUCHED
    from bot.storage.store import Session

    shipped = bundle.questions
    assert shipped is not None
    # exactly at VOUCHED, or between the model's answer threshold and VOUCHED
    chance = VOUCHED if vouched else (shipped.answer + VOUCHED) / 2
    dialogue = _dialogue(bundle, embedder, math.log(chance / (1 - chance)))
    decision = dialogue.lookup(CLOSE, dialogue.understanding.route(CLOSE))
    assert decision.kind == "answer"
    assert decision.ranked[0].score - decision.ranked[1].score < MARGIN
    assert (decision.chance is not None and decision.chance >= VOUCHED) == answered
    turn = dialogue.respond(Session(), Incoming(SessionKey("t", "1"), text=CLOSE))
    events = {kind for kind, _ in turn.events}
    assert ("suggest" not in events) == answered
    assert turn.replies[-1].text == dialogue.answers.triage_offer().text  # and the check


def test_explain_shows_the_chat_offering_what_the_cards_would_answer(
    bundle: Bundle, embedder: Embedder
) -> None:
    """`nervebot explain` shows the cards' decision and, beside it, what the chat replies:
    below `VOUCHED`, a close runner-up turns the answer into "Did you mean"."""
    from bot.language.retrieval import VOUCHED
    from bot.moderation.explain import as_text, explain

    shipped = bundle.questions
    assert shipped is not None
    chance = (shipped.answer + VOUCHED) / 2
    data = explain(_dialogue(bundle, embedder, math.log(chance / (1 - chance))), CLOSE)
    assert data["cards"]["decision"] == "answer"
    assert "suggest" in data["chat"]["events"]
    assert "the chat replies (unanswered, suggest): " in as_text(data)
    data = explain(_dialogue(bundle, embedder, 50.0), CLOSE)
    assert "suggest" not in data["chat"]["events"] and "card_answer" in data["chat"]["events"]


def test_the_shipped_threshold_stays_below_vouching(bundle: Bundle) -> None:
    """A retrain that put the answer threshold at `VOUCHED` or above would skip the margin and
    twins checks of every answer without anyone noticing."""
    from bot.language.retrieval import VOUCHED

    assert bundle.questions is not None
    assert bundle.questions.answer < VOUCHED
