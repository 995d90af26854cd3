"""The command line as users and scripts run it, in real subprocesses."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(
    *args: str, stdin: str = "", cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        cwd=cwd or ROOT,
        env=full_env,
        check=False,
    )


def chat_json(tmp_path: Path, lines: list[str], *extra: str) -> list[dict[str, object]]:
    done = run(
        "chat", "--json", "--db", str(tmp_path / "s.sqlite3"), *extra, stdin="\n".join(lines) + "\n"
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_json_protocol_shape_and_turns(tmp_path: Path) -> None:
    out = chat_json(
        tmp_path, ["/triage", '{"button": "triage.q_what.twitch"}', '{"text": "what is tetany?"}']
    )
    assert set(out[0]) == {"turn", "text", "buttons", "urgency", "flow", "node"}
    assert out[0]["turn"] == 1 and out[0]["flow"] == "triage" and out[0]["node"] == "q_what"
    assert {"id": "triage.q_what.twitch", "label": "Twitching"} in out[0]["buttons"]  # type: ignore[operator]
    assert out[1]["turn"] == 2 and out[1]["node"] == "q_where"
    turn3 = [o for o in out if o["turn"] == 3]
    # an information card carries no urgency (it is about tetany, not about the person)
    assert turn3[0]["urgency"] is None and "Tetany" in str(turn3[0]["text"])
    assert turn3[-1]["node"] == "q_where"  # the check resumes after the question


def test_json_protocol_other_users_and_errors(tmp_path: Path) -> None:
    done = run(
        "chat",
        "--json",
        "--db",
        str(tmp_path / "s.sqlite3"),
        stdin='/triage\n{"user": "bob", "text": "/triage"}\n{"user": "bob", "button": "triage.q_what.cramp"}\n{"oops": 1}\n{"button": "triage.q_what.spasm"}\n',
    )
    assert done.returncode == 0
    out = [json.loads(line) for line in done.stdout.splitlines()]
    assert [o["turn"] for o in out] == [1, 2, 3, 5]
    assert out[2]["node"] == "q_where" and out[3]["node"] == "q_where"
    assert "turn 4" in done.stderr
    assert "Traceback" not in done.stderr


def test_json_protocol_survives_hostile_input(tmp_path: Path) -> None:
    lines = [
        "x" * 10_000,
        "🙂" * 500,
        "\x00\x07\x1b[31m",
        "",
        "/",
        "//",
        "{",
        '{"button": ""}',
        '{"text": 5}',
    ]
    out = chat_json(tmp_path, lines)
    assert sorted({o["turn"] for o in out}) == [1, 2, 3, 4, 5, 6, 7, 8]
    first = [o for o in out if o["turn"] == 1]
    assert "first 2,000 characters" in str(first[0]["text"])


def test_json_chat_answers_a_first_message_from_a_pipe(tmp_path: Path) -> None:
    """A script writes one line and gets its answer without closing stdin (timing: benchmarks/engine.py)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "chat", "--json", "--db", str(tmp_path / "s.sqlite3")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
    )
    assert proc.stdin and proc.stdout
    started = time.perf_counter()
    proc.stdin.write("hello\n")
    proc.stdin.flush()
    line = proc.stdout.readline()
    elapsed = time.perf_counter() - started
    proc.stdin.close()
    proc.wait(timeout=30)
    assert json.loads(line)["turn"] == 1
    print(
        f"first answer after {elapsed:.3f} s"
    )  # the goal (< 1 s) is checked in benchmarks/engine.py


def test_interactive_chat_numbers_and_labels_press_buttons(tmp_path: Path) -> None:
    done = run(
        "chat", "--db", str(tmp_path / "s.sqlite3"), stdin="1\ncramps\nlegs or feet\n/quit\n"
    )
    assert done.returncode == 0, done.stderr
    assert "1) Check my symptoms" in done.stdout
    assert "What are you noticing most?" in done.stdout
    assert "Where do you feel it?" in done.stdout
    assert "How long has it been going on?" in done.stdout
    assert "\033[" not in done.stdout  # no colours when not a terminal / NO_COLOR


