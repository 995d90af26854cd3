"""Constants shared by the end-to-end tests."""

from __future__ import annotations

#: Button ids that walk the whole symptom check (eyelid twitch, coffee, stress: self-care).
TRIAGE = [
    "triage.q_what.twitch", "triage.q_where.eye_face", "triage.q_duration.days",
    "triage.q_frequency.daily", "triage.q_other.none", "triage.q_diet.varied",
    "triage.q_meds.no_meds", "triage.q_alcohol.alcohol_none", "triage.q_caffeine.caffeine_high",
    "triage.q_sleep.both", "triage.q_age.under_50",
]  # fmt: skip
