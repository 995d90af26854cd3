"""Load a content folder into an immutable `Bundle`, finding every problem at once.

Each problem carries the file, line and column it comes from, so a moderator can jump to it.
Content that has any error never loads: `load_content` raises `ContentError` with all of them.
Loading checks the format and the references only; the warnings a moderator also gets from
`nervebot validate` live in `bot.moderation`, which builds on this module (never the reverse).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import re
import string
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, get_args

import yaml
from pydantic import BaseModel, ValidationError

from bot.content.model import (
    PHRASE_CONCEPT,
    RESULT_HIGH,
    RESULT_LOW,
    Card,
    Cause,
    Command,
    ContentFile,
    Diet,
    Entity,
    FaqEntry,
    Flow,
    FoodGroup,
    Node,
    Nutrient,
    QuestionModel,
    ResultRange,
    Safety,
    StageNote,
    Topic,
    Transcript,
    TriageWeights,
    parse_rule,
)
from bot.content.vectors import VECTORS, StoredVectors
from bot.errors import ContentError, Problem

_log = logging.getLogger(__name__)

Path_ = tuple[str | int, ...]

#: Message keys the engine looks up; content must define every one.
REQUIRED_MESSAGES = (
    "welcome",
    "did_you_mean",
    "did_you_mean_more",
    "dont_know",
    "ask_pharmacist",
    "disclaimer",
    "help",
    "about",
    "about_questions",
    "about_no_questions",
    "one_day",
    "days",
    "fallback",
    "empty",
    "too_long",
    "non_text",
    "stale_button",
    "unknown_command",
    "reset_done",
    "nothing_to_reset",
    "forget_confirm",
    "forget_done",
    "forget_cancelled",
    "forget_yes",
    "forget_no",
    "forget_failed",
    "not_saved",
    "nutrients_intro",
    "nutrient_unknown",
    "foods_intro",
    "foods_label",
    "foods_heading",
    "foods_without",
    *(f"food_group_{group}" for group in get_args(FoodGroup)),  # a group's name in a food list
    "source_line",
    "causes_intro",
    "faq_intro",
    "faq_more",
    "faq_first",
    "faq_previous",
    "foods_unknown",
    "number_alone",
    "faq_page",
    "redflags_intro",
    "triage_offer",
    "triage_start_label",
    "resume_prompt",
    "pick_option",
    "content_updated",
    "resume_label",
    "slow_down",
    "escalation_other",
    "clarify_question",
    "clarify_yes",
    "clarify_no",
    "clarify_no_reply",
    "report_intro",
    "report_contributors",
    "report_none",
    "report_foods",
    "report_blood_test",
    "report_supplements",
    "report_footer",
    "progress",
    "back_label",
    "got_it",
    "noted_answer",
    "noted_cause",
    "restart_label",
    "resume_offer",
    "urgency_emergency",
    "urgency_urgent",
    "urgency_routine",
    "urgency_self_care",
    "menu_label",
    "greet",
    "thanks",
    "private_only",
    "private_label",
    "internal_error",
    "discord_ask",
    "discord_ask_question",
    "discord_nutrient_name",
    "discord_foods_nutrient",
    "discord_foods_diet",
    "discord_content",
    "discord_content_status",
    "discord_content_reload",
    "mod_denied",
    "mod_status",
    "mod_reload_ok",
    "mod_reload_failed",
    "mod_watch_rejected",
)
#: Messages the engine fills in, with the {placeholders} each may use.
MESSAGE_FIELDS: dict[str, frozenset[str]] = {
    "too_long": frozenset({"limit"}),
    "unknown_command": frozenset({"command"}),
    "nutrient_unknown": frozenset({"name"}),
    "foods_unknown": frozenset({"name"}),
    "foods_label": frozenset({"name"}),
    "foods_heading": frozenset({"name"}),
    "foods_without": frozenset({"groups"}),
    "source_line": frozenset({"sources"}),
    "report_blood_test": frozenset({"names"}),
    "report_supplements": frozenset({"names"}),
    "progress": frozenset({"n", "total"}),
    "about": frozenset({"session_days", "questions"}),
    "about_questions": frozenset({"days"}),
    "days": frozenset({"n"}),
    "faq_page": frozenset({"page", "pages"}),
    "got_it": frozenset({"label"}),
    "noted_answer": frozenset({"label"}),
    "noted_cause": frozenset({"names"}),
    "resume_offer": frozenset({"n", "total"}),
    "mod_status": frozenset(
        {"version", "loaded_at", "directory", "nutrients", "faq", "red_flags", "causes", "flows"}
    ),
    "mod_reload_ok": frozenset({"version", "nutrients", "faq", "red_flags", "causes", "flows"}),
    "mod_reload_failed": frozenset({"count", "version", "problems"}),
    "mod_watch_rejected": frozenset({"count", "version", "problems"}),
}
REQUIRED_FLOWS = ("menu", "triage")
#: Where answer retrieval's trained question model lives in a content folder (optional).
QUESTION_MODEL = "models/questions.json"
_M = TypeVar("_M", bound=BaseModel)
_TRIAGE_WEIGHTS = "the triage model's weights"
#: Content files larger than this are refused before they are parsed.
MAX_FILE_BYTES = 2_000_000
#: Values (scalars, lists, mappings) one file may build, aliases counted each time they expand.
MAX_NODES = 200_000
MAX_BUTTON_ID = 64

#: The content format this nervebot reads. A content folder declares the format it is written
#: for with a top-level ``format: N`` in one of its files (by convention messages.yaml);
#: content that declares none is format `UNDECLARED_FORMAT`. Raise `CONTENT_FORMAT` when the
#: format changes incompatibly: content in an older or newer format is then refused with one
#: line saying what to do (a Docker content volume is filled once and goes stale on upgrade).
CONTENT_FORMAT = 1
UNDECLARED_FORMAT = 1
FORMAT_KEY = "format"

try:  # libyaml is much faster where it is installed
    _Base: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # pragma: no cover - depends on the PyYAML build
    _Base = yaml.SafeLoader


class _Loader(_Base):  # type: ignore[valid-type,misc]
    """A safe loader where only ``true``/``false`` are booleans (YAML 1.2), so yes/no stay words."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in _Base.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


