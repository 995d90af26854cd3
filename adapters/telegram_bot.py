"""The Telegram adapter (python-telegram-bot): updates in, `Incoming` to the engine, replies out.

It holds no conversation rules: it translates updates, renders the engine's markup as
Telegram HTML, keeps one chat's updates in order, and respects Telegram's limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hmac
import html
import json
import logging
import re
import time
import warnings
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import tornado.httpserver
import tornado.web
from aiolimiter import AsyncLimiter
from telegram import (
    BotCommand,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    MessageEntity,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatType, MessageLimit, ParseMode
from telegram.error import (
    BadRequest,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import BaseRateLimiter, ExtBot
from telegram.request import HTTPXRequest

from bot import markup
from bot.conversation.delivery import Courier, Letter
from bot.conversation.engine import Engine
from bot.errors import ConfigError, DeliveryError, StoreError
from bot.events import Button, Incoming, Reply, SessionKey
from bot.storage.mailbox import Arrival

_log = logging.getLogger(__name__)

PLATFORM = "telegram"
_TOKEN = re.compile(r"^\d{1,20}:[A-Za-z0-9_-]{1,128}$")
_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_ATTACHMENTS = (
    "sticker", "photo", "voice", "audio", "video", "video_note", "animation",
    "document", "location", "venue", "contact", "poll", "dice",
)  # fmt: skip
_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
_JSON = dict[str, Any] | list[dict[str, Any]] | bool
_Callback = Callable[..., Coroutine[Any, Any, _JSON]]


def check_token(token: str | None) -> str:
    """The token if it has Telegram's shape (digits, colon, secret), else `ConfigError`."""
    if not token:
        raise ConfigError("TELEGRAM_BOT_TOKEN is not set (get one from @BotFather)")
    if not _TOKEN.match(token):
        raise ConfigError(
            "TELEGRAM_BOT_TOKEN is malformed: expected digits, a colon, then the secret"
        )
    return token


def to_html(text: str) -> str:
    """Render engine markup as Telegram HTML; all text is escaped, only <b> is produced."""
    return "".join(
        f"<b>{html.escape(s.text, quote=False)}</b>" if s.bold else html.escape(s.text, quote=False)
        for s in markup.parse(text)
    )


