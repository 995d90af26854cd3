"""The command line, and nervebot's one composition root.

``chat`` and ``run`` build settings, content, store and engine here and hand the engine to an
adapter. Adapters are imported by name only when a command needs them, so the core never
depends on a platform library.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import functools
import importlib
import logging
import os
import signal
import socket
import ssl
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from bot import __version__, logs
from bot.content.loader import Bundle, ContentFormatError, bundled_content_dir, load_content
from bot.conversation.engine import Engine
from bot.errors import ConfigError, ContentError, StoreError
from bot.language.embedding import load_embedder
from bot.moderation.content_manager import ContentManager
from bot.moderation.transcripts import run_all
from bot.moderation.validate import validate_dir
from bot.settings import Settings, default_db_path
from bot.storage.backends import Database, open_journal, open_store

_log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
Runner = Callable[[asyncio.Event], Awaitable[None]]
#: A platform's runner, and a check that updates can reach it (for the heartbeat).
Platform = tuple[Runner, Callable[[], bool]]
#: A running bot touches its heartbeat file this often; `nervebot health` reads it.
HEARTBEAT_EVERY = 30.0
HEARTBEAT_MAX_AGE = 120.0
#: Each platform's token setting, as the variable operators set.
TOKEN_VARIABLES = {"telegram": "TELEGRAM_BOT_TOKEN", "discord": "DISCORD_BOT_TOKEN"}
#: Each platform's name as people write it.
PLATFORM_TITLES = {"telegram": "Telegram", "discord": "Discord"}
#: A content folder in the working folder is used if it has this file (it looks like content).
CONTENT_MARKER = "messages.yaml"


def heartbeat_path(db: Path) -> Path:
    """The heartbeat file of the bot that uses session database ``db``."""
    return db.with_name(db.name + ".heartbeat")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nervebot",
        description="Health-education chatbot about nutrients, twitches, cramps and tingling.",
    )
    parser.add_argument("--version", action="version", version=f"nervebot {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    chat = sub.add_parser("chat", help="talk to the bot in the terminal")
    chat.add_argument(
        "--json", action="store_true", help="scripted JSON-lines protocol on stdin/stdout"
    )
    chat.add_argument("--user", default="local", help="user id to speak as (default: local)")
    chat.add_argument(
        "--db",
        help="SQLite session file or postgresql:// address (default: NERVEBOT_DB or a user data file)",
    )
    chat.add_argument(
        "--content", type=Path, help="content folder (default: NERVEBOT_CONTENT_DIR or bundled)"
    )

    validate = sub.add_parser("validate", help="check a content folder")
    validate.add_argument(
        "dir", nargs="?", type=Path, help="content folder (default: the configured one)"
    )

    test = sub.add_parser("test", help="run the transcript tests of a content folder")
    test.add_argument(
        "dir", nargs="?", type=Path, help="content folder (default: the configured one)"
    )

    schema = sub.add_parser(
        "schema", help="write the JSON Schemas of the content format (editor support)"
    )
    schema.add_argument(
        "dir", nargs="?", type=Path, help="where to write (default: the content folder)"
    )

    graph = sub.add_parser("graph", help="draw a flow: Mermaid, Graphviz DOT or SVG")
    graph.add_argument("flow", nargs="?", default="triage", help="flow id (default: triage)")
    graph.add_argument("--format", choices=["mermaid", "dot", "svg"], default="mermaid")
    graph.add_argument("--content", type=Path, help="content folder")
    graph.add_argument("-o", "--output", type=Path, help="write to a file instead of stdout")

    stats = sub.add_parser("stats", help="anonymous usage statistics from the session database")
    stats.add_argument(
        "--since", type=int, default=30, metavar="DAYS", help="last DAYS days (default 30)"
    )
    stats.add_argument("--json", action="store_true", help="machine-readable output")
    stats.add_argument("--db", help="SQLite session file or postgresql:// address")

    content = sub.add_parser("content", help="content administration")
    content_sub = content.add_subparsers(dest="content_command", metavar="ACTION", required=True)
    log = content_sub.add_parser("log", help="print the audit log of content loads")
    log.add_argument("--db", help="SQLite session file or postgresql:// address")
    log.add_argument("--limit", type=int, default=50)

    health = sub.add_parser("health", help="exit 0 if a running bot wrote its heartbeat recently")
    health.add_argument("--db", help="the database of the running bot (as NERVEBOT_DB)")
    health.add_argument(
        "--max-age", type=float, default=HEARTBEAT_MAX_AGE, help="seconds (default 120)"
    )

    explain = sub.add_parser("explain", help="show how a message is read and triaged")
    explain.add_argument("text", nargs="+", help="the message")
    explain.add_argument("--json", action="store_true", help="machine-readable output")
    explain.add_argument("--content", type=Path, help="content folder")

    run = sub.add_parser("run", help="run the bot on Telegram, Discord or both")
    run.add_argument("platform", choices=["telegram", "discord", "all"])
    run.add_argument("--db", help="SQLite session file or postgresql:// address")
    run.add_argument("--content", type=Path, help="content folder")

    worker = sub.add_parser(
        "worker", help="answer updates other processes stored (a postgresql:// NERVEBOT_DB)"
    )
    worker.add_argument(
        "platform", choices=["telegram", "discord", "all"], nargs="?", default="all"
    )
    worker.add_argument("--db", help="postgresql:// address (default: NERVEBOT_DB)")
    worker.add_argument("--content", type=Path, help="content folder")
    return parser


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(
            f"setting {'.'.join(map(str, first['loc'])).upper()}: {first['msg']}"
        ) from exc


def _content_dir(explicit: Path | None, settings: Settings) -> Path:
    """The content folder a command uses: the one given, else ``NERVEBOT_CONTENT_DIR``, else
    ``./content`` (in a checkout, where moderators edit it), else the bundled copy.

    Unless it was given on the command line, the choice is said on stderr (stdout stays for
    the command's output): the bundled copy inside the virtual environment is easily edited
    by mistake.
    """
    if explicit is not None:
        return explicit
    if settings.nervebot_content_dir is not None:
        directory, why = settings.nervebot_content_dir, " (NERVEBOT_CONTENT_DIR)"
    elif (Path("content") / CONTENT_MARKER).is_file():
        directory, why = Path.cwd() / "content", " (the folder here)"
    else:
        directory, why = bundled_content_dir(), " (the copy bundled with nervebot)"
    print(f"nervebot: using the content in {directory}{why}", file=sys.stderr)
    return directory


def _load(directory: Path) -> Bundle:
    try:
        return load_content(directory)
    except ContentFormatError as exc:  # one line, and what to do
        raise ConfigError("; ".join(str(p) for p in exc.problems)) from exc
    except ContentError as exc:
        lines = "\n".join(str(p) for p in exc.problems[:20])
        more = f"\n... and {len(exc.problems) - 20} more" if len(exc.problems) > 20 else ""
        raise ConfigError(
            f"content in {directory} is invalid, so nervebot will not start:\n{lines}{more}"
        ) from exc


def cmd_validate(args: argparse.Namespace, settings: Settings) -> int:
    """``nervebot validate``: print every problem; exit 1 if there are any."""
    directory = _content_dir(args.dir, settings)
    bundle, problems = validate_dir(directory)
    for problem in problems:
        print(problem)
    sys.stdout.flush()
    errors = [p for p in problems if p.severity == "error"]
    if errors or bundle is None:
        print(f"{len(errors)} problem(s) in {directory}", file=sys.stderr)
        return EXIT_FAIL
    print(f"ok: {directory} is valid (version {bundle.version})", file=sys.stderr)
    return EXIT_OK


async def _run_tests(directory: Path) -> int:
    try:
        bundle = load_content(directory)
    except ContentError as exc:  # invalid content fails its tests: exit 1, like `validate`
        for problem in exc.problems:
            print(problem)
        sys.stdout.flush()
        print(
            f"{len(exc.problems)} problem(s) in {directory}: the transcript tests did not run",
            file=sys.stderr,
        )
        return EXIT_FAIL
    ran, failures, problems = await run_all(bundle, directory, load_embedder())
    for problem in problems:
        print(problem)
    if problems:
        return EXIT_FAIL
    if not ran:
        print(f"no transcript tests in {directory / 'tests'}", file=sys.stderr)
        return EXIT_FAIL
    for failure in failures:
        print(failure)
    failed = len({(f.file, f.test) for f in failures})
    print(f"{ran - failed} passed, {failed} failed")
    return EXIT_FAIL if failed else EXIT_OK


def cmd_test(args: argparse.Namespace, settings: Settings) -> int:
    """``nervebot test``: run transcript tests; exit 1 if any fail."""
    return asyncio.run(_run_tests(_content_dir(args.dir, settings)))


async def _chat(args: argparse.Namespace, settings: Settings) -> int:
    console = _adapter_module("adapters.console", "console")
    bundle = _load(_content_dir(args.content, settings))
    db_path = Database.parse(args.db or settings.database)
    store = open_store(db_path, ttl_seconds=settings.ttl_seconds)
    try:
        await store.open()
    except StoreError as exc:
        raise ConfigError(str(exc)) from exc
    stdin, stdout, stderr = console.main_streams()
    if store.read_only:
        print(f"warning: {db_path} is read-only; answers work but nothing is saved", file=stderr)
    try:
        engine = Engine(bundle, store, embedder=load_embedder())
        await engine.purge_expired()
        if args.json:
            return int(await console.json_lines(engine, args.user, stdin, stdout, stderr))
        return int(await console.interactive(engine, args.user, stdin, stdout))
    finally:
        await store.close()


def cmd_chat(args: argparse.Namespace, settings: Settings) -> int:
    """``nervebot chat``: interactive terminal chat, or ``--json`` for scripts."""
    try:
        return asyncio.run(_chat(args, settings))
    except KeyboardInterrupt:
        print("\nTake care!")
        return EXIT_OK


def _adapter_module(module: str, extra: str) -> Any:
    """Import an adapter by name (the core never imports platform code at import time)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        # a path install: nervebot is installed from its folder (a checkout), not by name
        raise ConfigError(
            f"{extra.title()} support is not installed (no module {exc.name!r}): run "
            f"pip install '.[{extra}]' in the nervebot folder, with this environment's pip"
        ) from exc


#: Platform name -> its adapter module.
ADAPTERS = {"telegram": "adapters.telegram_bot", "discord": "adapters.discord_bot"}


def _token(settings: Settings, name: str) -> str | None:
    """The platform's bot token, if one is set."""
    secret = {"telegram": settings.telegram_bot_token, "discord": settings.discord_bot_token}[name]
    return secret.get_secret_value() if secret is not None else None


def _platform_names(choice: str, settings: Settings) -> list[str]:
    """The platforms ``nervebot run CHOICE`` serves; ``all``: those whose token is set.

    Each one is checked (adapter installed, token well formed) before anything is loaded.
    """
    if choice != "all":
        names = [choice]
    else:
        names = [name for name in PLATFORMS if _token(settings, name)]
        if not names:
            tokens = " and/or ".join(TOKEN_VARIABLES[name] for name in PLATFORMS)
            raise ConfigError(f"'run all' found no platform token: set {tokens}")
        skipped = [name for name in PLATFORMS if name not in names]
        if skipped:
            _log.warning(
                "run all: skipping %s",
                ", ".join(f"{name} ({TOKEN_VARIABLES[name]} is not set)" for name in skipped),
            )
    for name in names:
        if name in ADAPTERS:
            _adapter_module(ADAPTERS[name], name).check_token(_token(settings, name))
    return names


def _telegram(
    engine: Engine, settings: Settings, content: ContentManager, role: str = "all"
) -> Platform:
    tg = _adapter_module(ADAPTERS["telegram"], "telegram")
    token = _token(settings, "telegram")
    tg.check_token(token)
    webhook = None
    if settings.telegram_webhook_url:
        secret = settings.telegram_webhook_secret
        webhook = tg.WebhookConfig.parse(
            settings.telegram_webhook_url,
            secret.get_secret_value() if secret else None,
            settings.telegram_webhook_listen,
        )
    adapter = tg.TelegramAdapter(
        engine, token, base_url=settings.telegram_base_url, webhook=webhook, role=role
    )
    if settings.telegram_moderator_chat is not None:
        content.add_notifier(functools.partial(adapter.notify, settings.telegram_moderator_chat))
    run: Runner = adapter.run
    healthy: Callable[[], bool] = adapter.healthy
    return run, healthy


def _discord(
    engine: Engine, settings: Settings, content: ContentManager, role: str = "all"
) -> Platform:
    dc = _adapter_module(ADAPTERS["discord"], "discord")
    token = _token(settings, "discord")
    dc.check_token(token)
    dc.use_endpoints(settings.discord_api_base_url, settings.discord_gateway_url)
    adapter = dc.DiscordAdapter(
        engine,
        token,
        content=content,
        guild_ids=dc.parse_guild_ids(settings.discord_guild_ids),
        moderator_role=settings.discord_moderator_role,
        role=role,
        **_shard(settings),
    )
    if settings.discord_moderator_channel is not None:
        content.add_notifier(functools.partial(adapter.notify, settings.discord_moderator_channel))
    run: Runner = adapter.run
    healthy: Callable[[], bool] = adapter.healthy
    return run, healthy


def _shard(settings: Settings) -> dict[str, int]:
    """discord.py's shard options from DISCORD_SHARD_IDS and DISCORD_SHARD_COUNT (one shard per
    process: several processes split a large bot's shards; Discord sends DMs to shard 0)."""
    ids, count = settings.discord_shard_ids, settings.discord_shard_count
    if ids is None and count is None:
        return {}
    parts = [p.strip() for p in (ids or "").split(",") if p.strip()]
    if count is None or len(parts) != 1 or not parts[0].isdigit() or int(parts[0]) >= count:
        raise ConfigError(
            "set DISCORD_SHARD_IDS to this process's one shard (0 to DISCORD_SHARD_COUNT - 1) "
            "and DISCORD_SHARD_COUNT to the number of shards, for example 0 and 2"
        )
    return {"shard_id": int(parts[0]), "shard_count": count}


#: Platform name -> builder of its runner (an async callable that serves until a stop event).
PLATFORMS: dict[str, Callable[[Engine, Settings, ContentManager, str], Platform]] = {
    "telegram": _telegram,
    "discord": _discord,
}


async def _purge_every(engine: Engine, seconds: float, stop: asyncio.Event) -> None:
    while not stop.is_set():
        removed = await engine.purge_expired()
        if removed:
            _log.info("purged %d expired sessions", removed)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)


