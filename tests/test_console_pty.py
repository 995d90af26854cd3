"""The terminal chat as a person uses it: in a real pseudo-terminal, with readline, Ctrl-C, Ctrl-D."""

from __future__ import annotations

import asyncio
import io
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from adapters.console import EMPTY_LINE_HINT, interactive, render, terminal_wording
from bot.content.loader import bundled_content_dir
from bot.events import Incoming, Reply

pty = pytest.importorskip("pty")
termios = pytest.importorskip("termios")
fcntl = pytest.importorskip("fcntl")
select = pytest.importorskip("select")

ROOT = Path(__file__).resolve().parents[1]
#: Generous: the first answer loads the content and the language model; a busy machine is slow.
TIMEOUT = 90.0
UP = b"\x1b[A"
CTRL_C, CTRL_D = b"\x03", b"\x04"
MENU = "1) Check my symptoms"
TAP = re.compile(r"\btap\b", re.IGNORECASE)
#: Terminal control sequences (readline's redraws, colours, bracketed paste).
_CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[=>]|[\x01\x02\x07]")


#: Runs in the child, a new session (setsid): the pty on stdin becomes its controlling
#: terminal, so Ctrl-C typed there is a SIGINT to the chat, as in a real terminal. SIGINT is
#: given back its default first: a test run started in the background by a shell without job
#: control (or under some CI runners) inherits it ignored, and a chat started that way rightly
#: leaves Ctrl-C alone.
_WITH_CONTROLLING_TTY = (
    "import fcntl, os, signal, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
    "signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
)


