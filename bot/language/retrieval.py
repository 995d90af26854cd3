"""Answer retrieval: rank the answer cards for a question by its words, its meaning and the
things it names, and decide whether to answer, offer "Did you mean", or say "I don't know".

Every answerable thing is a `Candidate`: the content's answer cards, and the older kinds read
as cards (FAQ entries, each nutrient's topics and food list, causes, diets). A candidate has
example questions (``asks``) and the entities it is about. A question is scored against each
candidate by these signals, all from content:

- lexical: the overlap of the question's content words with each example, each word weighted
  by how rare it is among the candidates (IDF, as BM25 does), so "magnesium" counts less
  than "glycinate";
- semantic: cosine similarity of the packaged embedding model (wordllama) with each example;
- entities: the nutrients, medicines, conditions, life stages, supplement forms, tests and
  foods the question names (vocabulary in content), against what the candidate is about. A
  question naming two things prefers the card about both; a card about something the
  question does not name is not chosen for it;
- neighbours: with a question model in content (``models/questions.json``, written by
  ``tools/train_questions.py``), the meaning of questions already read and the answers that
  held what each needed (the question bank): a candidate that answered questions like this
  one scores higher.

Whether to answer is then the question model's too: a logistic model of the top
candidate's signals gives the chance that it is right (`Decision.chance`); above the
model's ``answer`` threshold it is the answer, else its best cards are offered. Without a
question model, fixed thresholds on the score decide (`ANSWER`, `MARGIN`, `CLEAR`).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from collections import Counter, OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import snowballstemmer
from rapidfuzz import fuzz

from bot.content.loader import Bundle
from bot.content.model import RESULT_HIGH, RESULT_LOW
from bot.language.embedding import Embedder, with_stored
from bot.language.text import (
    GLUED_UNIT,
    STOPWORDS,
    Match,
    PhraseMatcher,
    content_words,
    normalise,
    words,
)

#: Besides the shared stop words, question words ("how much magnesium" asks about magnesium)
#: and the small words of chat, which no answer contains and which would otherwise weigh as
#: the rarest words of all ("my mum", "lol", "tho").
QUESTION_WORDS = STOPWORDS | frozenset(
    "i'm what whats how why when which who there any some get getting got have has having "
    "about if much many more "
    "he she him her his they them their we us our mine yours ive id "
    "u ur ya n r y k tho thru bc cos coz cuz lol lmao haha omg tbh idk btw pls plz thx "
    "had were also then than into onto from by as but these those thats theres "
    "anyone someone something anything everything thing things stuff lot lots "
    "know think thought wondering wonder wondered asking says said told tells reckons heard "
    "mum mom dad friend mate partner brother sister "
    "ever even still yet already actually basically literally honestly probably maybe fast".split()
)
#: A whole number or an amount ("2", "1,000", "1000iu", "25mcg"): what a question counts, not
#: what it is about. A decimal stays: "is 3.4 potassium low" asks about a lab value.
_AMOUNT = re.compile(r"^\d[\d,]*(?:mg|mcg|ug|iu|g|ml|x)?$")

#: Weights of the signals in a candidate's score: words shared with its example questions,
#: meaning (of its example questions, and of the nearest sentence of its answer), named
#: entities, and how much of the question its questions and answer contain. Fitted by
#: ``python benchmarks/rank_weights.py`` (listwise, on question sets A and B; checked on C
#: and the card paraphrases) and scaled so the thresholds below keep their meaning.
W_LEXICAL, W_SEMANTIC, W_ANSWER_TEXT, W_ENTITIES, W_COVERED = 0.36, 0.35, 0.34, 0.11, 0.43
#: What a candidate loses for each share of what it is mainly about (the entities at least
#: half its example questions name) that the question does not name: "does calcium stop iron
#: tablets working" is not about coffee. Chosen with ``python tools/train_questions.py
#: --evaluate`` (0.1 against 0 and 0.2; the share is also a signal of the question model).
W_UNASKED = 0.1
#: What a candidate loses for being about the opposite of what the question names
#: (`Entity.opposite`) and not about that too: enough to rank it below any candidate that is
#: not ("my potassium was 3.3" is not answered by the card about a falsely high one).
W_OPPOSITE = 1.0
#: What a candidate about nutrients loses when it is about none of those the question names
#: (`CardIndex._other_nutrient`): "best vegan sources of magnesium" is not B12's card. Chosen
#: with ``python tools/train_questions.py --evaluate`` (right: 92.6% at 0, 92.7% at 0.1 and
#: 0.2, 91.7% at 0.3 with a higher threshold) and sets GG-VV by must-lists (0.2: one more
#: correct, two fewer wrong).
W_OTHER_NUTRIENT = 0.2
#: What each kind of answer adds to its score, fitted with the weights: a specific card or
#: food list is more often what was asked than a nutrient's generic overview.
KIND_PRIOR = {
    "card": 0.10,
    "faq": -0.03,
    "nutrient_topic": -0.07,
    "nutrient": -0.09,
    "foods": 0.10,
    "cause": 0.0,
    "diet": -0.02,
}
#: At or above this score (and clear of the runner-up) the top card is the answer.
ANSWER = 0.8
#: A top card at least this far ahead of the next one is clear of it.
MARGIN = 0.04
#: From this chance of the question model the top card is clear of the next whatever the
#: margin (`Dialogue._clear_of_runner_up`: a described symptom or a request for a list is
#: otherwise answered with "Did you mean" when two cards are close). Chosen by changing it and
#: summing ``python benchmarks/questions.py --set tests/data/heldout/questions_X.yaml`` over
#: sets GG-UU against no vouching: 0.9 gave 3 more correct, 0.8 six more and one more wrong
#: (a reply that names furosemide and the minerals it washes out, where the set's words
#: wanted "urine"), 0.7 eight more and two more wrong.
VOUCHED = 0.8
#: Two candidates each right for at least this share of the read questions the other was
#: right for answer the same questions (`CardIndex.twins`): neither is in doubt for being
#: close to the other.
TWINS = 0.5
#: A top card this far ahead, about everything the question names, answers from `SUGGEST` up.
CLEAR = 0.15
#: An answer must contain at least this share of the question's meaning (rare words weigh
#: more): "is coral calcium better" is not answered by the calcium overview.
COVERAGE = 0.5
#: At or above this score the best cards are offered as "Did you mean".
SUGGEST = 0.53
#: Weight of the question bank's signal in the score (the nearest read question each
#: candidate answered), and how many nearest read questions vote for the answers they had
#: (a signal the question model reads, not part of the score). Set by hand when the model was
#: built, from scratch leave-one-set-out trials that were not kept: 0.4 to 0.8 and 3 to 10
#: voters gave about the same figures, 0 (the bank only in the model) fewer correct answers.
#: To try a value, change it and compare `python tools/train_questions.py --evaluate`.
W_BANK, NEAREST = 0.6, 3
#: The top candidate's signals the question model reads, in the order of its weights.
FEATURES = (
    "score", "margin", "neighbour", "vote", "vote_share", "covered", "entities", "lexical",
    "semantic", "card", "twin", "unasked",
)  # fmt: skip
#: A diet or life stage the person asking says they are *not* ("if i'm not vegan", "i am not
#: pregnant", "apart from being vegan", "non-vegan") is left out of the question as retrieval
#: reads it (`Vocabulary.read`). Only after a word of the asker's own clause (`_SELF`), a told
#: age ("32 year old, not pregnant") or a profile's number (`_PROFILE_NUMBER`), so
#: "is d3 not vegan", "whether or not pregnant women..." and "shes not vegan" keep it; never
#: after "no" ("so no pernicious anaemia?" asks about it); never a condition ("hopefully not
#: als" is a worry about ALS), nutrient, medicine, form or food.
_NOT_BEFORE = (("not",), ("non",), ("apart", "from", "being"), ("other", "than", "being"),
               ("aside", "from", "being"))  # fmt: skip
#: Words up to three before a life stage that say it is not the case (`stages_not_now`), the
#: word just before that says it is no longer ("was", "longer"), and words two before it that
#: do so before "my" or "her" ("after my pregnancy").
_NOT_NOW = frozenset("not no isnt isn't arent aren't wasnt wasn't never nor non".split())
_NO_LONGER = frozenset("longer was were used ex previous previously past".split())
_AROUND = frozenset("after before".split())
#: Words just after a life stage that put it in the past ("pregnant last year").
_BEFORE_NOW = frozenset("ago last before previously".split())
#: The words after which "not" is said of the person asking (or opens a clause about them).
_SELF = frozenset("im am i if when as but since because though although".split())
#: A bare number from 1 to 110, maybe with "m" or "f", as in a profile ("45, not pregnant,
#: fairly active", "f32 not vegan"): after it, as after a told age (`Vocabulary._ages`), "not"
#: is said of the asker; never a number right after a name ("b12 50 not vegan" is a product).
_PROFILE_NUMBER = re.compile(r"^[mf]?(\d{1,3})[mf]?$")
#: Kinds of name a number right after is a dose or a strength, not an age ("b12 50").
_DOSED = frozenset({"nutrient", "form", "medicine"})
#: Words allowed between "not" and what it denies ("not a strict vegan").
_NOT_FILLER = frozenset("a an even really strictly fully actually very strict".split())
_DENIABLE = frozenset({"diet", "life_stage"})
#: Words right before a food (of a food group) that say the asker does without it ("i hate
#: fish", "dont eat any fish"), with `_AVOID_FILLER` between: food lists then leave that group
#: out (`Vocabulary.avoided`), and cards about that food lose ground (`CardIndex.signals`).
_AVOID_BEFORE = (("hate",), ("hates",), ("dislike",), ("without",), ("avoid",),
                 ("avoiding",), ("dont", "eat"), ("dont", "like"), ("doesnt", "eat"),
                 ("doesnt", "like"), ("cant", "eat"), ("cant", "stand"), ("cant", "have"),
                 ("never", "eat"), ("allergic", "to"), ("intolerant", "to"),
                 ("not", "a", "fan", "of"), ("not", "keen", "on"), ("do", "not", "eat"))  # fmt: skip
#: Words just before an avoiding word that undo it ("im not allergic to dairy", "i dont hate
#: fish").
_AVOID_UNDONE = frozenset("not dont doesnt never".split())
_AVOID_FILLER = frozenset("any much really eating all".split())
#: Someone's age in a question, read as the life stage whose ``ages`` hold it (`_ages`): a
#: number then "yo", "y/o" or a unit and "old" ("my 9 yo", "a 72 yr old man", "6 week old",
#: "my 3yr old", "a 1.5 year old"), or a whole number from 1 to 110 right after one of
#: `_AGE_BEFORE` ("im 75", "age 8") or after a person and "is" ("my mum is 80"), unless a unit
#: follows ("im 34 weeks pregnant", "hes 6 foot", "im 90 kilos", "im 100% sure").
_AGE_UNITS = {
    "year": 1.0, "years": 1.0, "yr": 1.0, "yrs": 1.0, "month": 1 / 12, "months": 1 / 12,
    "week": 1 / 52, "weeks": 1 / 52,
}  # fmt: skip
_AGE_BEFORE = frozenset("im am hes shes aged age turned turning".split())
_AGE_PEOPLE = frozenset(
    "mum mom mother dad father nan gran granny grandma grandmother grandad grandpa grandfather "
    "son daughter kid child boy girl husband wife partner brother sister he she".split()
)
_AGE_TOKEN = re.compile(r"^(\d{1,3}(?:\.\d)?)(yo|yr|yrs)$")
#: Words after a number that make it an amount, a size or a time, not someone's age.
_NOT_AGE_AFTER = frozenset(
    "mg mcg ug iu g kg kgs kilo kilos lbs lb pound pounds st stone ft foot feet in inch inches "
    "cm percent nmol ng pmol mmol x times cups pills tablets hours hrs hr days minutes mins wk "
    "wks mo mos night nights degrees of".split()
) | frozenset(_AGE_UNITS)
#: Before reading ages, a percentage and a height are said in words ("100%" and "6'5" lose
#: their marks when the text is normalised, and would read as "100" and "65").
_MARKS = (
    (re.compile(r"(\d)\s*%"), r"\1 percent "),
    (re.compile(r"(\d)\s*['’]\s*(\d)"), r"\1 ft \2"),
)


#: Words that say a whole number without its unit is a result ("b12 was 150"; "b12 1000" is
#: a dose), and the words that may come between a nutrient's name and its result ("potassium
#: was 3.3", "b12 came back at 180", "calcium level is only 2.1", "vitamin d level? my result
#: says 38 nmol/l").
_RESULT_WORDS = frozenset(
    "is was were came come back level levels result results reading says said showed shows".split()
)
_RESULT_FILLER = _RESULT_WORDS | frozenset(
    "at of just only about around my the on in bloods blood test its it's it".split()
)
#: How many words may come between a nutrient's name and a result without its unit, and with.
_RESULT_REACH, _UNIT_REACH = 5, 8
#: A number as a result is written ("3.3", "1,200").
_RESULT_NUMBER = re.compile(r"^\d[\d,]*(?:\.\d+)?$")
#: Words after a number that make it an amount taken ("b12 1000 mcg", "b12 100 a day").
_DOSE_UNITS = frozenset(
    "mg mcg mcgs ug iu g gram grams ml units milligram milligrams microgram micrograms a daily "
    "per x times each tablet tablets".split()
)


@dataclass(frozen=True, slots=True)
class Candidate:
    """Something the bot can answer with: ``ref`` says how to render it (``card:ID``,
    ``faq:ID``, ``nutrient:ID:TOPIC``, ``foods:ID``, ``cause:ID``, ``diet:ID``)."""

    ref: str
    title: str
    about: frozenset[str]
    asks: tuple[str, ...]
    text: str = ""
    #: about supplements in general: a nutrient the question names is never missing from it
    any_nutrient: bool = False


@dataclass(frozen=True, slots=True)
class Ranked:
    """A candidate with its score and the signals behind it."""

    candidate: Candidate
    score: float
    lexical: float
    semantic: float
    entities: float
    #: what the question bank added to the score (read questions this candidate answered)
    bank: float = 0.0

    @property
    def own(self) -> float:
        """The score from the content's own signals, without the question bank."""
        return self.score - self.bank


