"""A fake Telegram Bot API server on 127.0.0.1 (aiohttp), for end-to-end tests.

It speaks the HTTP API that python-telegram-bot uses: getMe, deleteWebhook, setWebhook,
getUpdates (long polling with offsets), sendMessage, editMessageText, answerCallbackQuery,
setMyCommands. Any other method answers 404 loudly. Tests queue updates, read what the bot
sent, and inject faults (429 with retry_after, 502).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.waiting import Waitable

TOKEN = "123456:TEST-token_for-tests"
BOT_ID = 123456
BOT_USERNAME = "nervebot_test_bot"
_JSON_FIELDS = {
    "chat_id", "offset", "limit", "timeout", "allowed_updates", "reply_markup", "commands",
    "message_id", "reply_parameters", "link_preview_options", "show_alert", "cache_time",
    "drop_pending_updates", "max_connections", "scope",
}  # fmt: skip


@dataclass
class Fault:
    """Answer the next ``times`` calls of ``method`` (for ``chat_id``, if given) with an error."""

    method: str
    status: int
    times: int
    chat_id: int | None = None
    retry_after: int | None = None


@dataclass
class FakeBotApi(Waitable):
    """The fake server's state; `start` it, then point python-telegram-bot at `base_url`."""

    token: str = TOKEN
    updates: list[dict[str, Any]] = field(default_factory=list)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    fault_hits: list[tuple[str, int, float]] = field(default_factory=list)
    chats: dict[int, str] = field(default_factory=dict)
    poll_cap: float = 0.3
    confirmed_offset: int = 0

    def __post_init__(self) -> None:
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1000)
        self._changed = asyncio.Condition()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> str:
        """Listen on a free loopback port; returns the base URL for python-telegram-bot."""
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        await self._serve(app)
        return self.base_url

    @property
    def base_url(self) -> str:
        """python-telegram-bot's ``base_url`` format: the token is appended to it."""
        return f"http://127.0.0.1:{self.port}/bot"

    async def stop(self) -> None:
        """Close the server."""
        await self._close_server()

    # ------------------------------------------------------------------ what tests do

    def _add(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": next(self._update_ids), kind: body}
        self.updates.append(update)
        asyncio.get_running_loop().create_task(self._notify())
        return update

    def _chat(self, chat_id: int, chat_type: str) -> dict[str, Any]:
        self.chats[chat_id] = chat_type
        chat: dict[str, Any] = {"id": chat_id, "type": chat_type}
        if chat_type == "private":
            chat["first_name"] = "User"
        else:
            chat["title"] = "Health group"
        return chat

    @staticmethod
    def _user(user_id: int) -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"}

    def message(
        self,
        user_id: int,
        text: str | None = None,
        *,
        chat_id: int | None = None,
        chat_type: str = "private",
        extra: dict[str, Any] | None = None,
        edited: bool = False,
    ) -> dict[str, Any]:
        """Queue a message from a user (a text, or ``extra`` such as a sticker)."""
        body: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": self._chat(chat_id if chat_id is not None else user_id, chat_type),
            "from": self._user(user_id),
        }
        if text is not None:
            body["text"] = text
            entities = []
            if text.startswith("/"):
                length = len(text.split()[0])
                entities.append({"type": "bot_command", "offset": 0, "length": length})
            for found in re.finditer(r"(?<![\w@])@[A-Za-z0-9_]{3,32}", text):  # as Telegram does
                entities.append({"type": "mention", "offset": _utf16(text[: found.start()]),
                                 "length": _utf16(found.group())})  # fmt: skip
            if entities:
                body["entities"] = entities
        body.update(extra or {})
        return self._add("edited_message" if edited else "message", body)

    def press(
        self, user_id: int, data: str, *, chat_id: int | None = None, chat_type: str = "private"
    ) -> dict[str, Any]:
        """Queue a button press on a message the bot sent."""
        chat = chat_id if chat_id is not None else user_id
        return self._add(
            "callback_query",
            {
                "id": str(next(self._message_ids)),
                "from": self._user(user_id),
                "chat_instance": str(chat),
                "data": data,
                "message": {
                    "message_id": next(self._message_ids),
                    "date": int(time.time()),
                    "chat": self._chat(chat, chat_type),
                    "from": {"id": BOT_ID, "is_bot": True, "first_name": "nervebot"},
                    "text": "an earlier message",
                },
            },
        )

    def sent_to(self, chat_id: int) -> list[dict[str, Any]]:
        """Messages the bot sent to one chat, in order."""
        return [m for m in self.sent if m["chat_id"] == chat_id]

    def methods(self) -> list[str]:
        """Names of the API methods called, in order."""
        return [name for name, _ in self.calls]

    def _last_calls(self) -> object:
        return self.methods()[-20:]

    async def wait_sent(
        self, chat_id: int, count: int, timeout: float = 15.0
    ) -> list[dict[str, Any]]:
        """Wait until the bot has sent at least ``count`` messages to ``chat_id``."""
        await self.wait_for(lambda: len(self.sent_to(chat_id)) >= count, timeout)
        return self.sent_to(chat_id)

    # ------------------------------------------------------------------ the API

    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            data = await request.json()
            return dict(data) if isinstance(data, dict) else {}
        form = await request.post()
        params: dict[str, Any] = {}
        for key, value in form.items():
            if not isinstance(value, str):
                continue
            params[key] = json.loads(value) if key in _JSON_FIELDS else value
        return params

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        method = request.match_info["method"]
        params = await self._params(request)
        self.calls.append((method, params))
        try:
            fault = self._fault(method, params)
            if fault is not None:
                return fault
            handler = getattr(self, f"_api_{method}", None)
            if handler is None:
                return web.json_response(
                    {
                        "ok": False,
                        "error_code": 404,
                        "description": f"Not Found: fake has no {method}",
                    },
                    status=404,
                )
            result = await handler(params)
            return web.json_response({"ok": True, "result": result})
        finally:
            await self._notify()

    def _fault(self, method: str, params: dict[str, Any]) -> web.Response | None:
        for fault in self.faults:
            if fault.method != method or fault.times <= 0:
                continue
            if fault.chat_id is not None and params.get("chat_id") != fault.chat_id:
                continue
            fault.times -= 1
            self.fault_hits.append((method, fault.status, time.monotonic()))
            if fault.status == 429:
                return web.json_response(
                    {
                        "ok": False,
                        "error_code": 429,
                        "description": f"Too Many Requests: retry after {fault.retry_after}",
                        "parameters": {"retry_after": fault.retry_after},
                    },
                    status=429,
                )
            return web.Response(
                status=fault.status, text="<html>Bad Gateway</html>", content_type="text/html"
            )
        return None

    async def _api_getMe(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": BOT_ID, "is_bot": True, "first_name": "nervebot", "username": BOT_USERNAME,
            "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False,
        }  # fmt: skip

    async def _api_deleteWebhook(self, params: dict[str, Any]) -> bool:
        return True

    async def _api_setWebhook(self, params: dict[str, Any]) -> bool:
        return True

    async def _api_setMyCommands(self, params: dict[str, Any]) -> bool:
        return True

    async def _api_answerCallbackQuery(self, params: dict[str, Any]) -> bool:
        return True

    async def _api_getUpdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        if offset:
            self.confirmed_offset = max(self.confirmed_offset, offset)
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        deadline = time.monotonic() + min(float(params.get("timeout") or 0), self.poll_cap)
        async with self._changed:
            while not self.updates and time.monotonic() < deadline:
                with_timeout = deadline - time.monotonic()
                try:
                    await asyncio.wait_for(self._changed.wait(), max(with_timeout, 0.001))
                except TimeoutError:
                    break
        limit = int(params.get("limit") or 100)
        return self.updates[:limit]

    async def _api_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        message = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": self._chat(chat_id, self.chats.get(chat_id, "private")),
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "nervebot"},
            "text": params.get("text", ""),
        }
        self.sent.append(
            {
                **params,
                "chat_id": chat_id,
                "message_id": message["message_id"],
                "at": time.monotonic(),
            }
        )
        return message

    async def _api_editMessageText(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        return {
            "message_id": int(params["message_id"]),
            "date": int(time.time()),
            "chat": self._chat(chat_id, self.chats.get(chat_id, "private")),
            "text": params.get("text", ""),
        }


def _utf16(text: str) -> int:
    """Telegram counts entity offsets and lengths in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2