@dataclass(frozen=True)
class Bundle:
    """All content, merged from every file, typed and immutable, with a version hash."""

    version: str
    messages: dict[str, str]
    commands: tuple[Command, ...]
    intents: dict[str, tuple[str, ...]]
    topics: dict[str, Topic]
    nutrients: dict[str, Nutrient]
    diets: dict[str, Diet]
    causes: dict[str, Cause]
    faq: dict[str, FaqEntry]
    safety: Safety
    flows: dict[str, Flow]
    nodes: dict[tuple[str, str], Node] = field(repr=False)
    entities: dict[str, Entity] = field(default_factory=dict, repr=False)
    ask_templates: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)
    cards: dict[str, Card] = field(default_factory=dict, repr=False)
    #: what is different for a life stage, by (stage, entity): `StageNote`
    stage_notes: dict[tuple[str, str], StageNote] = field(default_factory=dict, repr=False)
    #: the usual range of each nutrient's blood result, by nutrient: `ResultRange`
    result_ranges: dict[str, ResultRange] = field(default_factory=dict, repr=False)
    triage: TriageWeights | None = field(default=None, repr=False)
    questions: QuestionModel | None = field(default=None, repr=False)
    vectors: StoredVectors | None = field(default=None, repr=False)
    #: common words that answering never reads as a typo of another word (`PhraseMatcher`)
    real_words: frozenset[str] = field(default_factory=frozenset, repr=False)

    def message(self, key: str, **values: str) -> str:
        """The text of a message, with ``{name}`` placeholders filled in."""
        text = self.messages[key]
        return text.format(**values) if values else text


# --------------------------------------------------------------------------- YAML with positions


class _Positions(dict[Path_, tuple[int, int]]):
    """Maps a path inside one file's data to its 1-based (line, column)."""

    def nearest(self, path: Iterable[str | int]) -> tuple[int, int]:
        """The position of the deepest known prefix of ``path`` (unknown parts are skipped)."""
        best = self.get((), (1, 1))
        prefix: Path_ = ()
        for part in path:
            candidate = (*prefix, part)
            if candidate in self:
                prefix, best = candidate, self[candidate]
        return best


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _TooBig(Exception):
    """The YAML would build more than `MAX_NODES` objects (aliases that expand, a YAML bomb)."""

    def __init__(self, node: yaml.Node) -> None:
        super().__init__()
        self.node = node


def _to_data(
    node: yaml.Node,
    loader: yaml.SafeLoader,
    path: Path_,
    pos: _Positions,
    problems: list[Problem],
    file: str,
    budget: list[int],
) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooBig(node)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                line, col = _mark(key_node)
                problems.append(Problem(file, line, col, "a key must be a plain word or number"))
                continue
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, bool)) or isinstance(key, bool):
                key = str(key)
            if key in out:
                line, col = _mark(key_node)
                problems.append(Problem(file, line, col, f"duplicate key '{key}'"))
            pos[(*path, key)] = _mark(key_node)
            out[key] = _to_data(value_node, loader, (*path, key), pos, problems, file, budget)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            pos[(*path, index)] = _mark(item)
            items.append(_to_data(item, loader, (*path, index), pos, problems, file, budget))
        return items
    return loader.construct_object(node, deep=True)


