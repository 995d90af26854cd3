"""The JSON Schema that editors use agrees with the validator, and is kept up to date."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from bot.content import schema
from bot.content.loader import bundled_content_dir, content_files, read_yaml, transcript_files
from bot.moderation.validate import validate_dir

CONTENT = bundled_content_dir()
CONTENT_VALIDATOR = jsonschema.Draft202012Validator(schema.content_schema())
TRANSCRIPT_VALIDATOR = jsonschema.Draft202012Validator(schema.transcripts_schema())


def _load(path: Path) -> Any:
    """YAML as nervebot reads it (YAML 1.2 booleans, like the editors' language server)."""
    data, _, problems = read_yaml(path, path.name)
    assert not [p for p in problems if "duplicate key" not in p.message], problems
    return data


def test_shipped_schemas_are_up_to_date() -> None:
    for name, generated in ((schema.CONTENT_SCHEMA, schema.content_schema()),
                            (schema.TRANSCRIPTS_SCHEMA, schema.transcripts_schema())):  # fmt: skip
        shipped = json.loads((CONTENT / name).read_text(encoding="utf-8"))
        assert shipped == json.loads(json.dumps(generated)), (
            f"run 'nervebot schema' to refresh {name}"
        )


@pytest.mark.parametrize("path", content_files(CONTENT), ids=lambda p: p.name)
def test_every_shipped_content_file_is_valid_for_both(path: Path) -> None:
    assert list(CONTENT_VALIDATOR.iter_errors(_load(path))) == []
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# yaml-language-server: $schema=") and first.endswith("schema.json")


@pytest.mark.parametrize("path", transcript_files(CONTENT), ids=lambda p: p.name)
def test_every_shipped_transcript_file_is_valid_for_both(path: Path) -> None:
    assert list(TRANSCRIPT_VALIDATOR.iter_errors(_load(path))) == []
    assert "transcripts.schema.json" in path.read_text(encoding="utf-8").splitlines()[0]


BROKEN: dict[str, tuple[str, str]] = {
    "unknown key": (
        "faq.yaml",
        "    answer: >-\n      Low magnesium",
        "    anwser: x\n    answer: >-\n      Low magnesium",
    ),
    "wrong type": (
        "flows/triage.yaml",
        "adds: {magnesium: 1, stress_sleep: 2",
        "adds: {magnesium: lots, stress_sleep: 2",
    ),
    "missing key": (
        "causes.yaml",
        "      source: NHS, leg cramps; Merck Manual, muscle cramps\n",
        "",
    ),
    "bad id": ("diets.yaml", "  - id: vegan\n", "  - id: Vegan Diet\n"),
    "empty list": (
        "faq.yaml",
        "    related: [stress_sleep]\n",
        "    related: [stress_sleep]\n    questions: []\n",
    ),
    "bad urgency": ("safety.yaml", "urgency: emergency", "urgency: soonish"),
    "list for text": ("messages.yaml", "  menu_label: Main menu\n", "  menu_label: [Main menu]\n"),
}  # type: ignore[assignment]


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_files_are_rejected_by_both(case: str, content_copy: Path) -> None:
    name, old, new = BROKEN[case]
    path = content_copy / name
    text = path.read_text(encoding="utf-8")
    assert old in text
    broken = text.replace(old, new, 1)
    if case == "empty list":  # a duplicate key: make it the only one
        broken = broken.replace(
            "    questions:\n      - can anxiety cause twitching", "    questiions:\n      - x", 1
        )
    path.write_text(broken, encoding="utf-8")
    data: Any = _load(path)
    assert list(CONTENT_VALIDATOR.iter_errors(data)), f"schema accepted {case}"
    bundle, problems = validate_dir(content_copy)
    assert bundle is None and any(name.split("/")[-1] in str(p) for p in problems), (
        f"validator accepted {case}"
    )
