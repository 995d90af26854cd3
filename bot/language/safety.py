"""Red-flag detection: find dangerous symptoms in free text, respecting negation."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from bot.content.model import RedFlag, Safety
from bot.events import Urgency
from bot.language.text import BREAK_TOKENS, Match, PhraseMatcher, tokens

#: How many tokens before a symptom a negation ("no", "without") may stand.
NEGATION_WINDOW = 5


class _Kind(Enum):
    PHRASE = 1
    ALSO = 2
    CONCEPT = 3


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
        entries: list[tuple[str, tuple[_Kind, int, int, int]]] = []
        for i, flag in enumerate(self._flags):
            entries += [(p, (_Kind.PHRASE, i, 0, 0)) for p in flag.phrases]
            entries += [(p, (_Kind.ALSO, i, 0, 0)) for p in flag.also]
            for c, concept in enumerate(flag.concepts):
                for g, group in enumerate(concept):
                    entries += [(p, (_Kind.CONCEPT, i, c, g)) for p in group]
        self._symptoms: PhraseMatcher[tuple[_Kind, int, int, int]] = PhraseMatcher(
            entries, never_fuzzy=safety.never_fuzzy
        )
        self._negations: PhraseMatcher[bool] = PhraseMatcher(
            [(p, True) for p in safety.negations] + [(p, False) for p in safety.pseudo_negations],
            fuzzy=False,
        )
        self._breaks = frozenset(safety.clause_breaks) | BREAK_TOKENS

    def scan(self, text: str) -> list[RedFlagHit]:
        """Red flags raised by ``text``, most urgent first (empty when none).

        A flag is raised by one of its phrases, or by a concept: one phrase from each of its
        word groups in the same sentence, in any order. Negated matches do not count; a flag
        with ``also`` needs one of those phrases in the message too.
        """
        toks = tokens(text)
        if not toks:
            return []
        sentence = _sentence_numbers(toks)
        negated_before = self._negation_ends(toks)
        raised: set[int] = set()
        also_hit: set[int] = set()
        # (flag, concept, sentence) -> group -> token positions that matched it
        groups: dict[tuple[int, int, int], dict[int, set[int]]] = {}
        for match in self._symptoms.find(toks):
            if self._is_negated(match, toks, negated_before):
                continue
            kind, index, concept, group = match.payload
            if kind is _Kind.PHRASE:
                raised.add(index)
            elif kind is _Kind.ALSO:
                also_hit.add(index)
            else:
                found = groups.setdefault((index, concept, sentence[match.start]), {})
                found.setdefault(group, set()).add(match.start)
                wanted = len(self._flags[index].concepts[concept])
                # every group matched, and by different words (one word cannot be two groups)
                if len(found) == wanted and len(set().union(*found.values())) >= wanted:
                    raised.add(index)
        hits = [
            RedFlagHit(self._flags[i])
            for i in sorted(raised)
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
        self, match: Match[tuple[_Kind, int, int, int]], toks: list[str], ends: list[int]
    ) -> bool:
        for end in ends:
            if (
                end <= match.start
                and match.start - end < NEGATION_WINDOW
                and not any(t in self._breaks for t in toks[end : match.start])
            ):
                return True
        return False


def _sentence_numbers(toks: list[str]) -> list[int]:
    """For each token, which sentence it is in (sentences end at . ! ?)."""
    numbers, current = [], 0
    for tok in toks:
        numbers.append(current)
        if tok in ".!?":
            current += 1
    return numbers
