"""Settings from environment variables and a `.env` file in the working folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_db_path() -> Path:
    """The default session database: a file in the service's or the user's data folder.

    Under systemd with ``StateDirectory=`` (see deploy/nervebot.service) that is the state
    directory systemd made for the service, ``$STATE_DIRECTORY``, so an env file whose
    ``NERVEBOT_DB=`` is empty (it replaces the unit's ``Environment=``) keeps the unit's path.
    """
    state = os.environ.get("STATE_DIRECTORY", "").split(":")[0].strip()
    if state:
        return Path(state) / "sessions.sqlite3"
    return Path(platformdirs.user_data_dir("nervebot")) / "sessions.sqlite3"


class Settings(BaseSettings):
    """Every setting nervebot reads; tokens are secrets and never shown in repr or logs.

    An empty value (``NERVEBOT_DB=`` in a copied example file, in the environment or in
    ``.env``) counts as unset: the default applies, never an empty path or token.
    """

    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", case_sensitive=False, env_ignore_empty=True
    )

    nervebot_content_dir: Path | None = None
    #: a SQLite file path (or sqlite:///path), or a postgresql:// address
    nervebot_db: str | None = None
    nervebot_session_ttl_days: float = Field(default=30.0, gt=0)
    nervebot_unanswered_days: float = Field(default=14.0, ge=0)
    nervebot_log_level: str = "WARNING"
    #: set (to the number of workers, for the operator's notes): 'nervebot run' only stores
    #: updates, and 'nervebot worker' processes answer them (needs a postgresql:// database)
    nervebot_workers: int | None = Field(default=None, ge=1)

    telegram_bot_token: SecretStr | None = None
    telegram_base_url: str | None = None
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_webhook_listen: str | None = None
    telegram_moderator_chat: int | None = None

    discord_bot_token: SecretStr | None = None
    discord_guild_ids: str | None = None
    discord_moderator_role: str | None = None
    discord_moderator_channel: int | None = None
    discord_api_base_url: str | None = None
    discord_gateway_url: str | None = None
    #: this process's Discord shard ("2") of DISCORD_SHARD_COUNT; one shard per process
    discord_shard_ids: str | None = None
    discord_shard_count: int | None = Field(default=None, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _blank_is_unset(cls, data: Any) -> Any:
        """A value of only spaces is unset too (``env_ignore_empty`` drops exactly ``""``)."""
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not (isinstance(v, str) and not v.strip())}
        return data

    @property
    def database(self) -> str:
        """The database to use, as NERVEBOT_DB gives it (a path or an address)."""
        return self.nervebot_db or str(default_db_path())

    @property
    def db_path(self) -> Path:
        """The SQLite file to use (the default file when NERVEBOT_DB is a server address)."""
        server = ("postgresql://", "postgres://")
        if self.nervebot_db and not self.nervebot_db.startswith(server):
            return Path(os.path.expanduser(self.nervebot_db.removeprefix("sqlite://")))
        return default_db_path()

    @property
    def ttl_seconds(self) -> float:
        """Idle time after which a session expires."""
        return self.nervebot_session_ttl_days * 24 * 3600
