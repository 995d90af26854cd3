"""The terminal adapter: an interactive chat, and the scripted JSON-lines protocol."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import sys
import textwrap
import threading
from collections.abc import Iterator
from types import ModuleType
from typing import Any, TextIO

from bot import markup
from bot.conversation.engine import Engine
from bot.events import Button, Incoming, Reply, SessionKey, Urgency

PLATFORM = "console"

_BOLD, _RESET, _DIM = "\033[1m", "\033[0m", "\033[2m"
_URGENCY_COLOUR = {Urgency.EMERGENCY: "\033[1;31m", Urgency.URGENT: "\033[1;33m"}
#: Said for an empty line, instead of sending it to the engine (which would answer with a menu).
EMPTY_LINE_HINT = "Type a question, a number to press a button, or /quit to leave."
GOODBYE = "Take care!"
#: "tap" as a button instruction ("tap an option below"), not "a tap on the cheek" or "tap water".
_TAP = re.compile(r"\b([Tt])ap(?= (?:an?|the|one)\b)")


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


def terminal_wording(text: str) -> str:
    """The shared texts say "tap" for buttons; in the terminal a button is a typed number."""
    return _TAP.sub(lambda m: ("T" if m.group(1) == "T" else "t") + "ype the number of", text)


def render(reply: Reply, colour: bool, first_number: int = 1, width: int | None = None) -> str:
    """A reply as terminal text: bold spans, urgency colour, numbered buttons, wrapped lines."""
    rendered = []
    for line in _wrap(terminal_wording(reply.text), width):
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


def _line_editor(stdin: TextIO) -> ModuleType | None:
    """The ``readline`` module when stdin is the process's terminal (absent on some platforms)."""
    if stdin is not sys.stdin or not stdin.isatty():
        return None
    try:
        import readline
    except ImportError:
        return None
    return readline


def _clear_history(readline: ModuleType) -> None:
    clear = getattr(readline, "clear_history", None)
    if clear is not None:
        clear()
        return
    for index in reversed(range(readline.get_current_history_length())):
        readline.remove_history_item(index)


@contextlib.contextmanager
def _private_history(readline: ModuleType | None) -> Iterator[None]:
    """Arrow-key history of this chat only, in memory: nothing is written to a history file,
    and the lines are removed again afterwards (so a Python shell that saves its history at
    exit never saves a health question)."""
    if readline is None:
        yield
        return
    length = readline.get_current_history_length()
    before = [readline.get_history_item(i) for i in range(1, length + 1)]
    _clear_history(readline)
    try:
        yield
    finally:
        _clear_history(readline)
        for item in before:
            if item is not None:
                readline.add_history(item)


def _prompt_text(colour: bool, readline: ModuleType | None) -> str:
    if not colour:
        return "you> "
    if readline is None:
        return f"{_BOLD}you>{_RESET} "
    if "libedit" in (readline.__doc__ or ""):
        return "you> "  # libedit may not understand the markers that hide escapes from it
    # \001 and \002 tell GNU readline that the colour codes take no columns on screen.
    return f"\001{_BOLD}\002you>\001{_RESET}\002 "


class _CtrlC:
    """Ctrl-C in the chat leaves at once: it interrupts the line being read, or cancels the
    answer being worked out.

    A line read in a worker thread (as ``json_lines`` does) cannot be interrupted, and
    ``asyncio.run`` only cancels its task on Ctrl-C, which a blocked read never notices. So the
    chat reads on the main thread, where Python runs signal handlers, with this handler.
    """

    #: While a read blocks, a timer wakes it this often, so that a Ctrl-C which arrives just
    #: before the read starts to wait (when Python cannot yet act on it) is acted on anyway.
    WAKE_EVERY = 0.25

    def __init__(self) -> None:
        self.pressed = False
        self.reading = False
        self.answering: asyncio.Future[Any] | None = None
        self._loop = asyncio.get_running_loop()
        self._ticks = hasattr(signal, "setitimer")

    def __call__(self, signum: int, frame: object) -> None:
        self.pressed = True
        if self.reading:
            raise KeyboardInterrupt
        if self.answering is not None:
            self.answering.cancel()
            self._loop.call_soon_threadsafe(lambda: None)  # wake the loop to deliver it

    @classmethod
    @contextlib.contextmanager
    def installed(cls) -> Iterator[_CtrlC | None]:
        """The handler for the chat, or None where it cannot be installed (not the main
        thread, or Ctrl-C ignored, as under ``nohup``)."""
        if threading.current_thread() is not threading.main_thread():
            yield None
            return
        previous = signal.getsignal(signal.SIGINT)
        if previous in (signal.SIG_IGN, None):
            yield None
            return
        handler = cls()
        if handler._ticks and (
            signal.getsignal(signal.SIGALRM) is not signal.SIG_DFL
            or signal.getitimer(signal.ITIMER_REAL)[0]
        ):
            handler._ticks = False  # someone else uses the timer: leave it alone
        if handler._ticks:
            signal.signal(signal.SIGALRM, _ignore_tick)
        signal.signal(signal.SIGINT, handler)
        try:
            yield handler
        finally:
            signal.signal(signal.SIGINT, previous)
            if handler._ticks:  # the timer is off: every tick it sent has been handled
                signal.signal(signal.SIGALRM, signal.SIG_DFL)

    def read(self, stdin: TextIO, stdout: TextIO, prompt: str, editing: bool) -> str | None:
        """One line, or None at end of input; raises KeyboardInterrupt on Ctrl-C."""
        if self._ticks:
            signal.setitimer(signal.ITIMER_REAL, self.WAKE_EVERY, self.WAKE_EVERY)
        try:
            self.reading = True
            try:
                if self.pressed:
                    raise KeyboardInterrupt
                if editing:
                    try:
                        return input(prompt)  # line editing and history through readline
                    except EOFError:
                        return None
                stdout.write(prompt)
                stdout.flush()
                return stdin.readline() or None
            finally:
                self.reading = False
        finally:
            if self._ticks:
                signal.setitimer(signal.ITIMER_REAL, 0)