@dataclass(frozen=True, slots=True)
class Signals:
    """Per candidate: words shared with its questions (``lexical``), meaning of its
    questions (``semantic``) and of its answer's nearest sentence (``said``), the entities
    (+ named and covered, - named and missing), how much of the question it contains, the
    share of what it is mainly about that the question does not name (``unasked``), and
    the question bank's two signals (``neighbour``, ``vote``; zeros without a bank)."""

    lexical: Any
    semantic: Any
    said: Any
    entities: Any
    covered: Any
    named: list[str]
    neighbour: Any
    vote: Any
    unasked: Any
    #: the question's own stems as `Vocabulary.read` gives them (not per candidate: for
    #: `CardIndex._coverage`)
    stems: frozenset[str]
    #: 1 where a candidate is about other nutrients than those named (`_other_nutrient`)
    other_nutrient: Any


@dataclass(frozen=True, slots=True)
class Bank:
    """The question bank as retrieval reads it: the meaning of each read question, the
    candidates each answered, and the same pairs grouped by candidate (``owners``, one per
    group; ``rows``, the questions; ``starts``, where each group starts)."""

    matrix: Any
    answered: tuple[tuple[int, ...], ...]
    owners: Any
    rows: Any
    starts: Any


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with a question: ``answer`` the first of ``ranked``, ``suggest`` the first
    few, or ``unknown``; ``entities`` are the ids the question names; ``reason`` is the rule
    that decided ("clear", "score", "topic words", "grey zone"...), shown by `nervebot explain`;
    ``chance`` is the question model's chance that the top candidate is right, if it has one;
    ``not_now`` the life stages the question names only as not, or no longer, so
    (`Vocabulary.stages_not_now`)."""

    kind: str
    ranked: tuple[Ranked, ...]
    entities: tuple[str, ...]
    kinds: frozenset[str]
    reason: str
    chance: float | None = None
    not_now: frozenset[str] = frozenset()
    #: the food groups the asker does without (`Vocabulary.avoided`): food lists leave them out
    avoids: frozenset[str] = frozenset()

    @property
    def said_now(self) -> tuple[str, ...]:
        """The entities the question names, without the life stages in ``not_now``: what an
        answer is fitted to (`Answers.notes_for`)."""
        return tuple(e for e in self.entities if e not in self.not_now)


def _said_before(
    toks: list[str], start: int, filler: frozenset[str], triggers: tuple[tuple[str, ...], ...]
) -> tuple[int, int] | None:
    """Where the first of ``triggers`` ends right before ``toks[start]`` (``filler`` words
    between), as (its first token, its length); None if none does."""
    at = start
    while at > 0 and toks[at - 1] in filler:
        at -= 1
    for before in triggers:
        first = at - len(before)
        if first >= 0 and tuple(toks[first:at]) == before:
            return first, len(before)
    return None


def question_words(text: str) -> str:
    """The words of a question that carry meaning, for lexical comparison."""
    return " ".join(
        w for w in content_words(normalise(text), QUESTION_WORDS).split() if not _AMOUNT.match(w)
    )


@dataclass(frozen=True, slots=True)
class Reading:
    """A question as retrieval reads it, without what the asker says they are not
    (`_NOT_BEFORE`; a food they do without keeps its words but is named in ``shunned``, never
    as an entity a card should be about): the stems of its content words plus one ``@id``
    token per entity named (so "losec" meets "omeprazole"); the entity ids; its words for their meaning (the text
    itself when it denies nothing); and the nutrients it names word for word, inside longer
    names too ("potassium supplement" names the form, and potassium; never by a near
    spelling: "hypokalemia" is not "hypocalcaemia")."""

    stems: frozenset[str]
    named: tuple[str, ...]
    affirmed: str
    nutrients: frozenset[str]
    #: the food groups the asker does without (`Vocabulary.avoided`), and those foods' ids
    avoids: frozenset[str] = frozenset()
    shunned: tuple[str, ...] = ()


class Vocabulary:
    """Finds the entities a text names: content's vocabulary, nutrients, causes and diets."""

    def __init__(self, bundle: Bundle) -> None:
        pairs: list[tuple[str, tuple[str, str, str]]] = []
        for entity in bundle.entities.values():
            pairs += [(name, (entity.id, entity.kind, name)) for name in entity.names]
        for n in bundle.nutrients.values():
            pairs += [(a, (n.id, "nutrient", a)) for a in (n.name, *n.aliases)]
        for c in bundle.causes.values():
            pairs += [(a, (c.id, "cause", a)) for a in c.aliases]
        for d in bundle.diets.values():
            pairs += [(a, (d.id, "diet", a)) for a in (d.name, *d.aliases)]
        self._matcher: PhraseMatcher[tuple[str, str, str]] = PhraseMatcher(
            pairs, real_words=bundle.real_words
        )
        self.kind_of = {eid: kind for _, (eid, kind, _) in pairs}
        #: entities a card must be about to answer a question naming them well: nutrients and
        #: the content's decisive entities (`Entity.is_decisive`)
        self.decisive = frozenset(
            [e.id for e in bundle.entities.values() if e.is_decisive] + list(bundle.nutrients)
        )
        #: the ages of each life stage that has them ("older_age": 65 to 130), by which a told
        #: age names its stage and a card is for some ages (`CardIndex._opposed`)
        self.stage_ages = {e.id: e.ages for e in bundle.entities.values() if e.ages is not None}
        self._stages = sorted((ages, eid) for eid, ages in self.stage_ages.items())
        #: the usual range of each nutrient's result, when the vocabulary has the entities a
        #: result outside it names
        has_results = {RESULT_LOW, RESULT_HIGH} <= bundle.entities.keys()
        self._ranges = dict(bundle.result_ranges) if has_results else {}
        self._names: dict[str, list[str]] = {}
        for name, (eid, _, _) in pairs:
            self._names.setdefault(eid, []).append(name)
        #: the food group of each food that has one (`Entity.group`)
        self.group_of = {e.id: e.group for e in bundle.entities.values() if e.group}

    @staticmethod
    def tokens(text: str) -> list[str]:
        """The words of ``text`` as the vocabulary reads them (`_MARKS` said in words)."""
        for mark, said in _MARKS:
            text = mark.sub(said, text)
        return words(normalise(text))

    def spans(self, text: str) -> list[tuple[str, int, int]]:
        """(entity id, first token, end token) named in ``text`` (tokens as `tokens` reads
        them), in order. A told age names its life stage first (it overrides a life stage
        named in words: "my kid is 15" is a teenager); then overlaps go to the longest match,
        then an exact one, then the closest spelling ("hypokalemia" is potassium's word, not
        calcium's "hypocalcaemia"); a told blood result outside its range names
        `RESULT_LOW` or `RESULT_HIGH` (`_results`). A phrase with a "..." gap claims only its
        own words, so a span may hold another inside its gap ("how much potassium do i
        need": `daily_amount` over all of it, potassium within)."""
        toks = self.tokens(text)
        return self._spans(toks, self._matcher.find(toks))

    def _spans(
        self, toks: list[str], matches: list[Match[tuple[str, str, str]]]
    ) -> list[tuple[str, int, int]]:
        """`spans` of tokens already read, given the vocabulary's ``matches`` in them."""

        def closeness(m: Match[tuple[str, str, str]]) -> float:
            return fuzz.ratio(" ".join(toks[m.start : m.end]), normalise(m.payload[2]))

        chosen: list[tuple[str, int, int]] = []
        taken: set[int] = set()
        for years, start, end in self._ages(toks):
            stage = next((eid for (low, high), eid in self._stages if low <= years <= high), None)
            if stage is not None:
                chosen.append((stage, start, end))
            taken.update(range(start, end))
        staged = {eid for _, eid in self._stages}
        told = bool(chosen)
        found = sorted(
            matches,
            key=lambda m: (m.start, -m.length, not m.exact, -closeness(m)),
        )
        for match in found:
            # a gap's words are no part of the phrase: "how much potassium do i need" names
            # potassium inside "how much ... need"
            span = set(range(match.start, match.end)) - match.gaps
            if span & taken or (told and match.payload[0] in staged):
                continue
            if not match.exact and all(toks[k] in QUESTION_WORDS for k in span):
                continue  # a small word is itself: "her" is not "herring" by its stem
            taken |= span
            chosen.append((match.payload[0], match.start, match.end))
        if self._ranges:  # a told result, low or high
            chosen += self._results(toks, matches)
        return sorted(chosen, key=lambda span: span[1])

    @staticmethod
    def _ages(toks: list[str]) -> list[tuple[float, int, int]]:
        """(age in years, first token, end token) of each age the tokens tell (`_AGE_UNITS`);
        the span holds the number and its unit, and "age" or "aged" before it."""
        out: list[tuple[float, int, int]] = []
        for i, tok in enumerate(toks):
            if not tok[:1].isdigit():  # an age starts with its number
                continue
            after = toks[i + 1 : i + 3]
            glued = _AGE_TOKEN.match(tok)
            if glued:  # "9yo", "3yr old"
                if glued.group(2) == "yo" or after[:1] == ["old"]:
                    out.append((float(glued.group(1)), i, i + 1 + (glued.group(2) != "yo")))
                continue
            try:
                value = float(tok)
            except ValueError:
                continue
            if after[:1] == ["yo"]:
                out.append((value, i, i + 2))
            elif after == ["y", "o"]:  # "15 y/o"
                out.append((value, i, i + 3))
            elif after[:1] and after[0] in _AGE_UNITS and after[1:2] == ["old"]:
                out.append((value * _AGE_UNITS[after[0]], i, i + 3))
            elif after[:1] and after[0] in _NOT_AGE_AFTER:
                continue  # "im 34 weeks pregnant", "hes 6 foot"
            elif not tok.isdigit() or not 1 <= value <= 110:
                continue  # "potassium is 3.4"
            elif i and toks[i - 1] in _AGE_BEFORE:
                first = i - 1 if toks[i - 1] in ("age", "aged") else i
                out.append((value, first, i + 1))
            elif i > 1 and toks[i - 1] == "is" and toks[i - 2] in _AGE_PEOPLE:
                out.append((value, i, i + 1))
        return out

    def _results(
        self, toks: list[str], matches: list[Match[tuple[str, str, str]]]
    ) -> list[tuple[str, int, int]]:
        """(`RESULT_LOW` or `RESULT_HIGH`, the number's token, the next) for each blood result
        the tokens tell outside its nutrient's usual range (`ResultRange`): a number after the
        nutrient's name with only `_RESULT_FILLER` and the range's ``tests`` between them,
        within `_UNIT_REACH` words with a unit of its test ("vitamin d level? my result says 38
        nmol/l"), else within `_RESULT_REACH` and written as a result (a decimal where the
        range says so, else after a word of `_RESULT_WORDS`: "b12 was 150"). Never a dose
        ("b12 1000 mcg", "b12 1000"), another test's number ("b12 fine, ferritin 15 ng/ml",
        "active b12 40") or a number above the range's ``most``."""
        out: list[tuple[str, int, int]] = []
        if not any(tok[:1].isdigit() for tok in toks):  # a result is a number
            return out
        names = [
            m
            for m in matches
            if m.payload[1] == "nutrient" and m.exact and m.payload[0] in self._ranges
        ]
        for i, tok in enumerate(toks):
            glued = GLUED_UNIT.match(tok)
            number, unit = (
                glued.groups() if glued else (tok, toks[i + 1] if i + 1 < len(toks) else "")
            )
            before = [m for m in names if m.end <= i]
            if not before or not _RESULT_NUMBER.match(number) or unit in _DOSE_UNITS:
                continue
            name = max(before, key=lambda m: (m.end, m.length))
            nid = name.payload[0]
            bounds = self._ranges[nid]
            if name.start and toks[name.start - 1] in bounds.other_tests:
                continue  # "active b12 is 40"
            named = {nid, *bounds.tests}
            inside = {
                k
                for m in matches
                if name.end <= m.start and m.end <= i and m.payload[0] in named
                for k in range(m.start, m.end)
            }
            between = [t for k, t in enumerate(toks[name.end : i], name.end) if k not in inside]
            if not all(t in _RESULT_FILLER for t in between):
                continue  # another test's name, or a word that is no result's
            value = float(number.replace(",", ""))
            if unit == bounds.unit or unit in bounds.also:
                if i - name.end > _UNIT_REACH:
                    continue
                value *= bounds.also.get(unit, 1.0)
            elif (
                bounds.needs_unit
                or i - name.end > _RESULT_REACH
                or ("." not in number if bounds.decimal else not _RESULT_WORDS & {*between})
            ):
                continue
            if value > bounds.most:
                continue
            if value < bounds.low:
                out.append((RESULT_LOW, i, i + 1))
            elif value > bounds.high:
                out.append((RESULT_HIGH, i, i + 1))
        return out

    def stages_not_now(self, text: str) -> frozenset[str]:
        """The life stages ``text`` names only as not, or no longer, so (`_NOT_NOW` within
        three words before, "or" after a denial, `_NO_LONGER` just before, `_AROUND` and "my",
        or `_BEFORE_NOW` just after): "im not
        pregnant or breastfeeding", "my wife isnt pregnant", "when i was pregnant", "no longer
        breastfeeding", "pregnant last year". For what is added to an answer (`Decision.not_now`);
        ranking reads denials more narrowly (`_denied`)."""
        toks = self.tokens(text)
        out = set()
        for eid, start, end in self._spans(toks, self._matcher.find(toks)):
            if self.kind_of.get(eid) != "life_stage":
                continue
            at = start - 1
            while at > 0 and toks[at] in ("a", "an"):  # "not pregnant or a teen"
                at -= 1
            last = toks[at] if at >= 0 else ""
            denied = bool(_NOT_NOW & {*toks[max(0, start - 3) : start]})
            listed = last in ("or", "nor") and bool(_NOT_NOW & {*toks[max(0, start - 8) : start]})
            over = last in _NO_LONGER or (
                at > 0 and last in ("my", "her", "the") and toks[at - 1] in _AROUND
            )
            if denied or listed or over or _BEFORE_NOW & {*toks[end : end + 3]}:
                out.add(eid)
        return frozenset(out)

    def names(self, ids: Iterable[str]) -> list[str]:
        """Every name of the entities ``ids``."""
        return [name for eid in ids for name in self._names.get(eid, ())]

    def find(self, text: str) -> list[str]:
        """Entity ids named in ``text``, in order, each once."""
        return list(dict.fromkeys(eid for eid, _, _ in self.spans(text)))

    def _denied(self, toks: list[str], spans: list[tuple[str, int, int]]) -> set[int]:
        """The tokens of what the asker says they are not (`_NOT_BEFORE`), with the words
        that say so."""
        drop: set[int] = set()
        dosed = {end for eid, _, end in spans if self.kind_of.get(eid) in _DOSED}
        aged = {end for _, _, end in self._ages(toks)}
        for eid, start, end in spans:
            if self.kind_of.get(eid) not in _DENIABLE:
                continue
            said = _said_before(toks, start, _NOT_FILLER, _NOT_BEFORE)
            if said is not None:
                first, length = said
                if length > 1 or (first and _said_of_self(toks, first, aged, dosed)):
                    drop.update(range(first, end))
        if drop and not question_words(" ".join(t for i, t in enumerate(toks) if i not in drop)):
            return set()  # nothing left ("im not vegan"): read it as written
        return drop

    def avoided(self, text: str) -> frozenset[str]:
        """The food groups ``text`` says the asker does without (`_AVOID_BEFORE`)."""
        toks = self.tokens(text)
        return self._avoided(toks, self._spans(toks, self._matcher.find(toks)))[1]

    def _avoided(
        self, toks: list[str], spans: list[tuple[str, int, int]]
    ) -> tuple[set[int], frozenset[str]]:
        """The tokens of the foods the asker does without, with the words that say so (not
        when a "not" undoes them), and those foods' groups."""
        said_without: set[int] = set()
        groups: set[str] = set()
        for eid, start, end in spans:
            group = self.group_of.get(eid)
            if group is None:
                continue
            said = _said_before(toks, start, _AVOID_FILLER, _AVOID_BEFORE)
            if said is not None and not (said[0] and toks[said[0] - 1] in _AVOID_UNDONE):
                said_without.update(range(said[0], end))
                groups.add(group)
        return said_without, frozenset(groups)

    def read(self, text: str) -> Reading:
        """``text`` as retrieval reads it (`Reading`), in one pass."""
        toks = self.tokens(text)
        matches = self._matcher.find(toks)
        spans = self._spans(toks, matches)
        drop = self._denied(toks, spans)
        avoided, avoids = self._avoided(toks, spans)
        plain = " ".join(t for i, t in enumerate(toks) if i not in drop)
        # an avoided food is no entity a card should be about; its words stay in the question
        # ("is it bad to avoid dairy" asks about dairy)
        named = tuple(
            dict.fromkeys(
                eid for eid, start, _ in spans if start not in drop and start not in avoided
            )
        )
        shunned = tuple(dict.fromkeys(eid for eid, start, _ in spans if start in avoided))
        nutrients = frozenset(
            m.payload[0]
            for m in matches
            if m.payload[1] == "nutrient" and m.exact and m.start not in drop
        )
        return Reading(
            _stems(question_words(plain)) | {f"@{e}" for e in named},
            named,
            plain if drop else text,
            nutrients,
            avoids,
            shunned,
        )