def test_interactive_chat_ends_cleanly_on_end_of_input(tmp_path: Path) -> None:
    done = run("chat", "--db", str(tmp_path / "s.sqlite3"), stdin="")
    assert done.returncode == 0 and "Take care" in done.stdout


def test_validate_exit_codes(content_copy: Path) -> None:
    ok = run("validate", str(content_copy))
    assert ok.returncode == 0 and ok.stdout == ""
    (content_copy / "faq.yaml").write_text(
        "faq:\n  - id: x\n    questions: []\n    answer: ''\n", encoding="utf-8"
    )
    bad = run("validate", str(content_copy))
    assert bad.returncode == 1
    lines = bad.stdout.splitlines()
    assert any(line.endswith("faq.yaml:3:5: faq.0.questions: must not be empty") for line in lines)
    assert any("faq.yaml:4:5: faq.0.answer: empty text" in line for line in lines)
    assert any("missing required key 'source'" in line for line in lines)


def test_bot_refuses_to_start_on_invalid_content(content_copy: Path, tmp_path: Path) -> None:
    (content_copy / "safety.yaml").write_text("safety: {}\n", encoding="utf-8")
    done = run(
        "chat",
        "--json",
        "--db",
        str(tmp_path / "s.sqlite3"),
        env={"NERVEBOT_CONTENT_DIR": str(content_copy)},
        stdin="hi\n",
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert "will not start" in done.stderr and "safety.yaml:1:" in done.stderr
    assert "Traceback" not in done.stderr


def test_transcript_runner_passes_bundled_and_reports_failures(content_copy: Path) -> None:
    ok = run("test", str(content_copy))
    assert ok.returncode == 0, ok.stdout
    assert ok.stdout.strip().endswith("0 failed")
    (content_copy / "tests" / "wrong.yaml").write_text(
        "- name: deliberately wrong\n  steps:\n    - user: what foods have magnesium?\n"
        "      expect: {contains: [chocolate cake], urgency: emergency}\n",
        encoding="utf-8",
    )
    bad = run("test", str(content_copy))
    assert bad.returncode == 1
    assert "FAIL" in bad.stdout and "deliberately wrong: step 1" in bad.stdout
    assert "expected to contain 'chocolate cake'" in bad.stdout
    assert "expected urgency 'emergency', got None" in bad.stdout
    assert "got: Foods with magnesium" in bad.stdout


def test_env_file_is_read(tmp_path: Path, content_copy: Path) -> None:
    (tmp_path / ".env").write_text(
        f"NERVEBOT_CONTENT_DIR={content_copy}\nNERVEBOT_DB={tmp_path / 'env.sqlite3'}\n"
    )
    (content_copy / "messages.yaml").write_text(
        (content_copy / "messages.yaml")
        .read_text()
        .replace("Hello! What would you like to do?", "Howdy from the env file"),
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("NERVEBOT_")}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "chat", "--json"],
        input="/triage\nhello\n",
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT)},
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert (
        "Howdy from the env file" not in done.stdout
    )  # mid-check, a greeting re-asks the question
    assert (tmp_path / "env.sqlite3").exists()


@pytest.mark.parametrize(
    ("token", "message"),
    [(None, "TELEGRAM_BOT_TOKEN is not set"), ("not-a-token", "TELEGRAM_BOT_TOKEN is malformed")],
)
def test_run_telegram_needs_a_well_formed_token(token: str | None, message: str) -> None:
    env = {"TELEGRAM_BOT_TOKEN": token} if token else {}
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TELEGRAM_")}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "run", "telegram"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean, **env, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"nervebot: {done.stderr.split(': ', 1)[1].strip()}"
    ]
    assert message in done.stderr and "Traceback" not in done.stderr


