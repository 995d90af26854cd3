"""Answer retrieval: rank the answer cards for a question by its words, its meaning and the
things it names, and decide whether to answer, offer "Did you mean", or say "I don't know".

Every answerable thing is a `Candidate`: the content's answer cards, and the older kinds read
as cards (FAQ entries, each nutrient's topics and food list, causes, diets). A candidate has
example questions (``asks``) and the entities it is about. A question is scored against each
candidate by three signals, all from content:

- lexical: the overlap of the question's content words with each example, each word weighted
  by how rare it is among the candidates (IDF, as BM25 does), so "magnesium" counts less
  than "glycinate";
- semantic: cosine similarity of the packaged embedding model (wordllama) with each example;
- entities: the nutrients, medicines, conditions, life stages, supplement forms, tests and
  foods the question names (vocabulary in content), against what the candidate is about. A
  question naming two things prefers the card about both; a card about something the
  question does not name is not chosen for it.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bot.content.loader import Bundle
from bot.language.recall import Embedder
from bot.language.text import PhraseMatcher, normalise, stem, words

#: Words that carry little meaning when comparing a question with example questions.
STOPWORDS = frozenset(
    (
        "a an the i im i'm my me you your is are am was be been do does did can could would "
        "should will to of in on at for with it its this that and or so just really very please "
        "what whats how why when which who there any some get getting got have has having about "
        "if much many more"
    ).split()
)

#: Weights of the three signals in a candidate's score.
W_LEXICAL, W_SEMANTIC, W_ENTITIES = 0.35, 0.45, 0.30
#: At or above this score (and clear of the runner-up) the top card is the answer.
ANSWER = 0.62
#: A top card at least this far ahead of the next one is clear of it.
MARGIN = 0.04
#: A top card this far ahead, about everything the question names, answers from `SUGGEST` up.
CLEAR = 0.15
#: At or above this score the best cards are offered as "Did you mean".
SUGGEST = 0.45
#: Entity kinds whose absence from a card rules it out for a question that names them.
_DECISIVE = frozenset({"medicine", "condition", "life_stage", "form", "test", "nutrient"})


@dataclass(frozen=True, slots=True)
class Candidate:
    """Something the bot can answer with: ``ref`` says how to render it (``card:ID``,
    ``faq:ID``, ``nutrient:ID:TOPIC``, ``foods:ID``, ``cause:ID``, ``diet:ID``)."""

    ref: str
    title: str
    about: frozenset[str]
    asks: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Ranked:
    """A candidate with its score and the signals behind it."""

    candidate: Candidate
    score: float
    lexical: float
    semantic: float
    entities: float


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with a question: ``answer`` the first of ``ranked``, ``suggest`` the first
    few, or ``unknown``; ``entities`` are the ids the question names."""

    kind: str
    ranked: tuple[Ranked, ...]
    entities: tuple[str, ...]
    kinds: frozenset[str]


def content_words(text: str) -> str:
    """The words of ``text`` that carry meaning, for lexical comparison."""
    return " ".join(w for w in words(normalise(text)) if w not in STOPWORDS)


class Vocabulary:
    """Finds the entities a text names: content's vocabulary, nutrients, causes and diets."""

    def __init__(self, bundle: Bundle) -> None:
        pairs: list[tuple[str, tuple[str, str]]] = []
        for entity in bundle.entities.values():
            pairs += [(name, (entity.id, entity.kind)) for name in entity.names]
        for n in bundle.nutrients.values():
            pairs += [(a, (n.id, "nutrient")) for a in (n.name, *n.aliases)]
        for c in bundle.causes.values():
            pairs += [(a, (c.id, "cause")) for a in c.aliases]
        for d in bundle.diets.values():
            pairs += [(a, (d.id, "diet")) for a in (d.name, *d.aliases)]
        self._matcher: PhraseMatcher[tuple[str, str]] = PhraseMatcher(pairs)
        self.kind_of = {eid: kind for _, (eid, kind) in pairs}

    def find(self, text: str) -> list[str]:
        """Entity ids named in ``text``, in order, longest match first where they overlap."""
        found = sorted(
            self._matcher.find(words(normalise(text))), key=lambda m: (m.start, -m.length)
        )
        ids: list[str] = []
        taken: set[int] = set()
        for match in found:
            span = set(range(match.start, match.start + match.length))
            if span & taken:
                continue
            taken |= span
            if match.payload[0] not in ids:
                ids.append(match.payload[0])
        return ids


