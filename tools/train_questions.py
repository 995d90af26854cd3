"""Train answer retrieval's question model (`bot.language.retrieval`) and write it into content.

Learnt from questions already read and scored (question sets A-L, R, T, W, Z, AA-FF, the
card paraphrases), never from a held-out set (M-Q, S, U, V, X, Y, GG-ZZ, AAA-AAJ) before its first run:

- the question bank: each question and the answers of the content that held everything it
  needed (its ``must`` groups), skipping questions no answer held and questions so general
  that more than `MOST_ANSWERS` did;
- the decision: a logistic model of "the top candidate is right" over the signals of the top
  candidate (`bot.language.retrieval.FEATURES`), fitted on the questions where the bot lets
  the chance decide, whether to answer or whether the topic router's pick gives way
  (`CardIndex.may_give_way`; not those exact wording or the medicine rule settle),
  each decided by the dialogue with its own set (and any question worded the same) left out
  of the bank, as a new question meets it;
- the threshold from which the top candidate is answered: the one that gives the most right
  answers less three times the wrong ones (a confident wrong card is worse than "Did you
  mean") and once the partly right ones, over all questions, each answer counted as a reader
  judged it (tests/data/judged/; an unjudged one is right if it holds what the question
  needed, else wrong), each set scored by a model fitted without it, on a grid of 0.01
  smoothed over +-`SMOOTH` steps, taking the middle of the plateau within `PLATEAU` of the
  best (the curve is flat near its top, and its noise would otherwise pick the threshold).
  The table is printed; the threshold is chosen on the same figures it reports, so they
  flatter it slightly.

    python tools/train_questions.py             # write content/models/questions.json (and
                                                # the vectors of its bank: tools/embed_content.py)
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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.content.loader import QUESTION_MODEL, Bundle, load_content  # noqa: E402
from bot.content.model import QuestionModel  # noqa: E402
from bot.content.vectors import VECTORS  # noqa: E402
from bot.conversation.answers import Answers  # noqa: E402
from bot.conversation.dialogue import Dialogue  # noqa: E402
from bot.language.embedding import Embedder, load_embedder  # noqa: E402
from bot.language.retrieval import FEATURES, candidates  # noqa: E402
from bot.moderation.vectors import store_vectors  # noqa: E402

DATA = ROOT / "tests" / "data"
#: A reader's labels of answers to the read questions (tests/data/judged/README.md)
JUDGED = DATA / "judged"
LABELS = ("right", "partly", "wrong")
CONTENT = ROOT / "content"
OUT = CONTENT / QUESTION_MODEL
#: The read question sets, and the card paraphrases (`tests/test_card_paraphrases.py` asks
#: them with the paraphrases left out of the bank, as new questions).
SOURCES = [
    *(
        DATA / "heldout" / f"questions_{name}.yaml"
        for name in [*"abcdefghijklrtwz", "aa", "bb", "cc", "dd", "ee", "ff"]
    ),
    DATA / "card_paraphrases.yaml",
]
#: A question that more than this many answers hold is too general to vouch for any of them.
MOST_ANSWERS = 10
#: What an answer costs, in right answers, when the threshold is chosen: a wrong one (judged
#: wrong, or unjudged and missing what the question needed) three; one a reader judged partly
#: right (correct and on topic, but not the point asked) one, as it stands where "Did you mean"
#: would have offered the other cards.
WRONG_COST = 3.0
PARTLY_COST = 1.0
#: Regularisation (inverse strength) of the logistic model.
C = 1.0
THRESHOLDS = tuple(round(0.5 + i / 100, 2) for i in range(46))  # 0.50 to 0.95
#: Grid steps either side over which the objective is averaged before its best is taken.
SMOOTH = 3
#: How far below its best (a share of all questions) the averaged objective is still "as
#: good": half a point, about one question in two hundred.
PLATEAU = 0.005
#: The rows of the table that are printed.
SHOWN = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)


@dataclasses.dataclass(frozen=True)
class Asked:
    """One read question: its set, its words, what a right answer must hold, and the
    answers of the content that hold it."""

    source: str
    text: str
    must: tuple[tuple[str, ...], ...]
    right: frozenset[str]
    id: str = ""


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


def judged() -> dict[str, dict[str, str]]:
    """A reader's labels: question id -> answer reference -> right, partly or wrong."""
    labels: dict[str, dict[str, str]] = {}
    for path in sorted(JUDGED.glob("questions_*.yaml")):
        for key, label in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).items():
            question, bar, ref = str(key).partition("|")
            if not bar or label not in LABELS:
                raise SystemExit(f"{path}: {key}: {label}: want 'id|answer': {'|'.join(LABELS)}")
            labels.setdefault(question, {})[ref] = label
    return labels


