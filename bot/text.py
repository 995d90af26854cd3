"""Text normalisation and fuzzy phrase matching shared by safety checks and intent routing."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from rapidfuzz import fuzz, process

T = TypeVar("T")

_APOSTROPHES = re.compile(r"[’‘`´']")
_TOKEN = re.compile(r"[a-z0-9]+|[.,;:!?]")
BREAK_TOKENS = frozenset(".,;:!?")

#: Words of at least this many letters may match with a typo.
FUZZY_MIN_LEN = 5
#: rapidfuzz ratio (0-100) a typo must reach; "siezure" ~ "seizure" scores 85.7.
FUZZY_CUTOFF = 85.0


def normalise(text: str) -> str:
    """Lower-case, strip accents, drop apostrophes ("can't" -> "cant")."""
    if not text.isascii():
        decomposed = unicodedata.normalize("NFKD", text)
        text = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _APOSTROPHES.sub("", text.casefold())


def tokens(text: str) -> list[str]:
    """Words, numbers and clause punctuation of a text, normalised; everything else dropped."""
    return _TOKEN.findall(normalise(text))


def words(text: str) -> list[str]:
    """Like `tokens` but without punctuation."""
    return [t for t in tokens(text) if t not in BREAK_TOKENS]


@dataclass(frozen=True, slots=True)
class Match(Generic[T]):
    """A phrase found in a token list: tokens[start:end], with the phrase's payload."""

    start: int
    end: int
    payload: T
    exact: bool = True

    @property
    def length(self) -> int:
        """How many tokens the match covers."""
        return self.end - self.start


class PhraseMatcher(Generic[T]):
    """Finds multi-word phrases in token lists, tolerating typos in longer words."""

    def __init__(self, phrases: Iterable[tuple[str, T]], *, fuzzy: bool = True) -> None:
        self._by_first: dict[str, list[tuple[tuple[str, ...], T]]] = {}
        for phrase, payload in phrases:
            toks = tuple(words(phrase))
            if toks:
                self._by_first.setdefault(toks[0], []).append((toks, payload))
        self._vocab_all: set[str] = {
            t for lst in self._by_first.values() for p, _ in lst for t in p
        }
        self._fuzzy = fuzzy
        self._fuzzy_vocab: dict[str, list[str]] = {}
        for word in self._vocab_all:
            if len(word) >= FUZZY_MIN_LEN and word.isalpha():
                self._fuzzy_vocab.setdefault(word[0], []).append(word)
        self._cache: dict[str, frozenset[str]] = {}

    def _equivalents(self, token: str) -> frozenset[str]:
        found = self._cache.get(token)
        if found is not None:
            return found
        same = {token} & self._vocab_all
        if self._fuzzy and len(token) >= FUZZY_MIN_LEN and token.isalpha():
            candidates = self._fuzzy_vocab.get(token[0], ())
            for word, _score, _ in process.extract(
                token, candidates, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF, limit=None
            ):
                same.add(word)
        found = frozenset(same)
        if len(self._cache) > 50_000:
            self._cache.clear()
        self._cache[token] = found
        return found

    def find(self, toks: list[str]) -> list[Match[T]]:
        """Every occurrence of every phrase in ``toks`` (overlaps included)."""
        equivalents = [self._equivalents(t) for t in toks]
        out: list[Match[T]] = []
        n = len(toks)
        for i in range(n):
            for first in equivalents[i]:
                for phrase, payload in self._by_first.get(first, ()):
                    end = i + len(phrase)
                    if end <= n and all(
                        phrase[k] in equivalents[i + k] for k in range(1, len(phrase))
                    ):
                        out.append(Match(i, end, payload, toks[i:end] == list(phrase)))
        return out

    def best(self, toks: list[str]) -> Match[T] | None:
        """The longest match (earliest on ties), or None."""
        found = self.find(toks)
        return max(found, key=lambda m: (m.length, m.exact, -m.start)) if found else None