def read_yaml(path: Path, shown: str) -> tuple[Any, _Positions, list[Problem]]:
    """Parse one YAML file safely, returning its data, the positions and any problems."""
    problems: list[Problem] = []
    pos = _Positions()
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return (
                None,
                pos,
                [Problem(shown, 1, 1, f"file is {size:,} bytes; the limit is {MAX_FILE_BYTES:,}")],
            )
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, pos, [Problem(shown, 1, 1, f"cannot read file: {exc}")]
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, pos, [Problem(shown, 1, 1, "file is empty")]
        pos[()] = _mark(node)
        data = _to_data(node, loader, (), pos, problems, shown, [MAX_NODES])
    except _TooBig as exc:
        line, col = _mark(exc.node)
        message = (
            f"over {MAX_NODES:,} values: aliases that expand too far? (a YAML bomb is refused)"
        )
        return None, pos, [Problem(shown, line, col, message)]
    except RecursionError:
        return None, pos, [Problem(shown, 1, 1, "nested too deeply")]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        reason = exc.problem or exc.context or "YAML syntax error"
        return None, pos, [Problem(shown, line, col, f"YAML syntax error: {reason}")]
    except yaml.YAMLError as exc:
        return None, pos, [Problem(shown, 1, 1, f"YAML error: {exc}")]
    finally:
        loader.dispose()
    return data, pos, problems


_FRIENDLY = {
    "extra_forbidden": "unknown key",
    "missing": "missing required key",
    "string_too_short": "empty text",
    "too_short": "must not be empty",
    "string_pattern_mismatch": "ids use only a-z, 0-9 and _ (at most 40 characters)",
}


def _pydantic_problems(exc: ValidationError, shown: str, pos: _Positions) -> list[Problem]:
    problems = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        line, col = pos.nearest(loc)
        where = ".".join(str(p) for p in loc if isinstance(p, (str, int)))
        kind = err["type"]
        message = _FRIENDLY.get(kind, err["msg"])
        if kind == "extra_forbidden":
            message = f"unknown key '{loc[-1]}'"
        elif kind == "missing":
            message = f"missing required key '{loc[-1]}'"
        problems.append(Problem(shown, line, col, f"{where}: {message}" if where else message))
    return problems


# --------------------------------------------------------------------------- files


def content_files(root: Path) -> list[Path]:
    """The YAML files of a content folder, transcript tests excluded, in a stable order."""
    files = [p for p in root.rglob("*.yaml") if "tests" not in p.relative_to(root).parts[:-1]]
    files += [p for p in root.rglob("*.yml") if "tests" not in p.relative_to(root).parts[:-1]]
    return sorted(files)


def transcript_files(root: Path) -> list[Path]:
    """The transcript test files of a content folder."""
    tests = root / "tests"
    return sorted([*tests.glob("*.yaml"), *tests.glob("*.yml")]) if tests.is_dir() else []


