"""Red-flag detection: find dangerous symptoms in free text, respecting negation."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from bot.events import Urgency
from bot.model import RedFlag, Safety
from bot.text import BREAK_TOKENS, Match, PhraseMatcher, tokens

#: How many tokens before a symptom a negation ("no", "without") may stand.
NEGATION_WINDOW = 5


class _Kind(Enum):
    PHRASE = 1
    ALSO = 2


@dataclass(frozen=True, slots=True)
class RedFlagHit:
    """A red flag found in a message."""

    flag: RedFlag

    @property
    def urgency(self) -> Urgency:
        """The urgency of the flag."""
        return Urgency(self.flag.urgency)


class RedFlagScanner:
    """Scans text for the red flags of a content bundle; build once per bundle."""

    def __init__(self, safety: Safety) -> None:
        self._flags = safety.red_flags
        self._symptoms: PhraseMatcher[tuple[_Kind, int]] = PhraseMatcher(
            [(p, (_Kind.PHRASE, i)) for i, f in enumerate(self._flags) for p in f.phrases]
            + [(p, (_Kind.ALSO, i)) for i, f in enumerate(self._flags) for p in f.also]
        )
        self._negations: PhraseMatcher[bool] = PhraseMatcher(
            [(p, True) for p in safety.negations] + [(p, False) for p in safety.pseudo_negations],
            fuzzy=False,
        )
        self._breaks = frozenset(safety.clause_breaks) | BREAK_TOKENS

    def scan(self, text: str) -> list[RedFlagHit]:
        """Red flags raised by ``text``, most urgent first (empty when none)."""
        toks = tokens(text)
        if not toks:
            return []
        negated_before = self._negation_ends(toks)
        phrase_hit: set[int] = set()
        also_hit: set[int] = set()
        for match in self._symptoms.find(toks):
            if self._is_negated(match, toks, negated_before):
                continue
            kind, index = match.payload
            (phrase_hit if kind is _Kind.PHRASE else also_hit).add(index)
        hits = [
            RedFlagHit(self._flags[i])
            for i in sorted(phrase_hit)
            if not self._flags[i].also or i in also_hit
        ]
        return sorted(hits, key=lambda h: h.urgency.rank)

    def _negation_ends(self, toks: list[str]) -> list[int]:
        found = self._negations.find(toks)
        pseudo = [m for m in found if not m.payload]
        ends = []
        for m in found:
            if m.payload and not any(p.start <= m.start < p.end for p in pseudo):
                ends.append(m.end)
        return ends

    def _is_negated(
        self, match: Match[tuple[_Kind, int]], toks: list[str], ends: list[int]
    ) -> bool:
        for end in ends:
            if (
                end <= match.start
                and match.start - end < NEGATION_WINDOW
                and not any(t in self._breaks for t in toks[end : match.start])
            ):
                return True
        return False
