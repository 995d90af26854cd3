"""Run the transcript tests of a content folder (``nervebot test``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot import markup
from bot.content.loader import Bundle, load_transcripts
from bot.content.model import Expect, Step, Transcript
from bot.conversation.engine import Engine
from bot.conversation.flood import FloodGuard
from bot.errors import Problem
from bot.events import Incoming, Reply, SessionKey, Urgency
from bot.language.embedding import Embedder
from bot.storage.store import MemoryStore


@dataclass(frozen=True)
class Failure:
    """One failed step: where, what was expected, and what came."""

    file: str
    test: str
    step: int
    said: str
    problems: tuple[str, ...]
    got: str

    def __str__(self) -> str:
        lines = [f"FAIL {self.file}: {self.test}: step {self.step} ({self.said})"]
        lines += [f"  expected {p}" for p in self.problems]
        lines.append("  got: " + self.got.replace("\n", "\n       "))
        return "\n".join(lines)


def turn_urgency(replies: list[Reply]) -> Urgency | None:
    """The most urgent urgency among a turn's replies, or None."""
    levels = [r.urgency for r in replies if r.urgency is not None]
    return min(levels, key=lambda u: u.rank) if levels else None


def check(expect: Expect, replies: list[Reply]) -> list[str]:
    """What ``replies`` miss of ``expect``, as readable phrases (empty when all is well)."""
    text = "\n".join(markup.plain(r.text) for r in replies).casefold()
    problems = [f"to contain {s!r}" for s in expect.contains if s.casefold() not in text]
    problems += [f"not to contain {s!r}" for s in expect.not_contains if s.casefold() in text]
    if expect.urgency != "any":
        got = turn_urgency(replies)
        if got != expect.urgency:
            want = expect.urgency.value if isinstance(expect.urgency, Urgency) else None
            problems.append(f"urgency {want!r}, got {got.value if got else None!r}")
    last = replies[-1] if replies else None
    for name in ("flow", "node"):
        want_value = getattr(expect, name)
        got_value = getattr(last, name) if last else None
        if want_value != "any" and want_value != got_value:
            problems.append(f"{name} {want_value!r}, got {got_value!r}")
    ids = {b.id for r in replies for b in r.buttons}
    problems += [f"a button {b!r}" for b in expect.buttons if b not in ids]
    return problems


def _said(step: Step) -> str:
    return f"button {step.button!r}" if step.button is not None else f"user {step.user!r}"


def _render(replies: list[Reply]) -> str:
    parts = []
    for r in replies:
        line = markup.plain(r.text)
        if r.buttons:
            line += "\n[" + " | ".join(f"{b.id}: {b.label}" for b in r.buttons) + "]"
        meta = {"urgency": r.urgency.value if r.urgency else None, "flow": r.flow, "node": r.node}
        parts.append(f"{line}\n{meta}")
    return "\n---\n".join(parts)


async def run_transcript(
    bundle: Bundle, file: str, transcript: Transcript, embedder: Embedder | None = None
) -> list[Failure]:
    """Run one transcript against a fresh engine and in-memory store."""
    failures = []
    async with MemoryStore() as store:
        engine = Engine(bundle, store, embedder=embedder, flood=FloodGuard.off())
        key = SessionKey("test", transcript.name)
        for number, step in enumerate(transcript.steps, start=1):
            replies = await engine.handle(Incoming(key, text=step.user, button=step.button))
            problems = check(step.expect, replies)
            if problems:
                failures.append(
                    Failure(
                        file,
                        transcript.name,
                        number,
                        _said(step),
                        tuple(problems),
                        _render(replies),
                    )
                )
    return failures


def line_of(file: str, text: str) -> int:
    """The first line of ``file`` that holds ``text`` (1 when none does), for problem positions."""
    try:
        lines = Path(file).read_text(encoding="utf-8").splitlines()
    except OSError:
        return 1
    return next((n for n, line in enumerate(lines, 1) if text in line), 1)


async def run_all(
    bundle: Bundle, root: Path, embedder: Embedder | None = None
) -> tuple[int, list[Failure], list[Problem]]:
    """Run every transcript test of a folder: (how many ran, failures, file problems)."""
    transcripts, problems = load_transcripts(root)
    failures: list[Failure] = []
    for file, transcript in transcripts:
        failures += await run_transcript(bundle, file, transcript, embedder)
    return len(transcripts), failures, problems


def as_problems(failures: list[Failure]) -> list[Problem]:
    """Transcript failures in the validator's ``path:line:col: message`` form."""
    return [
        Problem(
            f.file,
            line_of(f.file, f"name: {f.test}"),
            1,
            f"transcript '{f.test}' step {f.step}: expected {f.problems[0]}",
        )
        for f in failures
    ]