def shown_path(path: Path, root: Path) -> str:
    """How a file of a content folder is named in problems: relative to the working folder
    where it is inside it, else in full."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


@dataclass
class ParsedFile:
    """One content file as parsed: the name shown in problems, its data, its line positions."""

    shown: str
    data: ContentFile
    pos: _Positions

    def at(self, *path: str | int) -> tuple[int, int]:
        """The (line, column) of ``path`` inside this file, or of its nearest known parent."""
        return self.pos.nearest(path)


def load_transcripts(root: Path) -> tuple[list[tuple[str, Transcript]], list[Problem]]:
    """Read and check every transcript test file; returns (file, transcript) pairs and problems."""
    out: list[tuple[str, Transcript]] = []
    problems: list[Problem] = []
    for path in transcript_files(root):
        shown = shown_path(path, root)
        data, pos, probs = read_yaml(path, shown)
        problems += probs
        if data is None or probs:
            continue
        if not isinstance(data, list):
            problems.append(Problem(shown, 1, 1, "a transcript file is a list of tests"))
            continue
        for index, item in enumerate(data):
            try:
                out.append((shown, Transcript.model_validate(item)))
            except ValidationError as exc:
                sub = _Positions({k[1:]: v for k, v in pos.items() if k[:1] == (index,)})
                sub.setdefault((), pos.get((index,), (1, 1)))
                problems += _pydantic_problems(exc, shown, sub)
            else:
                for s, step in enumerate(item.get("steps", [])):
                    if isinstance(step, dict) and ("user" in step) == ("button" in step):
                        line, col = pos.nearest((index, "steps", s))
                        problems.append(
                            Problem(shown, line, col, "a step has exactly one of user or button")
                        )
    return out, problems


class ContentFormatError(ContentError):
    """The content is written for another content format than this nervebot reads."""


@dataclass(frozen=True)
class ContentRead:
    """A content folder as read: the bundle (None on any error), every problem, the parsed files.

    ``files`` keep each file's line positions, so later checks (moderation's warnings) can
    point at the right line. ``wrong_format``: the content is in a format this nervebot does
    not read, and that is its one problem (the others would only be echoes of it).
    """

    bundle: Bundle | None
    problems: list[Problem]
    files: list[ParsedFile]
    wrong_format: bool = False


def _format_problem(
    declared: list[tuple[str, tuple[int, int], object]], fallback: str
) -> tuple[Problem | None, bool]:
    """Check the ``format:`` declarations of a content folder (file, position, value).

    Returns a problem, or None, and whether it is a format this nervebot does not read.
    """
    numbers: list[int] = []
    for shown, (line, col), value in declared:
        if type(value) is not int or value < 1:
            message = f"format: the content format is a positive whole number, like 'format: {CONTENT_FORMAT}'"
            return Problem(shown, line, col, message), False
        numbers.append(value)
    distinct = sorted(set(numbers))
    if len(distinct) > 1:
        shown, (line, col), _ = declared[-1]
        listed = ", ".join(map(str, distinct))
        message = f"format: the files declare different content formats ({listed}); declare it once"
        return Problem(shown, line, col, message), False
    found = distinct[0] if distinct else UNDECLARED_FORMAT
    if found == CONTENT_FORMAT:
        return None, False
    shown, (line, col) = (declared[0][0], declared[0][1]) if declared else (fallback, (1, 1))
    if found > CONTENT_FORMAT:
        advice = "upgrade nervebot, or use content written for this version"
        age = "newer"
    else:
        advice = (
            "bring it up to date from the content bundled with this version "
            "(a Docker content volume keeps the copy it was first filled with)"
        )
        age = "older"
    message = (
        f"content format {found} is {age} than this nervebot reads "
        f"(format {CONTENT_FORMAT}): {advice}"
    )
    return Problem(shown, line, col, message), True


def read_content(root: Path) -> ContentRead:
    """Parse a content folder and check its format and references, finding every problem."""
    root = Path(root)
    if not root.is_dir():
        return ContentRead(None, [Problem(str(root), 1, 1, "content folder not found")], [])
    files = content_files(root)
    if not files:
        return ContentRead(
            None, [Problem(str(root), 1, 1, "no .yaml content files in this folder")], []
        )
    problems: list[Problem] = []
    parsed: list[ParsedFile] = []
    declared: list[tuple[str, tuple[int, int], object]] = []
    digest = hashlib.sha256()
    for path in files:
        shown = shown_path(path, root)
        digest.update(path.relative_to(root).as_posix().encode())
        with contextlib.suppress(OSError):
            digest.update(path.read_bytes())
        data, pos, probs = read_yaml(path, shown)
        problems += probs
        if data is None:
            continue
        if not isinstance(data, dict):
            problems.append(Problem(shown, 1, 1, "a content file is a mapping of sections"))
            continue
        if FORMAT_KEY in data:
            declared.append((shown, pos.nearest((FORMAT_KEY,)), data.pop(FORMAT_KEY)))
        try:
            parsed.append(ParsedFile(shown, ContentFile.model_validate(data), pos))
        except ValidationError as exc:
            problems += _pydantic_problems(exc, shown, pos)
    messages = root / "messages.yaml"
    fmt, wrong = _format_problem(
        declared, shown_path(messages, root) if messages.is_file() else str(root)
    )
    if wrong and fmt is not None:
        return ContentRead(None, [fmt], parsed, wrong_format=True)
    if fmt is not None:
        problems.append(fmt)
    _, trans_problems = load_transcripts(root)
    complete = not problems  # with a broken file, skip checks that would only echo it
    problems += trans_problems
    weights, weight_problems = _triage_of(root, parsed, digest)
    problems += weight_problems
    questions, question_problems = _questions_of(root, digest)
    problems += question_problems
    bundle, sem = _assemble(parsed, digest.hexdigest()[:12], complete)
    problems += sem
    if bundle is not None:
        vectors = StoredVectors.read(root / VECTORS)  # a cache: not in the version digest
        bundle = dataclasses.replace(bundle, triage=weights, questions=questions, vectors=vectors)
    return ContentRead(bundle if not problems else None, sorted(set(problems)), parsed)


def _triage_of(
    root: Path, parsed: list[ParsedFile], digest: Any
) -> tuple[TriageWeights | None, list[Problem]]:
    """The triage model's weights named by the safety section (their bytes go into the
    content's version ``digest``), or the problems with them; None when no model is named."""
    pf = next((p for p in parsed if p.data.safety is not None), None)
    if pf is None or pf.data.safety is None or pf.data.safety.model is None:
        return None, []
    named = pf.data.safety.model.file
    path = (root / named).resolve()
    if not path.is_relative_to(root.resolve()):
        line, col = pf.at("safety", "model", "file")
        message = f"model: file '{named}' must be inside the content folder"
        return None, [Problem(pf.shown, line, col, message)]
    shown = shown_path(path, root)
    return _read_json_model(path, shown, TriageWeights, _TRIAGE_WEIGHTS, "are", digest)


def read_triage_weights(path: Path, shown: str) -> tuple[TriageWeights | None, list[Problem]]:
    """Read and check a triage model's weights file (JSON), or say what is wrong with it."""
    return _read_json_model(path, shown, TriageWeights, _TRIAGE_WEIGHTS, "are")