async def _heartbeat(path: Path, stop: asyncio.Event, healthy: Callable[[], bool]) -> None:
    """Touch the heartbeat file while every platform can receive updates (so `health` tells)."""
    while not stop.is_set():
        if healthy():
            try:
                await asyncio.to_thread(path.touch)
            except OSError as exc:
                _log.warning("cannot write heartbeat %s: %s", path, exc)
        else:
            _log.warning("a platform is not receiving updates; heartbeat not written")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), HEARTBEAT_EVERY)
    with contextlib.suppress(OSError):
        await asyncio.to_thread(path.unlink)


def cmd_schema(args: argparse.Namespace, settings: Settings) -> int:
    """``nervebot schema``: JSON Schemas for editors (yaml-language-server)."""
    from bot.content import schema

    target = args.dir or _content_dir(None, settings)
    if not Path(target).is_dir():
        raise ConfigError(f"{target} is not a folder; give the content folder to write into")
    for path in schema.write(target):
        print(path)
    return EXIT_OK


def cmd_graph(args: argparse.Namespace, settings: Settings) -> int:
    """``nervebot graph``: a picture of a flow."""
    import shutil
    import subprocess

    from bot.moderation import graph

    bundle = _load(_content_dir(args.content, settings))
    if args.flow not in bundle.flows:
        raise ConfigError(f"no flow '{args.flow}'; flows: {', '.join(sorted(bundle.flows))}")
    flow = bundle.flows[args.flow]
    text = graph.mermaid(bundle, flow) if args.format == "mermaid" else graph.dot(bundle, flow)
    if args.format == "svg":
        dot = shutil.which("dot")
        if dot is None:
            raise ConfigError(
                "SVG needs Graphviz ('dot'); install it, or use --format mermaid or dot"
            )
        text = subprocess.run(
            [dot, "-Tsvg"], input=text, capture_output=True, text=True, check=True
        ).stdout
    if args.output:
        args.output.write_text(text, encoding="utf-8")
        print(args.output, file=sys.stderr)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def cmd_explain(args: argparse.Namespace, settings: Settings) -> int:
    """``nervebot explain TEXT``: findings, context, rules, recall net, urgency."""
    import json

    from bot.conversation.dialogue import Dialogue
    from bot.moderation.explain import as_text, explain

    dialogue = Dialogue(_load(_content_dir(args.content, settings)), load_embedder())
    data = explain(dialogue, " ".join(args.text))
    if args.json:
        print(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        sys.stdout.write(as_text(data))
    return EXIT_OK


def _existing_db(args: argparse.Namespace, settings: Settings) -> Database:
    db = Database.parse(args.db or settings.database)
    if db.path is not None and not db.path.exists():
        raise ConfigError(
            f"no session database at {db}, so nothing is recorded yet ('nervebot run' creates "
            "it; if the bot keeps it elsewhere, use --db or NERVEBOT_DB)"
        )
    return db


async def _journal_rows(db: Database, since_days: int | None, limit: int = 50) -> Any:
    async with open_journal(db, flush_every=3600) as journal:
        if since_days is None:
            return await journal.audit_log(limit)
        since = time.time() - since_days * 86400
        day = time.strftime("%Y-%m-%d", time.gmtime(since))
        return await journal.usage(day), await journal.questions(since)


async def _delivery_counts(db: Database) -> dict[str, int]:
    async with open_store(db) as store:
        return await store.delivery_counts()


def cmd_stats(args: argparse.Namespace, settings: Settings) -> int:
    """``nervebot stats``: what people ask, where they leave, which red flags come up."""
    import json

    from bot.moderation import stats

    db = _existing_db(args, settings)
    rows, questions = asyncio.run(_journal_rows(db, args.since))
    delivery = asyncio.run(_delivery_counts(db))
    data = stats.report(rows, questions, delivery)
    nothing = not rows and not questions
    note = "terminal chats ('nervebot chat') are not counted, only Telegram and Discord"
    if args.json:
        print(json.dumps({"days": args.since, **data}, indent=2))
        if nothing:
            print(f"no conversations recorded yet in {db}; {note}", file=sys.stderr)
    elif nothing and not any(delivery.values()):
        days = "day" if args.since == 1 else f"{args.since} days"
        print(f"No conversations recorded yet in the last {days} in {db}.")
        print(f"Note: {note}.")
    else:
        sys.stdout.write(stats.as_table(data, args.since))
        print(f"\nNote: {note}.")
    return EXIT_OK


def cmd_content(args: argparse.Namespace, settings: Settings) -> int:
    """``nervebot content log``: every content load and rejected load."""
    db = _existing_db(args, settings)
    entries = asyncio.run(_journal_rows(db, None, args.limit))
    if not entries:
        print(
            f"The content log in {db} is empty: a running bot ('nervebot run') records every "
            "content load and rejected load."
        )
        return EXIT_OK
    print(f"{'time (UTC)':<20} {'version':<14} {'result':<9} {'errors':>6}  source")
    for e in entries:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(e.at))
        result = "loaded" if e.accepted else "rejected"
        print(f"{when:<20} {e.version:<14} {result:<9} {e.errors:>6}  {e.source}")
    return EXIT_OK


