"""The Discord adapter (discord.py): slash commands, buttons and DMs to the engine and back.

It holds no conversation rules. Slash commands become the engine's commands, buttons are
dynamic items keyed by custom_id (so they keep working after a restart), every interaction
is acknowledged at once (defer, then follow up), and replies are rendered as escaped
Discord markdown that can never ping anyone.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import re
from collections.abc import Iterable
from typing import Any, Protocol

import aiohttp
import discord
import yarl
from discord import app_commands

from bot import markup
from bot.conversation.delivery import Courier, Letter
from bot.conversation.engine import Engine
from bot.errors import ConfigError, DeliveryError, StoreError
from bot.events import Button, Incoming, Reply, SessionKey
from bot.moderation.content_manager import ContentManager
from bot.storage.mailbox import Arrival

_log = logging.getLogger(__name__)

PLATFORM = "discord"
discord.VoiceClient.warn_nacl = False  # the bot never uses voice
MESSAGE_LIMIT = 2000
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{16,}$")
_NO_PINGS = discord.AllowedMentions.none()
#: Slash commands that concern a person's own symptoms or data: ephemeral in servers.
PERSONAL = frozenset({"triage", "ask", "forget", "reset"})
#: Slash commands without arguments that map one to one onto engine commands.
SIMPLE = ("triage", "redflags", "about", "help", "reset", "forget", "nutrients")


def check_token(token: str | None) -> str:
    """The token if it has Discord's shape (three dot-separated parts), else `ConfigError`."""
    if not token:
        raise ConfigError(
            "DISCORD_BOT_TOKEN is not set (create a bot in the Discord developer portal)"
        )
    if not _TOKEN.match(token):
        raise ConfigError("DISCORD_BOT_TOKEN is malformed: expected three parts separated by dots")
    return token


def parse_guild_ids(raw: str | None) -> list[int]:
    """DISCORD_GUILD_IDS as a list of ids; `ConfigError` if any is not a number."""
    ids = [part.strip() for part in (raw or "").split(",") if part.strip()]
    if not all(part.isdigit() for part in ids):
        raise ConfigError("DISCORD_GUILD_IDS must be comma-separated numeric server ids")
    return [int(part) for part in ids]


def use_endpoints(api_base_url: str | None, gateway_url: str | None) -> None:
    """Point discord.py's REST and gateway at a Discord-compatible server (process-wide)."""
    if api_base_url:
        discord.http.Route.BASE = api_base_url.rstrip("/")
    if gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)


def _escape(text: str) -> str:
    return discord.utils.escape_mentions(discord.utils.escape_markdown(text))


def to_markdown(text: str) -> str:
    """Render engine markup as Discord markdown with every piece of text escaped."""
    return "".join(
        f"**{_escape(s.text)}**" if s.bold else _escape(s.text) for s in markup.parse(text)
    )


def render(reply: Reply, limit: int = MESSAGE_LIMIT) -> list[str]:
    """A reply as one or more messages within Discord's length limit."""
    return [
        to_markdown(chunk)
        for chunk in markup.split(reply.text, limit, measure=lambda m: len(to_markdown(m)))
    ]


class _Named(Protocol):
    id: str
    name: str
    aliases: tuple[str, ...]


def _choices(items: Iterable[_Named], typed: str) -> list[app_commands.Choice[str]]:
    """Autocomplete choices whose name or alias contains what the user typed (at most 25)."""
    wanted = typed.casefold()
    return [
        app_commands.Choice(name=item.name, value=item.id)
        for item in items
        if wanted in item.name.casefold() or any(wanted in alias for alias in item.aliases)
    ][:25]


class EngineButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"nb:(?P<bid>\S{1,64})"
):
    """A button carrying an engine button id; found again by its custom_id after restarts."""

    def __init__(self, button_id: str, label: str = "") -> None:
        super().__init__(
            discord.ui.Button(
                label=label[:80] or "…",
                custom_id=f"nb:{button_id}",
                style=discord.ButtonStyle.secondary,
            )
        )
        self.button_id = button_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> EngineButton:
        """Rebuild the button from a press (also after the bot restarted)."""
        label = getattr(item, "label", "") or ""
        return cls(match["bid"], label)

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        """Hand the press to the adapter that owns this client."""
        client = interaction.client
        if isinstance(client, NervebotClient):
            await client.adapter.on_button(interaction, self.button_id)


def view_for(buttons: tuple[Button, ...]) -> discord.ui.View | None:
    """Engine buttons as a view (at most 25, Discord's limit)."""
    if not buttons:
        return None
    view = discord.ui.View(timeout=None)
    for button in buttons[:25]:
        view.add_item(EngineButton(button.id, button.label))
    return view


class NervebotClient(discord.Client):
    """discord.py client with the command tree and a link back to its adapter."""

    def __init__(self, adapter: DiscordAdapter, **kwargs: Any) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        intents.dm_messages = True
        super().__init__(intents=intents, **kwargs)
        self.adapter = adapter
        self.tree = app_commands.CommandTree(self)
        self.ready = asyncio.Event()

    async def setup_hook(self) -> None:
        """Register the dynamic buttons and commands, then sync the commands."""
        self.add_dynamic_items(EngineButton)
        self.adapter.register_commands(self.tree)
        await self.adapter.sync_commands(self.tree)

    async def on_ready(self) -> None:
        """Connected and guilds loaded."""
        _log.info("Discord connected as %s (%d servers)", self.user, len(self.guilds))
        self.ready.set()

    async def on_message(self, message: discord.Message) -> None:
        """Free text in DMs goes to the engine; messages in servers are not for the bot."""
        await self.adapter.on_message(message)


#: What a process does: ``all`` (gateway and answers), ``ingress`` (gateway; stores
#: interactions for workers) or ``worker`` (answers and sends through the REST API only).
ROLES = ("all", "ingress", "worker")