def _questions_of(root: Path, digest: Any) -> tuple[QuestionModel | None, list[Problem]]:
    """The question model (`QUESTION_MODEL`, written by tools/train_questions.py; its bytes
    go into the content's version ``digest``), or the problems with it; None without one."""
    path = root / QUESTION_MODEL
    if not path.is_file():
        return None, []
    return _read_json_model(
        path, shown_path(path, root), QuestionModel, "the question model", "is", digest
    )


def _read_json_model(
    path: Path, shown: str, model: type[_M], what: str, be: str, digest: Any = None
) -> tuple[_M | None, list[Problem]]:
    """Read and check a trained model's JSON file, or say what is wrong with it; the bytes
    read go into ``digest`` when one is given (the content's version)."""
    try:
        raw = path.read_bytes()
        if digest is not None:
            digest.update(raw)
        data = json.loads(raw.decode("utf-8"))
    except OSError as exc:
        return None, [Problem(shown, 1, 1, f"{what} cannot be read: {exc}")]
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        where = (exc.lineno, exc.colno) if isinstance(exc, json.JSONDecodeError) else (1, 1)
        return None, [Problem(shown, *where, f"{what} {be} not JSON: {exc}")]
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        first = exc.errors()[0]
        at = ".".join(str(part) for part in first["loc"]) or "the file"
        return None, [Problem(shown, 1, 1, f"{what} {be} malformed at {at}: {first['msg']}")]


def load_content(root: Path) -> Bundle:
    """Load a content folder or raise `ContentError` listing every problem
    (`ContentFormatError` for content in a format this nervebot does not read)."""
    read = read_content(root)
    if read.wrong_format:
        raise ContentFormatError(read.problems)
    if read.bundle is None:
        raise ContentError(read.problems)
    _log.info("content loaded from %s (version %s)", root, read.bundle.version)
    return read.bundle


# --------------------------------------------------------------------------- semantic checks


def _collect(
    parsed: list[ParsedFile], section: str, problems: list[Problem], id_field: str = "id"
) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for pf in parsed:
        for index, item in enumerate(getattr(pf.data, section)):
            key = getattr(item, id_field)
            if key in seen:
                line, col = pf.at(section, index, id_field)
                problems.append(Problem(pf.shown, line, col, f"duplicate {section} id '{key}'"))
                continue
            seen[key] = item
    return seen


def _iter_flows(parsed: list[ParsedFile]) -> Iterator[tuple[ParsedFile, int, Flow]]:
    for pf in parsed:
        for fi, flow in enumerate(pf.data.flows):
            yield pf, fi, flow