def cmd_health(args: argparse.Namespace, settings: Settings) -> int:
    """``nervebot health``: for container health checks and monitoring."""
    path = heartbeat_path(Database.parse(args.db or settings.database).path or default_db_path())
    try:
        age = time.time() - path.stat().st_mtime
    except OSError:
        print(f"unhealthy: no heartbeat at {path} (is 'nervebot run' running?)", file=sys.stderr)
        return EXIT_FAIL
    if age > args.max_age:
        print(f"unhealthy: last heartbeat {age:.0f} s ago", file=sys.stderr)
        return EXIT_FAIL
    print(f"healthy: last heartbeat {age:.0f} s ago")
    return EXIT_OK


def _secrets(settings: Settings) -> list[str]:
    """The configured tokens and webhook secret, to be redacted wherever they would show."""
    values = [
        settings.telegram_bot_token,
        settings.discord_bot_token,
        settings.telegram_webhook_secret,
    ]
    return [v.get_secret_value() for v in values if v is not None]


#: Errors of the HTTP and websocket libraries that mean the network failed, by class name
#: (the core imports no platform library), and how to say so.
_NETWORK_ERRORS = {
    "ConnectTimeout": "timed out",
    "ReadTimeout": "timed out",
    "WriteTimeout": "timed out",
    "PoolTimeout": "timed out",
    "TimedOut": "timed out",
    "ServerTimeoutError": "timed out",
    "ConnectError": "cannot connect",
    "ClientConnectionError": "cannot connect",
    "ServerDisconnectedError": "the server closed the connection",
    "RemoteProtocolError": "the server closed the connection",
    "NetworkError": "network error",
}
_NETWORK_ERRNOS = {
    errno.ENETUNREACH,
    errno.EHOSTUNREACH,
    errno.ENETDOWN,
    errno.EHOSTDOWN,
    errno.ETIMEDOUT,
}


