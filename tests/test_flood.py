"""A flood from one user is cut short; everyone else, and every red flag, is still answered."""

from __future__ import annotations

from bot.content.loader import Bundle
from bot.conversation.engine import Engine
from bot.conversation.flood import FloodGuard, Verdict
from bot.events import Incoming, SessionKey
from bot.storage.store import MemoryStore

ALICE, BOB = SessionKey("test", "alice"), SessionKey("test", "bob")


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_allows_a_burst_then_warns_once_then_drops() -> None:
    clock = Clock()
    guard = FloodGuard(burst=3, rate=1.0, clock=clock)
    verdicts = [guard.check(ALICE) for _ in range(6)]
    assert verdicts == [Verdict.ALLOW] * 3 + [Verdict.WARN, Verdict.DROP, Verdict.DROP]
    assert guard.check(BOB) is Verdict.ALLOW  # other users have their own bucket
    clock.now += 1.0  # one token back
    assert guard.check(ALICE) is Verdict.ALLOW
    assert guard.check(ALICE) is Verdict.WARN  # a new flood is told again


def test_idle_buckets_are_forgotten() -> None:
    clock = Clock()
    guard = FloodGuard(burst=1, rate=0.0, clock=clock)
    guard.check(ALICE)
    clock.now += 10_000
    assert guard.check(BOB) is Verdict.ALLOW
    assert ALICE not in guard._buckets


async def test_a_flood_is_cut_short_and_red_flags_still_answered(bundle: Bundle) -> None:
    clock = Clock()
    async with MemoryStore() as store:
        engine = Engine(bundle, store, flood=FloodGuard(burst=5, rate=1.0, clock=clock))
        answers = [await engine.handle(Incoming(ALICE, text=f"hello {n}")) for n in range(50)]
        assert all(answers[:5])
        assert answers[5][0].text == bundle.message("slow_down")
        assert all(a == [] for a in answers[6:])
        # an emergency in the middle of a flood is answered all the same
        emergency = await engine.handle(Incoming(ALICE, text="I can't breathe"))
        assert emergency and emergency[0].urgency is not None
        # and another user is not held up at all
        assert await engine.handle(Incoming(BOB, text="what foods have magnesium?"))