def test_installed_package_finds_its_content(tmp_path: Path) -> None:
    """After `pip install .` (not editable) the bundled content travels with the package."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    probe = subprocess.run(
        [sys.executable, "-c", "import bot.content.loader as l; print(l.bundled_content_dir())"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    if probe.returncode != 0:
        pytest.skip("nervebot is not installed in this environment")
    content = Path(probe.stdout.strip())
    assert (content / "nutrients.yaml").is_file()
    assert (content / "tests").is_dir()
    script = shutil.which("nervebot")
    if script:
        done = subprocess.run(
            [script, "validate"], capture_output=True, text=True, cwd=tmp_path, env=env, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_explain_shows_findings_context_rules_and_urgency() -> None:
    done = run("explain", "--json", "no chest pain, but my left arm and leg went weak suddenly")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    findings = {f["concept"]: f for f in data["findings"]}
    assert findings["pain"]["context"] == ["negated"] and not findings["pain"]["current"]
    assert findings["weakness"]["current"]
    assert {"flag": "stroke", "urgency": "emergency"}.items() <= data["rules"][0].items()
    assert data["urgency"] == "emergency" and data["red_flags"][0] == "stroke"
    assert data["chat"]["events"][0] == "red_flag emergency:stroke"  # what the chat replies
    shown = run("explain", "what foods have magnesium?")
    assert shown.returncode == 0
    assert "urgency: none" in shown.stdout and "answer: foods magnesium" in shown.stdout
    staged = run("explain", "my mum is 80, how much b6 is too much")
    assert "then the note for older_age on vitamin_b6" in staged.stdout, staged.stdout


def test_json_protocol_survives_deeply_nested_json(tmp_path: Path) -> None:
    nested = '{"text": ' + "[" * 5000 + "]" * 5000 + "}"
    done = run("chat", "--json", "--db", str(tmp_path / "s.sqlite3"), stdin=nested + "\nhello\n")
    assert done.returncode == 0 and "Traceback" not in done.stderr
    assert "turn 1: the JSON object is nested too deeply" in done.stderr
    turns = {json.loads(line)["turn"] for line in done.stdout.splitlines()}
    assert turns == {2}  # the nested line got no answer on stdout, the next one did


# --------------------------------------------------------------------------- operators (issue 12)


def _without(*prefixes: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


def _run_in(cwd: Path, *args: str, env: dict[str, str] | None = None, stdin: str = "") -> Any:
    """The CLI run from ``cwd`` with no settings in the environment but ``env``."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={
            **_without("NERVEBOT_", "TELEGRAM_", "DISCORD_"),
            "PYTHONPATH": str(ROOT),
            **(env or {}),
        },
        check=False,
    )


def test_commands_use_the_content_folder_here_and_say_so(
    content_copy: Path, tmp_path: Path
) -> None:
    here = content_copy.parent  # a checkout: ./content holds messages.yaml
    ok = _run_in(here, "validate")
    assert ok.returncode == 0, ok.stderr
    assert f"using the content in {content_copy} (the folder here)" in ok.stderr
    # a moderator's edit in ./content is what the commands see
    (content_copy / "safety.yaml").write_text("safety: {}\n", encoding="utf-8")
    bad = _run_in(here, "validate")
    assert bad.returncode == 1 and "safety.yaml:1:" in bad.stdout
    chat = _run_in(here, "chat", "--json", "--db", str(tmp_path / "s.sqlite3"), stdin="hi\n")
    assert chat.returncode == 2 and "will not start" in chat.stderr and chat.stdout == ""
    # NERVEBOT_CONTENT_DIR wins over ./content
    valid = tmp_path / "valid"
    shutil.copytree(ROOT / "content", valid)
    chosen = _run_in(here, "validate", env={"NERVEBOT_CONTENT_DIR": str(valid)})
    assert chosen.returncode == 0, chosen.stdout
    assert f"using the content in {valid} (NERVEBOT_CONTENT_DIR)" in chosen.stderr
    # a folder named content that does not look like content is not taken
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "content").mkdir(parents=True)
    bundled = _run_in(elsewhere, "validate")
    assert bundled.returncode == 0, bundled.stdout
    assert "(the copy bundled with nervebot)" in bundled.stderr