def candidates(bundle: Bundle) -> list[Candidate]:
    """Every answerable thing in ``bundle``, read as a card."""
    found: list[Candidate] = []
    for card in bundle.cards.values():
        found.append(Candidate(f"card:{card.id}", card.title, frozenset(card.about), card.asks))
    for entry in bundle.faq.values():
        title = entry.questions[0][:40]
        found.append(Candidate(f"faq:{entry.id}", title, frozenset(entry.related), entry.questions))
    for n in bundle.nutrients.values():
        names = (n.name, *n.aliases[:2])
        found.append(
            Candidate(
                f"nutrient:{n.id}:",
                n.name,
                frozenset({n.id}),
                tuple(f"{q} {name}" for name in names for q in ("tell me about", "what does")),
            )
        )
        found.append(
            Candidate(
                f"foods:{n.id}",
                f"{n.name}: foods"[:40],
                frozenset({n.id}),
                tuple(
                    f"{q} {name}"
                    for name in names
                    for q in (
                        "foods high in",
                        "what foods have",
                        "food sources of",
                        "best source of",
                    )
                ),
            )
        )
        for topic_id in n.facts:
            topic = bundle.topics[topic_id]
            asks = [f"{name} {k}" for name in names[:2] for k in (topic.label, *topic.keywords)]
            found.append(
                Candidate(
                    f"nutrient:{n.id}:{topic_id}",
                    f"{n.name}: {topic.label}"[:40],
                    frozenset({n.id}),
                    tuple(asks),
                )
            )
    for c in bundle.causes.values():
        found.append(Candidate(f"cause:{c.id}", c.name[:40], frozenset({c.id}), c.aliases))
    for d in bundle.diets.values():
        found.append(
            Candidate(
                f"diet:{d.id}",
                d.name[:40],
                frozenset({d.id, *d.nutrients}),
                tuple(f"{a} diet" for a in (d.name, *d.aliases)),
            )
        )
    return found


