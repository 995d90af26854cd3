"""Settings from environment variables and a `.env` file in the working folder."""

from __future__ import annotations

from pathlib import Path

import platformdirs
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_db_path() -> Path:
    """The default session database: a file in the user's data folder."""
    return Path(platformdirs.user_data_dir("nervebot")) / "sessions.sqlite3"


class Settings(BaseSettings):
    """Every setting nervebot reads; tokens are secrets and never shown in repr or logs."""

    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", case_sensitive=False, env_ignore_empty=True
    )

    nervebot_content_dir: Path | None = None
    nervebot_db: Path | None = None
    nervebot_session_ttl_days: float = Field(default=30.0, gt=0)
    nervebot_unanswered_days: float = Field(default=14.0, ge=0)
    nervebot_log_level: str = "WARNING"

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

    @property
    def db_path(self) -> Path:
        """The session database file to use."""
        return self.nervebot_db or default_db_path()

    @property
    def ttl_seconds(self) -> float:
        """Idle time after which a session expires."""
        return self.nervebot_session_ttl_days * 24 * 3600
