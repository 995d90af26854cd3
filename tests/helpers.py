"""Constants shared by the end-to-end tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: Button ids that walk the whole symptom check (eyelid twitch, coffee, stress: self-care).
TRIAGE = [
    "triage.q_what.twitch", "triage.q_where.eye_face", "triage.q_duration.days",
    "triage.q_frequency.daily", "triage.q_other.none", "triage.q_diet.varied",
    "triage.q_meds.no_meds", "triage.q_alcohol.alcohol_none", "triage.q_caffeine.caffeine_high",
    "triage.q_sleep.both", "triage.q_age.under_50",
]  # fmt: skip


def edit(path: Path, old: str, new: str) -> None:
    """Replace the first ``old`` in a file with ``new``; fails if ``old`` is not there."""
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def unique_texts(api: Any, chat: int) -> list[str]:
    """A chat's texts with immediate repeats (a reply sent again after a kill) collapsed."""
    texts: list[str] = []
    for message in api.sent_to(chat):
        if not texts or texts[-1] != message["text"]:
            texts.append(message["text"])
    return texts
