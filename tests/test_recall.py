"""The semantic recall net: the packaged model offline, nearest examples, the grey-zone question."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest

from bot.content.loader import Bundle, bundled_content_dir, load_content
from bot.content.model import Net, TriageModelSettings, TriageWeights
from bot.conversation.dialogue import Dialogue
from bot.events import Incoming, SessionKey, Urgency
from bot.language.embedding import WordLlamaEmbedder, load_embedder
from bot.language.recall import RecallNet
from bot.language.safety import NET_RULE, RedFlagScanner
from bot.storage.store import Session

KEY = SessionKey("test", "net")


class WordCounts:
    """A deterministic embedder for tests: normalised counts of a small vocabulary."""

    def __init__(self, vocabulary: Sequence[str]) -> None:
        self._index = {w: i for i, w in enumerate(vocabulary)}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), len(self._index)))
        for row, text in enumerate(texts):
            for word in text.lower().split():
                if word in self._index:
                    out[row, self._index[word]] += 1
            norm = math.sqrt(float((out[row] ** 2).sum())) or 1.0
            out[row] /= norm
        return out


def test_the_packaged_model_loads_without_any_download(monkeypatch: pytest.MonkeyPatch) -> None:
    import requests

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the recall net tried to download something")

    monkeypatch.setattr(requests, "get", refuse)
    monkeypatch.setattr(requests.Session, "request", refuse)
    embedder = WordLlamaEmbedder()  # the autouse guard also fails any non-loopback socket
    vectors = embedder.embed(["my face is drooping", "my face is drooping", "bananas"])
    assert vectors.shape[0] == 3
    assert float(vectors[0] @ vectors[1]) == pytest.approx(1.0, abs=1e-5)
    assert float(vectors[0] @ vectors[2]) < 0.9


def test_load_embedder_gives_the_model() -> None:
    assert load_embedder() is not None


def test_nearest_example_per_flag(bundle: Bundle) -> None:
    net = RecallNet(bundle.safety.red_flags, WordLlamaEmbedder())
    flag = next(f for f in bundle.safety.red_flags if f.examples)
    nearest = net.nearest(flag.examples[0])
    assert nearest[0].flag.id == flag.id and nearest[0].score == pytest.approx(1.0, abs=1e-4)
    assert len({n.flag.id for n in nearest}) == len(nearest) <= 3


# --------------------------------------------------------------------------- the net in the scanner


def _scanner(bundle: Bundle, escalate: float, ask: float) -> RedFlagScanner:
    safety = bundle.safety.model_copy(update={"net": Net(escalate=escalate, ask=ask)})
    vocabulary = sorted(
        {w for f in safety.red_flags for e in f.examples for w in e.lower().split()}
    )
    return RedFlagScanner(safety, WordCounts(vocabulary))


def test_the_net_escalates_what_no_rule_names(bundle: Bundle) -> None:
    # "twitching" is a current symptom finding, but no rule fires on this sentence
    text = "twitching after drinking lots of water"
    assert RedFlagScanner(bundle.safety).scan(text) == []
    assessment = _scanner(bundle, escalate=0.3, ask=0.2).assess(text)
    assert assessment.hits and assessment.hits[0].rule == NET_RULE
    assert assessment.net[0].score >= 0.3


def test_the_grey_zone_asks_instead_of_guessing(bundle: Bundle) -> None:
    assessment = _scanner(bundle, escalate=0.99, ask=0.3).assess(
        "twitching after drinking lots of water"
    )
    assert assessment.hits == () and assessment.clarify is not None


def test_the_net_is_not_asked_about_negated_or_past_symptoms(bundle: Bundle) -> None:
    scanner = _scanner(bundle, escalate=0.01, ask=0.01)
    for text in ("no twitching after drinking lots of water", "what foods have potassium"):
        assessment = scanner.assess(text)
        assert assessment.hits == () and assessment.net == () and assessment.clarify is None


def test_the_net_never_lowers_what_a_rule_raised(bundle: Bundle) -> None:
    hits = _scanner(bundle, escalate=0.99, ask=0.99).scan("I can't breathe")
    assert hits[0].urgency is Urgency.EMERGENCY and hits[0].rule != NET_RULE


def test_the_clarifying_question_and_its_answers(bundle: Bundle) -> None:
    dialogue = Dialogue(bundle)
    dialogue.scanner = _scanner(bundle, escalate=0.99, ask=0.3)
    session = Session()
    turn = dialogue.respond(session, Incoming(KEY, text="twitching after drinking lots of water"))
    question = turn.replies[-1]
    assert question.text == bundle.message("clarify_question")
    yes, no = question.buttons
    assert yes.id.startswith("safety:yes:") and no.id == "safety:no"
    escalated = dialogue.respond(session, Incoming(KEY, button=yes.id)).replies[0]
    assert escalated.urgency is not None
    calm = dialogue.respond(session, Incoming(KEY, button=no.id)).replies[0]
    assert calm.urgency is None and calm.text.startswith(bundle.message("clarify_no_reply"))


def test_shipped_thresholds_leave_benign_twitches_alone() -> None:
    bundle = load_content(bundled_content_dir())
    scanner = RedFlagScanner(bundle.safety, load_embedder())
    for text in (
        "my eyelid twitches after coffee",
        "calf cramps at night",
        "tingly fingers in the cold",
    ):
        assessment = scanner.assess(text)
        assert assessment.hits == () and assessment.clarify is None, text


def test_one_symptom_alone_is_never_an_alarm_from_the_net(bundle: Bundle) -> None:
    # shares words, not a situation, with "confused and twitching after drinking lots of water"
    text = "does drinking water help twitching"
    assessment = _scanner(bundle, escalate=0.01, ask=0.01).assess(text)
    assert assessment.hits == () and assessment.clarify is not None  # it asks instead
    shipped = RedFlagScanner(load_content(bundled_content_dir()).safety, load_embedder())
    assert shipped.assess(text).hits == ()


def test_the_net_is_still_asked_where_only_the_urgent_head_spoke(bundle: Bundle) -> None:
    """The model's general urgent flag must not keep the net from naming what it knows."""
    text = "twitching after drinking lots of water"
    model = TriageModelSettings(
        file="unused.json", emergency=0.9, min_words=1, emergency_flag="described_emergency",
        urgent=0.8, urgent_flag="described_urgent",
    )  # fmt: skip
    weights = TriageWeights(
        heads=("emergency", "urgent"), bias=(-6.0, -6.0), terms={"twitching": (1.0, 0.0, 20.0)}
    )
    safety = bundle.safety.model_copy(update={"net": Net(escalate=0.3, ask=0.2), "model": model})
    vocabulary = sorted(
        {w for f in safety.red_flags for e in f.examples for w in e.lower().split()}
    )
    hits = RedFlagScanner(safety, WordCounts(vocabulary), weights).assess(text).hits
    assert {h.rule for h in hits} == {NET_RULE, "triage model 1.00"}
    assert [h.urgency.rank for h in hits] == sorted(h.urgency.rank for h in hits)
    quiet = safety.model_copy(update={"net": Net(escalate=0.99, ask=0.98)})
    alone = RedFlagScanner(quiet, WordCounts(vocabulary), weights).assess(text).hits
    assert [h.flag.id for h in alone] == ["described_urgent"]  # the net had nothing to add