def asked(bundle: Bundle) -> list[Asked]:
    """Every question of the training sets, with the answers right for it: those a reader
    judged right, and the unjudged ones that hold what its ``must`` groups need."""
    texts = answer_texts(bundle)
    labels = judged()
    out = []
    for path in SOURCES:
        for item in yaml.safe_load(path.read_text(encoding="utf-8")):
            must = tuple(tuple(group) for group in item["must"])
            seen = labels.get(item.get("id", ""), {})
            right = frozenset(
                ref
                for ref, text in texts.items()
                if (seen[ref] == "right" if ref in seen else holds(text, must))
            )
            out.append(Asked(path.stem, item["text"], must, right, item.get("id", "")))
    return out


def bank_of(questions: list[Asked]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The question bank: questions some answers held, and not too many."""
    return tuple(
        (q.text, tuple(sorted(q.right))) for q in questions if 0 < len(q.right) <= MOST_ANSWERS
    )


@dataclasses.dataclass(frozen=True)
class Replayed:
    """One read question as the bot decides it with the question's own set (and any question
    worded the same) left out of the bank: the top candidate's signals, whether it is right,
    which way it is decided (``path``: "model" where the chance decides, "router" where the
    topic router's pick stands unless the chance vouches for the top candidate, "answer" where
    another rule answers, "other" where the bot offers or does not know), and what a reader
    made of the answer it gives or would give (``verdict``, `label`; ``fallback``: of the
    router's pick)."""

    source: str
    features: tuple[float, ...]
    right: bool
    path: str
    verdict: str = "wrong"
    fallback: str = "wrong"


def left_out(
    bundle: Bundle, embedder: Embedder, questions: list[Asked]
) -> Iterator[tuple[str, list[Asked], Dialogue]]:
    """For each set: its name, its questions, and a dialogue whose bank holds only the other
    sets (and no question worded like one of its own), as a new question meets the bot. The
    model's weights are 0, so every chance is 0.5, below its threshold: where the chance
    decides is what is read, and the topic router's pick stands as if the chance never
    vouched for another answer (`tabulate` decides that with the fitted chance)."""
    for source in dict.fromkeys(q.source for q in questions):
        held = [q for q in questions if q.source == source]
        texts = {q.text for q in held}
        others = [q for q in questions if q.source != source and q.text not in texts]
        placeholder = QuestionModel(
            bank=bank_of(others), features=FEATURES, weights=(0.0,) * len(FEATURES), bias=0.0,
            answer=0.99,
        )  # fmt: skip
        yield source, held, Dialogue(dataclasses.replace(bundle, questions=placeholder), embedder)


def replay(bundle: Bundle, embedder: Embedder, questions: list[Asked]) -> list[Replayed]:
    """Every question decided as a new one (`left_out`), through the dialogue's own lookup
    (the topic router's pick, exact wording, the medicine rule...)."""
    labels = judged()
    out = []
    for source, held, dialogue in left_out(bundle, embedder, questions):
        for q in held:
            decision = dialogue.lookup(q.text, dialogue.understanding.route(q.text))
            refs, features = dialogue.cards.evidence(q.text)
            top = refs[0] if refs else ""
            given, path, fallback = top, "other", "wrong"
            if decision.chance is not None and decision.reason in ("likely right", "grey zone"):
                path = "model"
            elif (
                decision.reason == "topic words"
                and top
                and dialogue.cards.may_give_way(
                    q.text,
                    pick := decision.ranked[0].candidate.ref,
                    dialogue.understanding.has_intent(q.text, "food_list", exact=True),
                )
            ):
                path, fallback = "router", label(q, pick, labels)
            elif decision.kind == "answer" and decision.ranked:
                given, path = decision.ranked[0].candidate.ref, "answer"
            signals = tuple(features[f] for f in FEATURES)
            verdict = label(q, given, labels)
            out.append(Replayed(source, signals, top in q.right, path, verdict, fallback))
    return out


def label(q: Asked, ref: str, labels: dict[str, dict[str, str]]) -> str:
    """What a reader made of answer ``ref`` to ``q``: their label where they judged it, else
    right if it holds what the question needed, else wrong."""
    return labels.get(q.id, {}).get(ref) or ("right" if ref in q.right else "wrong")


def fit(rows: Any, right: Any) -> Any:
    """The logistic model of "the top candidate is right"."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=C, max_iter=5000).fit(rows, right)


def model_rows(replayed: list[Replayed]) -> tuple[Any, Any]:
    """The signals and outcomes of the questions where the chance decides (to answer the top
    candidate, or to have the router's pick give way to it)."""
    rows = [r for r in replayed if r.path in ("model", "router")]
    return np.array([r.features for r in rows]), np.array([r.right for r in rows])


def threshold_table(replayed: list[Replayed]) -> list[tuple[float, float, float, float]]:
    """(threshold, right, partly, wrong) over every question, as the bot answers it: where the
    chance decides, from a model fitted without the question's set; elsewhere, as the rules
    did. Shares of all questions; the rest are not answered ("Did you mean", "I don't know")."""
    chance = {}
    for source in dict.fromkeys(r.source for r in replayed):
        train = model_rows([r for r in replayed if r.source != source])
        held = [r for r in replayed if r.source == source and r.path in ("model", "router")]
        if held:
            p = fit(*train).predict_proba(np.array([r.features for r in held]))[:, 1]
            chance.update({id(r): float(c) for r, c in zip(held, p, strict=True)})
    return tabulate(replayed, [chance.get(id(r), 0.0) for r in replayed])


def tabulate(
    replayed: list[Replayed], chance: list[float]
) -> list[tuple[float, float, float, float]]:
    """(threshold, right, partly, wrong) for each of `THRESHOLDS`, given each question's chance
    (read where the chance decides)."""
    table = []
    for threshold in THRESHOLDS:
        counts = dict.fromkeys(LABELS, 0)
        for r, c in zip(replayed, chance, strict=True):
            if r.path == "answer" or (r.path in ("model", "router") and c >= threshold):
                counts[r.verdict] += 1
            elif r.path == "router":  # the chance does not vouch for the top: the pick stands
                counts[r.fallback] += 1
        n = len(replayed)
        table.append((threshold, *(counts[k] / n for k in LABELS)))
    return table


def choose(
    table: list[tuple[float, float, float, float]],
) -> tuple[float, float, float, float]:
    """The row of ``table`` (threshold, right, partly, wrong) in the middle of the plateau where
    the objective (right less `PARTLY_COST` x partly less `WRONG_COST` x wrong), averaged over
    its neighbours (`SMOOTH` rows either side), is within `PLATEAU` of its best: the curve is
    flat near its top, so its highest point moves with any change of content while the
    plateau's middle stays put."""
    gain = [right - PARTLY_COST * partly - WRONG_COST * wrong for _, right, partly, wrong in table]
    smoothed = [float(np.mean(gain[max(0, i - SMOOTH) : i + SMOOTH + 1])) for i in range(len(gain))]
    near = [i for i, value in enumerate(smoothed) if value >= max(smoothed) - PLATEAU]
    return table[near[len(near) // 2]]


def digests() -> dict[str, str]:
    """Each training file (relative to the repository) and the SHA-256 of its bytes."""
    files = [*SOURCES, *sorted(JUDGED.glob("questions_*.yaml"))]
    return {
        p.relative_to(ROOT).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in files
    }


def export(
    bundle: Bundle, embedder: Embedder, questions: list[Asked], folder: Path, depth: int = 1
) -> None:
    """Write, per read set, the answers ranked in the first ``depth`` (the set left out of the
    bank) that no reader has judged yet, as the helpers read them (tests/data/judged/README.md)."""
    labels = judged()
    gists = {
        item.get("id", ""): item.get("gist", "")
        for path in SOURCES
        for item in yaml.safe_load(path.read_text(encoding="utf-8"))
    }
    answers = Answers(bundle)
    folder.mkdir(parents=True, exist_ok=True)
    for source, held, dialogue in left_out(bundle, embedder, questions):
        entries = []
        for q in held:
            refs, _ = dialogue.cards.evidence(q.text)
            for ref in refs[:depth] if gists.get(q.id) else ():
                if ref not in labels.get(q.id, {}):
                    reply = answers.render(ref)
                    entries.append(
                        {"key": f"{q.id}|{ref}", "text": q.text, "gist": gists.get(q.id, ""),
                         "answer": reply.text if reply is not None else ""}
                    )  # fmt: skip
        if entries:
            out = folder / f"top_{source}.yaml"
            out.write_text(yaml.safe_dump(entries, allow_unicode=True, sort_keys=False), "utf-8")
            print(f"{out}: {len(entries)} answers to judge")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evaluate", action="store_true", help="leave-one-set-out figures")
    parser.add_argument("--out", type=Path, default=OUT, help="where to write the model")
    parser.add_argument(
        "--export", type=Path, metavar="DIR", help="write the unjudged answers ranked first"
    )
    parser.add_argument(
        "--depth", type=int, default=1, help="with --export: the answers ranked in the first N"
    )
    args = parser.parse_args()
    bundle = load_content(CONTENT)
    embedder = load_embedder()
    if embedder is None:
        raise SystemExit("the embedding model is needed to train the question model")
    questions = asked(bundle)
    if args.export:
        export(bundle, embedder, questions, args.export, args.depth)
        return
    replayed = replay(bundle, embedder, questions)
    table = threshold_table(replayed)
    decided = sum(r.path in ("model", "router") for r in replayed)
    print("command: python tools/train_questions.py" + (" --evaluate" if args.evaluate else ""))
    print(f"{len(questions)} questions, {len(bank_of(questions))} in the bank")
    print("each question decided by the bot with its set left out of the bank and of the fit:")
    print(f"top candidate right: {np.mean([r.right for r in replayed]):.1%};"
          f" the chance decides {decided} of {len(replayed)} (other rules the rest)")  # fmt: skip
    print("answered from a chance of   right  partly   wrong   (all questions, every rule)")
    for threshold, right, partly, wrong in table:
        if threshold in SHOWN:
            print(f"  {threshold:<24} {right:>7.1%} {partly:>7.1%} {wrong:>7.1%}")
    best = choose(table)
    print(f"chosen: {best[0]} ({best[1]:.1%} right, {best[2]:.1%} partly, {best[3]:.1%} wrong;"
          f" most right less {PARTLY_COST:g} x partly and {WRONG_COST:g} x wrong, averaged over"
          f" +-{SMOOTH} steps of 0.01, middle of the plateau within {PLATEAU:.1%})")  # fmt: skip
    if args.evaluate:
        return
    model = fit(*model_rows(replayed))
    out: dict[str, Any] = {
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
    print(f"wrote {args.out}")
    if args.out.resolve() == OUT.resolve():  # the bank is embedded at start-up: store it
        stored = store_vectors(load_content(CONTENT), embedder)
        stored.write(CONTENT / VECTORS)
        print(f"wrote {CONTENT / VECTORS}: {len(stored)} texts")


if __name__ == "__main__":
    main()
