"""Train the triage model (`bot.language.classifier`) and write its weights into content.

Trained on labelled messages that are not held out: the safety rounds that were read and used
(tests/data/vignettes*.yaml: ``emergency``, ``emergency_or_urgent``, ``benign``), everyday
messages (tests/data/everyday*.yaml) and a reviewer's cases and lay descriptions
(tests/data/triage_*.yaml) in the same format, ordinary questions (question sets A-L, R, T, W, Z,
AA-CC, and the card paraphrases: all benign; DD and EE, read for answers late in the eighth
session, are not read here: as benign examples they moved a benign transcript and an urgent case
of the unread rounds across the model's threshold), and every user turn of the content's transcript tests
(content/tests) that expects an urgency (none, urgent, emergency).
Held-out sets (tests/data/heldout/vignettes_*.yaml, questions M-Q, S, U, V, X, Y, GG to ZZ, AAA to AAJ)
are never read here, nor FF (read for answers only, like DD and EE).
After changing any of these files, train again: a test compares the files with the digests
the weights were trained on.

    python tools/train_triage.py             # write content/models/triage.json
    python tools/train_triage.py --evaluate  # leave-one-file-out figures for the thresholds

``--evaluate`` trains once per source file without it and scores that file, so each figure is
for messages the model never saw; the thresholds in content/safety.yaml (``model:``) rest on
it. Needs scikit-learn (the ``train`` extra); the bot itself scores with numpy alone.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.content.loader import load_content, load_transcripts, transcript_files  # noqa: E402
from bot.language.classifier import prepare, words_of  # noqa: E402

DATA = ROOT / "tests" / "data"
CONTENT = ROOT / "content"
OUT = ROOT / "content" / "models" / "triage.json"
#: Regularisation (inverse strength) and the least number of messages a term must occur in.
C, MIN_DF = 4.0, 2
#: Words the model never reads: how a message is told ("and", "he", "the", "does"), which
#: differs between the emergencies and the ordinary messages it learns from for reasons that
#: are not danger; a story told with many "and"s is not an emergency. Negations ("cant",
#: "no", "not"), time ("was", "had", "been", "will") and "if", "would", "could" stay.
IGNORED = sorted(
    set(
        "a an the and or but so because cos coz then than as also too "
        "i me my mine myself im ive id you your yours u ur he him his hes she her hers shes "
        "it its itself we us our they them their theyre this that these those there here "
        "of in on at to for with into onto from by about up down out over off through "
        "is are am be being do does doing have has having can shall may must "
        "what whats how hows why when which who where "
        "just really very like lol ok okay please pls some any".split()
    )
)
BENIGN_SOURCES = [
    *(f"heldout/questions_{name}.yaml" for name in [*"abcdefghijklrtwz", "aa", "bb", "cc"]),
    "card_paraphrases.yaml",
]
LABELS = {"emergency": 2, "emergency_or_urgent": 1, "benign": 0}
QUESTION_FILES = {Path(name).name for name in BENIGN_SOURCES}


def sources() -> list[Path]:
    """Every training file, in a fixed order (never a held-out round)."""
    return [
        *sorted(DATA.glob("vignettes*.yaml")),
        *sorted(DATA.glob("everyday*.yaml")),
        *sorted(DATA.glob("triage_*.yaml")),
        *(DATA / name for name in BENIGN_SOURCES),
        *transcript_files(CONTENT),
    ]


def examples(path: Path) -> list[tuple[str, int]]:
    """(message, label) pairs of one file: 2 emergency, 1 urgent, 0 ordinary."""
    if path.is_relative_to(CONTENT):
        return transcript_examples(path)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if isinstance(data, dict):
        return [(text, LABELS[group]) for group, texts in data.items() for text in texts]
    return [(item["text"], 0) for item in data]


@functools.cache
def _transcripts() -> tuple[tuple[Path, Any], ...]:
    """Every transcript test of the content, with the file it is in (read once)."""
    transcripts, problems = load_transcripts(CONTENT)
    if problems:
        raise SystemExit(f"fix the transcript tests first: {problems[0]}")
    return tuple((Path(shown).resolve(), transcript) for shown, transcript in transcripts)


def transcript_examples(path: Path) -> list[tuple[str, int]]:
    """The user turns of one transcript file that expect an urgency, labelled by it."""
    rank = {"emergency": 2, "urgent": 1}
    return [
        (step.user, rank.get(getattr(step.expect.urgency, "value", ""), 0))
        for file, transcript in _transcripts()
        if file == path.resolve()
        for step in transcript.steps
        if step.user is not None and step.expect.urgency != "any"
    ]


def fit(texts: list[str], labels: Any) -> tuple[Any, Any, Any]:
    """The vectorizer and the two heads (emergency; urgent or emergency) trained on ``texts``."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = TfidfVectorizer(
        ngram_range=(1, 2),
        min_df=MIN_DF,
        sublinear_tf=True,
        stop_words=IGNORED,
        preprocessor=prepare,
    )
    matrix = vectorizer.fit_transform(texts)
    heads = []
    for positive in (labels == 2, labels >= 1):
        model = LogisticRegression(C=C, max_iter=5000, class_weight="balanced")
        heads.append(model.fit(matrix, positive))
    return vectorizer, heads[0], heads[1]


