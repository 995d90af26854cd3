"""Recall-net calibration: how close benign and dangerous vignettes come to the red-flag examples.

For every vignette (tests/data/vignettes*.yaml) whose sentences hold a current symptom, the
net's best cosine score is taken the way the scanner takes it (rules aside). The thresholds in
content/safety.yaml (`net: ask`, `net: escalate`) must sit above what benign messages reach,
or the net would alarm people; this prints the figures that choice rests on.

Usage: python benchmarks/recall_net.py
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.content.loader import bundled_content_dir, load_content
from bot.language.embedding import load_embedder
from bot.language.recall import RecallNet
from bot.language.safety import RedFlagScanner


def main() -> None:
    bundle = load_content(bundled_content_dir())
    embedder = load_embedder()
    if embedder is None:
        raise SystemExit("the packaged model could not be loaded")
    rules = RedFlagScanner(bundle.safety)  # rules only: which messages the net would see
    net = RecallNet(bundle.safety.red_flags, embedder)
    scores: dict[str, list[float]] = {}
    unruled_benign: list[tuple[float, str]] = []
    for path in sorted((ROOT / "tests" / "data").glob("vignettes*.yaml")):
        for group, texts in yaml.safe_load(path.read_text(encoding="utf-8")).items():
            for text in texts:
                assessment = rules.assess(text)
                reading = assessment.reading
                sentences = {f.sentence for f in reading.current() if f.kind == "symptom"}
                if not sentences:
                    continue
                words = [
                    t
                    for t, n in zip(reading.tokens, reading.sentences, strict=True)
                    if n in sentences
                ]
                top = net.nearest(" ".join(words))[0].score
                scores.setdefault(group, []).append(top)
                if group == "benign" and not assessment.hits:
                    unruled_benign.append((top, text))
    print("command: python benchmarks/recall_net.py")
    print(f"thresholds in content: ask {bundle.safety.net.ask if bundle.safety.net else '-'}, "
          f"escalate {bundle.safety.net.escalate if bundle.safety.net else '-'}")  # fmt: skip
    print(f"\n{'group':<22} {'n':>5} {'median':>7} {'max':>6}")
    for group, values in scores.items():
        print(f"{group:<22} {len(values):>5} {statistics.median(values):>7.2f} {max(values):>6.2f}")
    print("\nhighest benign messages that no rule raises (what the net alone would see):")
    for score, text in sorted(unruled_benign, reverse=True)[:5]:
        print(f"  {score:.2f}  {text}")


if __name__ == "__main__":
    main()
