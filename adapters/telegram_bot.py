"""The Telegram adapter (python-telegram-bot): updates in, `Incoming` to the engine, replies out.

It holds no conversation rules: it translates updates, renders the engine's markup as
Telegram HTML, keeps one chat's updates in order, and respects Telegram's limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import html
import logging
import re
import time
import warnings
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from aiolimiter import AsyncLimiter
from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    MessageEntity,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatType, MessageLimit, ParseMode
from telegram.error import NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import (
    Application,
    BaseRateLimiter,
    BaseUpdateProcessor,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.request import HTTPXRequest

from bot import markup
from bot.conversation.engine import Engine
from bot.errors import ConfigError
from bot.events import Button, Incoming, Reply, SessionKey

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


class PerChatProcessor(BaseUpdateProcessor):
    """Processes one chat's updates in arrival order and different chats concurrently."""

    def __init__(self, max_concurrent_updates: int = 256) -> None:
        super().__init__(max_concurrent_updates)
        self._tails: dict[int, asyncio.Future[None]] = {}

    async def process_update(self, update: object, coroutine: Any) -> None:
        """Wait for the chat's previous update, then process this one."""
        key = _chat_key(update)
        previous = self._tails.get(key)
        mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._tails[key] = mine
        try:
            if previous is not None:
                with contextlib.suppress(Exception):
                    await previous
            await super().process_update(update, coroutine)
        finally:
            mine.set_result(None)
            if self._tails.get(key) is mine:
                del self._tails[key]

    async def do_process_update(self, update: object, coroutine: Any) -> None:
        """Run the handlers."""
        await coroutine

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""


