"""Warnings for moderators: content that is valid but likely to go wrong (never fatal)."""

from __future__ import annotations

import re
from pathlib import Path

from bot.errors import Problem
from bot.loader import Bundle, ParsedFile, load_transcripts
from bot.safety import RedFlagScanner
from bot.transcripts import line_of
from bot.understand import Understanding

#: Platform limits that matter for content.
MESSAGE_LIMIT = 2000  # Discord; Telegram allows 4,096
BUTTON_LABEL_LIMIT = 80  # Discord
COMMAND_DESCRIPTION_LIMIT = 100  # Discord; Telegram allows 256
_FIGURE = re.compile(r"\b\d[\d,.]*\s?(?:mg|mcg|µg|iu|%)(?![a-z])", re.IGNORECASE)


def _warn(pf: ParsedFile, path: tuple[str | int, ...], message: str) -> Problem:
    line, col = pf.at(*path)
    return Problem(pf.shown, line, col, message, severity="warning")


def lint(parsed: list[ParsedFile], bundle: Bundle, root: Path) -> list[Problem]:
    """Every warning for a content folder that already validates."""
    return [
        *_unsourced_figures(parsed),
        *_limits(parsed),
        *_overlapping_choices(parsed, bundle),
        *_red_flags_in_benign_tests(bundle, root),
    ]


def _unsourced_figures(parsed: list[ParsedFile]) -> list[Problem]:
    out = []
    for pf in parsed:
        for key, text in pf.data.messages.items():
            if _FIGURE.search(text):
                out.append(_warn(pf, ("messages", key), f"message '{key}' states a figure without a source; "
                                  "put the fact in nutrients, causes or faq, which carry sources"))  # fmt: skip
    return out


def _limits(parsed: list[ParsedFile]) -> list[Problem]:
    out = []
    for pf in parsed:
        data = pf.data
        for key, text in data.messages.items():
            if len(text) > MESSAGE_LIMIT:
                out.append(
                    _warn(
                        pf,
                        ("messages", key),
                        f"message '{key}' is over {MESSAGE_LIMIT:,} characters; Discord will split it",
                    )
                )
        for index, entry in enumerate(data.faq):
            if len(entry.answer) > MESSAGE_LIMIT:
                out.append(
                    _warn(
                        pf, ("faq", index, "answer"), f"answer is over {MESSAGE_LIMIT:,} characters"
                    )
                )
        for index, command in enumerate(data.commands):
            if len(command.description) > COMMAND_DESCRIPTION_LIMIT:
                out.append(_warn(pf, ("commands", index, "description"),
                                 f"description over {COMMAND_DESCRIPTION_LIMIT} characters; Discord cuts it"))  # fmt: skip
        for fi, flow in enumerate(data.flows):
            for ni, node in enumerate(flow.nodes):
                for ci, choice in enumerate(node.choices):
                    if len(choice.label) > BUTTON_LABEL_LIMIT:
                        out.append(_warn(pf, ("flows", fi, "nodes", ni, "choices", ci, "label"),
                                         f"button label over {BUTTON_LABEL_LIMIT} characters; Discord cuts it"))  # fmt: skip
    return out


def _overlapping_choices(parsed: list[ParsedFile], bundle: Bundle) -> list[Problem]:
    understanding = Understanding(bundle)
    out = []
    for pf in parsed:
        for fi, flow in enumerate(pf.data.flows):
            for ni, node in enumerate(flow.nodes):
                for ci, choice in enumerate(node.choices):
                    for phrase in (choice.label, *choice.says):
                        picked = understanding.choice(flow.id, node, phrase)
                        if picked is choice or phrase.strip().isdigit():
                            continue
                        what = (
                            f"choice '{picked.id}'"
                            if picked
                            else "no single choice (it matches several)"
                        )
                        out.append(_warn(pf, ("flows", fi, "nodes", ni, "choices", ci, "id"),
                                         f"typing '{phrase}' at '{node.id}' picks {what}, not '{choice.id}'"))  # fmt: skip
    return out


def _red_flags_in_benign_tests(bundle: Bundle, root: Path) -> list[Problem]:
    scanner = RedFlagScanner(bundle.safety)
    transcripts, _ = load_transcripts(root)
    out = []
    for file, transcript in transcripts:
        for step in transcript.steps:
            if step.user is None or step.expect.urgency not in (None, "self_care", "routine"):
                continue
            hits = scanner.scan(step.user)
            if hits:
                out.append(Problem(file, line_of(file, step.user[:40]), 1,
                                   f"red flag '{hits[0].flag.id}' matches a message this test expects to be benign",
                                   severity="warning"))  # fmt: skip
    return out
