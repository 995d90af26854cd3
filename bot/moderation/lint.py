"""Warnings for moderators: content that is valid but likely to go wrong (never fatal)."""

from __future__ import annotations

import re
from pathlib import Path

from bot.content.loader import Bundle, ParsedFile, load_transcripts, shown_path
from bot.content.vectors import VECTORS
from bot.errors import Problem
from bot.language.safety import RedFlagScanner
from bot.language.understand import Understanding
from bot.moderation.transcripts import line_of
from bot.moderation.vectors import missing_texts

#: Platform limits that matter for content.
MESSAGE_LIMIT = 2000  # Discord; Telegram allows 4,096
BUTTON_LABEL_LIMIT = 80  # Discord
COMMAND_DESCRIPTION_LIMIT = 100  # Discord; Telegram allows 256
_DIAGNOSIS = re.compile(  # not a condition ("if you have kidney disease, ...")
    r"(?<!if )(?<!when )(?<!think )\byou (?:have|ve got|are suffering from|must have|probably have)\b[^.]{0,30}?"
    r"\b(?:deficien\w*|hypo\w+|als|ms|neuropathy|disease|anaemia|anemia)\b"
    r"|\byou are (?:deficient|low in)\b",
    re.IGNORECASE,
)
_DOSE = re.compile(r"\b(?:you should |please )?take \d[\d,.]*\s?(?:mg|mcg|µg|iu)\b", re.IGNORECASE)
_FIGURE = re.compile(r"\b\d[\d,.]*\s?(?:mg|mcg|µg|iu|%)(?![a-z])", re.IGNORECASE)


def _warn(pf: ParsedFile, path: tuple[str | int, ...], message: str) -> Problem:
    line, col = pf.at(*path)
    return Problem(pf.shown, line, col, message, severity="warning")


def lint(parsed: list[ParsedFile], bundle: Bundle, root: Path) -> list[Problem]:
    """Every warning for a content folder that already validates."""
    return [
        *_diagnosis_or_dose(parsed),
        *_unsourced_figures(parsed),
        *_limits(parsed),
        *_overlapping_choices(parsed, bundle),
        *_red_flags_in_benign_tests(bundle, root),
        *_unstored_vectors(bundle, root),
    ]


def _texts(pf: ParsedFile) -> list[tuple[tuple[str | int, ...], str]]:
    """Every reader-facing text of a file with its path."""
    data = pf.data
    out: list[tuple[tuple[str | int, ...], str]] = [
        (("messages", k), v) for k, v in data.messages.items()
    ]
    out += [(("faq", i, "answer"), e.answer) for i, e in enumerate(data.faq)]
    for i, n in enumerate(data.nutrients):
        out += [(("nutrients", i, "facts", t), f.text) for t, f in n.facts.items()]
        out.append((("nutrients", i, "summary"), n.summary.text))
    for i, c in enumerate(data.causes):
        out += [(("causes", i, "facts", j), f.text) for j, f in enumerate(c.facts)]
    out += [(("cards", i, "answer"), c.answer) for i, c in enumerate(data.cards)]
    out += [(("stage_notes", i, "note"), n.note) for i, n in enumerate(data.stage_notes)]
    for fi, flow in enumerate(data.flows):
        for ni, node in enumerate(flow.nodes):
            if node.outcome is not None:
                out.append((("flows", fi, "nodes", ni, "outcome"), node.outcome.text))
    return out


def _diagnosis_or_dose(parsed: list[ParsedFile]) -> list[Problem]:
    """nervebot never says "you have X" and never prescribes a dose for a person."""
    out = []
    for pf in parsed:
        for path, text in _texts(pf):
            plain = text.replace("'", "").replace("’", "")
            if _DIAGNOSIS.search(plain):
                out.append(
                    _warn(
                        pf,
                        path,
                        "sounds like a diagnosis ('you have ...'); explain and signpost instead",
                    )
                )
            if _DOSE.search(plain):
                out.append(
                    _warn(
                        pf,
                        path,
                        "sounds like a dose for the reader ('take N mg'); give intakes, not doses",
                    )
                )
    return out


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


def _unstored_vectors(bundle: Bundle, root: Path) -> list[Problem]:
    """A store of vectors that cannot be read, or that lacks texts start-up embeds: those are
    embedded then, which is slower (answers are the same)."""
    path = root / VECTORS
    advice = "run python tools/embed_content.py"
    if bundle.vectors is None:
        if not path.is_file():
            return []
        message = f"the stored vectors cannot be read, so start-up embeds every text: {advice}"
        return [Problem(shown_path(path, root), 1, 1, message, severity="warning")]
    missing = missing_texts(bundle)
    if not missing:
        return []
    message = (
        f"{len(missing)} text(s) start-up embeds are not stored here, so start-up is slower "
        f"(answers are the same): {advice}"
    )
    return [Problem(shown_path(path, root), 1, 1, message, severity="warning")]
