"""Regression guard: every vignette used to tune the red-flag check still triages as labelled.

(The held-out measurement lives in benchmarks/safety.py and is never a test: it must not be
tuned on.)
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.content.loader import bundled_content_dir, load_content
from bot.events import Urgency
from bot.language.recall import load_embedder
from bot.language.safety import RedFlagScanner

DATA = Path(__file__).parent / "data"
SCANNER = RedFlagScanner(load_content(bundled_content_dir()).safety, load_embedder())
CASES = [
    (group, text)
    for path in sorted(DATA.glob("vignettes*.yaml"))
    if "heldout" not in path.name
    for group, texts in yaml.safe_load(path.read_text(encoding="utf-8")).items()
    for text in texts
]
ALLOWED = {
    "emergency": {Urgency.EMERGENCY},
    "emergency_or_urgent": {Urgency.EMERGENCY, Urgency.URGENT},
    "benign": {None},
}


#: Known misses, each with why it is left: a test that lists them keeps them visible.
KNOWN = {
    "if my heart races when I have a cramp is that something to worry about? asking because "
    "I read it somewhere, mine doesn't": "the 'mine doesn't' that makes it hypothetical is in "
    "the next sentence; 'if my ...' cannot be read as hypothetical without missing real cases "
    "('not sure if my face is drooping')",
}


@pytest.mark.parametrize(
    ("group", "text"),
    [
        pytest.param(g, t, marks=pytest.mark.xfail(reason=KNOWN[t], strict=True))
        if t in KNOWN
        else (g, t)
        for g, t in CASES
    ],
)
def test_vignette(group: str, text: str) -> None:
    hits = SCANNER.scan(text)
    assert (hits[0].urgency if hits else None) in ALLOWED[group]