def network_trouble(exc: BaseException) -> str | None:
    """In a few words, how ``exc`` failed to reach a server, or None if it is no network error.

    Follows the chain of causes: python-telegram-bot wraps httpx, which wraps httpcore,
    which wraps the socket's ``ConnectionRefusedError``.
    """
    named: str | None = None
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        if isinstance(link, ConnectionRefusedError):
            return "connection refused"
        if isinstance(link, ConnectionResetError | ConnectionAbortedError | BrokenPipeError):
            return "connection reset"
        if isinstance(link, socket.gaierror):
            return "host name not found"
        if isinstance(link, ssl.SSLError):
            return f"TLS error ({link.reason or link})"
        if isinstance(link, TimeoutError):
            return "timed out"
        if isinstance(link, OSError) and link.errno in _NETWORK_ERRNOS:
            return (link.strerror or "network error").lower()
        named = _NETWORK_ERRORS.get(type(link).__name__, named)  # the innermost one tells most
        link = link.__cause__ or link.__context__
    return named


def _failure(name: str, exc: BaseException, server: str | None) -> str:
    """One line saying why platform ``name`` stopped."""
    trouble = network_trouble(exc)
    if trouble is None:
        return str(exc) or type(exc).__name__
    title = PLATFORM_TITLES.get(name, name)
    at = f" at {server}" if server else ""
    return f"cannot reach {title}{at}: {trouble}"