def candidates(bundle: Bundle) -> list[Candidate]:
    """Every answerable thing in ``bundle``, read as a card."""
    found: list[Candidate] = []
    for card in bundle.cards.values():
        found.append(
            Candidate(
                f"card:{card.id}",
                card.title,
                frozenset(card.about),
                card.asks,
                card.answer,
                card.any_nutrient,
            )
        )
    for entry in bundle.faq.values():
        title = entry.title
        found.append(
            Candidate(
                f"faq:{entry.id}", title, frozenset(entry.related), entry.questions, entry.answer
            )
        )
    for n in bundle.nutrients.values():
        names = (n.name, *n.aliases[:2])
        found.append(
            Candidate(
                f"nutrient:{n.id}:",
                n.name,
                frozenset({n.id}),
                _asks(bundle, "overview", (n.name, *n.aliases)),  # "what is hypokalaemia"
                f"{n.summary.text} {n.why.text}",
            )
        )
        found.append(
            Candidate(
                f"foods:{n.id}",
                f"{n.name}: foods"[:40],
                frozenset({n.id}),
                _asks(bundle, "foods", names),
                " ".join(f"{f.food} {f.serving}" for f in n.foods)
                + (f" {n.food_tip.text}" if n.food_tip else ""),
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
                    n.facts[topic_id].text,
                )
            )
    for c in bundle.causes.values():
        found.append(
            Candidate(
                f"cause:{c.id}",
                c.name[:40],
                frozenset({c.id}),
                c.aliases,
                " ".join([c.why.text, *(f.text for f in c.facts)]),
            )
        )
    for d in bundle.diets.values():
        found.append(
            Candidate(
                f"diet:{d.id}",
                d.name[:40],
                frozenset({d.id, *d.nutrients}),
                _asks(bundle, "diet", (d.name, *d.aliases)),
                " ".join(t.text for t in d.tips),
            )
        )
    return found