def test_an_explicit_content_folder_is_used_silently(content_copy: Path) -> None:
    done = _run_in(content_copy.parent, "validate", str(content_copy))
    assert done.returncode == 0 and "using the content" not in done.stderr


def test_test_on_invalid_content_exits_1(content_copy: Path) -> None:
    (content_copy / "safety.yaml").write_text("safety: {}\n", encoding="utf-8")
    done = run("test", str(content_copy))
    assert done.returncode == 1, done.stderr
    assert "safety.yaml:1:" in done.stdout
    assert "the transcript tests did not run" in done.stderr and "Traceback" not in done.stderr


def test_content_in_a_newer_format_is_refused_in_one_line(
    content_copy: Path, tmp_path: Path
) -> None:
    messages = content_copy / "messages.yaml"
    text = messages.read_text(encoding="utf-8")
    assert "\nformat: 1\n" in text  # the bundled content declares the format it is written for
    assert run("validate", str(content_copy)).returncode == 0
    messages.write_text(text.replace("\nformat: 1\n", "\nformat: 2\n", 1), encoding="utf-8")
    line = text.splitlines().index("format: 1") + 1
    checked = run("validate", str(content_copy))
    assert checked.returncode == 1
    assert checked.stdout.splitlines() == [
        f"{messages}:{line}:1: content format 2 is newer than this nervebot reads (format 1): "
        "upgrade nervebot, or use content written for this version"
    ]
    started = run(
        "chat", "--json", "--content", str(content_copy), "--db", str(tmp_path / "s.sqlite3"),
        stdin="hi\n",
    )  # fmt: skip
    assert started.returncode == 2 and started.stdout == ""
    assert started.stderr.strip().splitlines() == [
        f"nervebot: {checked.stdout.strip()}"
    ]  # one line


def test_a_closed_port_is_one_clear_line(tmp_path: Path) -> None:
    import socket

    from tests.fakes.telegram_api import TOKEN

    with socket.socket() as probe:  # a loopback port that nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    done = _run_in(
        tmp_path,
        "run", "telegram", "--content", str(ROOT / "content"),
        env={
            "NERVEBOT_DB": str(tmp_path / "s.sqlite3"), "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_BASE_URL": f"http://127.0.0.1:{port}/bot",
        },
    )  # fmt: skip
    assert done.returncode == 1
    # one line says what failed, and nothing else is printed but log warnings: retrying the
    # refused port takes over 30 s, so on a slow machine the heartbeat's minute of grace can
    # end first and its warning (a log line, with the time) comes before the failure
    lines = done.stderr.strip().splitlines()
    assert lines, "nothing was printed"
    assert lines[-1] == (
        f"nervebot: telegram failed: cannot reach Telegram at 127.0.0.1:{port}: connection refused"
    )
    heartbeat = " WARNING bot.cli: a platform is not receiving updates; heartbeat not written"
    assert all(line.endswith(heartbeat) for line in lines[:-1]), lines


def test_stats_and_content_log_say_when_there_is_nothing_yet(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite3"
    chat_json(tmp_path, ["/triage", "what foods have magnesium?"])  # a terminal chat
    stats = run("stats", "--db", str(db))
    assert stats.returncode == 0, stats.stderr
    assert "No conversations recorded yet" in stats.stdout
    assert "terminal chats ('nervebot chat') are not counted" in stats.stdout
    as_json = run("stats", "--json", "--db", str(db))
    assert as_json.returncode == 0 and json.loads(as_json.stdout)["flows"] == {}
    assert "no conversations recorded yet" in as_json.stderr
    log = run("content", "log", "--db", str(db))
    assert log.returncode == 0 and "content log" in log.stdout and "is empty" in log.stdout
    missing = run("stats", "--db", str(tmp_path / "none.sqlite3"))
    assert missing.returncode == 2 and "nothing is recorded yet" in missing.stderr
