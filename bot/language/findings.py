"""Clinical findings: what a message says, as concepts with attributes and a ConText reading.

A `Reader` turns free text into `Finding`s: every concept of the content found in it (with
typos and word endings tolerated), plus measures read from numbers (how long, how many, how
old). Each finding is then read in context, ConText-style (Chapman et al.; Harkema et al.,
J Biomed Inform 2009): trigger words before or after it, within a scope that stops at a
terminator or the sentence end, mark it negated, historical, hypothetical (asked about),
reported (someone else's opinion) or uncertain. Only findings that are *current* count in the
triage rules; uncertain ones do count (a possible emergency is still one).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from bot.content.model import Concept, ContextCategory, ContextRules
from bot.language.text import Match, PhraseMatcher, tokens

#: Concept kinds that count anywhere in a message (the rest combine within one sentence).
MESSAGE_WIDE = frozenset({"context", "person"})
#: Categories that take a finding out of the present tense (uncertain does not).
NOT_CURRENT: frozenset[ContextCategory] = frozenset(
    {"negated", "historical", "hypothetical", "reported", "figurative"}
)
#: "in 2019": a past year marks what is near it as history.
_YEAR_TRIGGER_SCOPE = 8
_SENTENCE_END = frozenset(".!?")

_NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20,
    "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "hundred": 100, "dozen": 12,
    "couple": 2, "few": 3, "several": 4,
}  # fmt: skip
_MINUTES = {
    "sec": 1 / 60, "secs": 1 / 60, "second": 1 / 60, "seconds": 1 / 60,
    "m": 1, "min": 1, "mins": 1, "minute": 1, "minutes": 1,
    "h": 60, "hr": 60, "hrs": 60, "hour": 60, "hours": 60,
    "d": 1440, "day": 1440, "days": 1440, "night": 1440, "nights": 1440,
    "wk": 10080, "wks": 10080, "week": 10080, "weeks": 10080,
    "month": 43200, "months": 43200,
}  # fmt: skip
_AGE_AFTER = ("yo", "yr", "yrs", "year", "years", "y")
_NOT_A_COUNT = frozenset(
    {"mg", "mcg", "ug", "iu", "g", "ml", "l", "litres", "liters", "kg", "lbs", "percent", "am",
     "pm", "oclock", "degrees", "c", "f", "times", "x", "cups", "coffees", "cans", "pints", "k"}
)  # fmt: skip
_PEOPLE = frozenset(
    {"son", "daughter", "kid", "child", "boy", "girl", "baby", "toddler", "grandson",
     "granddaughter", "nephew", "niece", "brother", "sister"}
)  # fmt: skip
#: "34+2": weeks and days of a pregnancy, as midwives write it.
_GESTATION = re.compile(r"\b([1-4]\d)\s*\+\s*[0-6]\b")
_GLUED = re.compile(r"^(\d+(?:\.\d+)?)([a-z]+)$")


@dataclass(frozen=True, slots=True)
class Finding:
    """One concept found in a message, where it is, and how the message asserts it."""

    concept: str
    kind: str
    start: int
    end: int
    sentence: int
    words: str
    value: float | None = None
    context: frozenset[ContextCategory] = frozenset()

    @property
    def current(self) -> bool:
        """True when the message says this is happening (not negated, past, asked about...)."""
        return not (self.context & NOT_CURRENT)

    @property
    def message_wide(self) -> bool:
        """True for findings that combine with findings in any sentence of the message."""
        return self.kind in MESSAGE_WIDE

    def describe(self) -> str:
        """``chest_pain "chest hurts" [negated]`` for explanations."""
        value = f"={self.value:g}" if self.value is not None else ""
        flags = f" [{', '.join(sorted(self.context))}]" if self.context else ""
        return f'{self.concept}{value} "{self.words}"{flags}'


@dataclass(frozen=True)
class Reading:
    """A message as read: its tokens, sentence numbers and findings."""

    tokens: tuple[str, ...]
    sentences: tuple[int, ...]
    findings: tuple[Finding, ...]
    triggers: tuple[tuple[str, str], ...] = field(default=())

    def current(self) -> list[Finding]:
        """The findings that count for triage."""
        return [f for f in self.findings if f.current]


@dataclass(frozen=True)
class _Trigger:
    category: ContextCategory
    direction: str
    scope: int
    stops: frozenset[str]
    through: frozenset[str] = frozenset()


class Reader:
    """Reads messages into findings with the concepts and ConText rules of the content."""

    def __init__(
        self,
        concepts: Iterable[Concept],
        context: ContextRules,
        *,
        extra: Iterable[tuple[str, str, str]] = (),
        never_fuzzy: Iterable[str] = (),
        spellings: Mapping[str, str] | None = None,
    ) -> None:
        """``extra``: more (phrase, concept id, kind) entries, such as red-flag phrases.

        ``spellings``: chat spellings read as the words they stand for ("u" -> "you").
        """
        self._spellings = {
            k: tuple(tokens(v)) for k, v in (spellings or {}).items() if len(tokens(k)) == 1
        }
        said = self._said  # phrases are read with the same spellings as messages
        entries: list[tuple[str, tuple[str, str]]] = [
            (said(p), (c.id, c.kind)) for c in concepts for p in c.phrases
        ]
        entries += [(said(p), (cid, kind)) for p, cid, kind in extra]
        self._concepts: PhraseMatcher[tuple[str, str]] = PhraseMatcher(
            entries, never_fuzzy=never_fuzzy
        )
        triggers = []
        for modifier in context.modifiers:
            stops = frozenset(said(s) for s in modifier.stop_at)
            through = frozenset(said(s) for s in modifier.through)
            trigger = _Trigger(
                modifier.category, modifier.direction, modifier.scope, stops, through
            )
            triggers += [(said(p), trigger) for p in modifier.phrases]
        self._triggers: PhraseMatcher[_Trigger | None] = PhraseMatcher(
            triggers + [(said(p), None) for p in context.pseudo], fuzzy=False
        )
        self._terminators = frozenset(said(s) for s in context.terminators)
        # every word or phrase that can end a scope, found once per message
        stoppers = self._terminators.union(
            *(stops | through for _, t in triggers for stops, through in [(t.stops, t.through)])
        )
        self._stoppers: PhraseMatcher[str] = PhraseMatcher([(p, p) for p in stoppers], fuzzy=False)
        self._idioms: PhraseMatcher[bool] = PhraseMatcher(
            [(said(p), True) for p in context.idioms], fuzzy=False
        )

    def _said(self, phrase: str) -> str:
        """A content phrase with chat spellings applied, its "..." gaps kept."""
        parts = phrase.split("...")
        return " ... ".join(" ".join(_respell(tokens(p), self._spellings)) for p in parts)

    def read(self, text: str) -> Reading:
        """The findings of ``text``, each with its ConText reading."""
        text = _GESTATION.sub(r"\1 weeks pregnant", text.replace("\n", " . "))
        toks = tokens(text)
        toks = _respell(_unglue(toks), self._spellings)
        sentence = _sentence_numbers(toks)
        unique = {(m.payload[0], m.start, m.end): m for m in _longest(self._concepts.find(toks))}
        found = [
            Finding(concept, m.payload[1], m.start, m.end, sentence[m.start], " ".join(toks[m.start : m.end]))
            for (concept, _, _), m in unique.items()
        ]  # fmt: skip
        found += _measures(toks, sentence)
        idioms = self._idioms.find(toks)
        found = [f for f in found if not any(i.start < f.end and f.start < i.end for i in idioms)]
        triggers = self._active_triggers(toks)
        stoppers = self._stoppers.find(toks)
        read = tuple(
            replace(f, context=self._categories(f, sentence, triggers, stoppers))
            for f in sorted(found, key=lambda f: (f.start, f.end))
        )
        shown = tuple(
            (t.payload.category, " ".join(toks[t.start : t.end]))
            for t in triggers
            if t.payload is not None
        )
        return Reading(tuple(toks), tuple(sentence), read, shown)

    def _active_triggers(self, toks: list[str]) -> list[Match[_Trigger | None]]:
        found = self._triggers.find(toks)
        pseudo = [m for m in found if m.payload is None]
        active = [
            m
            for m in found
            if m.payload is not None
            and not any(p.start <= m.start < p.end and p.length > m.length for p in pseudo)
            and not any(p.start <= m.start and m.end <= p.end for p in pseudo)
        ]
        year = _Trigger("historical", "both", _YEAR_TRIGGER_SCOPE, frozenset())
        active += [
            Match(i, i + 2, year)
            for i in range(len(toks) - 1)
            if toks[i] == "in" and len(toks[i + 1]) == 4 and toks[i + 1][:2] in ("19", "20")
        ]
        return active

    def _categories(
        self,
        finding: Finding,
        sentence: list[int],
        triggers: list[Match[_Trigger | None]],
        stoppers: list[Match[str]],
    ) -> frozenset[ContextCategory]:
        out: set[ContextCategory] = set()
        for match in triggers:
            trigger = match.payload
            assert trigger is not None
            if match.start < finding.end and finding.start < match.end:
                continue  # a trigger inside the finding is part of what was said
            if sentence[match.start] != sentence[finding.start]:
                continue
            stops = (self._terminators - trigger.through) | trigger.stops
            if trigger.direction in ("forward", "both") and match.end <= finding.start:
                start, end = match.end, finding.start
            elif trigger.direction in ("backward", "both") and finding.end <= match.start:
                start, end = finding.end, match.start
            else:
                continue
            blocked = any(
                start <= s.start and s.end <= end and s.payload in stops for s in stoppers
            )
            if end - start < trigger.scope and not blocked:
                out.add(trigger.category)
        return frozenset(out)


def _longest(matches: list[Match[tuple[str, str]]]) -> list[Match[tuple[str, str]]]:
    """Per concept, drop matches that lie inside a longer match of the same concept."""
    keep = []
    for m in matches:
        inside = any(
            o is not m
            and o.payload[0] == m.payload[0]
            and o.start <= m.start
            and m.end <= o.end
            and o.length > m.length
            for o in matches
        )
        if not inside:
            keep.append(m)
    return keep


def _respell(toks: list[str], spellings: Mapping[str, tuple[str, ...]]) -> list[str]:
    """Chat spellings as words ("u" -> "you"), except right after a number ("10 kms")."""
    if not spellings:
        return toks
    out: list[str] = []
    for i, tok in enumerate(toks):
        said = spellings.get(tok)
        out += list(said) if said and not (i and _number(toks[i - 1]) is not None) else [tok]
    return out


def _unglue(toks: list[str]) -> list[str]:
    """Split "20min" into "20", "min" and "3yo" into "3", "yo"."""
    out: list[str] = []
    for tok in toks:
        glued = _GLUED.match(tok)
        out += [glued[1], glued[2]] if glued else [tok]
    return out


def _number(tok: str) -> float | None:
    if tok.replace(".", "", 1).isdigit():
        return float(tok)
    return float(_NUMBER_WORDS[tok]) if tok in _NUMBER_WORDS else None


def _measures(toks: list[str], sentence: list[int]) -> list[Finding]:
    """Durations (in minutes), ages (in years) and counts read from numbers."""
    out = []
    for i, tok in enumerate(toks):
        value = _number(tok)
        if value is None:
            continue
        after = toks[i + 1] if i + 1 < len(toks) else ""
        article = tok in ("a", "an")
        if article and i and toks[i - 1] == "half":
            value = 0.5
        at, said = sentence[i], " ".join(toks[i : i + 2])
        if after in ("month", "months") and not article and _months_old(toks, i):
            out.append(Finding("age", "measure", i, i + 2, at, said, value / 12))
        elif after in _MINUTES and not (article and after == "m"):
            out.append(Finding("duration", "measure", i, i + 2, at, said, value * _MINUTES[after]))
        elif article or (not tok.replace(".", "", 1).isdigit() and tok not in _NUMBER_WORDS):
            continue
        elif (after in _AGE_AFTER and value < 120) or _age_said_before(toks, i):
            out.append(Finding("age", "measure", i, i + 2, at, said, value))
        elif after not in _NOT_A_COUNT and not 1900 <= value <= 2100:
            out.append(Finding("count", "measure", i, i + 1, at, tok, value))
    return out


def _age_said_before(toks: list[str], i: int) -> bool:
    """ "my daughter is 3", "our son, aged 4": a number that is someone's age."""
    if i == 0 or toks[i - 1] not in ("is", "aged", "age", "turned", "just"):
        return False
    return any(t in _PEOPLE for t in toks[max(0, i - 4) : i - 1])


def _months_old(toks: list[str], i: int) -> bool:
    """ "6 months old", "my son (20 months)": an age in months, not a duration."""
    return toks[i + 2 : i + 3] == ["old"] or any(t in _PEOPLE for t in toks[max(0, i - 3) : i])


def _sentence_numbers(toks: list[str]) -> list[int]:
    """For each token, which sentence it is in (sentences end at . ! ? and line breaks)."""
    numbers, current = [], 0
    for tok in toks:
        numbers.append(current)
        if tok in _SENTENCE_END:
            current += 1
    return numbers
