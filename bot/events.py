"""Platform-neutral events: what a user sent (`Incoming`) and what the bot answers (`Reply`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Urgency(StrEnum):
    """How urgently a reply tells someone to seek care, most urgent first."""

    EMERGENCY = "emergency"
    URGENT = "urgent"
    ROUTINE = "routine"
    SELF_CARE = "self_care"

    @property
    def rank(self) -> int:
        """0 for emergency up to 3 for self-care; lower is more urgent."""
        return _RANK[self]


_RANK = {Urgency.EMERGENCY: 0, Urgency.URGENT: 1, Urgency.ROUTINE: 2, Urgency.SELF_CARE: 3}


@dataclass(frozen=True, slots=True)
class SessionKey:
    """Identifies one user on one platform; the key of every stored session."""

    platform: str
    user_id: str


@dataclass(frozen=True, slots=True)
class Incoming:
    """One user turn: free text (commands included), a button press, or something else.

    ``attachment`` names what a user sent that is not text (a sticker, a photo...);
    ``public`` is True where others can read the conversation (a group chat).
    """

    key: SessionKey
    text: str | None = None
    button: str | None = None
    attachment: str | None = None
    public: bool = False


@dataclass(frozen=True, slots=True)
class Button:
    """A button with a stable id (at most 64 characters) and a label."""

    id: str
    label: str


@dataclass(frozen=True, slots=True)
class Reply:
    """One message from the bot, in `bot.markup`, with its buttons and metadata."""

    text: str
    buttons: tuple[Button, ...] = field(default_factory=tuple)
    urgency: Urgency | None = None
    flow: str | None = None
    node: str | None = None
