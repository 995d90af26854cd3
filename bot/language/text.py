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
#: A number glued to its unit ("20min", "50,000iu", "3.3mmol"): the number, then the unit.
GLUED_UNIT = re.compile(r"^(\d[\d,]*(?:\.\d+)?)([a-z]+)$")
#: "1.5" and "10,000" stay one number each.
_TOKEN = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+\.\d+[a-z]*|[a-z0-9]+|[.,;:!?]")
BREAK_TOKENS = frozenset(".,;:!?")

#: Words of at least this many letters may match with a typo.
FUZZY_MIN_LEN = 5
#: rapidfuzz ratio (0-100) a typo must reach; "siezure" ~ "seizure" scores 85.7.
FUZZY_CUTOFF = 85.0
#: Endings by which a real word may still differ from a phrase's word ("twitch"/"twitchy",
#: "throw"/"thrown", "breath"/"breathe"): a real word is never read as a typo, only with
#: another ending.
ENDINGS = frozenset(("e", "s", "es", "d", "ed", "n", "en", "y", "ly", "ing", "ings"))


def clean_text(text: str) -> str:
    """Drop control and format characters (keeping newlines and tabs) and trim."""
    if text.isascii() and text.isprintable():
        return text.strip()
    return "".join(
        ch
        for ch in text
        if ch in "\n\t"
        or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn")
        or ch == "\u200d"
    ).strip()


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
    #: positions inside the match that a phrase's gap ("..." or "..") skipped: words of no phrase
    gaps: frozenset[int] = frozenset()

    @property
    def length(self) -> int:
        """How many tokens the match covers."""
        return self.end - self.start


#: Words that carry little meaning when comparing two questions.
STOPWORDS = frozenset(
    (
        "a an the i im my me you your is are am was be been do does did can could would should "
        "will to of in on at for with it its this that and or so just really very please what"
    ).split()
)


def content_words(text: str, stopwords: frozenset[str] = STOPWORDS) -> str:
    """The words of ``text`` that carry meaning, space-separated."""
    return " ".join(w for w in words(text) if w not in stopwords)


def stem(word: str) -> str:
    """A light stem: "passing"/"passed" -> "pass", "slurring" -> "slur" (no dictionary)."""
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            base = word[: -len(suffix)]
            if len(base) > 3 and base[-1] == base[-2] and base[-1] not in "lsz":
                base = base[:-1]
            return base
    return word


GAP = ""
#: In a phrase, "..." stands for up to this many other words ("throat ... closing").
GAP_WORDS = 4
#: In a phrase, ".." stands for up to this many ("swallowed .. batteries": "swallowed two
#: small batteries", not "eating crisps and changing the batteries")
SHORT_GAP = "\x00"
SHORT_GAP_WORDS = 2
GAPS = frozenset({GAP, SHORT_GAP})
SENTENCE_END = frozenset(".!?")


def _bases(word: str) -> set[str]:
    """The word, and what is left of it without one of the `ENDINGS` (3 letters at least),
    a final "e" or "y" dropped too ("tremble", "trembly": "trembl"), and an "i" before an
    "e" ending read as a "y" ("dizzied": "dizz", like "dizzy")."""
    out = {word}
    for ending in ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= 3:
            base = word[: -len(ending)]
            out.add(base)
            if base.endswith("i") and ending.startswith("e"):
                out.add(base[:-1])
    if word.endswith(("e", "y")) and len(word) > 3:
        out.add(word[:-1])
    return out


def same_but_ending(a: str, b: str) -> bool:
    """Whether ``a`` (what the person wrote) is ``b`` (a phrase's word) with other `ENDINGS`
    ("crampy"/"cramp", "thrown"/"throwing", "trembly"/"tremble", "dizzied"/"dizzy") or with
    letters added at the end ("alcoholic"/"alcohol")."""
    return a.startswith(b) or bool(_bases(a) & _bases(b))


def phrase_tokens(phrase: str) -> tuple[str, ...]:
    """A phrase's words, with `GAP` where the phrase has "..." and `SHORT_GAP` where it has
    ".."."""
    out: list[str] = []
    for index, part in enumerate(phrase.split("...")):
        if index:
            out.append(GAP)
        for short, bit in enumerate(part.split("..")):
            if short:
                out.append(SHORT_GAP)
            out += words(bit)
    while out and out[-1] in GAPS:
        out.pop()
    while out and out[0] in GAPS:
        out.pop(0)
    return tuple(out)


#: a phrase with its place among the phrases of its first word, its words and its payload
_Indexed = tuple[int, tuple[str, ...], T]


def _place(indexed: tuple[int, tuple[str, ...], object]) -> int:
    """A phrase's place among the phrases of its first word (`find` keeps that order)."""
    return indexed[0]


