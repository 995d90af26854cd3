"""The inbox and outbox: updates kept until answered, replies kept until sent.

An update is stored in the inbox (deduplicated by platform and update id) before the platform
is told it arrived. A turn saves the session, marks its update done and queues its replies in
the outbox in one transaction (`Mailbox.finish`); a sender drains the outbox. After a crash,
waiting updates are answered and unsent replies are sent, so nothing is lost, and an answered
update is never answered again. Payloads are opaque to the core (the adapter's JSON); texts are
cleared as soon as they are answered or sent.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.events import Button, Reply, SessionKey, Urgency
from bot.storage.store import MemoryStore, Session

#: How long a reply is worth trying to send: ten minutes, an emergency escalation an hour.
KEEP_TRYING = 600.0
KEEP_TRYING_EMERGENCY = 3600.0
#: Answered update ids are remembered this long, so a repeated delivery is dropped.
REMEMBER_ANSWERED = 24 * 3600.0


@dataclass(frozen=True, slots=True)
class Arrival:
    """An update as received: who it is from, which conversation it orders in, its payload."""

    platform: str
    update_id: str
    conversation: str
    user_id: str
    payload: str


@dataclass(frozen=True, slots=True)
class Received(Arrival):
    """An inbox row waiting to be answered; ``seq`` is its place in the arrival order."""

    seq: int


@dataclass(frozen=True, slots=True)
class Receipt:
    """What a turn needs to finish an inbox row: the row, and where its replies go."""

    seq: int
    platform: str
    conversation: str
    user_id: str
    address: str


@dataclass(frozen=True, slots=True)
class Change:
    """How a turn changes the session: save ``session``, or delete it (None); ``forget`` all."""

    key: SessionKey
    session: Session | None
    forget: bool = False


@dataclass(frozen=True, slots=True)
class Outgoing:
    """An outbox row: one reply to send to ``address``; ``progress`` parts are already sent."""

    id: int
    platform: str
    conversation: str
    address: str
    reply: Reply
    attempts: int
    progress: int
    deadline: float


def keep_trying(reply: Reply) -> float:
    """Seconds a reply is worth retrying (longer for an emergency escalation)."""
    return KEEP_TRYING_EMERGENCY if reply.urgency is Urgency.EMERGENCY else KEEP_TRYING


def outbox_rows(
    receipt: Receipt, replies: Sequence[Reply], now: float
) -> list[tuple[str, str, str, str, str, float, float, float]]:
    """The outbox rows of a turn's replies: (platform, conversation, user_id, address, reply,
    next_at, deadline, at), in the order of every backend's outbox table."""
    return [
        (
            receipt.platform,
            receipt.conversation,
            receipt.user_id,
            receipt.address,
            reply_to_json(reply),
            now,
            now + keep_trying(reply),
            now,
        )
        for reply in replies
    ]


