"""`nervebot validate` warnings: valid content that is likely to go wrong, reported without failing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bot.moderation.validate import validate_dir
from tests.helpers import edit

ROOT = Path(__file__).resolve().parents[1]


def test_warnings_do_not_fail_and_point_at_the_place(content_copy: Path) -> None:
    edit(
        content_copy / "messages.yaml",
        "  menu_label: Main menu\n",
        "  menu_label: Main menu\n  tip: Eat 400 mg of magnesium.\n",
    )
    edit(
        content_copy / "faq.yaml",
        "Yes, caffeine is one of",
        "You probably have a magnesium deficiency, so take 400 mg daily. Caffeine is one of",
    )
    edit(
        content_copy / "flows" / "triage.yaml",
        "label: Weakness\n",
        "label: " + "Weakness " * 12 + "\n",
    )
    edit(
        content_copy / "flows" / "triage.yaml",
        "says: [cramp, cramps, cramping, charley horse]",
        "says: [cramp, cramps, cramping, charley horse, twitching]",
    )
    (content_copy / "stage_notes.yaml").write_text(
        "stage_notes:\n  - stage: teenager\n    about: [calcium]\n"
        "    note: You are deficient, so take 500 mg a day. If you have kidney disease, ask.\n"
        "    source: NHS\n",
        encoding="utf-8",
    )
    (content_copy / "tests" / "extra.yaml").write_text(
        "- name: not really benign\n  steps:\n    - user: I think I had a seizure\n      expect: {urgency: null}\n",
        encoding="utf-8",
    )
    bundle, problems = validate_dir(content_copy)
    assert bundle is not None  # warnings never stop content from loading
    warnings = [str(p) for p in problems if p.severity == "warning"]
    assert any(
        "messages.yaml:" in w and "'tip' states a figure without a source" in w for w in warnings
    )
    assert any("triage.yaml:" in w and "button label over 80" in w for w in warnings)
    assert any("typing 'twitching' at 'q_what' picks no single choice" in w for w in warnings)
    assert any("extra.yaml:3:1: warning: red flag 'seizure' matches" in w for w in warnings)
    assert any("faq.yaml:" in w and "sounds like a diagnosis" in w for w in warnings)
    assert any("faq.yaml:" in w and "sounds like a dose" in w for w in warnings)
    # a life-stage note is read like any answer; a condition ("if you have") is no diagnosis
    noted = [w for w in warnings if "stage_notes.yaml:" in w]
    assert len(noted) == 2 and "diagnosis" in noted[0] + noted[1] and "dose" in noted[0] + noted[1]

    done = subprocess.run(
        [sys.executable, "-m", "bot", "validate", str(content_copy)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert done.returncode == 0
    assert done.stdout.count("warning:") == len(warnings)


def test_shipped_content_has_no_warnings() -> None:
    from bot.content.loader import bundled_content_dir

    _, problems = validate_dir(bundled_content_dir())
    assert problems == []
