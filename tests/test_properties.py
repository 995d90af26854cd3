"""Property-based tests: arbitrary text and button ids never break the engine."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.content.loader import bundled_content_dir, load_content
from bot.conversation.dialogue import Dialogue
from bot.conversation.engine import Engine
from bot.events import Incoming, SessionKey, Urgency
from bot.language.text import GAPS, PhraseMatcher
from bot.storage.store import MemoryStore, Session

BUNDLE = load_content(bundled_content_dir())
DIALOGUE = Dialogue(BUNDLE)
KEY = SessionKey("test", "prop")
EMERGENCY_PHRASES = [
    p.replace("...", "really")
    for f in BUNDLE.safety.red_flags
    if f.urgency == Urgency.EMERGENCY
    for p in f.phrases
]
STATES = st.sampled_from(
    [Session()]
    + [
        Session(flow="triage", node=n.id)
        for (f, _), n in BUNDLE.nodes.items()
        if f == "triage" and n.ask
    ]
    + [Session(pending="forget"), Session(flow="gone", node="missing", answers={"x": "y"})]
)
ANY_TEXT = st.text(st.characters(codec="utf-8"), max_size=400) | st.sampled_from(
    ["/start", "/nutrient", "/foods zz", "/" + "x" * 300, "\u202e\u200b", "\x00", "1", "99", "  "]
)
BUTTON_IDS = st.text(max_size=80) | st.sampled_from(
    [
        "menu",
        "resume",
        "forget:yes",
        "n:magnesium:nope",
        "triage.q_what.twitch",
        "triage..",
        "a.b.c",
        "cmd:x",
        "q:",
        "n:",
    ]
)
# filler words that cannot negate or break a clause, so a red flag after them must stand
FILLER = st.lists(
    st.sampled_from(
        ["my", "leg", "eye", "twitching", "today", "really", "coffee", "help", "please"]
    ),
    max_size=8,
)


def _copy(session: Session) -> Session:
    return Session(session.flow, session.node, dict(session.answers), session.pending)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(state=STATES, text=ANY_TEXT)
def test_any_text_in_any_state_gets_a_reply(state: Session, text: str) -> None:
    turn = DIALOGUE.respond(_copy(state), Incoming(KEY, text=text))
    assert turn.replies and all(r.text.strip() for r in turn.replies)
    assert all(len(b.id) <= 64 for r in turn.replies for b in r.buttons)


@settings(max_examples=300, deadline=None)
@given(state=STATES, button=BUTTON_IDS)
def test_any_button_in_any_state_gets_a_reply(state: Session, button: str) -> None:
    turn = DIALOGUE.respond(_copy(state), Incoming(KEY, button=button))
    assert turn.replies


@settings(max_examples=300, deadline=None)
@given(
    state=STATES,
    before=FILLER,
    phrase=st.sampled_from(EMERGENCY_PHRASES),
    after=st.text(max_size=60),
)
def test_a_red_flag_always_escalates(
    state: Session, before: list[str], phrase: str, after: str
) -> None:
    text = " ".join([*before, phrase]) + " " + after
    turn = DIALOGUE.respond(_copy(state), Incoming(KEY, text=text))
    assert turn.replies[0].urgency is Urgency.EMERGENCY


@settings(max_examples=50, deadline=None)
@given(texts=st.lists(ANY_TEXT | BUTTON_IDS.map(lambda b: "\x01" + b), min_size=1, max_size=8))
def test_the_engine_answers_every_turn_of_a_conversation(texts: list[str]) -> None:
    async def converse() -> None:
        async with MemoryStore() as store:
            engine = Engine(BUNDLE, store)
            for item in texts:
                incoming = (
                    Incoming(KEY, button=item[1:])
                    if item.startswith("\x01")
                    else Incoming(KEY, text=item)
                )
                assert await engine.handle(incoming)

    asyncio.run(converse())


_WORDS = ["chest", "pain", "my", "cant", "breathe", "twitch", "twitching", "eye", "not", "."]
PHRASES = st.lists(
    st.lists(st.sampled_from([*_WORDS, "..."]), min_size=1, max_size=4).map(" ".join),
    min_size=1,
    max_size=12,
)
#: tokens a person may write: the phrases' words, other endings, real typos ("brethe" is read
#: as "breathe", "cheest" as "chest"), and a word of no phrase
TYPED = st.lists(st.sampled_from([*_WORDS, "twitchy", "brethe", "cheest", "and"]), max_size=14)

Found = tuple[int, int, int, bool, frozenset[int]]


def _every_phrase_everywhere(matcher: PhraseMatcher[int], toks: list[str]) -> list[Found]:
    """The matcher's find before its word index (5b9099e): every phrase whose first word is
    there, tried in order, at every position. The index must give the same list."""
    eq = [matcher._equivalents(t) for t in toks]
    out: list[Found] = []
    for i in range(len(toks)):
        for first in eq[i]:
            for phrase, payload in matcher._by_first.get(first, ()):
                skipped: list[int] = []
                end = matcher._match_rest(toks, eq, phrase, i + 1, 1, skipped)
                if end is not None:
                    exact = all(t in toks[i:end] for t in phrase if t not in GAPS) and (
                        toks[i] == phrase[0]
                    )
                    out.append((i, end, payload, exact, frozenset(skipped)))
    return out


@settings(max_examples=300, deadline=None)
@given(PHRASES, TYPED)
@example(["chest ... pain"], ["chest", "my", "pain"])  # a gap right after the first word
@example(["chest"], ["my", "chest"])  # one word, at the end
@example(["my chest", "my chest"], ["my", "chest"])  # a phrase listed twice
@example(["eye twitch", "eye"], ["eye", "twitching"])  # the second word with another ending
@example(["my chest", "my breathe"], ["my", "brethe"])  # the second word with a typo
@example(["pain my", "pain", "pain ... eye", "pain my eye"], ["pain", "my", "eye"])  # order
@example(["my my my"], ["my", "my", "my", "my"])  # repeated words
def test_phrase_index_finds_what_trying_every_phrase_finds(
    phrases: list[str], toks: list[str]
) -> None:
    matcher = PhraseMatcher([(p, n) for n, p in enumerate(phrases)])
    got = [(m.start, m.end, m.payload, m.exact, m.gaps) for m in matcher.find(toks)]
    assert got == _every_phrase_everywhere(matcher, toks)
