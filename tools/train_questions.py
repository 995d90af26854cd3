"""Train answer retrieval's question model (`bot.language.retrieval`) and write it into content.

Learnt from questions already read and scored (question sets A-G and the card paraphrases),
never from a held-out set (H onwards) before its first run:

- the question bank: each question and the answers of the content that held everything it
  needed (its ``must`` groups), skipping questions no answer held and questions so general
  that more than `MOST_ANSWERS` did;
- the decision: a logistic model of "the top candidate is right" over the signals of the top
  candidate (`bot.language.retrieval.FEATURES`), fitted on signals computed with each
  question's own set left out of the bank, as a new question meets it;
- the threshold from which the top candidate is answered: the one that gives the most correct
  answers less three times the wrong ones (a confident wrong card is worse than "Did you
  mean"),
  leaving each set out in turn.

    python tools/train_questions.py             # write content/models/questions.json
    python tools/train_questions.py --evaluate  # leave-one-set-out figures, nothing written

After changing a question set, train again: a test compares the files with the digests the
model was trained on. Needs scikit-learn (the ``train`` extra); the bot reads the model with
numpy alone.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.content.loader import QUESTION_MODEL, Bundle, load_content  # noqa: E402
from bot.content.model import QuestionModel  # noqa: E402
from bot.conversation.answers import Answers  # noqa: E402
from bot.language.recall import Embedder, load_embedder  # noqa: E402
from bot.language.retrieval import FEATURES, CardIndex, candidates  # noqa: E402

DATA = ROOT / "tests" / "data"
CONTENT = ROOT / "content"
OUT = CONTENT / QUESTION_MODEL
#: The read question sets, and the card paraphrases (`tests/test_card_paraphrases.py` asks
#: them with the paraphrases left out of the bank, as new questions).
SOURCES = [
    *(DATA / "heldout" / f"questions_{letter}.yaml" for letter in "abcdefg"),
    DATA / "card_paraphrases.yaml",
]
#: A question that more than this many answers hold is too general to vouch for any of them.
MOST_ANSWERS = 10
#: What a wrong answer costs, in correct answers, when the threshold is chosen.
WRONG_COST = 3.0
#: Regularisation (inverse strength) of the logistic model.
C = 1.0
THRESHOLDS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)


@dataclasses.dataclass(frozen=True)
class Asked:
    """One read question: its set, its words, what a right answer must hold, and the
    answers of the content that hold it."""

    source: str
    text: str
    must: tuple[tuple[str, ...], ...]
    right: frozenset[str]


def holds(text: str, must: tuple[tuple[str, ...], ...]) -> bool:
    """Whether an answer's text (case-folded) holds an alternative of every ``must`` group."""
    return bool(text) and all(any(a.casefold() in text for a in group) for group in must)


def answer_texts(bundle: Bundle) -> dict[str, str]:
    """Every answer the bot can give, by reference, as the user reads it (case-folded)."""
    answers = Answers(bundle)
    texts = {}
    for c in candidates(bundle):
        reply = answers.render(c.ref)
        texts[c.ref] = reply.text.casefold() if reply is not None else ""
    return texts


def asked(bundle: Bundle) -> list[Asked]:
    """Every question of the training sets, with the answers that hold what it needs."""
    texts = answer_texts(bundle)
    out = []
    for path in SOURCES:
        for item in yaml.safe_load(path.read_text(encoding="utf-8")):
            must = tuple(tuple(group) for group in item["must"])
            right = frozenset(ref for ref, text in texts.items() if holds(text, must))
            out.append(Asked(path.stem, item["text"], must, right))
    return out


def bank_of(questions: list[Asked]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The question bank: questions some answers held, and not too many."""
    return tuple(
        (q.text, tuple(sorted(q.right))) for q in questions if 0 < len(q.right) <= MOST_ANSWERS
    )


def left_out(
    bundle: Bundle, embedder: Embedder, questions: list[Asked]
) -> tuple[Any, Any, list[str]]:
    """For each question, the top candidate's signals with its own set left out of the bank,
    whether that candidate is right, and the question's set."""
    rows, right, sets = [], [], []
    for source in dict.fromkeys(q.source for q in questions):
        others = [q for q in questions if q.source != source]
        placeholder = QuestionModel(
            bank=bank_of(others), features=FEATURES, weights=(0.0,) * len(FEATURES), bias=0.0,
            answer=0.5,
        )  # fmt: skip
        index = CardIndex(dataclasses.replace(bundle, questions=placeholder), embedder)
        for q in (q for q in questions if q.source == source):
            refs, features = index.evidence(q.text)
            rows.append([features[f] for f in FEATURES])
            right.append(bool(refs) and refs[0] in q.right)
            sets.append(source)
    return np.array(rows), np.array(right), sets


def fit(rows: Any, right: Any) -> Any:
    """The logistic model of "the top candidate is right"."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=C, max_iter=5000).fit(rows, right)


def threshold_table(rows: Any, right: Any, sets: list[str]) -> list[tuple[float, float, float]]:
    """(threshold, correct, wrong) over the question sets, each scored by a model fitted
    without it."""
    chance = np.zeros(len(right))
    groups = np.array(sets)
    for source in dict.fromkeys(sets):
        held = groups == source
        chance[held] = fit(rows[~held], right[~held]).predict_proba(rows[held])[:, 1]
    table = []
    for threshold in THRESHOLDS:
        answered = chance >= threshold
        table.append(
            (
                threshold,
                float((answered & right).mean()),
                float((answered & ~right).mean()),
            )
        )
    return table


def digests() -> dict[str, str]:
    """Each training file (relative to the repository) and the SHA-256 of its bytes."""
    return {
        p.relative_to(ROOT).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in SOURCES
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evaluate", action="store_true", help="leave-one-set-out figures")
    parser.add_argument("--out", type=Path, default=OUT, help="where to write the model")
    args = parser.parse_args()
    bundle = load_content(CONTENT)
    embedder = load_embedder()
    if embedder is None:
        raise SystemExit("the embedding model is needed to train the question model")
    questions = asked(bundle)
    rows, right, sets = left_out(bundle, embedder, questions)
    table = threshold_table(rows, right, sets)
    print("command: python tools/train_questions.py" + (" --evaluate" if args.evaluate else ""))
    print(f"{len(questions)} questions, {len(bank_of(questions))} in the bank")
    print(f"top candidate right, each set left out of the bank: {right.mean():.1%}")
    print("answered from a chance of   correct   wrong   (each set scored by a model without it)")
    for threshold, correct, wrong in table:
        print(f"  {threshold:<26} {correct:>7.1%} {wrong:>7.1%}")
    best = max(table, key=lambda t: t[1] - WRONG_COST * t[2])
    print(f"chosen: {best[0]} (most correct less {WRONG_COST:g} x wrong)")
    if args.evaluate:
        return
    model = fit(rows, right)
    out = {
        "about": "written by python tools/train_questions.py; do not edit by hand",
        "trained_on": digests(),
        "features": list(FEATURES),
        "weights": [round(float(w), 6) for w in model.coef_[0]],
        "bias": round(float(model.intercept_[0]), 6),
        "answer": best[0],
        "bank": [[text, list(refs)] for text, refs in bank_of(questions)],
    }
    QuestionModel.model_validate(out)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"  {json.dumps(entry, ensure_ascii=False)}" for entry in out.pop("bank")]
    head = json.dumps(out, indent=1)[:-2]
    # one bank question a line, so a retrained model reads as a diff
    args.out.write_text(head + ',\n "bank": [\n' + ",\n".join(lines) + "\n ]\n}\n", "utf-8")
    print(f"wrote {args.out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
