"""Deployment files agree with the code: every setting documented, paths and commands real."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import yaml

from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"


def test_env_example_lists_every_setting() -> None:
    listed = set(re.findall(r"^([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    assert listed == {name.upper() for name in Settings.model_fields}


def test_copied_env_example_with_blanks_uses_defaults(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text((ROOT / ".env.example").read_text())
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("NERVEBOT_", "TELEGRAM_", "DISCORD_"))
    }
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "from bot.settings import Settings; s = Settings(); print(s.nervebot_content_dir, s.nervebot_db)",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT)},
        check=True,
    )
    assert probe.stdout.split() == ["None", "None"]


def test_dockerfile_copies_real_paths_and_runs_the_cli() -> None:
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    for source in re.findall(r"^COPY (.+) \S+$", dockerfile, re.MULTILINE):
        for path in source.split():
            assert (ROOT / path).exists(), path
    assert "USER nervebot" in dockerfile and 'CMD ["run", "all"]' in dockerfile
    assert "ARG PYTHON_IMAGE=" in dockerfile and "FROM ${PYTHON_IMAGE}" in dockerfile
    assert "HEALTHCHECK" in dockerfile and '"nervebot", "health"' in dockerfile


def test_compose_runs_all_with_env_file_and_volumes() -> None:
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    service = compose["services"]["nervebot"]
    assert service["command"] == ["run", "all"]
    assert service["env_file"] == "../.env" and service["read_only"] is True
    assert "nervebot-content:/content:ro" in service["volumes"]
    assert service["mem_limit"] == "512m" and service["stop_grace_period"] == "30s"
    assert (
        ROOT / "deploy" / service["build"]["context"] / service["build"]["dockerfile"]
    ).is_file()


def test_systemd_unit_is_hardened() -> None:
    unit = (ROOT / "deploy" / "nervebot.service").read_text()
    for option in (
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=",
        "ExecStart=/opt/nervebot/.venv/bin/nervebot run all",
        "EnvironmentFile=",
        "MemoryMax=512M",
        "TimeoutStopSec=30",
    ):
        assert option in unit


def _health(db: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "health", "--db", str(db), "--max-age", "60"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )


def test_health_reads_the_heartbeat(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite3"
    assert _health(db).returncode == 1
    beat = tmp_path / "s.sqlite3.heartbeat"
    beat.touch()
    assert _health(db).returncode == 0
    old = time.time() - 600
    os.utime(beat, (old, old))
    stale = _health(db)
    assert stale.returncode == 1
    # the age is read from the clock when the subprocess runs: at least 600 s, maybe a bit more
    age = re.search(r"unhealthy: last heartbeat (\d+) s ago", stale.stderr)
    assert age is not None, stale.stderr
    assert 600 <= int(age.group(1)) < 600 + 300


def _dockerignore() -> list[tuple[bool, re.Pattern[str]]]:
    """The rules of .dockerignore as (exclude?, pattern), in order (the last match wins)."""
    rules = []
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exclude = not line.startswith("!")
        pattern = line.lstrip("!").strip("/")
        regex = ""
        i = 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex, i = regex + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                regex, i = regex + ".*", i + 2
            elif pattern[i] == "*":
                regex, i = regex + "[^/]*", i + 1
            elif pattern[i] == "?":
                regex, i = regex + "[^/]", i + 1
            else:
                regex, i = regex + re.escape(pattern[i]), i + 1
        rules.append((exclude, re.compile(regex)))
    return rules


def _ignored(path: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Whether Docker leaves ``path`` out of the build context (a folder's rule covers its files)."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    ignored = False
    for exclude, rule in rules:
        if any(rule.fullmatch(prefix) for prefix in prefixes):
            ignored = exclude
    return ignored


def test_dockerignore_keeps_secrets_caches_and_tests_out_of_the_image() -> None:
    rules = _dockerignore()
    for path in (
        ".env", ".env.production", "deploy/.env", ".venv/bin/python", ".git/HEAD",
        "bot/__pycache__/cli.cpython-311.pyc", ".mypy_cache/3.11/bot.json",
        ".pytest_cache/v/cache/lastfailed", ".ruff_cache/CACHEDIR.TAG",
        ".hypothesis/examples/x", "tests/test_cli.py", "tests/data/card_paraphrases.yaml",
        "benchmarks/engine.py", "sessions.sqlite3", "data/sessions.sqlite3-wal",
        "dist/nervebot-0.1.0.tar.gz", "nervebot.egg-info/PKG-INFO",
    ):  # fmt: skip
        assert _ignored(path, rules), path
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    copied = [
        p for src in re.findall(r"^COPY (.+) \S+$", dockerfile, re.MULTILINE) for p in src.split()
    ]
    for source in copied:
        top = ROOT / source
        files = [top] if top.is_file() else [p for p in top.rglob("*") if p.is_file()]
        for file in files:
            path = file.relative_to(ROOT).as_posix()
            if "__pycache__" in path or path.endswith(".pyc"):
                continue
            assert not _ignored(path, rules), f"the image needs {path}"
    assert not _ignored("content/tests/red_flags.yaml", rules)  # transcript tests are content


def test_image_paths_survive_an_env_file_with_blank_lines() -> None:
    """`docker run --env-file .env` with `NERVEBOT_DB=` blanks the image's ENV values."""
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert "STATE_DIRECTORY=/data" in dockerfile  # the default database: /data/sessions.sqlite3
    assert "ln -s /content content" in dockerfile  # ./content in WORKDIR is the volume
    unit = (ROOT / "deploy" / "nervebot.service").read_text()
    assert "StateDirectory=nervebot" in unit  # systemd's $STATE_DIRECTORY: /var/lib/nervebot


def test_compose_scale_has_postgres_two_ingress_replicas_and_three_workers() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.scale.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert services["postgres"]["healthcheck"]["test"][1].startswith("pg_isready")
    ingress, worker = services["ingress"], services["worker"]
    assert ingress["command"] == ["run", "telegram"] and ingress["deploy"]["replicas"] == 2
    assert worker["command"] == ["worker", "all"] and worker["deploy"]["replicas"] == 3
    for name in ("ingress", "worker", "discord"):
        service = services[name]
        assert service["environment"]["NERVEBOT_DB"].startswith("postgresql://")
        assert service["environment"]["NERVEBOT_WORKERS"]
        assert service["healthcheck"]["test"] == ["CMD", "nervebot", "health"]
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert ingress["environment"]["TELEGRAM_WEBHOOK_LISTEN"].endswith(":8443")
    nginx = (DEPLOY / "scale" / "nginx.conf").read_text(encoding="utf-8")
    assert "server ingress:8443" in nginx and "proxy_pass http://ingress;" in nginx
    assert services["proxy"]["volumes"] == ["./scale/nginx.conf:/etc/nginx/nginx.conf:ro"]