def reply_to_json(reply: Reply) -> str:
    """A reply as JSON text, for the outbox."""
    return json.dumps(
        {
            "text": reply.text,
            "buttons": [[b.id, b.label] for b in reply.buttons],
            "urgency": reply.urgency.value if reply.urgency else None,
            "flow": reply.flow,
            "node": reply.node,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def reply_from_json(raw: str) -> Reply:
    """The reply stored by `reply_to_json`."""
    data: dict[str, Any] = json.loads(raw)
    urgency = data.get("urgency")
    return Reply(
        str(data["text"]),
        tuple(Button(str(i), str(label)) for i, label in data.get("buttons", [])),
        Urgency(urgency) if urgency else None,
        data.get("flow"),
        data.get("node"),
    )


class Mailbox(ABC):
    """The inbox and outbox of one database; shared by every process that uses it."""

    @abstractmethod
    async def receive(self, arrivals: Sequence[Arrival]) -> int:
        """Store new updates in one transaction; repeats are dropped. Returns how many were new."""

    @abstractmethod
    async def waiting(self, platform: str, limit: int = 500) -> list[Received]:
        """Updates not yet answered, oldest first."""

    @abstractmethod
    async def finish(
        self, receipt: Receipt, replies: Sequence[Reply], change: Change | None, now: float
    ) -> None:
        """In one transaction: apply ``change``, mark the update done, queue ``replies``."""

    @abstractmethod
    async def set_aside(self, seq: int, reason: str) -> None:
        """Dead-letter an update that cannot be read or answered; its payload is dropped."""

    @abstractmethod
    async def outbox(self, platform: str, limit: int = 500) -> list[tuple[Outgoing, float]]:
        """Unsent replies, oldest first, each with the time it may next be tried."""

    @abstractmethod
    async def sent(self, outgoing_id: int) -> None:
        """A reply was delivered: remove it."""

    @abstractmethod
    async def postpone(self, outgoing_id: int, at: float, attempts: int, progress: int) -> None:
        """A send failed and may succeed later: try again at ``at``."""

    @abstractmethod
    async def give_up(self, outgoing_id: int, reason: str, now: float) -> None:
        """A reply cannot be delivered: record it as failed (without its text)."""

    @abstractmethod
    async def delivery_counts(self, platform: str | None = None) -> dict[str, int]:
        """Updates ``waiting`` and ``set_aside``, replies ``unsent`` and ``failed``, now."""

    async def failed_count(self, platform: str | None = None) -> int:
        """How many replies are recorded as failed (on ``platform``, or on any)."""
        return (await self.delivery_counts(platform))["failed"]

    @abstractmethod
    async def purge_mail(self, now: float) -> int:
        """Forget answered update ids and failure records past their time; returns how many."""


class WorkQueue(ABC):
    """What worker processes sharing one database need besides the `Mailbox`: claims.

    A claim takes the oldest waiting update of each conversation that has none in progress,
    for this worker alone, until the update is finished or the lease runs out (then any
    worker may take it again). So updates of one conversation are answered one at a time, in
    the order they arrived, whichever worker answers them. Replies are claimed the same way.
    """

    @abstractmethod
    async def claim(self, platform: str, limit: int = 10, lease: float = 60.0) -> list[Received]:
        """Claim up to ``limit`` waiting updates, at most one per conversation, oldest first."""

    @abstractmethod
    async def claim_outbox(
        self, platform: str, limit: int = 10, lease: float = 60.0
    ) -> list[tuple[Outgoing, float]]:
        """Claim up to ``limit`` replies due now, at most one per conversation, oldest first;
        `sent`, `postpone` or `give_up` ends the claim."""

    @abstractmethod
    async def reclaim(self, now: float) -> int:
        """Put back claims whose lease ran out (their worker stopped); returns how many."""

    @abstractmethod
    async def release(self) -> int:
        """Put back this worker's own claims (it is stopping); returns how many."""


@dataclass
class _Row:
    seq: int
    arrival: Arrival
    state: str = "waiting"
    at: float = 0.0


@dataclass
class _Out:
    item: Outgoing
    next_at: float
    state: str = "pending"
    at: float = 0.0
    user_id: str = ""


class MemoryMailbox(MemoryStore, Mailbox):
    """Sessions, inbox and outbox in memory: the reference for the mailbox contract."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._inbox: dict[tuple[str, str], _Row] = {}
        self._outbox: dict[int, _Out] = {}
        self._next = 0

    def _id(self) -> int:
        self._next += 1
        return self._next

    async def receive(self, arrivals: Sequence[Arrival]) -> int:
        self._check()
        new = 0
        for a in arrivals:
            if (a.platform, a.update_id) not in self._inbox:
                self._inbox[(a.platform, a.update_id)] = _Row(self._id(), a, at=self._clock())
                new += 1
        return new

    async def waiting(self, platform: str, limit: int = 500) -> list[Received]:
        self._check()
        rows = sorted(
            (
                r
                for r in self._inbox.values()
                if r.state == "waiting" and r.arrival.platform == platform
            ),
            key=lambda r: r.seq,
        )[:limit]
        return [
            Received(a.platform, a.update_id, a.conversation, a.user_id, a.payload, r.seq)
            for r in rows
            for a in [r.arrival]
        ]

    def _row(self, seq: int) -> _Row | None:
        return next((r for r in self._inbox.values() if r.seq == seq), None)

    async def finish(
        self, receipt: Receipt, replies: Sequence[Reply], change: Change | None, now: float
    ) -> None:
        self._check()
        if change is not None:
            if change.session is None:
                await self.delete(change.key)
            else:
                await self.save(change.key, change.session)
            if change.forget:
                for out_id, out in list(self._outbox.items()):
                    if (out.item.platform, out.user_id) == (
                        change.key.platform,
                        change.key.user_id,
                    ):
                        del self._outbox[out_id]
        row = self._row(receipt.seq)
        if row is not None:
            row.state, row.at = "done", now
            row.arrival = Arrival(row.arrival.platform, row.arrival.update_id, "", "", "")
        for reply in replies:
            item = Outgoing(
                self._id(), receipt.platform, receipt.conversation, receipt.address,
                reply, 0, 0, now + keep_trying(reply),
            )  # fmt: skip
            self._outbox[item.id] = _Out(item, now, user_id=receipt.user_id)

    async def set_aside(self, seq: int, reason: str) -> None:
        self._check()
        row = self._row(seq)
        if row is not None:
            row.state, row.at = "dead", self._clock()
            row.arrival = Arrival(row.arrival.platform, row.arrival.update_id, "", "", "")

    async def outbox(self, platform: str, limit: int = 500) -> list[tuple[Outgoing, float]]:
        self._check()
        rows = sorted(
            (
                o
                for o in self._outbox.values()
                if o.state == "pending" and o.item.platform == platform
            ),
            key=lambda o: o.item.id,
        )[:limit]
        return [(o.item, o.next_at) for o in rows]

    async def sent(self, outgoing_id: int) -> None:
        self._check()
        self._outbox.pop(outgoing_id, None)

    async def postpone(self, outgoing_id: int, at: float, attempts: int, progress: int) -> None:
        self._check()
        out = self._outbox.get(outgoing_id)
        if out is not None:
            i = out.item
            out.item = Outgoing(
                i.id, i.platform, i.conversation, i.address, i.reply, attempts, progress, i.deadline
            )
            out.next_at = at

    async def give_up(self, outgoing_id: int, reason: str, now: float) -> None:
        self._check()
        out = self._outbox.get(outgoing_id)
        if out is not None:
            i = out.item
            out.item = Outgoing(i.id, i.platform, i.conversation, "", Reply(""), i.attempts, 0, 0)
            out.state, out.at = "failed", now

    async def delivery_counts(self, platform: str | None = None) -> dict[str, int]:
        self._check()
        return self._count(platform)

    def _count(self, platform: str | None) -> dict[str, int]:
        rows = [r for r in self._inbox.values() if platform in (None, r.arrival.platform)]
        outs = [o for o in self._outbox.values() if platform in (None, o.item.platform)]
        return {
            "waiting": sum(r.state == "waiting" for r in rows),
            "set_aside": sum(r.state == "dead" for r in rows),
            "unsent": sum(o.state == "pending" for o in outs),
            "failed": sum(o.state == "failed" for o in outs),
        }

    async def purge_mail(self, now: float) -> int:
        self._check()
        cutoff = now - REMEMBER_ANSWERED
        old = [k for k, r in self._inbox.items() if r.state != "waiting" and r.at < cutoff]
        for k in old:
            del self._inbox[k]
        gone = [i for i, o in self._outbox.items() if o.state == "failed" and o.at < cutoff]
        for i in gone:
            del self._outbox[i]
        return len(old) + len(gone)