def telegram_length(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def render(reply: Reply, limit: int = MessageLimit.MAX_TEXT_LENGTH) -> list[str]:
    """A reply as one or more HTML messages, each within Telegram's length limit."""
    chunks = markup.split(reply.text, limit, measure=lambda m: telegram_length(to_html(m)))
    return [to_html(chunk) for chunk in chunks]


def keyboard(buttons: tuple[Button, ...], bot_username: str) -> InlineKeyboardMarkup | None:
    """Engine buttons as an inline keyboard; ``private:X`` becomes a deep link to the bot."""
    if not buttons:
        return None
    made = []
    for button in buttons:
        kind, _, payload = button.id.partition(":")
        if kind == "private":
            made.append(
                InlineKeyboardButton(
                    button.label, url=f"https://t.me/{bot_username}?start={payload}"
                )
            )
        else:
            made.append(InlineKeyboardButton(button.label, callback_data=button.id))
    pair = all(len(b.label) <= 18 for b in buttons)
    rows = [made[i : i + 2] for i in range(0, len(made), 2)] if pair else [[b] for b in made]
    return InlineKeyboardMarkup(rows)


class ChatRateLimiter(BaseRateLimiter[int]):
    """Telegram's flood limits, per chat: a 429 for one chat only pauses that chat.

    Overall about 30 messages/s, 20 a minute per group, and about one a second per chat with
    short bursts. On RetryAfter the request waits the time Telegram asks and tries again.
    """

    def __init__(
        self,
        overall_per_second: float = 30,
        group_per_minute: float = 20,
        chat_per_second: float = 1,
        chat_burst: int = 3,
        max_retries: int = 5,
    ) -> None:
        self._overall = AsyncLimiter(overall_per_second, 1) if overall_per_second else None
        self._group_rate = group_per_minute
        self._chat_rate = chat_per_second
        self._chat_burst = chat_burst
        self._max_retries = max_retries
        self._chats: dict[str, AsyncLimiter] = {}
        self._groups: dict[str, AsyncLimiter] = {}
        self._blocked_until: dict[str, float] = {}

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""

    @staticmethod
    def _limiter(
        pool: dict[str, AsyncLimiter], key: str, rate: float, period: float
    ) -> AsyncLimiter:
        if len(pool) > 2048:  # forget idle chats
            for old, lim in list(pool.items()):
                if old != key and lim.has_capacity(lim.max_rate):
                    del pool[old]
        if key not in pool:
            pool[key] = AsyncLimiter(rate, period)
        return pool[key]

    async def _send(
        self, key: str, group: bool, callback: _Callback, args: Any, kwargs: dict[str, Any]
    ) -> _JSON:
        async with contextlib.AsyncExitStack() as stack:
            if self._chat_rate:
                period = self._chat_burst / self._chat_rate
                await stack.enter_async_context(
                    self._limiter(self._chats, key, self._chat_burst, period)
                )
            if group and self._group_rate:
                await stack.enter_async_context(
                    self._limiter(self._groups, key, self._group_rate, 60)
                )
            if self._overall is not None:
                await stack.enter_async_context(self._overall)
            return await callback(*args, **kwargs)

    async def process_request(
        self,
        callback: _Callback,
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> _JSON:
        """Send one API request within the limits of its chat."""
        chat_id = data.get("chat_id")
        if chat_id is None:  # getUpdates, answerCallbackQuery...: not rate limited
            return await callback(*args, **kwargs)
        key = str(chat_id)
        group = key.startswith("-") or not key.lstrip("-").isdigit()
        retries = self._max_retries if rate_limit_args is None else rate_limit_args
        for attempt in range(retries + 1):
            wait = self._blocked_until.get(key, 0) - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                return await self._send(key, group, callback, args, kwargs)
            except RetryAfter as exc:
                if attempt == retries:
                    raise
                delay = _seconds(exc)
                _log.info("Telegram asked chat %s to wait %.1f s (%s)", key, delay, endpoint)
                self._blocked_until[key] = time.monotonic() + float(delay) + 0.1
        raise AssertionError("unreachable")  # pragma: no cover


class RetryingRequest(HTTPXRequest):
    """HTTPXRequest that retries what certainly failed, and never repeats a message twice over.

    - A request that was certainly not sent (no free connection in the pool, the connection
      could not be made) and a 5xx answer are retried with backoff, up to ``retries`` times.
    - A request that may have arrived (the connection broke or timed out after it was sent) is
      retried at most once for methods that change something (a message could show twice),
      and like the others for reads such as getUpdates.
    """

    def __init__(self, *args: Any, retries: int = 5, backoff: float = 0.5, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._retries = retries
        self._backoff = backoff

    async def do_request(
        self, url: str, method: str, *args: Any, **kwargs: Any
    ) -> tuple[int, bytes]:
        """One HTTP round trip, repeated while the server or network is failing."""
        delay = self._backoff
        reads = url.rsplit("/", 1)[-1] in _READS
        maybe_sent = 0
        for attempt in range(self._retries + 1):
            last = attempt == self._retries
            try:
                code, payload = await super().do_request(url, method, *args, **kwargs)
            except (TimedOut, NetworkError) as exc:
                if not _certainly_not_sent(exc) and not reads:
                    maybe_sent += 1
                    if maybe_sent > 1:
                        raise  # it may have arrived twice already: never a third time
                if last:
                    raise
                _log.info("Telegram API request failed (%s); retrying in %.1f s", exc, delay)
            else:
                if code < 500 or last:
                    return code, payload
                _log.info("Telegram API answered %d; retrying in %.1f s", code, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30)
        raise AssertionError("unreachable")  # pragma: no cover


#: Bot API methods that only read (or set a state), so repeating them is harmless.
_READS = frozenset(
    {"getUpdates", "getMe", "getChat", "getWebhookInfo", "getMyCommands", "setMyCommands",
     "deleteWebhook", "setWebhook", "logOut", "close"}
)  # fmt: skip


def _certainly_not_sent(exc: Exception) -> bool:
    """True when the request never left: no connection from the pool, or none could be made."""
    return isinstance(exc.__cause__, (httpx.PoolTimeout, httpx.ConnectTimeout, httpx.ConnectError))


class PollingRequest(HTTPXRequest):
    """The getUpdates request: notes when updates last came through, and a rejected token."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.last_ok = time.monotonic()
        self.rejected = asyncio.Event()

    async def do_request(
        self, url: str, method: str, *args: Any, **kwargs: Any
    ) -> tuple[int, bytes]:
        """One getUpdates round trip; a 401/404 means the token is revoked or wrong."""
        code, payload = await super().do_request(url, method, *args, **kwargs)
        if code in (401, 404):
            self.rejected.set()
        elif code < 400:
            self.last_ok = time.monotonic()
        return code, payload


def _seconds(exc: RetryAfter) -> float:
    """RetryAfter's wait in seconds, whichever type this PTB version gives it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PTB 22 warns that the type will change
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


@dataclass(frozen=True)
class WebhookConfig:
    """Webhook mode: the public URL, the secret Telegram sends back, and where to listen."""

    url: str
    secret: str
    host: str
    port: int

    @classmethod
    def parse(cls, url: str, secret: str | None, listen: str | None) -> WebhookConfig:
        """Check the three webhook settings; `ConfigError` names the one that is wrong."""
        if not secret:
            raise ConfigError("TELEGRAM_WEBHOOK_SECRET is required in webhook mode")
        if not _SECRET.match(secret):
            raise ConfigError("TELEGRAM_WEBHOOK_SECRET may use only A-Z, a-z, 0-9, _ and - (1-256)")
        host, _, port = (listen or "0.0.0.0:8443").rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError("TELEGRAM_WEBHOOK_LISTEN must be host:port, for example 0.0.0.0:8443")
        if urlsplit(url).scheme not in ("http", "https"):
            raise ConfigError("TELEGRAM_WEBHOOK_URL must be an http(s) URL")
        return cls(url, secret, host.strip("[]"), int(port))


#: The update kinds the bot asks Telegram for.
ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]


def arrival(raw: object) -> Arrival | None:
    """An update as the inbox stores it, read with plain dict access (never fails on odd
    content: an update that cannot be parsed is stored and set aside when it is answered)."""
    if not isinstance(raw, dict) or type(raw.get("update_id")) is not int:
        return None
    body: Any = next(
        (
            raw[k]
            for k in ("message", "edited_message", "callback_query")
            if isinstance(raw.get(k), dict)
        ),
        {},
    )
    chat = body.get("chat") or (body.get("message") or {}).get("chat") or {}
    user = body.get("from") or {}
    user_id = str(user.get("id", "")) if isinstance(user, dict) else ""
    conversation = str(chat.get("id", user_id)) if isinstance(chat, dict) else user_id
    payload = json.dumps(raw, ensure_ascii=False, separators=(",", ":"))
    return Arrival(PLATFORM, str(raw["update_id"]), conversation, user_id, payload)


#: What a process does: ``all`` (stores updates and answers them: one process), ``ingress``
#: (stores updates; workers elsewhere answer them) or ``worker`` (answers and sends only).
ROLES = ("all", "ingress", "worker")


class TelegramAdapter:
    """Runs the engine as a Telegram bot; build it, then `run` until a stop event.

    Updates are stored in the engine's inbox before Telegram is told they arrived (the next
    getUpdates offset, or the webhook's 200), answered by a `Courier` in order per chat, and
    replies leave through the outbox.
    """

    def __init__(
        self,
        engine: Engine,
        token: str,
        *,
        base_url: str | None = None,
        webhook: WebhookConfig | None = None,
        rate_limiter: BaseRateLimiter[int] | None = None,
        request_retries: int = 5,
        poll_timeout: int = 10,
        grace: float = 20.0,
        backoff: float = 1.0,
        role: str = "all",
    ) -> None:
        if role not in ROLES:
            raise ConfigError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
        mailbox = engine.mailbox
        if mailbox is None:
            raise ConfigError("the Telegram adapter needs a store with an inbox (SQLiteStore)")
        self._engine = engine
        self._mailbox = mailbox
        self._webhook = webhook
        self._poll_timeout = poll_timeout
        self._grace = grace
        self._polling = PollingRequest(read_timeout=poll_timeout + 10)
        base = base_url.rstrip("/") if base_url else None
        self.bot = ExtBot(
            check_token(token),
            base_url=base or "https://api.telegram.org/bot",
            base_file_url=(base + "/file") if base else "https://api.telegram.org/file/bot",
            request=RetryingRequest(connection_pool_size=64, retries=request_retries),
            get_updates_request=self._polling,
            rate_limiter=rate_limiter if rate_limiter is not None else ChatRateLimiter(),
        )
        self.courier = Courier(PLATFORM, engine, mailbox, self._read, self._send, backoff=backoff)
        self._serving = False
        self._chores: set[asyncio.Task[Any]] = set()
        self.role = role

    @property
    def username(self) -> str:
        """The bot's @username, known once the bot is initialised."""
        return self.bot.username

    def healthy(self) -> bool:
        """True while updates can reach the bot (polling answered lately, or webhook serving);
        a worker, while it serves."""
        if not self._serving or self._polling.rejected.is_set():
            return False
        if self._webhook or self.role == "worker":
            return True
        return time.monotonic() - self._polling.last_ok < max(120.0, 3.0 * self._poll_timeout)

    async def notify(self, chat_id: int, text: str) -> None:
        """Send a markup text to a chat (the moderators' chat)."""
        for part in render(Reply(text)):
            await self.bot.send_message(chat_id, part, parse_mode=ParseMode.HTML)

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop``; then take no new updates, finish the turns in progress and
        send what fits in the grace period. Unanswered updates stay in the inbox."""
        async with self.bot:
            if self.role != "worker":
                await self.bot.set_my_commands(
                    [BotCommand(c.name, c.description[:256]) for c in self._engine.content.commands]
                )
            stop_courier = asyncio.Event()
            if self.role == "ingress":  # workers answer: this process only stores updates
                courier = asyncio.create_task(stop_courier.wait())
            else:
                courier = asyncio.create_task(self.courier.run(stop_courier, self._grace))
            server = None
            if self.role == "worker":
                ingress = asyncio.create_task(stop.wait())
                _log.info("Telegram worker started as @%s", self.username)
            elif self._webhook:
                server = await self._start_webhook(self._webhook)
                ingress = asyncio.create_task(stop.wait())
            else:
                await self.bot.delete_webhook()
                ingress = asyncio.create_task(self._poll(stop))
                _log.info("Telegram long polling started as @%s", self.username)
            self._serving = True
            rejected = asyncio.create_task(self._polling.rejected.wait())
            try:
                await asyncio.wait(
                    {ingress, rejected, courier}, return_when=asyncio.FIRST_COMPLETED
                )
                if courier.done():
                    courier.result()  # a courier that died says why
                if self._polling.rejected.is_set() and not stop.is_set():
                    raise ConfigError(
                        "Telegram rejected the bot token (revoked or wrong): no updates can "
                        "arrive; set a valid TELEGRAM_BOT_TOKEN and restart"
                    )
            finally:
                _log.info("Telegram adapter stopping: finishing the turns in progress")
                self._serving = False
                rejected.cancel()
                ingress.cancel()
                if server is not None:
                    server.stop()
                    await server.close_all_connections()
                await asyncio.gather(ingress, rejected, return_exceptions=True)
                stop_courier.set()
                await asyncio.gather(courier, return_exceptions=True)
                for chore in self._chores:
                    chore.cancel()
                await asyncio.gather(*self._chores, return_exceptions=True)

    # ------------------------------------------------------------------ ingress

    async def _poll(self, stop: asyncio.Event) -> None:
        """Long polling: each batch is stored before the next request confirms it."""
        offset: int | None = None
        delay = 1.0
        while not stop.is_set():
            kwargs: dict[str, Any] = {
                "timeout": self._poll_timeout,
                "allowed_updates": ALLOWED_UPDATES,
            }
            if offset is not None:
                kwargs["offset"] = offset
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # PTB suggests get_updates, which parses
                    raw = await self.bot.do_api_request(
                        "getUpdates", api_kwargs=kwargs, read_timeout=self._poll_timeout + 10
                    )
            except InvalidToken:
                self._polling.rejected.set()
                return
            except TelegramError as exc:  # network trouble, a conflict, a 5xx
                _log.warning("getUpdates failed (%s); trying again in %.0f s", exc, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                delay = min(delay * 2, 30)
                continue
            delay = 1.0
            updates = raw if isinstance(raw, list) else []
            ids = [
                u["update_id"]
                for u in updates
                if isinstance(u, dict) and type(u.get("update_id")) is int
            ]
            if len(ids) < len(updates):
                _log.error("%d updates without an update id were skipped", len(updates) - len(ids))
            await self._ingest(updates)
            if ids:
                offset = max(ids) + 1

    async def _ingest(self, updates: list[Any]) -> None:
        """Store updates in the inbox and wake the courier; if the inbox cannot be written,
        answer them directly (nothing is saved, but nobody is left without an answer)."""
        arrivals = [a for a in (arrival(u) for u in updates) if a is not None]
        if not arrivals:
            return
        try:
            await self._mailbox.receive(arrivals)
        except StoreError as exc:
            _log.warning(
                "inbox not writable (%s); answering %d updates directly", exc, len(arrivals)
            )
            self._chore(self._answer_directly(arrivals))
        else:
            self.courier.wake()
        for raw in updates:
            query = raw.get("callback_query") if isinstance(raw, dict) else None
            if isinstance(query, dict) and isinstance(query.get("id"), str):
                self._chore(self._stop_spinner(query["id"]))

    async def _answer_directly(self, arrivals: list[Arrival]) -> None:
        for item in arrivals:
            try:
                letter = await self._read(item.payload)
            except Exception as exc:
                _log.error("update %s cannot be read: %s", item.update_id, type(exc).__name__)
                continue
            if letter is not None:
                await self.courier.answer_now(letter)

    async def _stop_spinner(self, query_id: str) -> None:
        try:
            await self.bot.answer_callback_query(query_id)
        except TelegramError as exc:
            _log.info("could not answer button press %s: %s", query_id, exc)

    def _chore(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._chores.add(task)
        task.add_done_callback(self._chores.discard)

    async def _start_webhook(self, config: WebhookConfig) -> tornado.httpserver.HTTPServer:
        path = urlsplit(config.url).path
        app = tornado.web.Application(
            [(re.escape(path or "/"), _WebhookHandler, {"adapter": self, "secret": config.secret})]
        )
        server = tornado.httpserver.HTTPServer(app)
        server.listen(config.port, address=config.host)
        await self.bot.set_webhook(
            config.url, secret_token=config.secret, allowed_updates=ALLOWED_UPDATES
        )
        _log.info("Telegram webhook listening on %s:%d", config.host, config.port)
        return server

    # ------------------------------------------------------------------ translation

    async def _read(self, payload: str) -> Letter | None:
        """A stored update as a turn for the engine (None: not for the bot)."""
        update = Update.de_json(json.loads(payload), self.bot)
        if update is None:
            raise ValueError("empty update")
        if update.message is not None:
            message = update.message
            _log.debug(
                "update %d: message %d in chat %d",
                update.update_id,
                message.message_id,
                message.chat.id,
            )
            return self._from_message(message)
        if update.callback_query is not None:
            _log.debug("update %d: button press %s", update.update_id, update.callback_query.id)
            return self._from_button(update.callback_query)
        _log.debug("update %d: nothing to answer", update.update_id)
        return None

    def _from_message(self, message: Message) -> Letter | None:
        if message.from_user is None or message.from_user.is_bot:
            return None
        private = message.chat.type == ChatType.PRIVATE
        key = SessionKey(PLATFORM, str(message.from_user.id))
        text = message.text
        if text is None:
            if not private:
                return None  # stickers and photos in groups are not for the bot
            kind = next((a for a in _ATTACHMENTS if getattr(message, a, None)), "other")
            incoming = Incoming(key, attachment=kind)
        else:
            if not private:
                addressed = self._addressed_text(message, text)
                if addressed is None:
                    return None
                text = addressed
            incoming = Incoming(key, text=text, public=not private)
        reply_to = None if private else message.message_id
        return Letter(incoming, _address(message.chat.id, reply_to))

    def _from_button(self, query: CallbackQuery) -> Letter:
        message = query.message
        chat_id = message.chat.id if message is not None else query.from_user.id
        private = message is None or message.chat.type == ChatType.PRIVATE
        incoming = Incoming(
            SessionKey(PLATFORM, str(query.from_user.id)),
            button=query.data or "",
            public=not private,
        )
        return Letter(incoming, _address(chat_id, None))

    def _addressed_text(self, message: Message, text: str) -> str | None:
        """In a group: the text if it is a command for this bot or mentions it, else None."""
        mention = f"@{self.username}".casefold()
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            target = command.partition("@")[2]
            return text if not target or f"@{target}".casefold() == mention else None
        reply = message.reply_to_message
        if reply is not None and reply.from_user is not None and reply.from_user.id == self.bot.id:
            return text
        # a mention entity naming exactly this bot ("@nervebot_bot2" is another bot)
        for entity, said in message.parse_entities([MessageEntity.MENTION]).items():
            if said.casefold() == mention:
                rest = (
                    text[: _index(text, entity.offset)]
                    + " "
                    + text[_index(text, entity.offset + entity.length) :]
                )
                return " ".join(rest.split())
        return None

    # ------------------------------------------------------------------ egress

    async def _send(self, address: str, reply: Reply, progress: int) -> None:
        """Send one reply (its parts from ``progress`` on); `DeliveryError` says if a retry helps."""
        where = json.loads(address)
        chat_id, reply_to = int(where["chat"]), where.get("reply_to")
        parts = render(reply)
        for index in range(progress, len(parts)):
            last = index == len(parts) - 1
            try:
                await self.bot.send_message(
                    chat_id,
                    parts[index],
                    parse_mode=ParseMode.HTML,
                    reply_markup=keyboard(reply.buttons, self.username) if last else None,
                    reply_parameters=(
                        ReplyParameters(reply_to, allow_sending_without_reply=True)
                        if reply_to and index == 0
                        else None
                    ),
                    link_preview_options=_NO_PREVIEW,
                )
            except (BadRequest, Forbidden, InvalidToken) as exc:  # retrying cannot help
                raise DeliveryError(str(exc), retry=False, progress=index) from exc
            except (TimedOut, NetworkError) as exc:
                # it may have arrived (the request layer already tried once more): no third copy
                maybe_sent = isinstance(exc.__cause__, httpx.HTTPError) and not _certainly_not_sent(
                    exc
                )
                raise DeliveryError(str(exc), retry=not maybe_sent, progress=index) from exc
            except TelegramError as exc:  # 429 beyond the limiter's patience, and the like
                raise DeliveryError(str(exc), retry=True, progress=index) from exc


def _address(chat_id: int, reply_to: int | None) -> str:
    return json.dumps({"chat": chat_id, "reply_to": reply_to})


class _WebhookHandler(tornado.web.RequestHandler):
    """Telegram's POST: checked, stored in the inbox, and only then answered 200."""

    def initialize(self, adapter: TelegramAdapter, secret: str) -> None:  # tornado's hook
        self._adapter = adapter
        self._secret = secret

    async def post(self) -> None:
        sent = self.request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if not hmac.compare_digest(sent.encode(), self._secret.encode()):
            _log.warning("webhook request with a wrong secret from %s", self.request.remote_ip)
            self.set_status(403)
            return
        try:
            update = json.loads(self.request.body)
        except ValueError:
            update = None
        if arrival(update) is None:
            _log.error("webhook body is not an update; refused")
            self.set_status(400)
            return
        await self._adapter._ingest([update])
        self.set_status(200)


def _index(text: str, utf16_offset: int) -> int:
    """The Python index of a UTF-16 offset, as Telegram gives entity offsets."""
    units = 0
    for index, char in enumerate(text):
        if units >= utf16_offset:
            return index
        units += 2 if ord(char) > 0xFFFF else 1
    return len(text)