class CardIndex:
    """Ranks candidates for a question; build once per content bundle."""

    def __init__(self, bundle: Bundle, embedder: Embedder | None = None) -> None:
        self.vocabulary = Vocabulary(bundle)
        # a candidate is also about what its own example questions name
        self._candidates = [
            dataclasses.replace(
                c, about=c.about | {e for a in c.asks for e in self.vocabulary.find(a)}
            )
            for c in candidates(bundle)
        ]
        self._owner: list[int] = []
        self._asks: list[str] = []
        for index, candidate in enumerate(self._candidates):
            for ask in candidate.asks:
                self._owner.append(index)
                self._asks.append(content_words(ask))
        asked = [a for c in self._candidates for a in c.asks]
        # a named entity counts as a word of its own, so "losec" meets "omeprazole" (both "ppi")
        self._ask_stems = [
            _stems(a) | {f"@{e}" for e in self.vocabulary.find(raw)}
            for a, raw in zip(self._asks, asked, strict=True)
        ]
        per_candidate: dict[int, set[str]] = {}
        for owner, ask_stems in zip(self._owner, self._ask_stems, strict=True):
            per_candidate.setdefault(owner, set()).update(ask_stems)
        document_frequency: Counter[str] = Counter()
        for stems_ in per_candidate.values():
            document_frequency.update(stems_)
        total = max(len(self._candidates), 1)
        self._idf_of = {t: math.log(1 + total / df) for t, df in document_frequency.items()}
        self._unseen_idf = math.log(1 + total)
        self._ask_mass = [sum(self._idf(t) for t in a) for a in self._ask_stems]
        self._embedder = embedder
        self._matrix: Any = None
        if embedder is not None and self._asks:
            self._matrix = embedder.embed([normalise(a) for c in self._candidates for a in c.asks])
        self._about_kinds = [
            {self.vocabulary.kind_of.get(e, "topic") for e in c.about} for c in self._candidates
        ]
        self.by_ref = {c.ref: c for c in self._candidates}

    def rank(self, text: str, limit: int = 5) -> tuple[list[Ranked], list[str]]:
        """The best candidates for ``text``, best first, and the entities it names."""
        query = content_words(text)
        named = self.vocabulary.find(text)
        if not query:
            return [], named
        n = len(self._candidates)
        lexical = [0.0] * n
        q_stems = _stems(query) | {f"@{e}" for e in named}
        q_mass = sum(self._idf(t) for t in q_stems)
        for i, ask in enumerate(self._ask_stems):
            common = q_stems & ask
            if not common:
                continue
            value = 2 * sum(self._idf(t) for t in common) / (q_mass + self._ask_mass[i])
            owner = self._owner[i]
            lexical[owner] = max(lexical[owner], value)
        semantic = [0.0] * n
        if self._matrix is not None and self._embedder is not None:
            scores = self._matrix @ self._embedder.embed([normalise(text)])[0]
            for i, score in enumerate(scores):
                owner = self._owner[i]
                semantic[owner] = max(semantic[owner], float(score))
        ranked = [
            Ranked(c, 0.0, lexical[i], semantic[i], self._entity_score(named, i))
            for i, c in enumerate(self._candidates)
        ]
        w_lex, w_sem = (
            (W_LEXICAL, W_SEMANTIC) if self._matrix is not None else (W_LEXICAL + W_SEMANTIC, 0.0)
        )
        scored = [
            Ranked(
                r.candidate,
                w_lex * r.lexical + w_sem * r.semantic + W_ENTITIES * r.entities,
                r.lexical,
                r.semantic,
                r.entities,
            )
            for r in ranked
        ]
        scored.sort(key=lambda r: -r.score)
        return scored[:limit] if limit else scored, named

    def _idf(self, stem_: str) -> float:
        return self._idf_of.get(stem_, self._unseen_idf)

    def _entity_score(self, named: Iterable[str], index: int) -> float:
        """+ for each entity the question names that the candidate is about; - for a named
        entity of a decisive kind (a medicine, a form...) the candidate is not about."""
        about = self._candidates[index].about
        named = list(named)
        if not named:
            return 0.0
        kinds = self.vocabulary.kind_of
        hits = sum(1 for e in named if e in about)
        misses = sum(1 for e in named if e not in about and kinds.get(e) in _DECISIVE)
        return (hits - misses) / len(named)

    def decide(self, text: str, prefer: str | None = None) -> Decision:
        """Answer, suggest or admit not knowing.

        ``prefer`` is what the topic router picked from the nutrient, topic and FAQ words (the
        older kinds of answer); it stands unless an answer card clearly beats it.
        """
        ranked, named = self.rank(text, limit=0)
        kinds = frozenset(self.vocabulary.kind_of.get(e, "") for e in named)
        if not ranked:
            return Decision("unknown", (), tuple(named), kinds)
        top = ranked[0]
        named_specific = {
            e for e in named if self.vocabulary.kind_of.get(e) in _DECISIVE - {"nutrient"}
        }
        if prefer is not None and prefer in self.by_ref:
            mine = next(r for r in ranked if r.candidate.ref == prefer)
            # the router reads nutrients, topics and FAQ phrasings only. An answer card about
            # the medicine, condition, form, test or life stage the question names takes
            # over; so does a card that clearly scores better; and the router's generic
            # nutrient overview is no answer to a question naming something it does not cover.
            uncovered = named_specific - mine.candidate.about
            takes_over = top.candidate.ref.startswith("card:") and (
                (uncovered & top.candidate.about and top.score >= SUGGEST)
                or (top.score >= ANSWER and top.score >= mine.score + MARGIN)
            )
            generic = prefer.endswith(":") and bool(uncovered)
            if not takes_over and not generic:
                rest = tuple(r for r in ranked if r is not mine)[:4]
                return Decision("answer", (mine, *rest), tuple(named), kinds)
        ranked = ranked[:5]
        if top.score < SUGGEST:
            return Decision("unknown", tuple(ranked), tuple(named), kinds)
        runner = ranked[1].score if len(ranked) > 1 else 0.0
        covered = top.entities >= 1.0 and top.score - runner >= CLEAR
        if (top.score >= ANSWER and top.score - runner >= MARGIN) or covered:
            return Decision("answer", tuple(ranked), tuple(named), kinds)
        return Decision("suggest", tuple(ranked), tuple(named), kinds)


def _stems(text: str) -> frozenset[str]:
    return frozenset(stem(w) for w in text.split())
