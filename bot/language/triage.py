"""Triage rules over findings: which red flags a message raises, and which rule raised each.

A rule is a combination of terms (``"weakness|numbness + one_side"``); it fires when every
term is met by a *current* finding, each by a different one. Findings of symptoms, sites,
sides, onset and severity must share a sentence (the onset of a sentence naming no
symptom, "This came on in ten minutes.", counts for the symptoms told just before it);
context, people and measures (a medicine, a wound, a pregnancy, an age, how long) count from
anywhere in the message. The decision uses
the findings alone, never the raw words (Infermedica's split of parse and triage).
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from bot.content.model import PHRASE_CONCEPT, RedFlag, Term, parse_rule
from bot.language.findings import Finding
from bot.language.text import SENTENCE_END

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
}
#: Kinds of finding a sentence without a symptom lends to the sentence before it (not severity:
#: "now sat with a massive glass of squash" says nothing about the cramps before it).
_TRAILING = frozenset({"onset"})
#: Words by which a sentence points back at the symptoms before it, and the longest fragment.
_BACK = frozenset({"it", "its", "this", "that", "thats", "these", "they", "all"})
_FRAGMENT = 4


@dataclass(frozen=True)
class Rule:
    """One way a red flag is recognised."""

    flag: RedFlag
    text: str
    terms: tuple[Term, ...]


@dataclass(frozen=True)
class Fired:
    """A rule that fired, and the findings that met its terms."""

    rule: Rule
    findings: tuple[Finding, ...]


def rules_of(flags: Iterable[RedFlag]) -> list[Rule]:
    """Every rule of every flag; a flag's phrases become a rule of one term."""
    out = []
    for flag in flags:
        if flag.phrases:
            concept = PHRASE_CONCEPT.format(flag.id)
            out.append(Rule(flag, concept, (Term(concepts=(concept,)),)))
        out += [Rule(flag, text, parse_rule(text)) for text in flag.when]
    return out


class RuleBook:
    """Rules indexed by a concept each needs, so a message only tries rules it could meet."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.rules = list(rules)
        self._by_concept: dict[str, list[int]] = {}
        for index, rule in enumerate(self.rules):
            needed = [t for t in rule.terms if not t.unless and t.measure is None]
            key = min(needed, key=lambda t: len(t.concepts)) if needed else None
            for concept in key.concepts if key else ("",):
                self._by_concept.setdefault(concept, []).append(index)

    def fire(
        self, findings: Iterable[Finding], sentences: Mapping[int, Sequence[str]] | None = None
    ) -> list[Fired]:
        """The rules met by the current ``findings``, in content order, with the findings used.
        ``sentences`` (each sentence's words) lets a sentence that only says how a symptom came
        on lend that to the sentence before it (`_attach`)."""
        findings = list(findings)
        present = {f.concept for f in findings if f.current} | {""}
        candidates = sorted({i for c in present for i in self._by_concept.get(c, ())})
        return _fire([self.rules[i] for i in candidates], findings, sentences or {})


def _fire(
    rules: Iterable[Rule], findings: Iterable[Finding], sentences: Mapping[int, Sequence[str]]
) -> list[Fired]:
    """The rules met by the current ``findings``, each once, with the findings used."""
    current = [f for f in findings if f.current]
    wide = [f for f in current if f.message_wide]
    bound: dict[int, list[Finding]] = {}
    for f in current:
        if not f.message_wide:
            bound.setdefault(f.sentence, []).append(f)
    pools = [wide + _attach(n, bound, sentences) for n in sorted(bound)] or [wide]
    present = {f.concept for f in current}
    out = []
    for rule in rules:
        if not _possible(rule.terms, present):
            continue  # most rules: a concept they need is nowhere in the message
        for pool in pools:
            used = _satisfy(rule.terms, pool, ())
            if used is not None:
                out.append(Fired(rule, used))
                break
    return out


def _attach(
    sentence: int, bound: Mapping[int, list[Finding]], sentences: Mapping[int, Sequence[str]]
) -> list[Finding]:
    """The sentence-bound findings of ``sentence``, with the onset told by the sentences after
    it that name no symptom ("Her words are jumbled. This came on in ten minutes."), until the
    next that names one. Only a sentence that points back ("it", "this"...) or is a fragment
    ("Suddenly.") lends, never a question ("Does B12 deficiency come on suddenly?") or a
    sentence about something else ("Out of nowhere my partner suggested B12.")."""
    pool = list(bound[sentence])
    if not any(f.kind == "symptom" for f in pool):
        return pool
    for n in sorted(k for k in bound if k > sentence):
        theirs = bound[n]
        if any(f.kind == "symptom" for f in theirs):
            break
        if _points_back(sentences.get(n, ())):
            pool += [f for f in theirs if f.kind in _TRAILING]
    return pool


def _points_back(words: Sequence[str]) -> bool:
    """Whether a sentence tells about what came before it: it points back, or is a fragment."""
    if "?" in words:
        return False
    said = [w for w in words if w not in SENTENCE_END]
    return bool(said) and (len(said) <= _FRAGMENT or not _BACK.isdisjoint(said))


def _possible(terms: tuple[Term, ...], present: set[str]) -> bool:
    """False when some needed concept or measure is absent from the whole message."""
    for term in terms:
        if term.unless:
            continue
        if term.measure is not None:
            if term.measure not in present:
                return False
        elif len(present.intersection(term.concepts)) < term.count:
            return False
    return True


def _satisfy(
    terms: tuple[Term, ...], pool: list[Finding], used: tuple[Finding, ...]
) -> tuple[Finding, ...] | None:
    """Findings meeting every term, none reused and none overlapping another (backtracking).

    An ``unless`` term ("!sleep_onset", "!body_temp<37.5") fails the rule when any finding in
    the pool meets it.
    """
    if any(t.unless and any(_meets(t, f) for f in pool) for t in terms):
        return None
    terms = tuple(t for t in terms if not t.unless)
    if not terms:
        return used
    term, rest = terms[0], terms[1:]
    for chosen in _options(term, pool, used):
        done = _satisfy(rest, pool, used + chosen)
        if done is not None:
            return done
    return None


def _options(
    term: Term, pool: list[Finding], used: tuple[Finding, ...]
) -> Iterable[tuple[Finding, ...]]:
    free = [f for f in pool if not any(_overlap(f, u) for u in used)]
    matching = [f for f in free if _meets(term, f)]
    if term.measure is not None or term.count == 1:
        yield from ((f,) for f in matching)
        return
    for chosen in itertools.combinations(matching, term.count):  # distinct, non-overlapping
        if len({f.concept for f in chosen}) == term.count and not any(
            _overlap(a, b) for a, b in itertools.combinations(chosen, 2)
        ):
            yield chosen


def _meets(term: Term, finding: Finding) -> bool:
    """True when ``finding`` is one ``term`` names (a concept, or a measure in its range)."""
    if term.measure is not None:
        return finding.concept == term.measure and _measured(term, finding.value)
    return finding.concept in term.concepts


def _measured(term: Term, value: float | None) -> bool:
    if value is None or not _OPS[term.op or ">="](value, term.value):
        return False
    return term.op2 is None or _OPS[term.op2](value, term.value2)


def _overlap(a: Finding, b: Finding) -> bool:
    """Whether two findings share a word ("head ... pain" does not own the "worst" it skips)."""
    if not (a.start < b.end and b.start < a.end):
        return False
    return not (a.gaps or b.gaps) or bool(a.positions & b.positions)
