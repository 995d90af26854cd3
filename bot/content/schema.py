"""JSON Schemas of the content format, generated from the models the validator uses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from bot.content.model import ContentFile, Transcript

CONTENT_SCHEMA = "schema.json"
TRANSCRIPTS_SCHEMA = "transcripts.schema.json"


def _numbers_as_text(node: Any) -> Any:
    """The validator reads a bare number where text is expected as that text; say so here too."""
    if isinstance(node, dict):
        if node.get("type") == "string" and "enum" not in node and "const" not in node:
            node["type"] = ["string", "number"]
        for value in node.values():
            _numbers_as_text(value)
    elif isinstance(node, list):
        for value in node:
            _numbers_as_text(value)
    return node


def content_schema() -> dict[str, Any]:
    """The schema of one content YAML file."""
    schema: dict[str, Any] = _numbers_as_text(ContentFile.model_json_schema())
    schema["title"] = "nervebot content file"
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def transcripts_schema() -> dict[str, Any]:
    """The schema of one transcript test file (a list of tests)."""
    schema: dict[str, Any] = _numbers_as_text(TypeAdapter(list[Transcript]).json_schema())
    schema["title"] = "nervebot transcript tests"
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def write(directory: Path) -> list[Path]:
    """Write both schemas into a content folder; returns the files written."""
    written = []
    for name, schema in (
        (CONTENT_SCHEMA, content_schema()),
        (TRANSCRIPTS_SCHEMA, transcripts_schema()),
    ):
        path = Path(directory) / name
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        written.append(path)
    return written