def weights_json(vectorizer: Any, emergency: Any, urgent: Any, trained_on: dict[str, str]) -> str:
    """The weights file: for each term its IDF and the two heads' weights."""
    idf = vectorizer.idf_
    terms = {
        term: [round(float(idf[i]), 6), round(float(emergency.coef_[0][i]), 6),
               round(float(urgent.coef_[0][i]), 6)]
        for term, i in sorted(vectorizer.vocabulary_.items())
    }  # fmt: skip
    head = {
        "about": "written by python tools/train_triage.py; do not edit by hand",
        "heads": ["emergency", "urgent"],
        "bias": [float(emergency.intercept_[0]), float(urgent.intercept_[0])],
        "trained_on": trained_on,
        "ignored": IGNORED,
    }
    lines = [f"  {json.dumps(k, ensure_ascii=False)}: {json.dumps(v)}" for k, v in terms.items()]
    # one term a line, so a retrained model reads as a diff
    return json.dumps(head, indent=1)[:-2] + ',\n "terms": {\n' + ",\n".join(lines) + "\n }\n}\n"


def digests() -> dict[str, str]:
    """Each training file (relative to the repository) and the SHA-256 of its bytes."""
    return {
        p.relative_to(ROOT).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sources()
    }


def evaluate(min_words: int, behind_rules: bool = False) -> None:
    """Leave one file out: train without it, score it, and print the figures per threshold
    (with ``behind_rules``, of the rules and the model together, as the bot runs them)."""
    files = [(p, examples(p)) for p in sources()]
    scored: list[tuple[float, float, int, str, int]] = []  # emergency, urgent, label, kind, words
    for held, held_examples in files:
        if not held_examples:  # a transcript file whose turns expect no urgency: nothing to score
            continue
        train = [e for p, ex in files if p != held for e in ex]
        vectorizer, emergency, urgent = fit([t for t, _ in train], np.array([y for _, y in train]))
        matrix = vectorizer.transform([t for t, _ in held_examples])
        pe = emergency.predict_proba(matrix)[:, 1]
        pu = urgent.predict_proba(matrix)[:, 1]
        kind = _kind(held)
        scored += [
            (e, u, y, kind, len(words_of(text, frozenset(IGNORED))))
            for e, u, (text, y) in zip(pe, pu, held_examples, strict=True)
        ]
    pe, pu, y, kind, n = (np.array(column) for column in zip(*scored, strict=True))
    if behind_rules:
        texts = [text for _, held_examples in files for text, _ in held_examples]
        _behind_rules(texts, pe, pu, y, kind, n >= min_words)
        return
    print("command: python tools/train_triage.py --evaluate")
    print(f"{len(files)} files, {len(y)} messages, each scored by a model trained without its file")
    print(
        f"only messages of at least {min_words} words it reads are read"
        " (content/safety.yaml, model: min_words; ignored words do not count)"
    )
    print("columns: emergencies and urgent cases of the safety rounds, and the ordinary messages")
    print("of the safety rounds, the everyday sets, the question sets and the transcript tests")
    read = n >= min_words
    for name, p in (("emergency head", pe), ("urgent head", pu)):
        print(
            f"\n{name:<14} {'emergency':>9} {'urgent':>7} {'ordinary':>9} {'everyday':>9}"
            f" {'questions':>9} {'transcripts':>11}"
        )
        for threshold in (0.5, 0.6, 0.7, 0.8, 0.9, 0.95):
            hit = (p >= threshold) & read
            v, e, q, t = (kind == k for k in "veqt")
            print(
                f"at {threshold:<11} {hit[v & (y == 2)].mean():>9.1%} {hit[v & (y == 1)].mean():>7.1%} "
                f"{hit[v & (y == 0)].mean():>9.2%} {hit[e & (y == 0)].mean():>9.2%} "
                f"{hit[q].mean():>9.2%} {hit[t & (y == 0)].mean():>11.2%}"
            )


