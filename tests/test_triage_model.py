"""The triage model: scoring as trained, the shipped weights, the scanner's use of it, content checks."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from bot.content.loader import Bundle, bundled_content_dir, read_content, read_triage_weights
from bot.content.model import TriageModelSettings, TriageWeights
from bot.conversation.dialogue import Dialogue
from bot.events import Incoming, SessionKey, Urgency
from bot.language.classifier import TriageModel, terms_of, words_of
from bot.language.safety import RedFlagScanner
from bot.storage.store import Session
from tests.helpers import edit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import train_triage  # noqa: E402

KEY = SessionKey("test", "model")

# --------------------------------------------------------------------------- scoring as trained

TOY = [
    ("my dad collapsed and is not breathing call an ambulance", 2),
    ("she is unconscious and not breathing after a fall", 2),
    ("crushing chest pain spreading to my arm and sweating", 2),
    ("my face dropped on one side and my speech is slurred", 2),
    ("cramps for three days and my legs feel weak, gp tomorrow?", 1),
    ("numb feet getting worse over weeks and my balance is off", 1),
    ("tingling in both hands for a week, getting worse", 1),
    ("eyelid twitch after coffee, is magnesium good", 0),
    ("what foods have potassium in them", 0),
    ("calf cramp at night again, stretching helps", 0),
    ("is vitamin d better with food", 0),
    ("my leg twitches when I rest, had a stressful week", 0),
]


def test_scores_match_scikit_learn_on_seen_and_unseen_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = [t for t, _ in TOY]
    monkeypatch.setattr(train_triage, "MIN_DF", 1)  # a toy corpus: every word counts
    vectorizer, emergency, urgent = train_triage.fit(texts, np.array([y for _, y in TOY]))
    path = tmp_path / "triage.json"
    path.write_text(train_triage.weights_json(vectorizer, emergency, urgent, {}), encoding="utf-8")
    weights, problems = read_triage_weights(path, "triage.json")
    assert problems == [] and weights is not None
    model = TriageModel(weights)
    probes = [
        *texts,
        "HE COLLAPSED!! not breathing not breathing",  # case, punctuation, a repeated pair
        "bananas and zebras",  # no known word at all: the bias alone
        "",
        "my dad's chest pain 😬 and sweating",
    ]
    matrix = vectorizer.transform(probes)
    expected_e = emergency.predict_proba(matrix)[:, 1]
    expected_u = urgent.predict_proba(matrix)[:, 1]
    for text, pe, pu in zip(probes, expected_e, expected_u, strict=True):
        score = model.score(text)
        assert score.emergency == pytest.approx(pe, abs=1e-4), text
        assert score.urgent == pytest.approx(pu, abs=1e-4), text


def test_terms_are_words_and_adjacent_pairs() -> None:
    assert words_of("I can’t BREATHE, a b") == ["cant", "breathe"]  # the negation stays
    assert terms_of("chest pain now") == ["chest", "pain", "now", "chest pain", "pain now"]
    assert terms_of("he and the dog", frozenset({"he", "and", "the"})) == ["dog"]


def test_a_negation_is_not_read_as_its_opposite(bundle: Bundle) -> None:
    assert bundle.triage is not None
    model = TriageModel(bundle.triage)
    assert words_of("my son can't wake up", frozenset(bundle.triage.ignored)) != words_of(
        "my son can wake up", frozenset(bundle.triage.ignored)
    )
    assert "cant" not in bundle.triage.ignored and "if" not in bundle.triage.ignored
    assert model.words("he is awake now and he is talking to us") < 6  # few words it reads


def test_shipped_weights_were_trained_on_the_files_as_they_are() -> None:
    weights, problems = read_triage_weights(
        bundled_content_dir() / "models" / "triage.json", "triage.json"
    )
    assert problems == [] and weights is not None
    assert weights.trained_on == train_triage.digests(), (
        "a training file changed since the triage model was trained: "
        "run python tools/train_triage.py and commit content/models/triage.json"
    )
    assert not any("heldout/vignettes" in name for name in weights.trained_on)


def test_training_reads_transcripts_by_their_expected_urgency() -> None:
    benign = dict(train_triage.examples(ROOT / "content" / "tests" / "benign.yaml"))
    assert benign["no chest pain, just an eyelid twitch"] == 0
    red_flags = train_triage.examples(ROOT / "content" / "tests" / "red_flags.yaml")
    assert {label for _, label in red_flags} == {0, 1, 2}


# --------------------------------------------------------------------------- in the scanner


def _model(**word_weights: tuple[float, float]) -> TriageWeights:
    """Weights where each given word has (emergency, urgent) weight; the bias is low."""
    terms = {word: (1.0, e, u) for word, (e, u) in word_weights.items()}
    terms["filler"] = (1.0, 0.0, 0.0)
    return TriageWeights(heads=("emergency", "urgent"), bias=(-6.0, -6.0), terms=terms)


def _scanner(bundle: Bundle, weights: TriageWeights, **settings: float | str) -> RedFlagScanner:
    model = TriageModelSettings.model_validate(
        {"file": "unused.json", "emergency": 0.8, "emergency_flag": "described_emergency",
         "min_words": 6, **settings}
    )  # fmt: skip
    return RedFlagScanner(bundle.safety.model_copy(update={"model": model}), None, weights)


def test_the_model_raises_an_emergency_no_rule_names(bundle: Bundle) -> None:
    text = "he went grey and floppy on the sofa just now"
    assert RedFlagScanner(bundle.safety).scan(text) == []
    hits = _scanner(bundle, _model(floppy=(20.0, 20.0))).scan(text)
    assert [h.flag.id for h in hits] == ["described_emergency"]
    assert hits[0].urgency is Urgency.EMERGENCY and hits[0].rule.startswith("triage model 1.00")


def test_the_model_is_silent_below_its_threshold(bundle: Bundle) -> None:
    text = "he went grey and floppy on the sofa just now"
    assessment = _scanner(bundle, _model(floppy=(6.7, 0.0))).assess(text)  # about 0.67
    assert assessment.model is not None and 0.6 < assessment.model.emergency < 0.8
    assert assessment.hits == () and assessment.clarify is None


def test_the_model_raises_an_urgent_rule_to_an_emergency(bundle: Bundle) -> None:
    text = "my heart is beating really fast and my legs twitch and i went grey"
    rules = RedFlagScanner(bundle.safety).scan(text)
    assert rules and rules[0].urgency is Urgency.URGENT
    hits = _scanner(bundle, _model(grey=(20.0, 20.0))).scan(text)
    assert hits[0].flag.id == "described_emergency"
    assert {h.flag.id for h in hits[1:]} == {h.flag.id for h in rules}  # the rule's text stays


def test_the_urgent_head_raises_the_urgent_flag_where_no_rule_fired(bundle: Bundle) -> None:
    text = "my legs have felt odd and heavy all week and the twitching is constant"
    assert RedFlagScanner(bundle.safety).scan(text) == []
    urgent = {"urgent": 0.8, "urgent_flag": "described_urgent"}
    hits = _scanner(bundle, _model(heavy=(0.0, 20.0)), **urgent).scan(text)
    assert [h.flag.id for h in hits] == ["described_urgent"]
    assert hits[0].urgency is Urgency.URGENT and hits[0].rule.startswith("triage model 1.00")
    assert _scanner(bundle, _model(heavy=(0.0, 5.0)), **urgent).scan(text) == []  # below
    assert _scanner(bundle, _model(heavy=(0.0, 20.0))).scan(text) == []  # no urgent setting
    emergency = _scanner(bundle, _model(heavy=(20.0, 20.0)), **urgent).scan(text)
    assert [h.flag.id for h in emergency] == ["described_emergency"]  # the surer word wins


def test_the_urgent_head_never_adds_to_a_rule(bundle: Bundle) -> None:
    text = "my heart is beating really fast and my legs twitch and i feel odd"
    rules = RedFlagScanner(bundle.safety).scan(text)
    assert rules and rules[0].urgency is Urgency.URGENT
    urgent = {"urgent": 0.8, "urgent_flag": "described_urgent"}
    assert _scanner(bundle, _model(odd=(0.0, 20.0)), **urgent).scan(text) == rules
    negated = "my legs are not heavy and the twitch has gone, all fine now"
    assert _scanner(bundle, _model(heavy=(0.0, 20.0)), **urgent).scan(negated) == []


def test_the_model_speaks_only_where_a_symptom_is_current(bundle: Bundle) -> None:
    scanner = _scanner(bundle, _model(closing=(20.0, 20.0)))
    negated = "i can breathe fine and my throat is not closing, just a tickle"
    assert scanner.assess(negated).model is not None  # read, scored high...
    assert scanner.scan(negated) == []  # ...but nothing it says is happening now
    assert scanner.scan("my throat is closing and my lips are swelling up fast right now")


def test_the_shipped_model_reads_negations(bundle: Bundle) -> None:
    scanner = RedFlagScanner.for_bundle(bundle)
    for text in (
        "i can breathe fine and my throat is not closing, just a tickle",
        "my son can wake up and his lips are pink, he is fine now",
    ):
        assert scanner.scan(text) == [], text


def test_the_model_never_lowers_what_a_rule_raised(bundle: Bundle) -> None:
    text = "I can't breathe and my lips are going blue right now"
    rules = RedFlagScanner(bundle.safety).scan(text)
    assert rules[0].urgency is Urgency.EMERGENCY
    assert _scanner(bundle, _model(breathe=(-20.0, -20.0))).scan(text) == rules


def test_short_replies_are_not_read_by_the_model(bundle: Bundle) -> None:
    scanner = _scanner(bundle, _model(yesterday=(20.0, 20.0)))
    assessment = scanner.assess("since yesterday")
    assert assessment.model is None and assessment.hits == () and assessment.clarify is None
    assert scanner.scan("it all started since yesterday and the cramp is awful")  # read


def test_ignored_words_do_not_count_towards_the_minimum(bundle: Bundle) -> None:
    weights = _model(yesterday=(20.0, 20.0)).model_copy(update={"ignored": ("and", "it", "is")})
    scanner = _scanner(bundle, weights)
    assert scanner.assess("it is and it is yesterday").model is None  # one word it reads
    assert scanner.scan("yesterday it started and it is a cramp, worse than ever")


def test_the_dialogue_escalates_what_the_model_raised(bundle: Bundle) -> None:
    dialogue = Dialogue(bundle)
    dialogue.scanner = _scanner(bundle, _model(floppy=(20.0, 20.0)))
    turn = dialogue.respond(Session(), Incoming(KEY, text="he went grey and floppy on the sofa"))
    assert turn.replies[0].urgency is Urgency.EMERGENCY
    flag = next(f for f in bundle.safety.red_flags if f.id == "described_emergency")
    assert flag.text in turn.replies[0].text


def test_the_shipped_model_leaves_ordinary_messages_alone(bundle: Bundle) -> None:
    scanner = RedFlagScanner.for_bundle(bundle)
    for text in (
        "my eyelid has been twitching for a week, is it low magnesium",
        "which foods have the most potassium, I don't like bananas",
        "can I take vitamin D and magnesium together in the evening",
        "my calves cramp at night after long runs, what helps",
    ):
        assessment = scanner.assess(text)
        assert assessment.hits == () and assessment.clarify is None, text


# --------------------------------------------------------------------------- content checks


def _settings(content: Path) -> Path:
    return content / "safety.yaml"


def test_broken_weights_are_reported_and_the_content_refused(content_copy: Path) -> None:
    (content_copy / "models" / "triage.json").write_text('{"heads": [', encoding="utf-8")
    read = read_content(content_copy)
    assert read.bundle is None
    assert any("triage model's weights are not JSON" in p.message for p in read.problems)


def test_malformed_weights_say_where(content_copy: Path) -> None:
    path = content_copy / "models" / "triage.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["terms"]["chest"] = [1.0, 2.0]
    path.write_text(json.dumps(data), encoding="utf-8")
    read = read_content(content_copy)
    assert read.bundle is None
    assert any("malformed at terms.chest" in p.message for p in read.problems)


def test_a_missing_weights_file_is_reported(content_copy: Path) -> None:
    (content_copy / "models" / "triage.json").unlink()
    read = read_content(content_copy)
    assert read.bundle is None
    assert any("cannot be read" in p.message for p in read.problems)


def test_weights_outside_the_content_folder_are_refused(content_copy: Path) -> None:
    edit(_settings(content_copy), "file: models/triage.json", "file: ../../outside.json")
    read = read_content(content_copy)
    assert read.bundle is None
    assert any("must be inside the content folder" in p.message for p in read.problems)


def test_the_shipped_model_is_loaded_with_its_settings(bundle: Bundle) -> None:
    model = bundle.safety.model
    assert model is not None and bundle.triage is not None
    assert model.emergency >= 0.9 and model.min_words >= 6


def test_the_model_flags_must_have_the_right_urgency(content_copy: Path) -> None:
    edit(_settings(content_copy), "emergency_flag: described_emergency", "emergency_flag: dvt")
    read = read_content(content_copy)
    assert read.bundle is None
    assert any(
        "emergency_flag must name a red flag of urgency 'emergency'" in p.message
        for p in read.problems
    )


def test_the_urgent_flag_must_be_urgent_and_come_with_its_threshold(content_copy: Path) -> None:
    edit(_settings(content_copy), "urgent_flag: described_urgent", "urgent_flag: seizure")
    read = read_content(content_copy)
    assert read.bundle is None
    assert any("urgent_flag must name a red flag of urgency 'urgent'" in p.message
               for p in read.problems)  # fmt: skip
    edit(_settings(content_copy), "    urgent: 0.9\n", "")
    read = read_content(content_copy)
    assert read.bundle is None
    assert any("both urgent and urgent_flag" in p.message for p in read.problems)


def test_content_without_a_model_has_rules_only(content_copy: Path) -> None:
    text = _settings(content_copy).read_text(encoding="utf-8")
    start = text.index("  model:\n")
    end = text.index("\n\n", start)
    _settings(content_copy).write_text(text[:start] + text[end + 2 :], encoding="utf-8")
    edit(
        _settings(content_copy),
        "    - id: described_emergency",
        "    - id: described_emergency\n      phrases: [unlikely words here]",
    )
    edit(
        _settings(content_copy),
        "    - id: described_urgent",
        "    - id: described_urgent\n      phrases: [other unlikely words]",
    )
    read = read_content(content_copy)
    assert read.bundle is not None, read.problems
    assert read.bundle.triage is None
    assert RedFlagScanner.for_bundle(read.bundle).assess("he went grey and floppy").model is None