def _asks(bundle: Bundle, kind: str, names: tuple[str, ...]) -> tuple[str, ...]:
    """Example questions from content's ``ask_templates`` of ``kind``, for each name."""
    return tuple(t.format(name=n) for n in names for t in bundle.ask_templates.get(kind, ()))


class CardIndex:
    """Ranks candidates for a question; build once per content bundle (`for_bundle`)."""

    _built: ClassVar[OrderedDict[tuple[int, int], tuple[CardIndex, Bundle, Embedder | None]]] = (
        OrderedDict()
    )

    @classmethod
    def for_bundle(cls, bundle: Bundle, embedder: Embedder | None = None) -> CardIndex:
        """The index of this ``bundle`` object and ``embedder``, built once and shared by
        every dialogue over it (the last few bundles are kept)."""
        key = (id(bundle), id(embedder))
        found = cls._built.get(key)
        if found is None or found[1] is not bundle or found[2] is not embedder:
            found = (cls(bundle, embedder), bundle, embedder)
            cls._built[key] = found
            while len(cls._built) > 4:
                cls._built.popitem(last=False)
        cls._built.move_to_end(key)
        return found[0]

    def __init__(self, bundle: Bundle, embedder: Embedder | None = None) -> None:
        self.vocabulary = Vocabulary(bundle)
        answerable = [c for c in candidates(bundle) if c.asks]
        # each example question read once: its stems and the entities it names
        readings = {a: self.vocabulary.read(a) for c in answerable for a in c.asks}
        # a candidate is also about what its own example questions name, but for the
        # opposite of what it says it is about: "is the irish advice the same as the uk" does
        # not make the Irish card about the UK
        opposite = {e.id: e.opposite for e in bundle.entities.values() if e.opposite}
        self._candidates = [
            dataclasses.replace(
                c,
                about=c.about
                | {e for a in c.asks for e in readings[a].named if opposite.get(e) not in c.about},
            )
            for c in answerable
        ]
        self._owner: list[int] = []
        self._asks: list[str] = []
        ask_words = {a: question_words(a) for c in answerable for a in c.asks}
        for index, candidate in enumerate(self._candidates):
            for ask in candidate.asks:
                self._owner.append(index)
                self._asks.append(ask_words[ask])
        asked = [a for c in self._candidates for a in c.asks]
        # a named entity counts as a word of its own, so "losec" meets "omeprazole" (both "ppi")
        self._ask_stems = [readings[raw].stems for raw in asked]
        per_candidate: dict[int, set[str]] = {}
        for owner, ask_stems in zip(self._owner, self._ask_stems, strict=True):
            per_candidate.setdefault(owner, set()).update(ask_stems)
        document_frequency: Counter[str] = Counter()
        for stems_ in per_candidate.values():
            document_frequency.update(stems_)
        total = max(len(self._candidates), 1)
        self._idf_of = {t: math.log(1 + total / df) for t, df in document_frequency.items()}
        self._unseen_idf = math.log(1 + total)
        self._ask_mass = np.array([sum(self._idf(t) for t in a) for a in self._ask_stems])
        postings: dict[str, list[int]] = {}
        for i, ask_stems in enumerate(self._ask_stems):
            for t in ask_stems:
                postings.setdefault(t, []).append(i)
        self._postings = {t: np.array(ids, dtype=np.intp) for t, ids in postings.items()}
        # asks are stored candidate by candidate: where each candidate's asks start
        starts: dict[int, int] = {}
        for position, owner in enumerate(self._owner):
            starts.setdefault(owner, position)
        self._starts = np.array([starts[i] for i in range(len(self._candidates))], dtype=np.intp)
        # what a candidate "knows": its questions, its answer, and every name of what it is
        # about (a card about potassium knows "hypokalaemia")
        # (word by word, so the union of each part's stems: each example question's once)
        stems_of_ask = {a: _stems(words_) for a, words_ in ask_words.items()}
        self._words_of = [
            frozenset().union(
                *(stems_of_ask[a] for a in c.asks),
                _stems(question_words(" ".join((c.text, *self.vocabulary.names(c.about))))),
            )
            | {f"@{e}" for e in c.about}
            for c in self._candidates
        ]
        word_postings: dict[str, list[int]] = {}
        for i, have in enumerate(self._words_of):
            for t in have:
                word_postings.setdefault(t, []).append(i)
        self._word_postings = {t: np.array(ids, dtype=np.intp) for t, ids in word_postings.items()}
        # which candidate is about which entity, as columns (`_entity_scores`), and which are
        # cards about supplements in general
        self._about_column = {
            e: k for k, e in enumerate(dict.fromkeys(e for c in self._candidates for e in c.about))
        }
        self._about = np.zeros((len(self._candidates), len(self._about_column)))
        for i, candidate in enumerate(self._candidates):
            for e in candidate.about:
                self._about[i, self._about_column[e]] = 1.0
        self._general = np.array([c.any_nutrient for c in self._candidates], dtype=float)
        # the ages each candidate is for, from the life stages of told ages it declares
        # (`_opposed`): the children's card is for 0 to 12, one for babies, children and older
        # people is for everyone; none declared, any age (its example questions do not count:
        # "my child lives on cereal" does not make the fortified cereals card a children's one)
        self._ages_from = np.full(len(self._candidates), -math.inf)
        self._ages_to = np.full(len(self._candidates), math.inf)
        for i, c in enumerate(answerable):
            spans = [
                self.vocabulary.stage_ages[e] for e in c.about if e in self.vocabulary.stage_ages
            ]
            if spans:
                self._ages_from[i] = min(low for low, _ in spans)
                self._ages_to[i] = max(high for _, high in spans)
        # which nutrients each candidate says it is about (`_other_nutrient`): as declared,
        # not as its example questions add (a card on supplements' price names several), and
        # none for one about supplements in general
        self._nutrient_ids = list(bundle.nutrients)
        self._nutrients_of = np.zeros((len(self._candidates), len(self._nutrient_ids)))
        for i, c in enumerate(answerable):
            if not c.any_nutrient:
                for k, nid in enumerate(self._nutrient_ids):
                    self._nutrients_of[i, k] = float(nid in c.about)
        self._opposite = opposite
        # per form, which candidates are about a nutrient its own names say ("magnesium
        # citrate": magnesium), so that such a card meets the form half way (`_entity_scores`)
        self._of_forms_nutrient: dict[str, Any] = {}
        for entity in bundle.entities.values():
            if entity.kind == "form":
                said = {n for name in entity.names for n in self.vocabulary.read(name).nutrients}
                mask = np.array([float(nid in said) for nid in self._nutrient_ids])
                if mask.any():
                    self._of_forms_nutrient[entity.id] = (self._nutrients_of @ mask > 0) * 1.0
        # what each candidate is mainly about (`_unasked`): the entities at least half its
        # questions name, as candidates per entity, and how many each candidate has
        # (read as a question is: nutrients inside a form's name too; never a nutrient for a
        # card about supplements in general)
        core_size = np.zeros(len(self._candidates))
        cores: dict[str, list[int]] = {}
        for i, c in enumerate(self._candidates):
            counts = Counter(
                e
                for a in c.asks
                for e in {*readings[a].named, *readings[a].nutrients}
                if not self._any_nutrient_of(c, e)
            )
            for e, k in counts.items():
                if 2 * k >= len(c.asks):
                    cores.setdefault(e, []).append(i)
                    core_size[i] += 1
        self._core_size = core_size
        self._cores = {e: np.array(ids, dtype=np.intp) for e, ids in cores.items()}
        self._embedder = embedder
        # content's own texts: their vectors are read from the store where it has them
        stored = with_stored(embedder, bundle.vectors)
        self._matrix: Any = None
        self._passages: Any = None
        if stored is not None and self._asks:
            self._matrix = stored.embed([normalise(a) for c in self._candidates for a in c.asks])
            # the answer's sentences, for the meaning of what a candidate says
            owners, sentences = [], []
            for i, c in enumerate(self._candidates):
                for sentence in _sentences(c.text or c.title):
                    owners.append(i)
                    sentences.append(normalise(sentence))
            self._passages = stored.embed(sentences)
            self._passage_starts = np.searchsorted(owners, np.arange(len(self._candidates)))
        self._prior = np.array([KIND_PRIOR.get(kind_of(c.ref), 0.0) for c in self._candidates])
        # a question worded exactly like one of a card's or an FAQ entry's examples is its
        # question
        self._exact: dict[frozenset[str], set[int]] = {}
        for i, c in enumerate(self._candidates):
            if c.ref.startswith(("card:", "faq:")):
                for ask in c.asks:
                    self._exact.setdefault(stems_of_ask[ask], set()).add(i)
        self._index_of = {c.ref: i for i, c in enumerate(self._candidates)}
        self._model = bundle.questions
        self._bank: Bank | None = None
        self._answered: dict[int, frozenset[int]] = {}
        if self._model is not None and stored is not None:
            self._bank = self._build_bank(self._model.bank, stored)
        if self._bank is not None:
            groups = np.split(self._bank.rows, self._bank.starts[1:])
            self._answered = {
                int(o): frozenset(g.tolist())
                for o, g in zip(self._bank.owners, groups, strict=True)
            }

    def _build_bank(
        self, bank: tuple[tuple[str, tuple[str, ...]], ...], embedder: Embedder
    ) -> Bank | None:
        """The question bank's meaning (one row per question) and the candidates each
        answered; answers the content no longer has are skipped."""
        texts: list[str] = []
        answered: list[tuple[int, ...]] = []
        for question, refs in bank:
            held = tuple(self._index_of[r] for r in refs if r in self._index_of)
            if held:
                texts.append(normalise(question))
                answered.append(held)
        if not texts:
            return None
        pairs = sorted((owner, row) for row, held in enumerate(answered) for owner in held)
        owners = np.array([owner for owner, _ in pairs], dtype=np.intp)
        firsts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])
        return Bank(
            embedder.embed(texts),
            tuple(answered),
            owners[firsts],
            np.array([row for _, row in pairs], dtype=np.intp),
            firsts,
        )

    def signals(self, text: str) -> Signals:
        """Every signal of every candidate for ``text`` (arrays in candidate order),
        read without what the asker says they are not (`Vocabulary.read`)."""
        reading = self.vocabulary.read(text)
        q_stems, named = reading.stems, list(reading.named)
        n = len(self._candidates)
        lexical, semantic, said, covered = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
        neighbour, vote = np.zeros(n), np.zeros(n)
        # a nutrient said inside a form's name ("liquid vitamin d") is named for the entities too
        entities = self._entity_scores(named + sorted(reading.nutrients - set(named)))
        for eid in reading.shunned:  # a card about a food the asker does without loses ground
            column = self._about_column.get(eid)
            if column is not None:
                entities = entities - 2.0 * self._about[:, column]
        if question_words(text) and self._asks:
            q_mass = sum(self._idf(t) for t in q_stems)
            shared = np.zeros(len(self._asks))
            for t in q_stems:
                postings = self._postings.get(t)
                if postings is not None:
                    shared[postings] += self._idf(t)
            per_ask = 2 * shared / (q_mass + self._ask_mass)
            lexical = np.maximum.reduceat(per_ask, self._starts)
            found = np.zeros(n)
            for t in q_stems:
                holders = self._word_postings.get(t)
                if holders is not None:
                    found[holders] += self._idf(t)
            covered = found / q_mass if q_mass else found
            if self._matrix is not None and self._embedder is not None:
                question = self._embedder.embed([normalise(reading.affirmed)])[0]
                semantic = np.maximum.reduceat(self._matrix @ question, self._starts)
                said = np.maximum.reduceat(self._passages @ question, self._passage_starts)
                if self._bank is not None:
                    neighbour, vote = self._neighbours(self._bank, question, n)
        unasked = self._unasked({*named, *reading.nutrients} if named else set())
        other = self._other_nutrient({*named, *reading.nutrients})
        return Signals(
            lexical, semantic, said, entities, covered, named, neighbour, vote, unasked, q_stems,
            other,
        )  # fmt: skip

    @staticmethod
    def _neighbours(bank: Bank, question: Any, n: int) -> tuple[Any, Any]:
        """Per candidate: the meaning of the nearest read question it answered, and the
        votes (similarities) of the `NEAREST` read questions for the answers they had."""
        sims = bank.matrix @ question
        neighbour = np.zeros(n)
        neighbour[bank.owners] = np.maximum(np.maximum.reduceat(sims[bank.rows], bank.starts), 0.0)
        vote = np.zeros(n)
        for row in np.argpartition(-sims, min(NEAREST, len(sims) - 1))[:NEAREST]:
            vote[list(bank.answered[row])] += max(float(sims[row]), 0.0)
        return neighbour, vote

    @property
    def refs(self) -> list[str]:
        """The reference of every candidate, in the order of `signals`' arrays."""
        return [c.ref for c in self._candidates]

    def _scores(self, text: str) -> tuple[Any, Any, Any, Any, list[str], Signals]:
        """Total, lexical, semantic and entity scores of every candidate, the entities, and
        every signal."""
        s = self.signals(text)
        n = len(self._candidates)
        if self._matrix is not None:
            meaning = W_SEMANTIC * s.semantic + W_ANSWER_TEXT * s.said
            w_lex = W_LEXICAL
        else:  # without the model, words carry the weight of meaning too
            meaning, w_lex = np.zeros(n), W_LEXICAL + W_SEMANTIC + W_ANSWER_TEXT
        total = (
            w_lex * s.lexical
            + meaning
            + W_ENTITIES * s.entities
            + W_COVERED * s.covered
            + W_BANK * s.neighbour
            + self._prior
            - W_UNASKED * s.unasked
            - W_OPPOSITE * self._opposed(s.named)
            - W_OTHER_NUTRIENT * s.other_nutrient
        )
        if not question_words(text):
            total = np.zeros(n)
        return total, s.lexical, s.semantic, s.entities, s.named, s

    def _ranked(self, index: int, scores: tuple[Any, Any, Any, Any, list[str], Signals]) -> Ranked:
        total, lexical, semantic, entities, _, signals = scores
        return Ranked(
            self._candidates[index],
            float(total[index]),
            float(lexical[index]),
            float(semantic[index]),
            float(entities[index]),
            W_BANK * float(signals.neighbour[index]),
        )

    def rank(self, text: str, limit: int = 5) -> tuple[list[Ranked], list[str]]:
        """The best candidates for ``text``, best first, and the entities it names."""
        scores = self._scores(text)
        if not question_words(text):
            return [], scores[4]
        order = np.argsort(-scores[0], kind="stable")[:limit]
        return [self._ranked(int(i), scores) for i in order], scores[4]

    def _entity_scores(self, named: list[str]) -> Any:
        """Per candidate: + for each entity the question names that it is about; - for a
        decisive named entity (a medicine, a form, a qualifier such as "too much"...) that it
        is not about, but for a nutrient on a card about supplements in general
        (``any_nutrient``), and only half for a form on a card about the nutrient the form's
        own names say ("cipro and my magnesium citrate": the card on quinolones and
        magnesium)."""
        n = len(self._candidates)
        if not named:
            return np.zeros(n)
        scores = np.zeros(n)
        for e in named:
            column = self._about_column.get(e)
            about = self._about[:, column] if column is not None else np.zeros(n)
            scores += about
            if e in self.vocabulary.decisive:
                kind = self.vocabulary.kind_of.get(e)
                # a nutrient never counts against a card about supplements in general
                excused = self._general if kind == "nutrient" else 0.0
                if kind == "form":
                    excused = 0.5 * self._of_forms_nutrient.get(e, 0.0)
                scores -= (1.0 - about) * (1.0 - excused)
        return scores / len(named)

    def _other_nutrient(self, named: Iterable[str]) -> Any:
        """Per candidate: 1 if it is about nutrients and about none of those the question
        names (``named``: its entities and the nutrients inside a form's name, as
        `Reading.nutrients`), else 0 ("best vegan sources of magnesium" is not answered by
        B12's)."""
        named = set(named)
        asked = np.array([float(nid in named) for nid in self._nutrient_ids])
        if not asked.any():
            return np.zeros(len(self._candidates))
        covers = self._nutrients_of @ asked
        return ((self._nutrients_of.sum(axis=1) > 0) & (covers == 0)).astype(float)

    def _opposed(self, named: list[str]) -> Any:
        """Per candidate: 1 if it is about the opposite of an entity the question names
        (`Entity.opposite`; unless the question names that too) and not about that entity
        too, or if the ages it is for meet none of the life stages the question names ("my 80
        year old mum" is not asked about children), else 0."""
        opposed = np.zeros(len(self._candidates))
        stages = [self.vocabulary.stage_ages[e] for e in named if e in self.vocabulary.stage_ages]
        if stages:
            meets = np.zeros(len(self._candidates), dtype=bool)
            for low, high in stages:
                meets |= (self._ages_from <= high) & (low <= self._ages_to)
            opposed = (~meets).astype(float)
        for e in named:
            opposite = self._opposite.get(e)
            if opposite is None or opposite not in self._about_column or opposite in named:
                continue  # both named ("was 150 though i take 1000 a day"): neither rules out
            about = self._about[:, self._about_column[e]] if e in self._about_column else 0.0
            opposed = np.maximum(opposed, self._about[:, self._about_column[opposite]] - about)
        return opposed

    def _any_nutrient_of(self, candidate: Candidate, entity: str) -> bool:
        """Whether ``entity`` is a nutrient and ``candidate`` a card about supplements in
        general (``any_nutrient``): such a nutrient never counts against it, nor is it part of
        what the card is mainly about."""
        return candidate.any_nutrient and self.vocabulary.kind_of.get(entity) == "nutrient"

    def _unasked(self, asked: set[str]) -> Any:
        """Per candidate: the share of what it is mainly about that the question does not
        name (0 for a question that names nothing)."""
        if not asked:
            return np.zeros(len(self._candidates))
        named = np.zeros(len(self._candidates))
        for e in asked:
            holders = self._cores.get(e)
            if holders is not None:
                named[holders] += 1
        size = self._core_size
        return np.divide(size - named, size, out=np.zeros_like(size), where=size > 0)

    def _coverage(self, q_stems: frozenset[str], ref: str) -> float:
        """How much of the question's meaning (its stems, weighted by rarity, and the
        entities it names: `Signals.stems`) the candidate's questions and answer contain: 0
        to 1."""
        mass = sum(self._idf(t) for t in q_stems)
        if not mass:
            return 0.0
        have = self._words_of[self._index_of[ref]]
        return sum(self._idf(t) for t in q_stems & have) / mass

    def evidence(self, text: str) -> tuple[list[str], dict[str, float]]:
        """The five best candidates for ``text`` (references, best first) and the signals of
        the first that the question model reads (`FEATURES`); used by decide and the trainer."""
        scores = self._scores(text)
        order = [int(i) for i in np.argsort(-scores[0], kind="stable")[:5]]
        return [self._candidates[i].ref for i in order], self._features(scores, order)

    def _features(
        self, scores: tuple[Any, Any, Any, Any, list[str], Signals], order: list[int]
    ) -> dict[str, float]:
        total, s = scores[0], scores[5]
        top = order[0]
        runner = float(total[order[1]]) if len(order) > 1 else 0.0
        best_vote = float(s.vote.max())
        return {
            "score": float(total[top]),
            "margin": float(total[top]) - runner,
            "neighbour": float(s.neighbour[top]),
            "vote": float(s.vote[top]),
            "vote_share": float(s.vote[top]) / best_vote if best_vote > 0 else 0.0,
            "covered": float(s.covered[top]),
            "entities": float(s.entities[top]),
            "lexical": float(s.lexical[top]),
            "semantic": float(s.semantic[top]),
            "card": float(kind_of(self._candidates[top].ref) == "card"),
            "twin": self._twin(top, order[1]) if len(order) > 1 else 0.0,
            "unasked": float(s.unasked[top]),
        }

    def twins(self, a: str, b: str) -> bool:
        """Whether candidates ``a`` and ``b`` answer the same questions: each was right for at
        least `TWINS` of the read questions the other was right for (a small card inside a
        broad one is not its twin)."""
        ia, ib = self._index_of.get(a), self._index_of.get(b)
        counts = None if ia is None or ib is None else self._both_right(ia, ib)
        return counts is not None and counts[0] / (max(counts[1:]) + 2) >= TWINS

    def _twin(self, a: int, b: int) -> float:
        """The read questions candidates ``a`` and ``b`` were both right for, as a share of
        those the one with fewer was right for (two more counted, so that one shared question
        is not a certainty): near 1 the two answer the same questions, so a small margin
        between them is no doubt about the answer."""
        counts = self._both_right(a, b)
        return 0.0 if counts is None else counts[0] / (min(counts[1:]) + 2)

    def _both_right(self, a: int, b: int) -> tuple[int, int, int] | None:
        """How many read questions ``a`` and ``b`` were both right for, and each alone; None
        when either was right for none."""
        mine, theirs = self._answered.get(a), self._answered.get(b)
        if not mine or not theirs:
            return None
        return len(mine & theirs), len(mine), len(theirs)

    def _chance(self, features: dict[str, float]) -> float | None:
        """The question model's chance that the top candidate is right; None without a model,
        without the embedding model, when none of its bank's answers exist any more, or when
        it reads a signal this version lacks."""
        model = self._model
        if model is None or self._matrix is None or not set(model.features) <= features.keys():
            return None
        if model.bank and self._bank is None:
            return None  # every answer its bank names is gone: its signals would read as 0
        logit = model.bias + sum(
            w * features[f] for f, w in zip(model.features, model.weights, strict=True)
        )
        return 1.0 / (1.0 + math.exp(-min(max(logit, -50.0), 50.0)))

    def _idf(self, stem_: str) -> float:
        return self._idf_of.get(stem_, self._unseen_idf)

    def decide(self, text: str, prefer: str | None = None, food_list: bool = False) -> Decision:
        """Answer, suggest or admit not knowing (`_decide`), with the life stages the question
        names only as not, or no longer, so (`Decision.not_now`)."""
        decision = self._decide(text, prefer, food_list)
        avoids = self.vocabulary.avoided(text)
        not_now = (
            self.vocabulary.stages_not_now(text) if "life_stage" in decision.kinds else frozenset()
        )
        if not (avoids or not_now):
            return decision
        return dataclasses.replace(decision, not_now=not_now, avoids=avoids)

    def _decide(self, text: str, prefer: str | None, food_list: bool) -> Decision:
        """Answer, suggest or admit not knowing.

        ``prefer`` is what the topic router picked from the nutrient, topic and FAQ words (the
        older kinds of answer); it stands unless an answer card clearly beats it, or it gives
        way (`_gives_way`) because the question model's chance for the top candidate reaches
        its threshold.
        ``food_list``: the question asks for the food list itself, which a card about a
        medicine or a condition does not replace.
        """
        scores = self._scores(text)
        named, stems = scores[4], scores[5].stems
        kinds = frozenset(self.vocabulary.kind_of.get(e, "") for e in named)
        if not question_words(text) or not self._candidates:
            return Decision("unknown", (), tuple(named), kinds, "no words")
        order = [int(i) for i in np.argsort(-scores[0], kind="stable")[:5]]
        exact = sorted(self._exact.get(_stems(question_words(text)), ()))
        cards = [i for i in exact if self._candidates[i].ref.startswith("card:")]
        exact = cards if len(cards) == 1 else exact  # a card's own example wins over an FAQ's
        if exact:  # worded like an example: its card or FAQ entry (or, if several, a choice)
            order = [*exact, *(i for i in order if i not in exact)][:5]
            ranked = [self._ranked(i, scores) for i in order]
            verdict = "answer" if len(exact) == 1 else "suggest"
            return Decision(verdict, tuple(ranked), tuple(named), kinds, "worded as an example")
        ranked = [self._ranked(i, scores) for i in order]
        top = ranked[0]
        chance = self._chance(self._features(scores, order))
        if prefer is not None and prefer.startswith("foods:") and not food_list:
            prefer = None  # "with food", "from food": the food list competes like any card
        if prefer is not None and prefer in self._index_of:
            mine = self._ranked(self._index_of[prefer], scores)
            explicit = food_list and prefer.startswith("foods:")
            gives_way = (
                chance is not None
                and self._model is not None
                and chance >= self._model.answer
                and self._gives_way(stems, prefer, ranked, named, food_list)
            )
            if gives_way:  # the model vouches for an answer that holds more of the question
                return Decision(
                    "answer", tuple(ranked[:5]), tuple(named), kinds, "over topic words", chance
                )
            if self._router_stands(mine, top, named, food_list):
                rest = tuple(r for r in ranked if r.candidate.ref != prefer)[:4]
                # a request for the food list gets it, whatever else the question says
                if explicit or self._coverage(stems, prefer) >= COVERAGE:
                    return Decision("answer", (mine, *rest), tuple(named), kinds, "topic words")
                if top.candidate.ref == prefer:
                    ranked = [mine, *rest]
        ranked = ranked[:5]
        if self._medicine_uncovered(named, ranked):
            # a question about a medicine no card covers: honest, and a pharmacist
            return Decision("unknown", tuple(ranked), tuple(named), kinds, "medicine not covered")
        if top.own < SUGGEST:  # the bank vouches for answers, it does not make one relevant
            return Decision("unknown", tuple(ranked), tuple(named), kinds, "below suggest")
        if chance is not None and self._model is not None:
            verdict = "answer" if chance >= self._model.answer else "suggest"
            reason = "likely right" if verdict == "answer" else "grey zone"
            return Decision(verdict, tuple(ranked), tuple(named), kinds, reason, chance)
        runner = ranked[1].score if len(ranked) > 1 else 0.0
        covered = top.entities >= 1.0 and top.score - runner >= CLEAR
        sure = (top.score >= ANSWER and top.score - runner >= MARGIN) or covered
        if sure and self._coverage(stems, top.candidate.ref) >= COVERAGE:
            return Decision(
                "answer", tuple(ranked), tuple(named), kinds, "clear" if covered else "score"
            )
        return Decision("suggest", tuple(ranked), tuple(named), kinds, "grey zone")

    def may_give_way(self, text: str, prefer: str, food_list: bool = False) -> bool:
        """Whether the topic router's pick ``prefer`` gives way to the top candidate for
        ``text`` when the question model's chance for that candidate reaches its threshold
        (the rest of the rule: `_gives_way`); the trainer replays decide() with it."""
        scores = self._scores(text)
        order = [int(i) for i in np.argsort(-scores[0], kind="stable")[:5]]
        ranked = [self._ranked(i, scores) for i in order]
        return bool(ranked) and self._gives_way(
            scores[5].stems, prefer, ranked, scores[4], food_list
        )

    def _gives_way(
        self,
        stems: frozenset[str],
        prefer: str,
        ranked: list[Ranked],
        named: list[str],
        food_list: bool,
    ) -> bool:
        """The router's pick gives way to a different top candidate that holds more of the
        question (`_coverage`: so a plain request keeps its overview) and would be answered (no
        medicine it does not cover, above `SUGGEST`); never for a request for the food list
        itself."""
        top = ranked[0]
        return (
            top.candidate.ref != prefer
            and not (food_list and prefer.startswith("foods:"))
            and self._coverage(stems, top.candidate.ref) > self._coverage(stems, prefer)
            and top.own >= SUGGEST
            and not self._medicine_uncovered(named, ranked)
        )

    def _medicine_uncovered(self, named: list[str], ranked: list[Ranked]) -> bool:
        """Whether the question names a medicine that none of the three best candidates is
        about: then it is not answered (honest, and a pharmacist)."""
        medicines = {e for e in named if self.vocabulary.kind_of.get(e) == "medicine"}
        return bool(medicines) and not any(medicines & r.candidate.about for r in ranked[:3])

    def _router_stands(self, mine: Ranked, top: Ranked, named: list[str], food_list: bool) -> bool:
        """Whether the topic router's pick (``mine``) is the answer rather than ``top``.

        The router reads nutrients, topics and FAQ phrasings only. An answer card takes over
        when it is about a decisive entity the question names (a medicine, condition, form,
        test, life stage or qualifier: `Vocabulary.decisive`) and the pick is not, when it is
        about more of what the question names, or when it scores clearly better. A request for the food list itself ("which foods have X") is
        taken over only by a card about a food the question names. The router's generic
        nutrient overview never stands for a question naming something it does not cover.
        Scores are compared without the question bank (`Ranked.own`): read questions vouch
        for whether to answer, not for which kind of answer a plain request gets.
        """
        kind_of = self.vocabulary.kind_of
        specific = {
            e for e in named if e in self.vocabulary.decisive and kind_of.get(e) != "nutrient"
        }
        uncovered = specific - mine.candidate.about
        if mine.candidate.ref.endswith(":") and uncovered:
            return False
        if not top.candidate.ref.startswith("card:"):
            return True
        explicit = food_list and mine.candidate.ref.startswith("foods:")
        food_card = any(kind_of.get(e) == "food" and e in top.candidate.about for e in named)
        takes_over = (
            (uncovered & top.candidate.about and top.own >= SUGGEST and not explicit)
            or (top.entities > mine.entities and top.own >= SUGGEST and (food_card or not explicit))
            or (top.own >= ANSWER and top.own >= mine.own + CLEAR and not explicit)
        )
        return not takes_over