def _ignore_tick(signum: int, frame: object) -> None:
    """SIGALRM only wakes a blocked read (see ``_CtrlC.WAKE_EVERY``)."""


async def _answer(engine: Engine, incoming: Incoming, ctrl_c: _CtrlC | None) -> list[Reply] | None:
    """The engine's replies, or None if Ctrl-C cancelled them."""
    if ctrl_c is None:
        return await engine.handle(incoming)
    ctrl_c.answering = answering = asyncio.ensure_future(engine.handle(incoming))
    try:
        replies = await answering
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if not ctrl_c.pressed or (current is not None and current.cancelling()):
            raise  # cancelled from outside, not by Ctrl-C
        return None
    finally:
        ctrl_c.answering = None
    return None if ctrl_c.pressed else replies


async def _ask(
    ctrl_c: _CtrlC | None, stdin: TextIO, stdout: TextIO, prompt: str, editing: bool
) -> str | None:
    """The user's next line, or None at end of input or on Ctrl-C.

    The chat is turn-based: while it waits for the user nothing else runs, so the line is read
    on the event loop's own (main) thread, where Ctrl-C can interrupt it.
    """
    if ctrl_c is None:  # no signals here: read in a worker thread, as before
        stdout.write(prompt)
        stdout.flush()
        return await _readline(stdin)
    try:
        line = ctrl_c.read(stdin, stdout, prompt, editing)
    except KeyboardInterrupt:
        return None
    return None if ctrl_c.pressed else line


def numbering(replies: list[Reply]) -> tuple[list[int], list[Button]]:
    """The first button number of each reply, and every button in number order.

    A question of a flow (the last reply on a step of a check) always numbers its options from
    1, so "2" means the same option whatever was said before it in the same turn (a warning,
    an answer to a side question); the other replies' buttons come after its options.
    """
    screen = next((r for r in reversed(replies) if r.node and r.buttons), None)
    ordered = ([screen] if screen else []) + [r for r in replies if r is not screen]
    firsts: dict[int, int] = {}
    buttons: list[Button] = []
    for reply in ordered:
        firsts[id(reply)] = len(buttons) + 1
        buttons.extend(reply.buttons)
    return [firsts[id(r)] for r in replies], buttons


async def interactive(engine: Engine, user: str, stdin: TextIO, stdout: TextIO) -> int:
    """A friendly chat in the terminal until /quit, end of input (Ctrl-D) or Ctrl-C."""
    colour = use_colour(stdout)
    key = SessionKey(PLATFORM, user)
    tip = "(type a message, a number to press a button, or /quit to leave)"
    stdout.write((f"{_DIM}{tip}{_RESET}" if colour else tip) + "\n\n")
    hint = f"{_DIM}{EMPTY_LINE_HINT}{_RESET}" if colour else EMPTY_LINE_HINT
    buttons: list[Button] = []
    incoming: Incoming | None = Incoming(key, text="/start")
    with contextlib.ExitStack() as stack:
        ctrl_c = stack.enter_context(_CtrlC.installed())
        readline = _line_editor(stdin) if ctrl_c is not None else None
        stack.enter_context(_private_history(readline))
        prompt = _prompt_text(colour, readline)
        while True:
            if incoming is not None:
                replies = await _answer(engine, incoming, ctrl_c)
                if replies is None:
                    break
                width = min(shutil.get_terminal_size((88, 24)).columns, 100) - 1
                firsts, buttons = numbering(replies)
                for reply, first in zip(replies, firsts, strict=True):
                    stdout.write(render(reply, colour, first, width) + "\n\n")
                stdout.flush()
            line = await _ask(ctrl_c, stdin, stdout, prompt, readline is not None)
            if line is None or line.strip() in ("/quit", "/exit"):
                break
            if not line.strip():
                stdout.write(hint + "\n\n")
                incoming = None
                continue
            pressed = pick_button(line, buttons)
            incoming = (
                Incoming(key, button=pressed.id)
                if pressed
                else Incoming(key, text=line.rstrip("\n"))
            )
    stdout.write(f"\n{GOODBYE}\n")
    stdout.flush()
    return 0


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