async def _supervise(
    name: str, runner: Runner, stop: asyncio.Event, server: str | None = None
) -> bool:
    """Run one platform; a failure is reported in one line and leaves the others running."""
    try:
        await runner(stop)
        return True
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        _log.debug("%s stopped", name, exc_info=True)  # the traceback, with -vv
        print(
            f"nervebot: {name} failed: {logs.redact(_failure(name, exc, server))}", file=sys.stderr
        )
        return False


def _server(url: str | None) -> str | None:
    """The host:port of a configured server URL (no path: it may hold a token)."""
    if not url:
        return None
    return urlsplit(url).netloc or None


def _role(args: argparse.Namespace, settings: Settings, db: Database) -> str:
    """What this process does: ``all``, ``ingress`` (NERVEBOT_WORKERS is set: workers answer)
    or ``worker`` (``nervebot worker``); the last two need a database processes share."""
    role = (
        "worker" if args.command == "worker" else "ingress" if settings.nervebot_workers else "all"
    )
    if role != "all" and not db.shared:
        raise ConfigError(
            f"{'nervebot worker' if role == 'worker' else 'NERVEBOT_WORKERS'} needs a "
            "postgresql:// NERVEBOT_DB: ingress and worker processes share one database"
        )
    return role


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    db_path = Database.parse(args.db or settings.database)
    role = _role(args, settings, db_path)
    names = _platform_names(args.platform, settings)
    unknown = [n for n in names if n not in PLATFORMS]
    if unknown:
        raise ConfigError(f"'nervebot run {unknown[0]}' is not available in this version yet")
    servers = {
        "telegram": _server(settings.telegram_base_url),
        "discord": _server(settings.discord_api_base_url),
    }
    directory = _content_dir(args.content, settings)
    bundle = _load(directory)
    worker_id = f"{socket.gethostname()}-{os.getpid()}"
    store = open_store(db_path, ttl_seconds=settings.ttl_seconds, worker=worker_id)
    journal = open_journal(db_path, keep_days=settings.nervebot_unanswered_days)
    engine = Engine(bundle, store, journal, load_embedder())
    content = ContentManager(engine, directory, journal)
    platforms = {
        name: PLATFORMS[name](engine, settings, content, role) for name in names
    }  # config errors first
    if role != "all":
        _log.info("%s %s: %s", role, worker_id, ", ".join(names))
    runners = {name: run for name, (run, _) in platforms.items()}
    checks = [check for _, check in platforms.values()]
    started = time.monotonic()

    def healthy() -> bool:  # give the platforms a minute to connect before judging them
        return time.monotonic() - started < 60 or all(check() for check in checks)

    try:
        await store.open()
        await journal.open()
    except StoreError as exc:
        await store.close()
        raise ConfigError(str(exc)) from exc
    await content.record_startup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    chores = [
        asyncio.create_task(_purge_every(engine, 3600, stop)),
        asyncio.create_task(
            _heartbeat(heartbeat_path(db_path.path or default_db_path()), stop, healthy)
        ),
        asyncio.create_task(content.watch(stop)),
    ]
    if db_path.shared:  # other processes may load a new version first: follow them
        chores.append(asyncio.create_task(content.follow(stop)))
    try:
        results = await asyncio.gather(
            *(_supervise(n, r, stop, servers.get(n)) for n, r in runners.items())
        )
    finally:
        stop.set()
        await asyncio.gather(*chores, return_exceptions=True)
        await journal.close()
        await store.close()
    return EXIT_OK if all(results) else EXIT_FAIL


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    """``nervebot run``: serve on Telegram, Discord or both until SIGINT/SIGTERM."""
    return asyncio.run(_run(args, settings))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nervebot`` command."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        settings = _settings()
        level = {0: settings.nervebot_log_level.upper(), 1: "INFO"}.get(args.verbose, "DEBUG")
        logs.configure(level, _secrets(settings))
        handler = {
            "validate": cmd_validate,
            "test": cmd_test,
            "chat": cmd_chat,
            "run": cmd_run,
            "worker": cmd_run,
            "health": cmd_health,
            "schema": cmd_schema,
            "graph": cmd_graph,
            "stats": cmd_stats,
            "content": cmd_content,
            "explain": cmd_explain,
        }
        return handler[args.command](args, settings)
    except ConfigError as exc:
        print(f"nervebot: {logs.redact(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