class DiscordAdapter:
    """Runs the engine as a Discord bot; construct it, then `run` until a stop event."""

    def __init__(
        self,
        engine: Engine,
        token: str,
        *,
        content: ContentManager | None = None,
        guild_ids: list[int] | None = None,
        moderator_role: str | None = None,
        role: str = "all",
        **client_options: Any,
    ) -> None:
        if role not in ROLES:
            raise ConfigError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
        self.role = role
        mailbox = engine.mailbox
        if mailbox is None:
            raise ConfigError("the Discord adapter needs a store with an inbox (SQLiteStore)")
        self._mailbox = mailbox
        self._engine = engine
        self._token = check_token(token)
        self.courier = Courier(PLATFORM, engine, mailbox, self._read, self._send)
        self._grace = 20.0
        self._content = content
        self._guild_ids = guild_ids or []
        self._moderator_role = (moderator_role or "").strip()
        self._client_options = {"guild_ready_timeout": 0.5, **client_options}
        self.client = NervebotClient(self, **self._client_options)
        self._worker_ready = False

    # ------------------------------------------------------------------ lifecycle

    async def run(self, stop: asyncio.Event) -> None:
        """Connect and serve until ``stop`` is set (or the connection fails for good).

        On stop the courier finishes the turns in progress and sends what it can while the
        connection is still open; interactions that arrive meanwhile wait in the inbox.
        """
        client = self.client
        if self.role == "worker":
            await self._work(stop)
            return
        async with client:
            stop_courier = asyncio.Event()
            if self.role == "ingress":  # workers answer: this process only stores interactions
                courier = asyncio.create_task(stop_courier.wait())
            else:
                courier = asyncio.create_task(self.courier.run(stop_courier, self._grace))
            runner = asyncio.create_task(client.start(self._token))
            stopper = asyncio.create_task(stop.wait())
            try:
                done, _ = await asyncio.wait(
                    {runner, stopper, courier}, return_when=asyncio.FIRST_COMPLETED
                )
                if courier in done:
                    courier.result()
                if runner in done:
                    runner.result()  # a login or connection failure surfaces here
                    return
            finally:
                stopper.cancel()
                stop_courier.set()
                await asyncio.gather(courier, return_exceptions=True)
                if not client.is_closed():
                    await client.close()
                if not runner.done():
                    await runner
            _log.info("Discord adapter stopped")

    async def _work(self, stop: asyncio.Event) -> None:
        """A worker: no gateway, only the REST API to send; answers what ingress stored."""
        async with self.client:
            await self.client.login(self._token)
            self._worker_ready = True
            _log.info("Discord worker started as %s", self.client.user)
            await self.courier.run(stop, self._grace)
        _log.info("Discord worker stopped")

    def healthy(self) -> bool:
        """True while the gateway connection is up and ready (a worker: logged in)."""
        if self.role == "worker":
            return self._worker_ready and not self.client.is_closed()
        return self.client.is_ready() and not self.client.is_closed()

    async def notify(self, channel_id: int, text: str) -> None:
        """Post a markup text to a channel (the moderators' channel)."""
        channel = self.client.get_partial_messageable(channel_id)
        for part in render(Reply(text)):
            await channel.send(part, allowed_mentions=_NO_PINGS)

    # ------------------------------------------------------------------ commands

    def _text(self, key: str) -> str:
        return self._engine.content.message(key)

    def _describe(self, name: str) -> str:
        found = next((c.description for c in self._engine.content.commands if c.name == name), name)
        return found[:100]

    def register_commands(self, tree: app_commands.CommandTree[Any]) -> None:
        """Create the slash commands from the content's command list."""
        for name in SIMPLE:
            tree.add_command(self._simple(name))

        @app_commands.describe(name=self._text("discord_nutrient_name")[:100])
        async def nutrient(interaction: discord.Interaction[Any], name: str) -> None:
            await self._slash(interaction, "nutrient", f"/nutrient {name}")

        @app_commands.describe(
            nutrient=self._text("discord_foods_nutrient")[:100],
            diet=self._text("discord_foods_diet")[:100],
        )
        async def foods(
            interaction: discord.Interaction[Any], nutrient: str, diet: str | None = None
        ) -> None:
            await self._slash(interaction, "foods", f"/foods {nutrient} {diet or ''}".strip())

        @app_commands.describe(question=self._text("discord_ask_question")[:100])
        async def ask(interaction: discord.Interaction[Any], question: str) -> None:
            await self._slash(interaction, "ask", question)

        nutrient_cmd = app_commands.Command(
            name="nutrient", description=self._describe("nutrient"), callback=nutrient
        )
        foods_cmd = app_commands.Command(
            name="foods", description=self._describe("foods"), callback=foods
        )
        ask_cmd = app_commands.Command(
            name="ask", description=self._text("discord_ask")[:100], callback=ask
        )
        nutrient_cmd.autocomplete("name")(self._complete_nutrient)
        foods_cmd.autocomplete("nutrient")(self._complete_nutrient)
        foods_cmd.autocomplete("diet")(self._complete_diet)
        for command in (nutrient_cmd, foods_cmd, ask_cmd):
            tree.add_command(command)

        group = app_commands.Group(
            name="content", description=self._text("discord_content")[:100], guild_only=True
        )
        group.add_command(
            app_commands.Command(
                name="status",
                description=self._text("discord_content_status")[:100],
                callback=self._content_status,
            )
        )
        group.add_command(
            app_commands.Command(
                name="reload",
                description=self._text("discord_content_reload")[:100],
                callback=self._content_reload,
            )
        )
        tree.add_command(group)

    def _simple(self, name: str) -> app_commands.Command[Any, Any, None]:
        async def callback(interaction: discord.Interaction[Any]) -> None:
            await self._slash(interaction, name, f"/{name}")

        return app_commands.Command(name=name, description=self._describe(name), callback=callback)

    async def sync_commands(self, tree: app_commands.CommandTree[Any]) -> None:
        """Sync to the listed servers at once, or globally (which Discord rolls out slowly)."""
        if self._guild_ids:
            for guild_id in self._guild_ids:
                guild = discord.Object(id=guild_id)
                tree.copy_global_to(guild=guild)
                await tree.sync(guild=guild)
            _log.info("slash commands synced to %d server(s)", len(self._guild_ids))
        else:
            await tree.sync()
            _log.info("slash commands synced globally")

    async def _complete_nutrient(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        return _choices(self._engine.content.nutrients.values(), current)

    async def _complete_diet(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        return _choices(self._engine.content.diets.values(), current)

    # ------------------------------------------------------------------ translation

    @staticmethod
    def _key(user: discord.abc.User) -> SessionKey:
        return SessionKey(PLATFORM, str(user.id))

    async def _slash(self, interaction: discord.Interaction[Any], name: str, text: str) -> None:
        ephemeral = name in PERSONAL and interaction.guild is not None
        _log.debug("interaction %d: /%s", interaction.id, name)
        await interaction.response.defer(ephemeral=ephemeral, thinking=True)  # within Discord's 3 s
        await self._take(interaction, {"text": text}, ephemeral)

    async def on_button(self, interaction: discord.Interaction[Any], button_id: str) -> None:
        """A press of one of our buttons, from any message, also after a restart."""
        ephemeral = interaction.guild is not None
        _log.debug("interaction %d: button press", interaction.id)
        await interaction.response.defer(ephemeral=ephemeral, thinking=True)
        await self._take(interaction, {"button": button_id}, ephemeral)

    async def on_message(self, message: discord.Message) -> None:
        """Answer direct messages; ignore servers (slash commands only there) and bots."""
        if message.author.bot or message.guild is not None:
            return
        _log.debug("DM message %d in channel %d", message.id, message.channel.id)
        body: dict[str, Any] = (
            {"text": message.content}
            if message.content
            else {"attachment": "attachment" if message.attachments else "other"}
        )
        address = {"channel": message.channel.id}
        await self._ingest(f"m{message.id}", message.author, body, address)

    async def _take(
        self, interaction: discord.Interaction[Any], body: dict[str, Any], ephemeral: bool
    ) -> None:
        """A deferred interaction: its follow-ups go to the interaction's webhook."""
        address = {
            "app": interaction.application_id,
            "token": interaction.token,  # valid for 15 minutes; cleared once sent
            "ephemeral": ephemeral,
        }
        # a deferred interaction must be followed up, even when the engine drops a flood
        await self._ingest(f"i{interaction.id}", interaction.user, {**body, "reply": True}, address)

    async def _ingest(
        self,
        update_id: str,
        user: discord.abc.User,
        body: dict[str, Any],
        address: dict[str, Any],
    ) -> None:
        """Store the turn in the inbox and wake the courier; answer at once if it cannot be stored."""
        payload = json.dumps({"user": user.id, **body, "address": address}, ensure_ascii=False)
        try:
            await self._mailbox.receive(
                [Arrival(PLATFORM, update_id, str(user.id), str(user.id), payload)]
            )
        except StoreError as exc:
            _log.warning("inbox not writable (%s); answering directly", exc)
            letter = await self._read(payload)
            if letter is not None:
                await self.courier.answer_now(letter)
            return
        self.courier.wake()

    async def _read(self, payload: str) -> Letter | None:
        """A stored turn back as `Incoming` and the address of its replies."""
        data = json.loads(payload)
        key = SessionKey(PLATFORM, str(int(data["user"])))
        incoming = Incoming(
            key,
            text=data.get("text"),
            button=data.get("button"),
            attachment=data.get("attachment"),
        )
        return Letter(incoming, json.dumps(data["address"]), must_reply=bool(data.get("reply")))

    async def _send(self, address: str, reply: Reply, progress: int) -> None:
        """Send one reply (its parts from ``progress`` on) as a follow-up or a DM."""
        where = json.loads(address)
        parts = render(reply)
        for index in range(progress, len(parts)):
            view = view_for(reply.buttons) if index == len(parts) - 1 else None
            try:
                if "token" in where:
                    hook = discord.Webhook.partial(where["app"], where["token"], client=self.client)
                    hook.type = discord.WebhookType.application  # an interaction's follow-up
                    await hook.send(
                        parts[index],
                        view=view or discord.utils.MISSING,
                        ephemeral=bool(where.get("ephemeral")),
                        allowed_mentions=_NO_PINGS,
                    )
                else:
                    channel = self.client.get_partial_messageable(int(where["channel"]))
                    await channel.send(
                        parts[index], view=view or discord.utils.MISSING, allowed_mentions=_NO_PINGS
                    )
            except (discord.Forbidden, discord.NotFound) as exc:  # gone or expired: no retry helps
                raise DeliveryError(str(exc), retry=False, progress=index) from exc
            except discord.HTTPException as exc:
                raise DeliveryError(
                    str(exc), retry=exc.status >= 500 or exc.status == 429, progress=index
                ) from exc
            except aiohttp.ClientConnectorError as exc:  # never left: retry
                raise DeliveryError(str(exc), retry=True, progress=index) from exc
            except (OSError, TimeoutError, aiohttp.ClientError) as exc:  # may have arrived: once
                raise DeliveryError(str(exc), retry=False, progress=index) from exc
                raise DeliveryError(str(exc), retry=False, progress=index) from exc
            finally:
                if view is not None:
                    view.stop()  # presses are routed by custom_id (EngineButton)

    # ------------------------------------------------------------------ moderators

    def is_moderator(self, interaction: discord.Interaction[Any]) -> bool:
        """Manage Server, or the configured moderator role (by name or id)."""
        if interaction.permissions.manage_guild:
            return True
        role = self._moderator_role
        user = interaction.user
        if not role or not isinstance(user, discord.Member):
            return False
        if role.isdigit():
            return any(r.id == int(role) for r in user.roles) or int(role) in getattr(
                user, "_roles", ()
            )
        return any(r.name.casefold() == role.casefold() for r in user.roles)

    async def _content_status(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        if not self.is_moderator(interaction) or self._content is None:
            await interaction.followup.send(
                self._text("mod_denied"), ephemeral=True, allowed_mentions=_NO_PINGS
            )
            return
        status = self._content.status()
        text = self._engine.content.message(
            "mod_status",
            version=status.version,
            loaded_at=dt.datetime.fromtimestamp(status.loaded_at, dt.UTC).strftime(
                "%Y-%m-%d %H:%M UTC"
            ),
            **{k: str(v) for k, v in status.counts.items()},
            directory=markup.escape(str(status.directory)),
        )
        await interaction.followup.send(
            to_markdown(text), ephemeral=True, allowed_mentions=_NO_PINGS
        )

    async def _content_reload(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        who = f"discord user {interaction.user.id}"
        if not self.is_moderator(interaction) or self._content is None:
            _log.warning("content reload refused for %s (not a moderator)", who)
            await interaction.followup.send(
                self._text("mod_denied"), ephemeral=True, allowed_mentions=_NO_PINGS
            )
            return
        result = await self._content.reload(who)
        if result.ok:
            counts = {k: str(v) for k, v in self._content.status().counts.items()}
            text = self._engine.content.message("mod_reload_ok", version=result.version, **counts)
        else:
            problems = "\n".join(f"• {markup.escape(str(p))}" for p in result.problems[:5])
            text = self._engine.content.message(
                "mod_reload_failed",
                count=str(len(result.problems)),
                version=result.version,
                problems=problems,
            )
        for part in render(Reply(text)):
            await interaction.followup.send(part, ephemeral=True, allowed_mentions=_NO_PINGS)