def _said_of_self(toks: list[str], at: int, aged: set[int], dosed: set[int]) -> bool:
    """Whether the "not" at ``at`` is said of the asker: after `_SELF`, after a told age
    (``aged``: where `Vocabulary._ages` spans end), or after a profile's number
    (`_PROFILE_NUMBER`) that does not follow a name of a `_DOSED` kind (``dosed``: where
    those end)."""
    word = toks[at - 1]
    if word in _SELF or at in aged:
        return True
    number = _PROFILE_NUMBER.match(word)
    return number is not None and 1 <= int(number.group(1)) <= 110 and at - 1 not in dosed


def kind_of(ref: str) -> str:
    """The kind of answer a reference names: card, faq, nutrient_topic, nutrient (its
    overview), foods, cause or diet."""
    kind, _, rest = ref.partition(":")
    return "nutrient_topic" if kind == "nutrient" and not rest.endswith(":") else kind


def _sentences(text: str) -> list[str]:
    """The sentences of an answer worth comparing with a question (not the very short)."""
    parts = [p for p in re.split(r"(?<=[.!?])\s+", text) if len(p) > 20]
    return parts or [text]


_ENGLISH = snowballstemmer.stemmer("english")


@functools.lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    """The Snowball (Porter 2) stem of a word: "muscles" and "muscle" meet. snowballstemmer
    uses PyStemmer's C build where it is installed (a dependency), its own pure Python where
    not; cached either way, as a content bundle has a few thousand distinct words."""
    return str(_ENGLISH.stemWord(word))


def _stems(text: str) -> frozenset[str]:
    return frozenset(_stem(w) for w in text.split())