def _behind_rules(texts: list[str], pe: Any, pu: Any, y: Any, kind: Any, read: Any) -> None:
    """Print what the model adds behind the rules: the rules' own escalations, then for each
    pair of thresholds the escalations of both, as `bot.language.safety` combines them (the
    model reads only where a symptom is said to be current; its urgent head only where no
    rule fired)."""
    from bot.language.safety import RedFlagScanner

    rules = RedFlagScanner(load_content(CONTENT).safety)  # the rules alone: no model, no net
    ruled, current = [], []
    for text in texts:
        assessment = rules.assess(text)
        ruled.append(assessment.hits[0].urgency.value if assessment.hits else "")
        current.append(any(f.kind == "symptom" for f in assessment.reading.current()))
    urgency, gate = np.array(ruled), np.array(current) & read
    rule_emergency, rule_any = urgency == "emergency", urgency != ""
    v, e, q, t = (kind == k for k in "veqt")
    print("command: python tools/train_triage.py --evaluate --behind-rules")
    print(f"{len(y)} messages, each scored by a model trained without its file, behind the rules")
    print(
        f"\n{'thresholds':<17} {'emergency':>9} {'urgent':>7} {'ordinary':>9} {'everyday':>9}"
        f" {'questions':>9} {'transcripts':>11}"
    )
    grid = [(None, None)] + [
        (te, tu) for te in (0.8, 0.85, 0.9, 0.95) for tu in (None, 0.8, 0.85, 0.9, 0.95)
    ]
    for te, tu in grid:
        model_emergency = gate & (pe >= te) if te is not None else np.zeros_like(gate)
        model_urgent = gate & (pu >= tu) & ~rule_any if tu is not None else np.zeros_like(gate)
        emergency = rule_emergency | model_emergency
        alarm = rule_any | model_emergency | model_urgent
        name = "rules alone" if te is None else f"e {te} u {tu or '-'}"
        print(
            f"{name:<17} {int(emergency[v & (y == 2)].sum()):>9} {int(alarm[v & (y == 1)].sum()):>7}"
            f" {int(alarm[v & (y == 0)].sum()):>9} {int(alarm[e & (y == 0)].sum()):>9}"
            f" {int(alarm[q].sum()):>9} {int(alarm[t & (y == 0)].sum()):>11}"
        )
    print(
        f"{'of':<17} {int((v & (y == 2)).sum()):>9} {int((v & (y == 1)).sum()):>7}"
        f" {int((v & (y == 0)).sum()):>9} {int((e & (y == 0)).sum()):>9} {int(q.sum()):>9}"
        f" {int((t & (y == 0)).sum()):>11}"
    )
    print("the rules were written from these rounds, so they miss few here: the rounds held out")
    print("show what each threshold adds (python benchmarks/safety.py --set heldout/...)")


def _kind(path: Path) -> str:
    """Which column a training file counts in: v(ignettes and other labelled sets), e(veryday),
    q(uestions), t(ranscripts)."""
    if path.is_relative_to(CONTENT):
        return "t"
    if path.name in QUESTION_FILES:
        return "q"
    return "e" if path.name.startswith("everyday") else "v"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evaluate", action="store_true", help="leave-one-file-out figures")
    parser.add_argument(
        "--behind-rules", action="store_true", help="with --evaluate: the rules and model together"
    )
    parser.add_argument("--out", type=Path, default=OUT, help="where to write the weights")
    args = parser.parse_args()
    if args.evaluate:
        model = load_content(CONTENT).safety.model
        evaluate(model.min_words if model else 1, args.behind_rules)
        return
    train = [e for p in sources() for e in examples(p)]
    vectorizer, emergency, urgent = fit([t for t, _ in train], np.array([y for _, y in train]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(weights_json(vectorizer, emergency, urgent, digests()), encoding="utf-8")
    print(f"wrote {args.out} ({len(vectorizer.vocabulary_)} terms, {len(train)} messages)")


if __name__ == "__main__":
    sys.exit(main())