def _assemble(
    parsed: list[ParsedFile], version: str, complete: bool = True
) -> tuple[Bundle | None, list[Problem]]:
    """Merge parsed files into a bundle; cross-file checks only when every file parsed."""
    problems: list[Problem] = []
    refs: list[Problem] = []  # problems that a broken file could cause: dropped if incomplete
    topics = _collect(parsed, "topics", problems)
    nutrients = _collect(parsed, "nutrients", problems)
    diets = _collect(parsed, "diets", problems)
    causes = _collect(parsed, "causes", problems)
    faq = _collect(parsed, "faq", problems)
    entities = _collect(parsed, "entities", problems)
    cards = _collect(parsed, "cards", problems)
    result_ranges = _collect(parsed, "result_ranges", problems, id_field="nutrient")
    flows = _collect(parsed, "flows", problems)
    commands = _collect(parsed, "commands", problems, id_field="name")
    messages: dict[str, str] = {}
    intents: dict[str, tuple[str, ...]] = {}
    ask_templates: dict[str, tuple[str, ...]] = {}
    safety: Safety | None = None
    first = parsed[0] if parsed else None
    for pf in parsed:
        sections = (("messages", messages), ("intents", intents), ("ask_templates", ask_templates))
        for section, target in sections:
            for key, value in getattr(pf.data, section).items():
                if key in target:
                    line, col = pf.at(section, key)
                    problems.append(
                        Problem(pf.shown, line, col, f"duplicate {section} key '{key}'")
                    )
                target[key] = value
        if pf.data.safety is not None:
            if safety is not None:
                line, col = pf.at("safety")
                problems.append(Problem(pf.shown, line, col, "a second safety section"))
            safety = pf.data.safety
    for pf in parsed:
        for kind, templates in pf.data.ask_templates.items():
            for k, template in enumerate(templates):
                try:
                    template.format(name="x")
                except (KeyError, IndexError, ValueError):
                    line, col = pf.at("ask_templates", kind, k)
                    message = f"ask template '{template}' may use only {{name}}"
                    problems.append(Problem(pf.shown, line, col, message))
        for key, text in pf.data.messages.items():
            problem = _placeholder_problem(key, text)
            if problem:
                line, col = pf.at("messages", key)
                problems.append(Problem(pf.shown, line, col, problem))
    where = first.shown if first else "content"
    for key in REQUIRED_MESSAGES:
        if key not in messages:
            refs.append(Problem(where, 1, 1, f"missing message '{key}'"))
    for fid in REQUIRED_FLOWS:
        if fid not in flows:
            refs.append(Problem(where, 1, 1, f"missing flow '{fid}'"))
    if safety is None:
        refs.append(Problem(where, 1, 1, "missing safety section (red flags)"))
    knowable = {**nutrients, **causes}
    stage_notes: dict[tuple[str, str], StageNote] = {}
    noted_at: dict[tuple[str, str], str] = {}  # where each stage's note on an id is
    # the symptoms flow choices name: what a nutrient's or cause's ``why_for`` may be told for
    symptoms = {c.symptom for f in flows.values() for n in f.nodes for c in n.choices if c.symptom}

    for pf in parsed:
        for ni, nutrient in enumerate(pf.data.nutrients):
            for topic in nutrient.facts:
                if topic not in topics:
                    line, col = pf.at("nutrients", ni, "facts", topic)
                    refs.append(Problem(pf.shown, line, col, f"unknown topic '{topic}'"))
        for section in ("nutrients", "causes"):
            for ii, item in enumerate(getattr(pf.data, section)):
                for symptom in item.why_for:
                    if symptom not in symptoms:
                        line, col = pf.at(section, ii, "why_for", symptom)
                        message = f"why_for '{symptom}': no flow choice names that symptom"
                        refs.append(Problem(pf.shown, line, col, message))
        for di, diet in enumerate(pf.data.diets):
            for k, nid in enumerate(diet.nutrients):
                if nid not in nutrients:
                    line, col = pf.at("diets", di, "nutrients", k)
                    refs.append(Problem(pf.shown, line, col, f"unknown nutrient '{nid}'"))
        for section in ("faq", "cards"):
            for fi, entry in enumerate(getattr(pf.data, section)):
                for k, rid in enumerate(entry.related):
                    if rid not in knowable and rid not in diets:
                        line, col = pf.at(section, fi, "related", k)
                        message = f"related '{rid}' is no nutrient, cause or diet"
                        refs.append(Problem(pf.shown, line, col, message))
        for ci, card in enumerate(pf.data.cards):
            if card.id in faq:
                line, col = pf.at("cards", ci, "id")
                problems.append(Problem(pf.shown, line, col, f"card id '{card.id}' is a faq id"))
            for k, eid in enumerate(card.about):
                if eid not in entities and eid not in nutrients and eid not in knowable | diets:
                    line, col = pf.at("cards", ci, "about", k)
                    refs.append(
                        Problem(
                            pf.shown,
                            line,
                            col,
                            f"about '{eid}' is no entity, nutrient, cause or diet",
                        )
                    )
        for ei, entity in enumerate(pf.data.entities):
            if entity.opposite is not None and entity.opposite not in entities:
                line, col = pf.at("entities", ei, "opposite")
                message = f"opposite '{entity.opposite}' is no entity"
                refs.append(Problem(pf.shown, line, col, message))
            if entity.id in nutrients or entity.id in causes or entity.id in diets:
                line, col = pf.at("entities", ei, "id")
                problems.append(
                    Problem(
                        pf.shown,
                        line,
                        col,
                        f"entity id '{entity.id}' is already a nutrient, cause or diet",
                    )
                )
        for ri, result_range in enumerate(pf.data.result_ranges):
            if result_range.nutrient not in nutrients:
                line, col = pf.at("result_ranges", ri, "nutrient")
                message = f"result range for '{result_range.nutrient}', which is no nutrient"
                refs.append(Problem(pf.shown, line, col, message))
            missing = [e for e in (RESULT_LOW, RESULT_HIGH) if e not in entities]
            if missing:
                line, col = pf.at("result_ranges", ri)
                message = f"a result range needs the vocabulary entity '{missing[0]}'"
                refs.append(Problem(pf.shown, line, col, message))
            for k, eid in enumerate(result_range.tests):
                if eid not in entities:
                    line, col = pf.at("result_ranges", ri, "tests", k)
                    refs.append(Problem(pf.shown, line, col, f"test '{eid}' is no entity"))
        for si, stage_note in enumerate(pf.data.stage_notes):
            stage = entities.get(stage_note.stage)
            if stage is None or stage.kind != "life_stage":
                line, col = pf.at("stage_notes", si, "stage")
                message = f"stage '{stage_note.stage}' is no life stage"
                refs.append(Problem(pf.shown, line, col, message))
            for k, eid in enumerate(stage_note.about):
                line, col = pf.at("stage_notes", si, "about", k)
                if eid not in entities and eid not in nutrients:
                    message = f"about '{eid}' is no entity or nutrient"
                    refs.append(Problem(pf.shown, line, col, message))
                elif (stage_note.stage, eid) in stage_notes:
                    earlier = noted_at[(stage_note.stage, eid)]
                    message = (
                        f"a second note on '{eid}' for '{stage_note.stage}' (the first: {earlier})"
                    )
                    problems.append(Problem(pf.shown, line, col, message))
                else:
                    stage_notes[(stage_note.stage, eid)] = stage_note
                    noted_at[(stage_note.stage, eid)] = f"{pf.shown}:{line}"
        if pf.data.safety is not None:
            seen_flags: set[str] = set()
            for ri, flag in enumerate(pf.data.safety.red_flags):
                if flag.id in seen_flags:
                    line, col = pf.at("safety", "red_flags", ri, "id")
                    problems.append(
                        Problem(pf.shown, line, col, f"duplicate red flag id '{flag.id}'")
                    )
                seen_flags.add(flag.id)
            problems += _rule_problems(pf, pf.data.safety)
            for level in ("emergency", "urgent"):
                if level not in {u.value for u in pf.data.safety.escalation}:
                    line, col = pf.at("safety", "escalation")
                    problems.append(
                        Problem(pf.shown, line, col, f"no escalation text for '{level}'")
                    )
    flag_ids = {f.id for f in safety.red_flags} if safety else set()
    if safety is not None and safety.model is not None:
        urgency_of = {f.id: f.urgency.value for f in safety.red_flags}
        raised = [("emergency_flag", safety.model.emergency_flag, "emergency")]
        if safety.model.urgent_flag is not None:
            raised.append(("urgent_flag", safety.model.urgent_flag, "urgent"))
        for key, flag_id, level in raised:
            if urgency_of.get(flag_id) != level:
                pf = next(p for p in parsed if p.data.safety is not None)
                line, col = pf.at("safety", "model", key)
                message = f"model: {key} must name a red flag of urgency '{level}'"
                refs.append(Problem(pf.shown, line, col, message))

    nodes: dict[tuple[str, str], Node] = {}
    for pf, fi, flow in _iter_flows(parsed):
        base: Path_ = ("flows", fi)
        by_id: dict[str, Node] = {}
        for ni, node in enumerate(flow.nodes):
            at = pf.at(*base, "nodes", ni, "id")
            if node.id in by_id:
                problems.append(Problem(pf.shown, *at, f"duplicate node id '{node.id}'"))
                continue
            by_id[node.id] = node
            nodes[(flow.id, node.id)] = node
        if flow.start not in by_id:
            line, col = pf.at(*base, "start")
            problems.append(
                Problem(pf.shown, line, col, f"start node '{flow.start}' does not exist")
            )
        for ni, node in enumerate(flow.nodes):
            npath = (*base, "nodes", ni)
            if (node.ask is None) == (node.outcome is None):
                line, col = pf.at(*npath, "id")
                problems.append(
                    Problem(
                        pf.shown, line, col, f"node '{node.id}' needs exactly one of ask or outcome"
                    )
                )
            if node.ask is not None and not node.choices:
                line, col = pf.at(*npath, "ask")
                problems.append(
                    Problem(pf.shown, line, col, f"dead end: '{node.id}' asks but has no choices")
                )
            if node.outcome is not None and node.choices:
                line, col = pf.at(*npath, "choices")
                problems.append(
                    Problem(pf.shown, line, col, f"outcome node '{node.id}' cannot have choices")
                )
            choice_ids: set[str] = set()
            for ci, choice in enumerate(node.choices):
                cpath = (*npath, "choices", ci)
                if choice.id in choice_ids:
                    line, col = pf.at(*cpath, "id")
                    problems.append(
                        Problem(pf.shown, line, col, f"duplicate choice id '{choice.id}'")
                    )
                choice_ids.add(choice.id)
                if len(f"{node.id}.{choice.id}") > MAX_BUTTON_ID:
                    line, col = pf.at(*cpath, "id")
                    problems.append(
                        Problem(pf.shown, line, col, "button id longer than 64 characters")
                    )
                if choice.next is None and choice.action is None:
                    line, col = pf.at(*cpath, "id")
                    problems.append(
                        Problem(
                            pf.shown,
                            line,
                            col,
                            f"dead end: choice '{choice.id}' has no next or action",
                        )
                    )
                if choice.next is not None and choice.action is not None:
                    line, col = pf.at(*cpath, "action")
                    problems.append(
                        Problem(pf.shown, line, col, "a choice has next or action, not both")
                    )
                if choice.next is not None and choice.next not in by_id:
                    line, col = pf.at(*cpath, "next")
                    problems.append(
                        Problem(pf.shown, line, col, f"next '{choice.next}' does not exist")
                    )
                for key in choice.adds:
                    if key not in knowable:
                        line, col = pf.at(*cpath, "adds", key)
                        refs.append(
                            Problem(
                                pf.shown,
                                line,
                                col,
                                f"adds '{key}': no nutrient or cause with that id",
                            )
                        )
                for k, key in enumerate(choice.clears):
                    if key not in knowable:
                        line, col = pf.at(*cpath, "clears", k)
                        message = f"clears '{key}': no nutrient or cause with that id"
                        refs.append(Problem(pf.shown, line, col, message))
                for k, nid in enumerate(choice.taking):
                    if nid not in nutrients:
                        line, col = pf.at(*cpath, "taking", k)
                        refs.append(Problem(pf.shown, line, col, f"taking '{nid}': no nutrient"))
                if choice.red_flag is not None and choice.red_flag not in flag_ids:
                    line, col = pf.at(*cpath, "red_flag")
                    refs.append(
                        Problem(pf.shown, line, col, f"unknown red flag '{choice.red_flag}'")
                    )
        reachable = _reachable(flow, by_id)
        for ni, node in enumerate(flow.nodes):
            if node.id not in reachable and flow.start in by_id:
                line, col = pf.at(*base, "nodes", ni, "id")
                problems.append(Problem(pf.shown, line, col, f"node '{node.id}' is unreachable"))

    if complete:
        problems += refs
    if problems or not complete or safety is None:
        return None, problems
    return (
        Bundle(
            version=version,
            messages=messages,
            commands=tuple(commands.values()),
            intents=intents,
            topics=topics,
            nutrients=nutrients,
            diets=diets,
            causes=causes,
            faq=faq,
            safety=safety,
            flows=flows,
            nodes=nodes,
            entities=entities,
            cards=cards,
            stage_notes=stage_notes,
            result_ranges=result_ranges,
            ask_templates=ask_templates,
            real_words=frozenset(w for pf in parsed for w in pf.data.real_words),
        ),
        problems,
    )