class Terminal:
    """``nervebot chat`` on the far side of a pseudo-terminal."""

    def __init__(self, tmp_path: Path, colour: bool = False) -> None:
        home = tmp_path / "home"
        home.mkdir()
        self.home = home
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "TERM": "xterm",
            "HOME": str(home),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "INPUTRC": os.devnull,  # the machine's readline settings must not change the test
        }
        env.pop("NO_COLOR", None)
        if not colour:
            env["NO_COLOR"] = "1"
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, b"\x28\x00\x64\x00\x00\x00\x00\x00")  # 40x100
        chat = ["-m", "bot", "chat", "--db", str(tmp_path / "s.sqlite3")]
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _WITH_CONTROLLING_TTY, *chat],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=ROOT,
            env=env,
            start_new_session=True,
        )
        os.close(slave)
        self.raw = ""  # everything the chat wrote, terminal sequences included
        self._seen = 0  # how much of it earlier expect() calls consumed
        self.closed = False  # the chat closed its end of the terminal

    @property
    def unread(self) -> str:
        """What the chat wrote after the last expected text."""
        return self.text[self._seen :]

    @property
    def text(self) -> str:
        """What the chat wrote, as plain text."""
        return _CONTROL.sub("", self.raw).replace("\r\n", "\n")

    def _pump(self, seconds: float) -> bool:
        """Read what arrives within ``seconds``; False if nothing did (or the terminal closed)."""
        ready, _, _ = select.select([self.master], [], [], seconds)
        if not ready:
            return False
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: every process closed the terminal
            data = b""
        if not data:
            self.closed = True
            return False
        self.raw += data.decode("utf-8", errors="replace")
        return True

    def expect(self, wanted: str, timeout: float = TIMEOUT) -> str:
        """Wait until ``wanted`` is written; return the new text up to and including it."""
        deadline = time.monotonic() + timeout
        while True:
            at = self.text.find(wanted, self._seen)
            if at >= 0:
                chunk = self.text[self._seen : at + len(wanted)]
                self._seen = at + len(wanted)
                return chunk
            left = deadline - time.monotonic()
            if left <= 0 or self.closed:
                tail = self.unread[-2000:]
                pytest.fail(f"no {wanted!r} within {timeout} s; the chat wrote:\n{tail}")
            self._pump(min(left, 1.0))

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def wait_exit(self, timeout: float = TIMEOUT) -> int:
        """The exit code, reading the terminal meanwhile so the chat never blocks on it."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and not self.closed and time.monotonic() < deadline:
            self._pump(0.2)
        try:
            self.proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            pytest.fail(f"the chat still runs {timeout} s later; it wrote:\n{self.text[-2000:]}")
        while not self.closed and self._pump(1.0):  # the rest of the output
            pass
        return self.proc.returncode

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=TIMEOUT)
        os.close(self.master)


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    term = Terminal(tmp_path)
    yield term
    term.close()


def test_question_history_empty_line_and_ctrl_c(terminal: Terminal) -> None:
    started = terminal.expect("you> ")
    assert MENU in started

    terminal.send(b"what foods have magnesium?\r")
    assert "Pumpkin seeds" in terminal.expect("you> ")

    terminal.send(UP)  # readline recalls the last line ...
    terminal.expect("what foods have magnesium?")
    terminal.send(b"\r")  # ... and sending it answers it again
    assert "Pumpkin seeds" in terminal.expect("you> ")

    terminal.send(b"\r")  # an empty line: a one-line hint, not the menu
    hint = terminal.expect("you> ")
    assert EMPTY_LINE_HINT in hint
    assert MENU not in hint and "empty" not in hint

    terminal.send(b"zzqx blorp\r")  # not understood: the fallback text offers the buttons
    fallback = terminal.expect("you> ")
    assert "pick an option below" in " ".join(fallback.split())  # no "tap" in a terminal
    assert MENU in fallback

    terminal.send(CTRL_C)
    assert terminal.wait_exit(timeout=30) == 0
    assert "Take care!" in terminal.unread
    assert not TAP.search(terminal.text), "the terminal says 'tap'"
    assert "Traceback" not in terminal.text


def test_ctrl_c_mid_line_and_no_history_file(terminal: Terminal) -> None:
    terminal.expect("you> ")
    terminal.send(b"does coffee make my eye twitch")  # typed, never sent
    terminal.expect("twitch")
    terminal.send(CTRL_C)
    assert terminal.wait_exit(timeout=30) == 0
    assert "Take care!" in terminal.text
    written = [p.name for p in terminal.home.rglob("*") if p.is_file()]
    assert not [name for name in written if "hist" in name.lower()], written


def test_ctrl_d_leaves_cleanly_with_colours(tmp_path: Path) -> None:
    term = Terminal(tmp_path, colour=True)
    try:
        assert MENU in term.expect("you>")
        term.send(b"what foods have magnesium?\r")
        assert "Pumpkin seeds" in term.expect("you>")
        term.send(CTRL_D)
        assert term.wait_exit(timeout=30) == 0
        assert "Take care!" in term.text
        assert "\x1b[1m" in term.raw  # bold, so the colour path really ran
        assert "\x01" not in term.raw and "\x02" not in term.raw  # readline hid its markers
        assert "Traceback" not in term.text
    finally:
        term.close()


def test_piped_empty_line_gets_the_hint_not_the_menu(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot", "chat", "--db", str(tmp_path / "s.sqlite3")],
        input="\n   \n/quit\n",
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(MENU) == 1  # the welcome only
    assert done.stdout.count(EMPTY_LINE_HINT) == 2
    assert "Take care!" in done.stdout


class _StuckEngine:
    """An engine that is still thinking when Ctrl-C is pressed (it presses it itself)."""

    async def handle(self, incoming: Incoming) -> list[Reply]:
        signal.raise_signal(signal.SIGINT)
        await asyncio.Event().wait()  # never answers
        raise AssertionError("unreachable")


async def test_ctrl_c_while_the_bot_answers_leaves_at_once() -> None:
    # Python's own Ctrl-C handler, as in a terminal (a run started in the background inherits
    # SIGINT ignored, and then the chat, rightly, leaves it alone)
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        out = io.StringIO()
        code = await asyncio.wait_for(
            interactive(_StuckEngine(), "u", io.StringIO("never read\n"), out),  # type: ignore[arg-type]
            timeout=30,
        )
        assert code == 0
        assert out.getvalue().endswith("\nTake care!\n")
        assert "you>" not in out.getvalue()  # it left before asking anything
        # the chat's handler is gone again
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, inherited)


def _strings(node: object) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for value in node.values() for s in _strings(value)]
    if isinstance(node, list):
        return [s for value in node for s in _strings(value)]
    return []


def test_no_bundled_message_or_flow_text_says_tap_in_the_terminal() -> None:
    content = bundled_content_dir()
    files = [content / "messages.yaml", *sorted((content / "flows").glob("*.yaml"))]
    texts = [s for f in files for s in _strings(yaml.safe_load(f.read_text(encoding="utf-8")))]
    assert texts  # the shared texts say "pick"; a moderator's "tap" is reworded (below)
    for text in texts:  # the terminal never says "tap"
        assert not TAP.search(render(Reply(text), colour=False, width=80)), text


@pytest.mark.parametrize(
    ("shared", "terminal_text"),
    [
        ("Type a question, or tap an option below.", "Type a question, or type the number of an option below."),
        ("Tap a nutrient below to read more.", "Type the number of a nutrient below to read more."),
        ("A tap on the cheek makes the face twitch.", "A tap on the cheek makes the face twitch."),
        ("Tap water is fine.", "Tap water is fine."),
        ("Tapping your foot, taps and tapas.", "Tapping your foot, taps and tapas."),
    ],
)  # fmt: skip
def test_terminal_wording(shared: str, terminal_text: str) -> None:
    assert terminal_wording(shared) == terminal_text
