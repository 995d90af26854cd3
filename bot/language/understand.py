"""Free-text understanding: pick an answer to a waiting question, or route to an intent.

Everything it knows comes from content: nutrient, diet and cause aliases, topic keywords,
FAQ phrasings and intent word lists. No network and no model download.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from bot.content.loader import Bundle
from bot.content.model import Choice, Node
from bot.language.text import PhraseMatcher, content_words, normalise, words

#: Lowest rapidfuzz token-sort score that counts as the same FAQ question.
FAQ_CUTOFF = 80.0
#: A score at which the FAQ wins even over a nutrient-and-topic question.
FAQ_SURE = 92.0
#: Intents that only count in a short message ("hi", not "hi, my leg cramps at night").
_SHORT_ONLY = ("greet", "thanks", "menu", "help", "yes", "no")
_SHORT = 4
#: An age in a side remark: "i'm 34", "34 years old", "aged 34", "34yo".
_AGE_SAID = re.compile(
    r"\b(?:i\s?'?m|i am|aged?|age is)\s+(?:about\s+|nearly\s+|almost\s+)?(\d{1,3})\b"
    r"|\b(\d{1,3})\s*(?:years? old|yrs? old|y/?o|years of age)\b"
)
#: A number in an answer to the age question itself ("34", "about 60", "50-60").
_NUMBER = re.compile(r"\b(\d{1,3})\b")


@dataclass(frozen=True, slots=True)
class Intent:
    """What a free-text message asks for: a kind and, where it applies, what about."""

    kind: str
    target: str | None = None
    topic: str | None = None


class Understanding:
    """Language matching for one content bundle; build once per bundle."""

    def __init__(self, bundle: Bundle) -> None:
        self._bundle = bundle
        self._faq_keys: list[str] = []
        self._faq_texts: list[str] = []
        for entry in bundle.faq.values():
            for question in entry.questions:
                self._faq_keys.append(entry.id)
                self._faq_texts.append(content_words(question))
        self._entities: PhraseMatcher[tuple[str, str]] = PhraseMatcher(
            [
                (a, ("nutrient", n.id))
                for n in bundle.nutrients.values()
                for a in (n.name, *n.aliases)
            ]
            + [(a, ("diet", d.id)) for d in bundle.diets.values() for a in (d.name, *d.aliases)]
            + [(a, ("cause", c.id)) for c in bundle.causes.values() for a in c.aliases]
            + [(k, ("topic", t.id)) for t in bundle.topics.values() for k in t.keywords]
            + [(w, ("intent", name)) for name, ws in bundle.intents.items() for w in ws],
            real_words=bundle.real_words,
        )
        self._choices: dict[tuple[str, str], PhraseMatcher[int]] = {}
        #: words that turn the next words of an answer around ("dont", "never")
        self._negations = frozenset(
            w for phrase in bundle.intents.get("negation", ()) for w in words(phrase)
        )

    def choice(self, flow: str, node: Node, text: str) -> Choice | None:
        """The choice of ``node`` that ``text`` picks (by number, label or synonym), or None."""
        toks = words(text)
        if not toks:
            return None
        if len(toks) == 1 and toks[0].isdigit() and 0 < int(toks[0]) <= len(node.choices):
            return node.choices[int(toks[0]) - 1]
        matcher = self._choices.get((flow, node.id))
        if matcher is None:
            matcher = PhraseMatcher(  # no real words: a choice may raise a red flag
                [(p, i) for i, c in enumerate(node.choices) for p in (c.label, *c.says)]
            )
            self._choices[(flow, node.id)] = matcher
        # "i don't eat meat" does not pick "meat": a match right after a negation word is not
        # an answer, unless the phrase itself carries it ("no meat", "dont drink")
        negations = self._negations
        found = [
            m
            for m in matcher.find(toks)
            if not negations.intersection(toks[max(m.start - 2, 0) : m.start])
        ]
        if not found:
            return None
        longest = max(m.length for m in found)
        picked = {m.payload for m in found if m.length == longest}
        if len(picked) > 1:  # "cramps, and my legs feel weak": what was said first
            start = min(m.start for m in found if m.length == longest)
            first = {m.payload for m in found if m.length == longest and m.start == start}
            return node.choices[first.pop()] if len(first) == 1 else None  # one word, two picks
        return node.choices[picked.pop()]

    def mentions(self, flow: str, node: Node, text: str) -> bool:
        """True if ``text`` is about ``node``'s question (one of its ``about`` words)."""
        key = (flow, "about:" + node.id)
        matcher = self._choices.get(key)
        if matcher is None:
            matcher = PhraseMatcher([(w, 0) for w in node.about])
            self._choices[key] = matcher
        return bool(node.about) and any(m.exact for m in matcher.find(words(text)))

    @staticmethod
    def age(text: str, *, bare: bool) -> int | None:
        """An age in years that ``text`` gives; with ``bare``, any number counts (the text
        answers the age question), otherwise only an age said as one ("i'm 34")."""
        said = _AGE_SAID.search(text.casefold())
        found = next((g for g in said.groups() if g), None) if said else None
        if found is None and bare:
            number = _NUMBER.search(text)
            found = number.group(1) if number else None
        age = int(found) if found else None
        return age if age is not None and 0 < age <= 120 else None

    def is_only(self, text: str, intent: str) -> bool:
        """True if ``text`` is nothing but one of the words of ``intent`` ("go back")."""
        said = " ".join(words(text))
        return bool(said) and said in {
            " ".join(words(w)) for w in self._bundle.intents.get(intent, ())
        }

    def entities(self, text: str, *, affirmed: bool = False) -> dict[str, list[str]]:
        """The nutrients, diets and causes a text names, by kind, in order of appearance;
        with ``affirmed``, not those right after a negation ("i don't drink coffee")."""
        found: dict[str, list[str]] = {}
        toks = words(text)
        matches = self._entities.find(toks)
        if affirmed:
            matches = [
                m
                for m in matches
                if not self._negations.intersection(toks[max(m.start - 2, 0) : m.start])
            ]
        for match in sorted(matches, key=lambda m: (m.start, -m.length)):
            kind, value = match.payload
            if kind in ("nutrient", "diet", "cause") and value not in found.setdefault(kind, []):
                found[kind].append(value)
        return found

    def has_intent(self, text: str, name: str, *, exact: bool = False) -> bool:
        """True if ``text`` contains one of the words of intent ``name`` (spelled as listed,
        with ``exact``: "food" is not "foods")."""
        return any(
            m.payload == ("intent", name) and (m.exact or not exact)
            for m in self._entities.find(words(text))
        )

    def faq(self, text: str) -> tuple[str, float] | None:
        """The id of the FAQ entry ``text`` asks and how sure (0-100), or None."""
        query = content_words(text)
        if not query or not self._faq_texts:
            return None
        cutoff = FAQ_CUTOFF if len(query.split()) >= 3 else FAQ_SURE
        best = process.extractOne(
            query, self._faq_texts, scorer=fuzz.token_sort_ratio, score_cutoff=cutoff
        )
        return (self._faq_keys[best[2]], best[1]) if best else None

    def route(self, text: str) -> Intent:
        """What a free-text message (not a command, not an answer) is asking for."""
        toks = words(normalise(text))
        found = self._entities.find(toks)
        faq = self.faq(text)
        specific = {m.payload[0] for m in found} >= {"nutrient", "topic"}
        if faq is not None and (faq[1] >= FAQ_SURE or not specific):
            return Intent("faq", faq[0])
        kinds: dict[str, list[str]] = {}
        for match in sorted(found, key=lambda m: (-m.length, not m.exact, m.start)):
            kind, value = match.payload
            if kind == "intent":
                kinds.setdefault("intent", []).append(value)
            else:
                bucket = kinds.setdefault(kind, [])
                if value not in bucket:
                    bucket.append(value)
        intents = kinds.get("intent", [])
        nutrients = kinds.get("nutrient", [])
        nutrient = next(iter(nutrients), None)
        topic = next(iter(kinds.get("topic", [])), None)
        # a diet's tips answer for the nutrients they concern (`Diet.nutrients`; one of several
        # named is enough): "high in b6? i'm vegetarian" asks for B6's foods, which the vegan
        # tips do not name
        diets = [
            d
            for d in kinds.get("diet", [])
            if not nutrients or set(nutrients) & set(self._bundle.diets[d].nutrients)
        ]
        if diets and topic is None:
            return Intent("diet", diets[0])
        if nutrient is not None:
            if "foods" in intents:
                return Intent("foods", nutrient)
            return Intent("nutrient", nutrient, topic)
        if diets:
            return Intent("diet", diets[0])
        if "foods" in intents:
            return Intent("foods")
        for name in ("redflags", "about", "nutrients", "causes", "faq"):
            if name in intents:
                return Intent(name)
        if kinds.get("cause"):
            return Intent("cause", kinds["cause"][0])
        if "triage" in intents:
            return Intent("triage_offer")
        if len(toks) <= _SHORT:
            for name in _SHORT_ONLY:
                if name in intents:
                    return Intent(name)
        return Intent("fallback")