class PhraseMatcher(Generic[T]):
    """Finds multi-word phrases in token lists, tolerating word endings and typos in longer words.

    A phrase may contain "..." for a gap of up to `GAP_WORDS` words within a sentence, ".."
    for one of up to `SHORT_GAP_WORDS`.
    Words listed in ``never_fuzzy`` (look-alikes such as "stroked") only ever match exactly.
    Words listed in ``real_words`` (common words such as "starting") are what the person
    wrote, never a typo of another word ("statin"): they match with their stem or another
    ending only. The safety check does not use them: there a real word may still be a typo
    of a red-flag word ("struggling to breath", "took 20 tables").
    """

    def __init__(
        self,
        phrases: Iterable[tuple[str, T]],
        *,
        fuzzy: bool = True,
        never_fuzzy: Iterable[str] = (),
        real_words: Iterable[str] = (),
    ) -> None:
        self._by_first: dict[str, list[tuple[tuple[str, ...], T]]] = {}
        for phrase, payload in phrases:
            toks = phrase_tokens(phrase)
            if toks:
                self._by_first.setdefault(toks[0], []).append((toks, payload))
        # the same phrases (numbered in `_by_first`'s order) by their first two words, so
        # `find` tries only those whose second word is there too; a phrase of one word or
        # with a gap after its first is listed by its first word alone
        self._by_pair: dict[tuple[str, str], list[_Indexed[T]]] = {}
        self._by_single: dict[str, list[_Indexed[T]]] = {}
        for first, listed in self._by_first.items():
            for number, (toks, payload) in enumerate(listed):
                if len(toks) > 1 and toks[1] not in GAPS:
                    self._by_pair.setdefault((first, toks[1]), []).append((number, toks, payload))
                else:
                    self._by_single.setdefault(first, []).append((number, toks, payload))
        self._vocab_all: set[str] = {
            t for lst in self._by_first.values() for p, _ in lst for t in p if t not in GAPS
        }
        self._fuzzy = fuzzy
        self._never_fuzzy = frozenset(w for phrase in never_fuzzy for w in words(phrase))
        self._real_words = frozenset(w for phrase in real_words for w in words(phrase))
        self._by_stem: dict[str, set[str]] = {}
        for word in self._vocab_all:
            self._by_stem.setdefault(stem(word), set()).add(word)
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
        fuzzy = self._fuzzy and token not in self._never_fuzzy
        if fuzzy and token.isalpha():
            same |= self._by_stem.get(stem(token), set())
        if fuzzy and len(token) >= FUZZY_MIN_LEN and token.isalpha():
            candidates = self._fuzzy_vocab.get(token[0], ())
            real = token in self._real_words
            for word, _score, _ in process.extract(
                token, candidates, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF, limit=None
            ):
                if not real or same_but_ending(token, word):
                    same.add(word)
        found = frozenset(same)
        if len(self._cache) > 50_000:
            self._cache.clear()
        self._cache[token] = found
        return found

    @property
    def vocabulary(self) -> frozenset[str]:
        """Every word of its phrases."""
        return frozenset(self._vocab_all)

    def typos_of(self, token: str) -> frozenset[str]:
        """The words of its phrases that ``token`` is read as, besides itself and its stem."""
        return frozenset(
            w for w in self._equivalents(token) if w != token and stem(w) != stem(token)
        )

    def find(self, toks: list[str]) -> list[Match[T]]:
        """Every occurrence of every phrase in ``toks`` (overlaps included)."""
        equivalents = [self._equivalents(t) for t in toks]
        out: list[Match[T]] = []
        nothing: frozenset[str] = frozenset()
        for i in range(len(toks)):
            following = equivalents[i + 1] if i + 1 < len(toks) else nothing
            for first in equivalents[i]:
                tried = list(self._by_single.get(first, ()))
                for second in following:
                    tried += self._by_pair.get((first, second), ())
                if len(tried) > 1:
                    tried.sort(key=_place)
                for _, phrase, payload in tried:
                    skipped: list[int] = []
                    end = self._match_rest(toks, equivalents, phrase, i + 1, 1, skipped)
                    if end is not None:
                        exact = (
                            all(t in toks[i:end] for t in phrase if t not in GAPS)
                            and toks[i] == phrase[0]
                        )
                        out.append(Match(i, end, payload, exact, frozenset(skipped)))
        return out

    def _match_rest(
        self,
        toks: list[str],
        eq: list[frozenset[str]],
        phrase: tuple[str, ...],
        j: int,
        k: int,
        skipped: list[int],
    ) -> int | None:
        """Where the phrase ends if its tokens from ``k`` on match ``toks`` from ``j``, else
        None; the positions a gap skipped are added to ``skipped``."""
        while k < len(phrase):
            if phrase[k] in GAPS:
                wanted = phrase[k + 1]
                for skip in range((GAP_WORDS if phrase[k] == GAP else SHORT_GAP_WORDS) + 1):
                    at = j + skip
                    if at >= len(toks) or toks[at] in SENTENCE_END:
                        return None
                    if wanted in eq[at]:
                        skipped.extend(range(j, at))
                        j, k = at + 1, k + 2
                        break
                else:
                    return None
                continue
            if j >= len(toks) or phrase[k] not in eq[j]:
                return None
            j, k = j + 1, k + 1
        return j
