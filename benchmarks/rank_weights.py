"""Fit the answer retrieval's signal weights and kind priors from question sets.

For each question, the 25 best candidates under the current weights are described by their
signals (`CardIndex.signals`: words, meaning of the examples, meaning of the answer's
nearest sentence, entities, coverage) and their kind (card, faq, ...). A candidate counts as
right when a reader judged it right (tests/data/judged/), or, where no one judged it, when
its answer text holds every ``must`` group of the question. A listwise softmax
(ListNet) is fitted on the training sets; top-1 accuracy is printed for the training sets,
for each check set and for the current weights, with the weights scaled the way
``bot/language/retrieval.py`` uses them (signal weights summing to 1.59, as before).

Fit only on sets whose first run is recorded (A and B); check on another (C) and on the
card paraphrases. Never fit on a held-out set before its first run.

``--loso`` fits on all --train sets but one and checks on it, each in turn.

Usage: python benchmarks/rank_weights.py [--train A.yaml ...] [--check C.yaml ...] [--loso]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
HELDOUT = ROOT / "tests" / "data" / "heldout"
KINDS = ("card", "faq", "nutrient_topic", "nutrient", "foods", "cause", "diet")
SIGNALS = ("lexical", "semantic", "said", "entities", "covered")
TOP = 25


def describe(
    path: Path, index: Any, kind: Any, texts: dict[str, str], labels: dict[str, dict[str, str]]
) -> list[tuple[Any, Any, Any]]:
    """Per question: features of its best candidates, which are right (a reader's label where
    there is one, else the ``must`` groups), their current scores."""
    out = []
    for item in yaml.safe_load(path.read_text(encoding="utf-8")):
        seen = labels.get(item.get("id", ""), {})
        total = index._scores(item["text"])[0]
        s = index.signals(item["text"])
        order = np.argsort(-total, kind="stable")[:TOP]
        refs = [index.refs[i] for i in order]
        features = np.array(
            [
                [*(getattr(s, name)[i] for name in SIGNALS), *(kind(r) == k for k in KINDS)]
                for i, r in zip(order, refs, strict=True)
            ],
            dtype=float,
        )
        right = np.array(
            [
                seen[r] == "right"
                if r in seen
                else all(any(a.casefold() in texts[r] for a in g) for g in item["must"])
                for r in refs
            ]
        )
        out.append((features, right, total[order]))
    return out


def fit(data: list[tuple[Any, Any, Any]], rounds: int = 1500, rate: float = 0.5) -> Any:
    """ListNet: softmax over each question's candidates towards its right ones."""
    w = np.zeros(data[0][0].shape[1])
    for _ in range(rounds):
        grad = np.zeros_like(w)
        for features, right, _ in data:
            if not right.any():
                continue
            s = features @ w
            p = np.exp(s - s.max())
            p /= p.sum()
            grad += features.T @ (p - right / right.sum())
        w -= rate * (grad / len(data) + 0.01 * w)
    return w


def top1(data: list[tuple[Any, Any, Any]], w: Any = None) -> float:
    """Share of questions whose first candidate is right (current scores when no ``w``)."""
    hits = [right[int(np.argmax(total if w is None else features @ w))]
            for features, right, total in data]  # fmt: skip
    return float(np.mean(hits))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, nargs="+",
                        default=[HELDOUT / "questions_a.yaml", HELDOUT / "questions_b.yaml"])  # fmt: skip
    parser.add_argument("--check", type=Path, nargs="+",
                        default=[HELDOUT / "questions_c.yaml",
                                 ROOT / "tests" / "data" / "card_paraphrases.yaml"])  # fmt: skip
    parser.add_argument(
        "--loso", action="store_true",
        help="fit on all --train sets but one and check on it, each in turn",
    )  # fmt: skip
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from bot.content.loader import load_content
    from bot.language.embedding import load_embedder
    from bot.language.retrieval import CardIndex, candidates, kind_of

    # the content's own signals: the question bank holds these sets (tools/train_questions.py)
    bundle = dataclasses.replace(load_content(ROOT / "content"), questions=None)
    index = CardIndex(bundle, load_embedder())
    texts = {c.ref: c.text.casefold() for c in candidates(bundle)}
    sys.path.insert(0, str(ROOT / "tools"))
    from train_questions import judged  # a reader's labels (tests/data/judged/), checked

    labels = judged()
    if args.loso:
        sets = {p: describe(p, index, kind_of, texts, labels) for p in args.train}
        print(f"{'left out (fit on the others)':<40} {'current':>8} {'fitted':>7}")
        for path, data in sets.items():
            w = fit([row for other, rows in sets.items() if other != path for row in rows])
            print(f"{path.name:<40} {top1(data):>8.1%} {top1(data, w):>7.1%}")
        every = [row for rows in sets.values() for row in rows]
        print(f"{'all (current)':<40} {top1(every):>8.1%}")
        return
    train = [row for p in args.train for row in describe(p, index, kind_of, texts, labels)]
    w = fit(train)
    scale = 1.59 / w[: len(SIGNALS)].sum()
    shown = " ".join(str(p.relative_to(ROOT)) for p in args.train)
    print(f"command: python benchmarks/rank_weights.py --train {shown}")
    print(
        "signal weights: "
        + ", ".join(f"{n} {v * scale:.2f}" for n, v in zip(SIGNALS, w, strict=False))
    )
    priors = w[len(SIGNALS) :] * scale
    priors -= priors[KINDS.index("cause")]  # relative to a cause, which adds nothing
    print(
        "kind priors:    " + ", ".join(f"{k} {v:+.2f}" for k, v in zip(KINDS, priors, strict=True))
    )
    print(f"\n{'set':<40} {'current':>8} {'fitted':>7}")
    print(f"{'training':<40} {top1(train):>8.0%} {top1(train, w):>7.0%}")
    for path in args.check:
        data = describe(path, index, kind_of, texts, labels)
        print(f"{path.relative_to(ROOT)!s:<40} {top1(data):>8.0%} {top1(data, w):>7.0%}")


if __name__ == "__main__":
    main()
