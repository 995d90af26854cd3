"""Safety benchmark: how the red-flag check triages labelled free-text vignettes.

Vignettes (tests/data/vignettes.yaml) are written independently of the content's phrasings.
Reported the way symptom checkers are judged (Semigran et al. 2015; Gilbert et al. 2020):
emergencies escalated as emergencies, urgent cases escalated at least as urgent ("safe"),
and over-triage: benign messages that raised an alarm.

Usage: python benchmarks/safety.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.events import Urgency
from bot.loader import bundled_content_dir, load_content
from bot.safety import RedFlagScanner

SETS = {
    "round 1 (used for tuning)": "vignettes.yaml",
    "round 2 (used for tuning after its first run)": "vignettes_round2.yaml",
    "round 3 (used for tuning after its first run)": "vignettes_round3.yaml",
    "round 4 (used for tuning after its first run)": "vignettes_round4.yaml",
    "round 5 (used for tuning after its first run)": "vignettes_round5.yaml",
    "round 6 (used for tuning after its first run)": "vignettes_round6.yaml",
    "round 7 (used for tuning after its first run)": "vignettes_round7.yaml",
    "round 8 (used for tuning after its first run)": "vignettes_round8.yaml",
    "held-out set": "vignettes_heldout.yaml",
}


def evaluate(name: str) -> dict[str, list[tuple[str, Urgency | None]]]:
    """Each vignette group with the most urgent urgency the scanner gave every message."""
    path = ROOT / "tests" / "data" / name
    vignettes = yaml.safe_load(path.read_text(encoding="utf-8"))
    scanner = RedFlagScanner(load_content(bundled_content_dir()).safety)
    out: dict[str, list[tuple[str, Urgency | None]]] = {}
    for group, texts in vignettes.items():
        out[group] = []
        for text in texts:
            hits = scanner.scan(text)
            out[group].append((text, hits[0].urgency if hits else None))
    return out


def main() -> None:
    print("command: python benchmarks/safety.py")
    for title, name in SETS.items():
        if not (ROOT / "tests" / "data" / name).exists():
            print(
                f"\n{title}: none yet (tests/data/{name}); write one before tuning safety content again"
            )
            continue
        print(f"\n{title} (tests/data/{name})")
        report(evaluate(name))


def report(results: dict[str, list[tuple[str, Urgency | None]]]) -> None:
    """Print the three figures and every miss and needless alarm."""
    emergency = results["emergency"]
    urgent = results["emergency_or_urgent"]
    benign = results["benign"]
    caught = [t for t, u in emergency if u is Urgency.EMERGENCY]
    safe_urgent = [t for t, u in urgent if u in (Urgency.EMERGENCY, Urgency.URGENT)]
    alarms = [t for t, u in benign if u is not None]
    print(f"emergencies escalated as emergency: {len(caught)}/{len(emergency)}")
    print(f"urgent cases escalated (urgent or emergency): {len(safe_urgent)}/{len(urgent)}")
    print(f"benign messages with a needless alarm (over-triage): {len(alarms)}/{len(benign)}")
    missed = [t for t, u in emergency if u is not Urgency.EMERGENCY] + [
        t for t, u in urgent if u is None
    ]
    for text in missed:
        print(f"  missed: {text}")
    for text in alarms:
        print(f"  alarm:  {text}")


if __name__ == "__main__":
    main()