def _seconds(exc: RetryAfter) -> float:
    """RetryAfter's wait in seconds, whichever type this PTB version gives it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PTB 22 warns that the type will change
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


def _chat_key(update: object) -> int:
    if isinstance(update, Update):
        if update.effective_chat is not None:
            return update.effective_chat.id
        if update.effective_user is not None:
            return update.effective_user.id
    return 0


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


class TelegramAdapter:
    """Runs the engine as a Telegram bot; build it, then `run` until a stop event."""

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
    ) -> None:
        self._engine = engine
        self._webhook = webhook
        self._poll_timeout = poll_timeout
        self._polling = PollingRequest(read_timeout=poll_timeout + 10)
        builder = (
            Application.builder()
            .token(check_token(token))
            .request(RetryingRequest(connection_pool_size=64, retries=request_retries))
            .get_updates_request(self._polling)
            .rate_limiter(rate_limiter if rate_limiter is not None else ChatRateLimiter())
            .concurrent_updates(PerChatProcessor())
        )
        if base_url:
            builder = builder.base_url(base_url.rstrip("/")).base_file_url(
                base_url.rstrip("/") + "/file"
            )
        self.application: Application[Any, Any, Any, Any, Any, Any] = builder.build()
        app = self.application
        app.add_handler(MessageHandler(filters.UpdateType.EDITED, self._on_edited))
        app.add_handler(MessageHandler(filters.UpdateType.MESSAGE, self._on_message))
        app.add_handler(CallbackQueryHandler(self._on_button))
        app.add_error_handler(self._on_error)

    @property
    def username(self) -> str:
        """The bot's @username, known once the application is initialised."""
        return self.application.bot.username

    def healthy(self) -> bool:
        """True while updates can reach the bot (polling answered lately, or webhook serving)."""
        updater = self.application.updater
        if updater is None or not updater.running or self._polling.rejected.is_set():
            return False
        if self._webhook:
            return True
        return time.monotonic() - self._polling.last_ok < max(120.0, 3.0 * self._poll_timeout)

    async def notify(self, chat_id: int, text: str) -> None:
        """Send a markup text to a chat (the moderators' chat)."""
        for part in render(Reply(text)):
            await self.application.bot.send_message(chat_id, part, parse_mode=ParseMode.HTML)

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop`` is set, then finish in-flight updates and shut down cleanly."""
        app = self.application
        async with app:
            await app.bot.set_my_commands(
                [BotCommand(c.name, c.description[:256]) for c in self._engine.content.commands]
            )
            await app.start()
            assert app.updater is not None
            allowed = ["message", "edited_message", "callback_query"]
            if self._webhook:
                path = urlsplit(self._webhook.url).path.lstrip("/")
                await app.updater.start_webhook(
                    listen=self._webhook.host,
                    port=self._webhook.port,
                    url_path=path,
                    webhook_url=self._webhook.url,
                    secret_token=self._webhook.secret,
                    allowed_updates=allowed,
                )
                _log.info(
                    "Telegram webhook listening on %s:%d", self._webhook.host, self._webhook.port
                )
            else:
                await app.updater.start_polling(allowed_updates=allowed, timeout=self._poll_timeout)
                _log.info("Telegram long polling started as @%s", self.username)
            try:
                stopping = asyncio.create_task(stop.wait())
                rejected = asyncio.create_task(self._polling.rejected.wait())
                await asyncio.wait({stopping, rejected}, return_when=asyncio.FIRST_COMPLETED)
                stopping.cancel()
                rejected.cancel()
                if self._polling.rejected.is_set() and not stop.is_set():
                    raise ConfigError(
                        "Telegram rejected the bot token (revoked or wrong): no updates can "
                        "arrive; set a valid TELEGRAM_BOT_TOKEN and restart"
                    )
            finally:
                _log.info("Telegram adapter stopping: finishing in-flight updates")
                try:
                    if app.updater.running:
                        await app.updater.stop()
                except TelegramError as exc:  # a dead polling loop re-raises its error here
                    _log.info("polling had already stopped: %s", exc)
                await app.stop()

    # ------------------------------------------------------------------ translation

    async def _on_message(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.message
        if message is None or message.from_user is None or message.from_user.is_bot:
            return
        _log.debug(
            "update %d: message %d in chat %d",
            update.update_id,
            message.message_id,
            message.chat.id,
        )
        private = message.chat.type == ChatType.PRIVATE
        text = message.text
        if text is None:
            if not private:
                return  # stickers and photos in groups are not for the bot
            kind = next((a for a in _ATTACHMENTS if getattr(message, a, None)), "other")
            incoming = Incoming(SessionKey(PLATFORM, str(message.from_user.id)), attachment=kind)
        else:
            if not private:
                addressed = self._addressed_text(message, text)
                if addressed is None:
                    return
                text = addressed
            incoming = Incoming(
                SessionKey(PLATFORM, str(message.from_user.id)), text=text, public=not private
            )
        await self._answer(incoming, message.chat.id, None if private else message.message_id)

    def _addressed_text(self, message: Message, text: str) -> str | None:
        """In a group: the text if it is a command for this bot or mentions it, else None."""
        mention = f"@{self.username}".casefold()
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            target = command.partition("@")[2]
            return text if not target or f"@{target}".casefold() == mention else None
        reply = message.reply_to_message
        if (
            reply is not None
            and reply.from_user is not None
            and reply.from_user.id == message.get_bot().id
        ):
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

    async def _on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None:
            return
        _log.debug("update %d: button press %s", update.update_id, query.id)
        try:
            await query.answer()  # stop the spinner at once
        except TelegramError as exc:
            _log.info("could not answer button press %s: %s", query.id, exc)
        message = query.message
        chat_id = message.chat.id if message is not None else query.from_user.id
        private = message is None or message.chat.type == ChatType.PRIVATE
        incoming = Incoming(
            SessionKey(PLATFORM, str(query.from_user.id)),
            button=query.data or "",
            public=not private,
        )
        await self._answer(incoming, chat_id, None)

    async def _on_edited(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        _log.debug("update %d: edited message ignored", update.update_id)

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        update_id = update.update_id if isinstance(update, Update) else None
        _log.error("update %s failed: %r", update_id, context.error, exc_info=context.error)

    async def _answer(self, incoming: Incoming, chat_id: int, reply_to: int | None) -> None:
        try:
            replies = await self._engine.handle(incoming)
        except Exception:
            _log.exception("engine failed on a %s turn", PLATFORM)
            replies = [Reply(self._engine.content.message("internal_error"))]
        for reply in replies:
            parts = render(reply)
            for index, part in enumerate(parts):
                last = index == len(parts) - 1
                await self.application.bot.send_message(
                    chat_id,
                    part,
                    parse_mode=ParseMode.HTML,
                    reply_markup=keyboard(reply.buttons, self.username) if last else None,
                    reply_parameters=(
                        ReplyParameters(reply_to, allow_sending_without_reply=True)
                        if reply_to
                        else None
                    ),
                    link_preview_options=_NO_PREVIEW,
                )
                reply_to = None


def _index(text: str, utf16_offset: int) -> int:
    """The Python index of a UTF-16 offset, as Telegram gives entity offsets."""
    units = 0
    for index, char in enumerate(text):
        if units >= utf16_offset:
            return index
        units += 2 if ord(char) > 0xFFFF else 1
    return len(text)