def _rule_problems(pf: ParsedFile, safety: Safety) -> list[Problem]:
    """Duplicate concepts, and rules that name a concept that does not exist."""
    problems = []
    known: set[str] = set()
    for ci, concept in enumerate(safety.concepts):
        if concept.id in known:
            line, col = pf.at("safety", "concepts", ci, "id")
            problems.append(Problem(pf.shown, line, col, f"duplicate concept id '{concept.id}'"))
        known.add(concept.id)
    # a modifier's ``only`` and ``never`` name concepts, or a flag's own phrases (flag_<id>)
    reachable = known | {PHRASE_CONCEPT.format(f.id) for f in safety.red_flags if f.phrases}
    for mi, modifier in enumerate(safety.context.modifiers):
        for key in ("only", "never"):
            for k, concept_id in enumerate(getattr(modifier, key)):
                if concept_id not in reachable:
                    line, col = pf.at("safety", "context", "modifiers", mi, key, k)
                    problems.append(
                        Problem(pf.shown, line, col, f"{key} names unknown concept '{concept_id}'")
                    )
    raised_by_model = (
        {safety.model.emergency_flag, safety.model.urgent_flag} - {None} if safety.model else set()
    )
    for fi, flag in enumerate(safety.red_flags):
        if not flag.phrases and not flag.when and flag.id not in raised_by_model:
            line, col = pf.at("safety", "red_flags", fi, "id")
            problems.append(
                Problem(pf.shown, line, col, f"red flag '{flag.id}' has no phrases and no rules")
            )
        for ri, rule in enumerate(flag.when):
            for term in parse_rule(rule):
                for concept_id in term.concepts:
                    if concept_id not in known:
                        line, col = pf.at("safety", "red_flags", fi, "when", ri)
                        problems.append(
                            Problem(
                                pf.shown,
                                line,
                                col,
                                f"rule '{rule}' names unknown concept '{concept_id}'",
                            )
                        )
    return problems  # fmt: skip


def _placeholder_problem(key: str, text: str) -> str | None:
    """Why a message's {placeholders} would break when the engine fills it in, or None."""
    allowed = MESSAGE_FIELDS.get(key)
    if allowed is None:
        return None  # never formatted: braces are plain text
    try:
        used = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError:
        return f"message '{key}' has an unmatched brace; write {{{{ or }}}} for a literal one"
    unknown = sorted(used - allowed)
    if unknown:
        return f"message '{key}' uses {{{unknown[0]}}}; it can use " + ", ".join(
            f"{{{name}}}" for name in sorted(allowed)
        )
    return None


def _reachable(flow: Flow, by_id: dict[str, Node]) -> set[str]:
    seen: set[str] = set()
    todo = [flow.start]
    while todo:
        nid = todo.pop()
        if nid in seen or nid not in by_id:
            continue
        seen.add(nid)
        todo += [c.next for c in by_id[nid].choices if c.next]
    return seen


def bundled_content_dir() -> Path:
    """The content folder shipped with nervebot (installed copy first, then the source tree)."""
    package = Path(__file__).resolve().parents[1]  # the `bot` package
    installed = package / "_content"  # where the wheel puts it (see pyproject.toml)
    return installed if installed.is_dir() else package.parent / "content"
