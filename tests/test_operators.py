"""What operators meet (issue 12): empty settings, quiet libraries, content formats, clear
network errors and install hints that work from a checkout."""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bot import cli
from bot.content import loader
from bot.content.loader import ContentFormatError, bundled_content_dir, load_content
from bot.errors import ConfigError
from bot.settings import Settings, default_db_path

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- settings


@pytest.fixture
def bare_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No nervebot settings in the environment, and no .env in the working folder."""
    for name in list(os.environ):
        if name.startswith(("NERVEBOT_", "TELEGRAM_", "DISCORD_")) or name == "STATE_DIRECTORY":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


@pytest.mark.parametrize("blank", ["", "   "])
def test_an_empty_nervebot_db_falls_back_to_the_default(
    bare_env: pytest.MonkeyPatch, blank: str
) -> None:
    bare_env.setenv("NERVEBOT_DB", blank)
    bare_env.setenv("NERVEBOT_SESSION_TTL_DAYS", blank)
    bare_env.setenv("TELEGRAM_BOT_TOKEN", blank)
    settings = Settings()
    assert settings.nervebot_db is None and settings.db_path == default_db_path()
    assert settings.nervebot_session_ttl_days == 30.0 and settings.telegram_bot_token is None


def test_under_systemd_an_empty_nervebot_db_keeps_the_state_directory(
    bare_env: pytest.MonkeyPatch,
) -> None:
    """systemd lets the env file's `NERVEBOT_DB=` replace the unit's Environment= value."""
    bare_env.setenv("STATE_DIRECTORY", "/var/lib/nervebot")
    bare_env.setenv("NERVEBOT_DB", "")
    assert Settings().db_path == Path("/var/lib/nervebot/sessions.sqlite3")
    bare_env.setenv("NERVEBOT_DB", "/srv/other.sqlite3")  # a value set on purpose still wins
    assert Settings().db_path == Path("/srv/other.sqlite3")


# --------------------------------------------------------------------------- logging


def _log_probe(level: str) -> str:
    code = (
        "import logging, discord\n"
        "from bot import logs\n"
        f"logs.configure({level!r})\n"
        "discord.Client(intents=discord.Intents.default())\n"
        "logging.getLogger('discord.client').info('logging in using static token')\n"
        "logging.getLogger('discord.gateway').warning('a warning that matters')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=True,
    )
    return done.stderr


def test_library_chatter_stays_below_the_default_level() -> None:
    shown = _log_probe("WARNING")
    assert "voice will NOT be supported" not in shown  # PyNaCl / davey: nervebot has no voice
    assert "static token" not in shown  # discord.py's INFO at the default WARNING
    assert "a warning that matters" in shown
    debug = _log_probe("DEBUG")
    assert "DEBUG discord.client: " in debug and "voice will NOT be supported" in debug


# --------------------------------------------------------------------------- content format


def test_content_without_a_format_is_format_1(bundle: loader.Bundle) -> None:
    assert loader.CONTENT_FORMAT == loader.UNDECLARED_FORMAT == 1
    assert bundle.version  # the bundled content declares none, or format 1, and loads


def test_content_older_than_the_code_is_refused_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(loader, "CONTENT_FORMAT", 2)  # as after an upgrade that changed it
    with pytest.raises(ContentFormatError) as caught:
        load_content(bundled_content_dir())
    (problem,) = caught.value.problems
    assert problem.path.endswith("messages.yaml")
    assert "content format 1 is older than this nervebot reads (format 2)" in problem.message
    assert "\n" not in str(problem)


def test_files_that_disagree_on_the_format_are_an_error(content_copy: Path) -> None:
    assert "\nformat: 1\n" in (content_copy / "messages.yaml").read_text(encoding="utf-8")
    faq = content_copy / "faq.yaml"
    faq.write_text("format: 2\n" + faq.read_text(encoding="utf-8"), encoding="utf-8")
    read = loader.read_content(content_copy)
    assert read.bundle is None and not read.wrong_format
    assert any("declare different content formats (1, 2)" in p.message for p in read.problems)


# --------------------------------------------------------------------------- network errors


def _chained(*errors: BaseException) -> BaseException:
    """``errors[0]`` raised from ``errors[1]`` raised from ... (as the libraries wrap them)."""
    for outer, inner in itertools.pairwise(errors):
        outer.__cause__ = inner
    return errors[0]


class ConnectError(Exception):
    """Named like httpx's and httpcore's, which the CLI recognises by name."""


class NetworkError(Exception):
    """Named like python-telegram-bot's."""


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (
            _chained(
                NetworkError("httpx.ConnectError: All connection attempts failed"),
                ConnectError("All connection attempts failed"),
                OSError("All connection attempts failed"),
                ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 9)"),
            ),
            "connection refused",
        ),
        (_chained(NetworkError("x"), socket.gaierror(-2, "Name or service not known")), "host name not found"),
        (_chained(NetworkError("x"), ConnectError("x")), "cannot connect"),
        (TimeoutError(), "timed out"),
        (ValueError("a bug, not the network"), None),
        (PermissionError(13, "Permission denied"), None),
    ],
)  # fmt: skip
def test_network_errors_are_told_in_a_few_words(error: BaseException, said: str | None) -> None:
    assert cli.network_trouble(error) == said


def test_install_hints_name_a_path_install() -> None:
    with pytest.raises(ConfigError) as caught:
        cli._adapter_module("nervebot_has_no_such_module", "telegram")
    message = str(caught.value)
    assert "pip install '.[telegram]'" in message and "nervebot[" not in message
