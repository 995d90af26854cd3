"""A fake Discord REST API and gateway on 127.0.0.1 (aiohttp), for end-to-end tests.

REST (under /api/v10): users/@me, application command sync (global and per guild),
interaction callbacks, follow-up webhooks, channel messages. Gateway (websocket at /):
HELLO, IDENTIFY -> READY + GUILD_CREATE, heartbeats, RESUME, and events the tests dispatch
(INTERACTION_CREATE for slash commands, buttons and autocomplete; MESSAGE_CREATE in a DM).
Unknown routes answer 404 loudly and are recorded.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.waiting import Waitable

TOKEN = "TESTbotTOKENforTESTS1234.abcdef.fakeSECRETfakeSECRETfake0"
APP_ID = 900000000000000001
BOT_ID = 900000000000000002
GUILD_ID = 910000000000000001
CHANNEL_ID = 920000000000000001
MOD_ROLE_ID = 930000000000000001
MANAGE_GUILD = 1 << 5


def _json(data: Any, status: int = 200) -> web.Response:
    """JSON with the exact content type discord.py looks for (no charset suffix)."""
    return web.Response(
        body=json.dumps(data).encode(), status=status, content_type="application/json"
    )


def _user(user_id: int, name: str | None = None, bot: bool = False) -> dict[str, Any]:
    return {
        "id": str(user_id), "username": name or f"user{user_id}", "discriminator": "0",
        "global_name": None, "avatar": None, "bot": bot,
    }  # fmt: skip


@dataclass
class FakeDiscord(Waitable):
    """The fake's state; `start` it, then point discord.py at `api_base` and `gateway_url`."""

    calls: list[tuple[str, str, Any]] = field(default_factory=list)
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    synced: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    identified: int = 0
    identify_shards: list[Any] = field(default_factory=list)  # the shard each IDENTIFY asked for
    reject_login: bool = False

    def __post_init__(self) -> None:
        self._ids = itertools.count(950000000000000001)
        self._seq = itertools.count(1)
        self._changed = asyncio.Condition()
        self._sockets: list[web.WebSocketResponse] = []
        self.dispatched_at: dict[str, float] = {}

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Listen on a free loopback port."""
        app = web.Application()
        app.router.add_get("/", self._gateway)
        app.router.add_route("*", "/api/v10/{path:.*}", self._rest)
        await self._serve(app)

    @property
    def api_base(self) -> str:
        """Value for DISCORD_API_BASE_URL."""
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        """Value for DISCORD_GATEWAY_URL."""
        return f"ws://127.0.0.1:{self.port}/"

    async def stop(self) -> None:
        """Close sockets and the server."""
        for ws in list(self._sockets):
            await ws.close()
        await self._close_server()

    def _last_calls(self) -> object:
        return [c[:2] for c in self.calls[-12:]]

    # ------------------------------------------------------------------ gateway

    def _guild(self) -> dict[str, Any]:
        return {
            "id": str(GUILD_ID), "name": "Health community", "owner_id": "1", "unavailable": False,
            "roles": [
                {"id": str(GUILD_ID), "name": "@everyone", "permissions": "0", "position": 0, "color": 0,
                 "hoist": False, "managed": False, "mentionable": False, "flags": 0},
                {"id": str(MOD_ROLE_ID), "name": "Content Mods", "permissions": "0", "position": 1, "color": 0,
                 "hoist": False, "managed": False, "mentionable": False, "flags": 0},
            ],
            "channels": [{"id": str(CHANNEL_ID), "type": 0, "name": "general", "position": 0,
                          "permission_overwrites": [], "guild_id": str(GUILD_ID)}],
            "members": [], "member_count": 3, "emojis": [], "stickers": [], "features": [],
            "threads": [], "stage_instances": [], "guild_scheduled_events": [], "voice_states": [],
            "presences": [], "large": False, "joined_at": "2026-01-01T00:00:00+00:00",
            "premium_tier": 0, "preferred_locale": "en-US", "system_channel_flags": 0,
            "verification_level": 0, "default_message_notifications": 0, "explicit_content_filter": 0,
            "mfa_level": 0, "nsfw_level": 0, "afk_timeout": 300,
        }  # fmt: skip

    async def _send(self, ws: web.WebSocketResponse, payload: dict[str, Any]) -> None:
        await ws.send_str(json.dumps(payload))

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._sockets.append(ws)
        await self._send(ws, {"op": 10, "d": {"heartbeat_interval": 30000}, "s": None, "t": None})
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                data = json.loads(msg.data)
                op = data.get("op")
                if op == 1:
                    await self._send(ws, {"op": 11, "d": None, "s": None, "t": None})
                elif op == 2:
                    self.identified += 1
                    self.identify_shards.append(data.get("d", {}).get("shard"))
                    ready = {
                        "v": 10, "user": _user(BOT_ID, "nervebot", bot=True) | {"verified": True, "mfa_enabled": False,
                                                                              "flags": 0},
                        "guilds": [{"id": str(GUILD_ID), "unavailable": True}],
                        "session_id": f"session-{self.identified}", "resume_gateway_url": self.gateway_url,
                        "application": {"id": str(APP_ID), "flags": 0}, "private_channels": [],
                        "relationships": [], "presences": [], "shard": [0, 1],
                    }  # fmt: skip
                    await self._send(ws, {"op": 0, "t": "READY", "s": next(self._seq), "d": ready})
                    await self._send(
                        ws, {"op": 0, "t": "GUILD_CREATE", "s": next(self._seq), "d": self._guild()}
                    )
                elif op == 6:
                    await self._send(ws, {"op": 0, "t": "RESUMED", "s": next(self._seq), "d": {}})
                await self._notify()
        finally:
            if ws in self._sockets:
                self._sockets.remove(ws)
        return ws

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send an event to the connected bot."""
        await self.wait_for(lambda: bool(self._sockets) and self.identified > 0)
        ws = self._sockets[-1]
        await self._send(ws, {"op": 0, "t": event, "s": next(self._seq), "d": data})

    # ------------------------------------------------------------------ building events

    def _interaction(
        self,
        kind: int,
        data: dict[str, Any] | None,
        user_id: int,
        *,
        guild: bool,
        roles: list[int] | None = None,
        permissions: int = 0,
        message: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        interaction_id = next(self._ids)
        payload: dict[str, Any] = {
            "id": str(interaction_id), "application_id": str(APP_ID), "type": kind,
            "token": f"itoken-{interaction_id}", "version": 1, "locale": "en-US",
            "attachment_size_limit": 8_000_000, "app_permissions": "0", "entitlements": [],
            "authorizing_integration_owners": {}, "context": 0 if guild else 1,
        }  # fmt: skip
        if data is not None:
            payload["data"] = data
        if message is not None:
            payload["message"] = message
        if guild:
            payload["guild_id"] = str(GUILD_ID)
            payload["channel_id"] = str(CHANNEL_ID)
            payload["channel"] = {
                "id": str(CHANNEL_ID),
                "type": 0,
                "guild_id": str(GUILD_ID),
                "name": "general",
            }
            payload["member"] = {
                "user": _user(user_id), "roles": [str(r) for r in roles or []], "joined_at": "2026-01-01T00:00:00+00:00",
                "deaf": False, "mute": False, "flags": 0, "permissions": str(permissions), "pending": False,
            }  # fmt: skip
            payload["guild_locale"] = "en-US"
        else:
            dm = str(1_000_000 + user_id)
            payload["channel_id"] = dm
            payload["channel"] = {"id": dm, "type": 1, "recipients": [_user(user_id)]}
            payload["user"] = _user(user_id)
        return payload

    async def slash(
        self,
        name: str,
        user_id: int,
        options: dict[str, Any] | None = None,
        *,
        guild: bool = True,
        roles: list[int] | None = None,
        permissions: int = 0,
        sub: str | None = None,
    ) -> dict[str, Any]:
        """A user runs a slash command (``sub``: a subcommand of a group such as /content)."""
        opts = [{"name": k, "type": 3, "value": v} for k, v in (options or {}).items()]
        if sub is not None:
            opts = [{"name": sub, "type": 1, "options": opts}]
        data = {"id": str(next(self._ids)), "name": name, "type": 1, "options": opts}
        interaction = self._interaction(
            2, data, user_id, guild=guild, roles=roles, permissions=permissions
        )
        self.dispatched_at[interaction["id"]] = time.monotonic()
        await self.dispatch("INTERACTION_CREATE", interaction)
        return interaction

    async def press(
        self, custom_id: str, user_id: int, *, guild: bool = True, label: str = "x"
    ) -> dict[str, Any]:
        """A user presses a button with ``custom_id`` on one of the bot's messages."""
        message = {
            "id": str(next(self._ids)), "channel_id": str(CHANNEL_ID if guild else 1_000_000 + user_id),
            "author": _user(BOT_ID, "nervebot", bot=True), "content": "an earlier answer",
            "timestamp": "2026-01-01T00:00:00+00:00", "edited_timestamp": None, "tts": False,
            "mention_everyone": False, "mentions": [], "mention_roles": [], "attachments": [], "embeds": [],
            "pinned": False, "type": 0, "flags": 64 if guild else 0,
            "components": [{"type": 1, "components": [{"type": 2, "style": 2, "label": label, "custom_id": custom_id}]}],
        }  # fmt: skip
        data = {"custom_id": custom_id, "component_type": 2}
        interaction = self._interaction(3, data, user_id, guild=guild, message=message)
        self.dispatched_at[interaction["id"]] = time.monotonic()
        await self.dispatch("INTERACTION_CREATE", interaction)
        return interaction

    async def autocomplete(
        self, name: str, option: str, value: str, user_id: int
    ) -> dict[str, Any]:
        """A user types into an option with autocomplete."""
        data = {
            "id": str(next(self._ids)), "name": name, "type": 1,
            "options": [{"name": option, "type": 3, "value": value, "focused": True}],
        }  # fmt: skip
        interaction = self._interaction(4, data, user_id, guild=True)
        await self.dispatch("INTERACTION_CREATE", interaction)
        return interaction

    async def dm(self, user_id: int, content: str) -> None:
        """A user sends the bot a direct message."""
        await self.dispatch(
            "MESSAGE_CREATE",
            {
                "id": str(next(self._ids)), "channel_id": str(1_000_000 + user_id), "author": _user(user_id),
                "content": content, "timestamp": "2026-01-01T00:00:00+00:00", "edited_timestamp": None,
                "tts": False, "mention_everyone": False, "mentions": [], "mention_roles": [], "attachments": [],
                "embeds": [], "pinned": False, "type": 0, "flags": 0,
            },
        )  # fmt: skip

    # ------------------------------------------------------------------ what the bot sent

    def answers(self, interaction: dict[str, Any]) -> list[dict[str, Any]]:
        """Follow-up messages the bot sent for one interaction, in order."""
        return [m for m in self.messages if m.get("interaction_token") == interaction["token"]]

    def callback_for(self, interaction: dict[str, Any]) -> dict[str, Any] | None:
        """The interaction callback (acknowledgement) the bot sent, if any."""
        return next((c for c in self.callbacks if c["id"] == interaction["id"]), None)

    async def wait_answers(
        self, interaction: dict[str, Any], count: int = 1, timeout: float = 15.0
    ) -> list[dict[str, Any]]:
        """Wait for ``count`` follow-ups to an interaction."""
        await self.wait_for(lambda: len(self.answers(interaction)) >= count, timeout)
        return self.answers(interaction)

    def channel_messages(self, channel_id: int) -> list[dict[str, Any]]:
        """Messages the bot posted to a channel (DMs)."""
        return [
            m
            for m in self.messages
            if m.get("channel_id") == str(channel_id) and "interaction_token" not in m
        ]

    # ------------------------------------------------------------------ REST

    def _message(self, channel_id: str, body: dict[str, Any], **extra: Any) -> dict[str, Any]:
        message = {
            "id": str(next(self._ids)), "channel_id": channel_id, "author": _user(BOT_ID, "nervebot", bot=True),
            "content": body.get("content", ""), "timestamp": "2026-01-01T00:00:00+00:00", "edited_timestamp": None,
            "tts": False, "mention_everyone": False, "mentions": [], "mention_roles": [], "attachments": [],
            "embeds": [], "pinned": False, "type": 0, "flags": body.get("flags", 0),
            "components": body.get("components", []), "webhook_id": str(APP_ID) if extra else None,
        }  # fmt: skip
        self.messages.append(
            {
                **message,
                **extra,
                "allowed_mentions": body.get("allowed_mentions"),
                "at": time.monotonic(),
            }
        )
        return message

    async def _rest(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["path"]
        body: Any = None
        if request.can_read_body:
            if request.content_type == "application/json":
                body = await request.json()
            elif request.content_type.startswith("multipart/"):
                form = await request.post()
                body = json.loads(str(form.get("payload_json", "{}")))
        self.calls.append((request.method, path, body))
        try:
            return await self._route(request.method, path, body or {}, request)
        finally:
            await self._notify()

    async def _route(
        self, method: str, path: str, body: dict[str, Any], request: web.Request
    ) -> web.Response:
        parts = path.strip("/").split("/")
        if path == "/users/@me" and method == "GET":
            if self.reject_login or request.headers.get("Authorization") != f"Bot {TOKEN}":
                return _json({"message": "401: Unauthorized", "code": 0}, status=401)
            return _json(_user(BOT_ID, "nervebot", bot=True))
        if path in ("/oauth2/applications/@me", "/applications/@me"):
            return _json({
                "id": str(APP_ID), "name": "nervebot", "icon": None, "description": "", "rpc_origins": [],
                "bot_public": True, "bot_require_code_grant": False, "owner": _user(1, "owner"),
                "summary": "", "verify_key": "0" * 64, "team": None, "flags": 0,
            })  # fmt: skip
        if path in ("/gateway", "/gateway/bot"):
            return _json(
                {
                    "url": self.gateway_url,
                    "shards": 1,
                    "session_start_limit": {
                        "total": 1000,
                        "remaining": 1000,
                        "reset_after": 0,
                        "max_concurrency": 1,
                    },
                }
            )
        if parts[0] == "applications" and parts[-1] == "commands" and method == "PUT":
            scope = parts[3] if len(parts) == 5 else "global"
            self.synced[scope] = body
            return _json(
                [{**c, "id": str(next(self._ids)), "application_id": str(APP_ID), "version": "1",
                  "default_member_permissions": None, "type": c.get("type", 1)} for c in body]
            )  # fmt: skip
        if parts[0] == "interactions" and parts[-1] == "callback" and method == "POST":
            self.callbacks.append({"id": parts[1], "token": parts[2], "type": body.get("type"),
                                   "data": body.get("data"), "at": time.monotonic()})  # fmt: skip
            flags = (body.get("data") or {}).get("flags", 0)
            return _json({
                "interaction": {"id": parts[1], "type": 2, "response_message_loading": body.get("type") == 5,
                                "response_message_ephemeral": bool(flags & 64)},
                "resource": {"type": body.get("type")},
            })  # fmt: skip
        if parts[0] == "webhooks" and len(parts) == 3 and method == "POST":
            return _json(self._message(str(CHANNEL_ID), body, interaction_token=parts[2]))
        if parts[0] == "webhooks" and method == "PATCH":
            return _json(
                self._message(str(CHANNEL_ID), body, interaction_token=parts[2], edit=True)
            )
        if parts[0] == "channels" and parts[-1] == "messages" and method == "POST":
            return _json(self._message(parts[1], body))
        return _json({"message": f"fake: no route {method} {path}", "code": 0}, status=404)
