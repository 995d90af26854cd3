"""The terminal adapter: an interactive chat, and the scripted JSON-lines protocol."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import textwrap
from typing import Any, TextIO

from bot import markup
from bot.conversation.engine import Engine
from bot.events import Button, Incoming, Reply, SessionKey, Urgency

PLATFORM = "console"

_BOLD, _RESET, _DIM = "\033[1m", "\033[0m", "\033[2m"
_URGENCY_COLOUR = {Urgency.EMERGENCY: "\033[1;31m", Urgency.URGENT: "\033[1;33m"}


def use_colour(stream: TextIO) -> bool:
    """Colours only on a terminal, and never when NO_COLOR is set."""
    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def _wrap(text: str, width: int | None) -> list[str]:
    """Wrap markup to ``width`` columns, keeping bold spans balanced on every line."""
    lines: list[str] = []
    for line in text.split("\n"):
        indent = "  " if line.startswith("• ") else ""
        lines += textwrap.wrap(line, width, subsequent_indent=indent) if width and line else [line]
    for i in range(len(lines) - 1):
        if markup.bold_open(lines[i]):
            lines[i] += "**"
            lines[i + 1] = "**" + lines[i + 1]
    return lines


def render(reply: Reply, colour: bool, first_number: int = 1, width: int | None = None) -> str:
    """A reply as terminal text: bold spans, urgency colour, numbered buttons, wrapped lines."""
    rendered = []
    for line in _wrap(reply.text, width):
        if colour:
            line = "".join(
                f"{_BOLD}{s.text}{_RESET}" if s.bold else s.text for s in markup.parse(line)
            )
            if reply.urgency in _URGENCY_COLOUR:
                line = f"{_URGENCY_COLOUR[reply.urgency]}{line}{_RESET}"
        else:
            line = markup.plain(line)
        rendered.append(line)
    for number, button in enumerate(reply.buttons, start=first_number):
        label = f"{number}) {button.label}"
        rendered.append(f"  {_DIM}{label}{_RESET}" if colour else f"  {label}")
    return "\n".join(rendered)


def pick_button(line: str, buttons: list[Button]) -> Button | None:
    """The button a typed line presses: its number or its exact label (any case)."""
    wanted = line.strip()
    if wanted.isdigit() and 1 <= int(wanted) <= len(buttons):
        return buttons[int(wanted) - 1]
    folded = wanted.casefold()
    return next((b for b in buttons if b.label.casefold() == folded), None)


async def _readline(stream: TextIO) -> str | None:
    line = await asyncio.to_thread(stream.readline)
    return line if line else None


async def interactive(engine: Engine, user: str, stdin: TextIO, stdout: TextIO) -> int:
    """A friendly chat in the terminal until end of input or /quit."""
    colour = use_colour(stdout)
    key = SessionKey(PLATFORM, user)
    tip = "(type a message, a number to press a button, or /quit to leave)"
    stdout.write((f"{_DIM}{tip}{_RESET}" if colour else tip) + "\n\n")
    buttons: list[Button] = []
    incoming: Incoming | None = Incoming(key, text="/start")
    while True:
        if incoming is not None:
            replies = await engine.handle(incoming)
            buttons = []
            width = min(shutil.get_terminal_size((88, 24)).columns, 100) - 1
            for reply in replies:
                stdout.write(render(reply, colour, len(buttons) + 1, width) + "\n\n")
                buttons.extend(reply.buttons)
            stdout.flush()
        stdout.write(f"{_BOLD}you>{_RESET} " if colour else "you> ")
        stdout.flush()
        line = await _readline(stdin)
        if line is None or line.strip() in ("/quit", "/exit"):
            stdout.write("\nTake care!\n")
            return 0
        pressed = pick_button(line, buttons)
        incoming = (
            Incoming(key, button=pressed.id) if pressed else Incoming(key, text=line.rstrip("\n"))
        )


def _parse_turn(line: str, default_user: str) -> tuple[Incoming | None, str | None]:
    """One stdin line as a turn, or an error message for stderr."""
    stripped = line.rstrip("\r\n")
    user = default_user
    if stripped.lstrip().startswith("{"):
        try:
            data: Any = json.loads(stripped)
        except RecursionError:
            return None, "the JSON object is nested too deeply"
        except ValueError:
            data = None
        if isinstance(data, dict):
            if "user" in data:
                user = str(data["user"])
            key = SessionKey(PLATFORM, user)
            if isinstance(data.get("button"), str):
                return Incoming(key, button=data["button"]), None
            if isinstance(data.get("text"), str):
                return Incoming(key, text=data["text"]), None
            return None, 'a JSON turn needs "text" or "button" (a string)'
    return Incoming(SessionKey(PLATFORM, user), text=stripped), None


def reply_json(turn: int, reply: Reply) -> str:
    """One reply as a line of the JSON chat protocol."""
    return json.dumps(
        {
            "turn": turn,
            "text": markup.plain(reply.text),
            "buttons": [{"id": b.id, "label": b.label} for b in reply.buttons],
            "urgency": reply.urgency.value if reply.urgency else None,
            "flow": reply.flow,
            "node": reply.node,
        },
        ensure_ascii=False,
    )


async def json_lines(
    engine: Engine, user: str, stdin: TextIO, stdout: TextIO, stderr: TextIO
) -> int:
    """The scripted protocol: each stdin line a turn, each reply a JSON line on stdout."""
    turn = 0
    while True:
        line = await _readline(stdin)
        if line is None:
            return 0
        turn += 1
        incoming, error = _parse_turn(line, user)
        if incoming is None:
            stderr.write(f"turn {turn}: {error}\n")
            stderr.flush()
            continue
        for reply in await engine.handle(incoming):
            stdout.write(reply_json(turn, reply) + "\n")
        stdout.flush()


def main_streams() -> tuple[TextIO, TextIO, TextIO]:
    """stdin, stdout and stderr, reconfigured to UTF-8 so emoji never crash the chat."""
    for stream in (sys.stdin, sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(encoding="utf-8", errors="replace")
    return sys.stdin, sys.stdout, sys.stderr
