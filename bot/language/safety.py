"""The red-flag check: free text -> findings in context -> triage rules -> red flags.

`RedFlagScanner` puts the pieces together for one content bundle: the `Reader` (findings and
their ConText reading), the rules of every red flag (`bot.language.triage`), then the triage
model (`bot.language.classifier`), which reads the whole message and raises the content's
general emergency flag where it is sure and no rule raised an emergency, and, where nothing
was raised, the semantic recall net (`bot.language.recall`) when an embedder is given.
`assess` keeps every step for ``nervebot explain``; `scan` returns just the red flags.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from bot.content.loader import Bundle
from bot.content.model import PHRASE_CONCEPT, RedFlag, Safety, TriageWeights
from bot.events import Urgency
from bot.language.classifier import TriageModel, TriageScore
from bot.language.embedding import Embedder, with_stored
from bot.language.findings import Reader, Reading
from bot.language.recall import Nearest, RecallNet
from bot.language.triage import Fired, RuleBook, rules_of

#: What a hit raised by the recall net names as its rule.
NET_RULE = "recall net"
#: What a hit raised by the triage model names as its rule, then its probability.
MODEL_RULE = "triage model"


@dataclass(frozen=True, slots=True)
class RedFlagHit:
    """A red flag raised by a message, and the rule that raised it (if a rule did)."""

    flag: RedFlag
    rule: str = ""

    @property
    def urgency(self) -> Urgency:
        """The urgency of the flag."""
        return Urgency(self.flag.urgency)


@dataclass(frozen=True)
class Assessment:
    """Everything the check decided about one message, for answers and explanations."""

    reading: Reading
    fired: tuple[Fired, ...]
    hits: tuple[RedFlagHit, ...]
    net: tuple[Nearest, ...] = field(default=())
    clarify: RedFlag | None = None
    model: TriageScore | None = None

    @property
    def urgency(self) -> Urgency | None:
        """The most urgent level raised, or None."""
        return self.hits[0].urgency if self.hits else None

    @property
    def someone_else(self) -> bool:
        """True when the message is about another person: a current finding of kind ``person``."""
        return any(f.kind == "person" and f.current for f in self.reading.findings)


class RedFlagScanner:
    """Finds the red flags of a content bundle in free text; build once per bundle."""

    def __init__(
        self,
        safety: Safety,
        embedder: Embedder | None = None,
        triage: TriageWeights | None = None,
    ) -> None:
        self._flags = safety.red_flags
        self._model = TriageModel(triage) if triage is not None and safety.model else None
        self._settings = safety.model
        self._thresholds = safety.net
        self._net = RecallNet(safety.red_flags, embedder) if embedder and safety.net else None
        extra = [
            (phrase, PHRASE_CONCEPT.format(flag.id), "symptom")
            for flag in safety.red_flags
            for phrase in flag.phrases
        ]
        self.reader = Reader(
            safety.concepts,
            safety.context,
            extra=extra,
            never_fuzzy=safety.never_fuzzy,
            spellings=safety.spellings,
            counted=safety.counted,
        )
        self._rules = RuleBook(rules_of(safety.red_flags))
        self._order = {flag.id: i for i, flag in enumerate(safety.red_flags)}
        self._by_id = {flag.id: flag for flag in safety.red_flags}

    @classmethod
    def for_bundle(cls, bundle: Bundle, embedder: Embedder | None = None) -> RedFlagScanner:
        """The scanner of a content bundle: its rules, its triage model, the net if given
        (its examples' vectors read from the bundle's stored vectors)."""
        return cls(bundle.safety, with_stored(embedder, bundle.vectors), bundle.triage)

    def assess(self, text: str) -> Assessment:
        """Read ``text``, apply the rules, and say which red flags it raises."""
        reading = self.reader.read(text)
        told: dict[int, list[str]] = {}
        for token, n in zip(reading.tokens, reading.sentences, strict=True):
            told.setdefault(n, []).append(token)
        fired = self._rules.fire(reading.findings, told)
        hits: dict[str, RedFlagHit] = {}
        for f in fired:
            hits.setdefault(f.rule.flag.id, RedFlagHit(f.rule.flag, f.rule.text))
        ordered = sorted(hits.values(), key=lambda h: (h.urgency.rank, self._order[h.flag.id]))
        score = self._model_score(text)
        # like the net, the model speaks only where the reader found a symptom said to be
        # happening now: it reads topic and telling, not negation, time or a figure of speech.
        # A body part said to feel some way now, in words the reader does not know as a symptom
        # (`_feels`), lets only its urgent head speak: "my throat feels weird after the spicy
        # crisps" is no emergency on a word count
        symptom = any(f.kind == "symptom" for f in reading.current())
        felt = not symptom and _feels(reading, told)
        ruled = ordered[0].urgency if ordered else None
        raised = self._model_hit(score, ruled, urgent_only=felt) if symptom or felt else None
        if raised is not None:
            ordered.insert(0, raised)
        # where only the model's urgent head spoke, the net may still know an emergency
        urgent_only = raised is not None and not fired and raised.urgency is Urgency.URGENT
        if (ordered and not urgent_only) or self._net is None or self._thresholds is None:
            return Assessment(reading, tuple(fired), tuple(ordered), model=score)
        model_said = tuple(ordered)  # the urgent head's flag, or nothing
        # no rule fired: ask the net about the sentences where a symptom is said to be current
        sentences = {f.sentence for f in reading.current() if f.kind == "symptom"}
        if not sentences:
            return Assessment(reading, (), model_said, model=score)
        words = [
            t for t, n in zip(reading.tokens, reading.sentences, strict=True) if n in sentences
        ]
        nearest = tuple(self._net.nearest(" ".join(words)))
        top = nearest[0] if nearest else None
        # one symptom alone is never enough for the net to raise an alarm: "does drinking
        # water help twitching" shares words, not a situation, with "confused and twitching
        # after drinking lots of water"; with one finding the net asks its question instead
        found = {f.concept for f in reading.current() if f.sentence in sentences}
        if top is not None and top.score >= self._thresholds.escalate and len(found) >= 2:
            net_hit = RedFlagHit(top.flag, NET_RULE)
            both = sorted((net_hit, *model_said), key=lambda h: h.urgency.rank)
            return Assessment(reading, (), tuple(both), nearest, model=score)
        if model_said:
            return Assessment(reading, (), model_said, nearest, model=score)
        clarify = top.flag if top is not None and top.score >= self._thresholds.ask else None
        return Assessment(reading, (), (), nearest, clarify, score)

    def _model_score(self, text: str) -> TriageScore | None:
        """The model's reading of a description; None for short replies ("since yesterday"),
        counted in the words it reads, where a single word would weigh as the whole message."""
        if self._model is None or self._settings is None:
            return None
        if self._model.words(text) < self._settings.min_words:
            return None
        return self._model.score(text)

    def _model_hit(
        self, score: TriageScore | None, raised: Urgency | None, urgent_only: bool = False
    ) -> RedFlagHit | None:
        """The general emergency flag, where the model is sure and no rule raised an emergency
        (never when ``urgent_only``); else the general urgent flag, where its urgent head is
        sure and no rule fired at all."""
        settings = self._settings
        if score is None or settings is None or raised is Urgency.EMERGENCY:
            return None
        if score.emergency >= settings.emergency and not urgent_only:
            flag = self._by_id[settings.emergency_flag]
            return RedFlagHit(flag, f"{MODEL_RULE} {score.emergency:.2f}")
        if raised is not None or settings.urgent is None or settings.urgent_flag is None:
            return None
        if score.urgent < settings.urgent:
            return None
        return RedFlagHit(self._by_id[settings.urgent_flag], f"{MODEL_RULE} {score.urgent:.2f}")

    def scan(self, text: str) -> list[RedFlagHit]:
        """Red flags raised by ``text``, most urgent first (empty when none)."""
        return list(self.assess(text).hits)


#: First words of a question ("why do my legs feel like lead").
_ASKS = frozenset("why how what does do is can could should will when would are which".split())


def _feels(reading: Reading, told: Mapping[int, Sequence[str]]) -> bool:
    """Whether a sentence that is not a question says how a place in the body feels now (a
    current ``sensation`` finding beside a site), in words the reader may not know as a
    symptom ("around my mouth feels fizzy like sherbet")."""
    current = reading.current()
    sites = {f.sentence for f in current if f.kind == "site"}
    for n in {f.sentence for f in current if f.kind == "sensation"} & sites:
        words = told.get(n, ())
        if "?" not in words and not (words and words[0] in _ASKS):
            return True
    return False
