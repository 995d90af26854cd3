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

import datetime
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from bot.content.model import Concept, ContextCategory, ContextRules
from bot.language.text import GLUED_UNIT, SENTENCE_END, Match, PhraseMatcher, tokens

#: Concept kinds that count anywhere in a message (the rest combine within one sentence).
MESSAGE_WIDE = frozenset({"context", "person", "measure"})
#: Categories that take a finding out of the present tense (uncertain does not).
NOT_CURRENT: frozenset[ContextCategory] = frozenset(
    {"negated", "historical", "hypothetical", "reported", "figurative"}
)
#: "in 2019": a past year marks what is near it as history.
_YEAR_TRIGGER_SCOPE = 8

_NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100, "dozen": 12,
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
_YEARS = ("yr", "yrs", "year", "years")
#: Units of a dose: "took 4,000 iu" is an amount of a vitamin, not a number of pills.
_DOSE_UNITS = frozenset({"mg", "mcg", "ug", "iu", "g", "ml", "units", "milligrams", "micrograms"})
#: Singular units, which after a number above one describe a thing ("a 10 hour shift").
_SINGULAR = frozenset({"minute", "hour", "day", "week", "month", "night"})  # not "min", "hr"
#: What a length before it measures when it follows the unit ("a 12 hr shift"): a stint of
#: work, not a symptom's duration. Only those: other words run on from a symptom's length in
#: chat ("nose bleeding for 30 minutes drive to a and e", "nosebleed for 20 mins exam hall")
_STINTS = frozenset("shift stint".split())
#: Words before "a 12 hr shift" that make it how long a symptom went on ("bleeding on and off
#: for an 8 hr shift", "it lasted a 12 hour shift")
_LASTED = frozenset("for through throughout during lasted over all whole entire".split())
#: Punctuation that ends a clause, and so a trigger's scope.
_CLAUSE = frozenset({",", ";"})
#: Punctuation that ends a sentence.
_ENDS = frozenset({".", "!", "?"})
#: Activities whose own length a number right after them gives ("slept 5 hrs", "worked 12
#: hours"): not how long a symptom has lasted.
_ACTIVITIES = frozenset(
    "sleeping slept sleep sleeps working worked shift studying studied revising revised "
    "gaming gamed driving drove drive sitting sat".split()
)
#: Right after a decimal, words that say it was read off a thermometer ("38.4 on the temp")
_READ_OFF = ("on the thermometer", "on thermometer", "on the temp", "on the digital")
#: Concepts that say a symptom goes on ("wont slow down", "still pouring"): then a length
#: after a shift may be the symptom's
_ONGOING = frozenset({"persistent", "unstoppable", "worsening"})
#: After "after 12 hours", words that make it a shift's or a day's length, not a symptom's
_SHIFTS = (
    "on my feet",
    "at work",
    "on shift",
    "at my desk",
    "of work",
    "of standing",
    "of walking",
)
#: Between "for" and a length, words that hedge it ("for about 6 hours", "for a couple of hours")
_LENGTH_HEDGES = frozenset(
    "about around roughly nearly almost over under just a couple few of good".split()
)
#: After "with", people sat with or played with: then the length may be a fit's or a bleed's
_SAT_WITH = frozenset("him her them he she baby".split())
#: Pastimes whose length a "for 6 hours" after them tells ("been gaming for 6 hours"): not
#: sitting, standing, walking or driving, which people do while they wait with a symptom
#: ("been sitting beside him for 6 minutes and his arm keeps jerking")
_PASTIMES = frozenset(
    "playing played gaming gamed working worked studying studied revising revised typing "
    "training trained shift".split()
)
#: How far back from "for 6 hours" an activity is looked for ("been playing elden ring for 6
#: hours"), within its clause and before any symptom
_ACTIVITY_REACH = 5
#: Blood tests a result can be read for ("potassium was 2.4", "sodium 118"), as the measure
#: it becomes, and the values a result in mmol/L takes (potassium and calcium are written
#: with a decimal point; a whole number after them is more often a dose or a count).
_LAB_WORDS = {
    "potassium": "potassium_level",
    "sodium": "sodium_level",
    "calcium": "calcium_level",
    "magnesium": "magnesium_level",  # mmol/L only: a US mg/dL result ("magnesium 1.2 mg") is not read
    "b12": "b12_level",  # ng/L or pmol/L: the two read alike at the low end
    "lithium": "lithium_level",  # mmol/L: "lithium 800mg" is a dose (brands: content's spellings)
}
_LAB_RANGES = {
    "potassium_level": (1.0, 10.0),
    "sodium_level": (100.0, 180.0),
    "calcium_level": (0.5, 4.5),
    "magnesium_level": (0.1, 1.5),
    "b12_level": (20.0, 3000.0),
    "lithium_level": (0.1, 5.0),
}
#: "a" and "an", which read as one ("a day") but are not another result before this one.
_ARTICLES = frozenset({"a", "an"})
#: Words that say a number is the result of the test named a little earlier ("level"), and
#: the words that may come between that test's name and them ("lithium 400mg twice a day,
#: my level was 1.7"; not "lithium and my inr level").
_LEVEL_WORDS = frozenset({"level", "levels", "result", "results", "reading"})
_LEVEL_FILLER = frozenset(
    ", and my the his her their last latest recent blood twice once a day daily per".split()
)
#: Other tests whose name between a test's name and a number makes the number theirs.
_OTHER_TESTS = frozenset(
    {"ferritin", "iron", "folate", "folic", "vitamin", "vit", "d", "d3", "hba1c",
     "tsh", "thyroid", "crp", "haemoglobin", "hemoglobin", "hb", "egfr", "creatinine", "sugar",
     "glucose", "cholesterol", "phosphate", "zinc", "mma", "homocysteine", "inr", "psa", "ldl",
     "hdl", "urea", "albumin", "alt", "ast", "ck", "t3", "t4", "ft4", "triglycerides",
     "bilirubin", "cortisol", "platelets", "wbc", "pth", "uric", "urate", "chloride",
     "bicarbonate"}
)  # fmt: skip
#: Results given as whole numbers (the others need a decimal point: "potassium 3" is a dose).
_WHOLE_NUMBER_RESULTS = frozenset({"sodium_level", "b12_level"})
#: mg/dL of calcium in one mmol/L (US results: "calcium 7.2" is 1.8 mmol/L).
_CALCIUM_MG_PER_MMOL = 4.008
#: Words after a number that make it an amount of something, not a result.
_NOT_A_RESULT = frozenset(
    "tablet tablets pills pill capsules times a x grams gram gm gms mgs kg litre litres liter "
    "liters pints cups cup servings serving portions glasses percent per".split()
)
#: Words soon after a number that make it an intake ("1.2 grams a day", "2.5 bananas daily").
_INTAKE = frozenset({"day", "daily", "week", "weekly", "night"})
#: Words before a heart rate ("pulse is like 35", "heart rate 150").
_PULSE_WORDS = frozenset({"pulse", "rate", "heartrate"})  # not "hr": "1 hr 30 mins"
#: ...but not an oxygen reading ("pulse oximeter says 98").
_OXYGEN_WORDS = frozenset({"oximeter", "ox", "sats", "oxygen", "saturation", "o2"})
#: The names a dose is read for, as words, and the measure it becomes ("" for anything else
#: taken by the milligram, whose amounts are never a vitamin's).
_DOSE_NAMES: dict[tuple[str, ...], str] = {
    **{tuple(n.split()): "vitamin_d_iu" for n in ("vitamin d", "vit d", "vitamin d3", "vit d3",
                                                    "d3", "d2", "vitamin d2")},
    **{tuple(n.split()): "b6_mg" for n in ("b6", "vitamin b6", "vit b6", "pyridoxine", "p5p")},
    **{(n,): "" for n in ("magnesium", "mag", "calcium", "potassium", "b12", "zinc", "iron",
                          "folic", "folate", "omega", "biotin", "niacin", "thiamine",
                          "melatonin", "paracetamol", "ibuprofen", "caffeine", "multivitamin")},
}  # fmt: skip
#: The largest daily dose read as one (beyond it a unit was misread).
_MOST = {"vitamin_d_iu": 1_000_000.0, "b6_mg": 10_000.0}
#: Per unit, what one of it is in each measure (0: not a unit of that vitamin's dose).
_PER_UNIT = {
    "iu": {"vitamin_d_iu": 1.0, "b6_mg": 0.0},
    "units": {"vitamin_d_iu": 1.0, "b6_mg": 0.0},
    "mcg": {"vitamin_d_iu": 40.0, "b6_mg": 0.001},
    "ug": {"vitamin_d_iu": 40.0, "b6_mg": 0.001},
    "micrograms": {"vitamin_d_iu": 40.0, "b6_mg": 0.001},
    "mg": {"vitamin_d_iu": 40000.0, "b6_mg": 1.0},
    "milligrams": {"vitamin_d_iu": 40000.0, "b6_mg": 1.0},
    "g": {"vitamin_d_iu": 0.0, "b6_mg": 1000.0},
}
#: Days in the period a dose is said per ("50,000 iu a week").
_PER_DAYS = {"week": 7.0, "weekly": 7.0, "weeks": 7.0, "fortnight": 14.0, "fortnightly": 14.0,
             "month": 30.0, "monthly": 30.0, "months": 30.0}  # fmt: skip
#: Words before a body temperature ("temp of 38.6", "thermometer says 38").
_TEMPERATURE_WORDS = frozenset({"temperature", "temp", "temps", "thermometer", "fever"})
#: ...and words near one that make "38 degrees" the weather ("38 degrees outside", "it's 102
#: degrees", "38 degrees in the shade").
_WEATHER_WORDS = frozenset(
    {"outside", "out", "outdoors", "today", "here", "weather", "shade", "sun", "sunshine", "heat",
     "heatwave", "its", "forecast", "hot", "humid"}
)  # fmt: skip
#: Words before "N week old" that make it someone's baby ("my 6 week old").
_POSSESSIVES = frozenset({"my", "our", "his", "her", "their", "your"})
#: ...or the word after it ("a 10 day old baby"; not "2 day old chicken"), or right before it
#: between commas or brackets ("son (6 weeks)", `_apposed`).
_BABY_WORDS = frozenset(
    {"baby", "babies", "son", "daughter", "boy", "girl", "infant", "newborn", "twins", "grandson",
     "granddaughter", "grandbaby", "little", "lo", "nephew", "niece", "dd", "ds"}
)  # fmt: skip
#: Units in which a baby's age is told ("a 6 week old"); `_MINUTES` says how long each is.
_BABY_AGE = frozenset({"week", "weeks", "wk", "wks", "day", "days"})
#: Minutes in a year, to turn a baby's age into years.
_YEAR_MINUTES = 365.0 * 1440
#: Words after which a number is a time, a frequency or someone's age, not an amount or length.
_NOT_AN_AMOUNT = frozenset({"at", "every", "once", "per", "each", "im", "aged", "age", "is"})
#: After a number, words that make it a height, a weight or a share, not an age ("dad is 6 foot")
#: (a baby's days, weeks and months are read before this, by `_babys_age` and the months rule)
_NOT_AN_AGE_AFTER = frozenset(
    "foot feet ft inch inches cm stone st kg kgs kilo kilos lb lbs pounds percent times "
    "day days week weeks wk wks month months".split()
)
#: "son" or "daughter" right before "is" name a person, as `someone_else` does ("daughter is 6")
_CHILD_WORDS = frozenset({"son", "daughter"})
#: Pets people call "our boy" or "my girl": their age told beside them is no baby's age.
_PETS = frozenset(
    "puppy puppies pup kitten kittens dog dogs cat cats labrador spaniel cocker ragdoll "
    "terrier collie retriever foal rabbit hamster".split()
)
#: An adult's age with a sex, as people sign a message ("(58m)", "34F here", "im 29 f"):
#: never 58 minutes; read as "aged 58". Only 20 to 89 (a child's "(18m)" is months, "(99f)" a
#: temperature), and at a message's start never before a word of time ("25m now and still
#: bleeding", "40m of palpitations" are minutes)
_AGE_AND_SEX = re.compile(
    r"\(\s*([2-8]\d)\s*[mf]\s*\)"
    r"|^\s*([2-8]\d)\s*[mf]\b(?!\s*(?:now|of|ago|later|in|into|so|straight|since|left|still)\b)"
    r"|\bi\W?m\s+([2-8]\d)\s*[mf]\b(?!\s*(?:away|from|ago|of|in)\b)",
    re.IGNORECASE,
)
#: A baby's age between brackets, "(6 weeks)", read as between commas (tokens drop brackets).
_BRACKETED_AGE = re.compile(
    r"\(\s*(\d+)\s*(weeks?|wks?|days?|months?)\s*(?:old\s*)?\)", re.IGNORECASE
)
#: Just before a number, words that make it how often or how long, never an age told after
#: a person ("her jabs every 3 months", "she has had it for 2 months")
_HOW_OFTEN_OR_LONG = frozenset("every each per once for within after".split())
#: Words that hedge an age between the person and the number ("my son is just over 2 months")
_AGE_HEDGES = frozenset(
    "just a little bit over under nearly almost about around roughly barely only less than "
    "younger quite".split()
)
#: Hedges that put an age below the number ("just under 3 months" is under 3 months)
_BELOW = frozenset("under nearly almost less younger".split())
#: A day, in years: how far below its number a hedged-below age is read
_A_DAY = 1 / 365
#: After "is 3 years": a difference between two people, not an age ("3 years older than me")
_COMPARED = frozenset("older younger apart behind ahead".split())
#: After "is 4 days", "is 8 weeks": a time into, out of or away from something, not a baby's
#: age ("4 days into a cold", "8 weeks pregnant", "2 weeks post op", "3 weeks back from uni"),
#: or a difference between two people (`_COMPARED`: "3 months older than me")
_NOT_AGED = (
    frozenset(
        "ago into pregnant post postpartum after since out back overdue late early in on off "
        "away clean sober".split()
    )
    | _COMPARED
)
#: "34+2": weeks and days of a pregnancy, as midwives write it; "38wks." opening a sentence.
_GESTATION = re.compile(
    r"\b([1-4]\d)\s*\+\s*[0-6]\b"
    r"|(?:^|(?<=[.!?\n]))\s*(?:i'?m |i am |now |at )?([2-4]\d)\s*(?:wks?|weeks?)\b(?!\s*(?:ago|of|old))",
    re.IGNORECASE,
)
#: "d&v", "D+V", "d/v", "v&d" (also "d&vs", "d&v24hrs"): diarrhoea or vomiting, as written
#: with its sign; never "d and v", nor after a vitamin's name ("vit d & v low b12", "v" for
#: "very") or "=" ("t = d/v"). "Or", so that a denial holds ("no d&v, just cramps").
_D_AND_V = re.compile(
    r"(?<![a-z0-9])(?:d\s*[&+/]\s*v|v\s*[&+/]\s*d)(?:s|ing|'d)?(?![a-z])", re.IGNORECASE
)
_NOT_D_AND_V = re.compile(r"(?:vit|vitamin)[\s.\-]*$|=\s*$", re.IGNORECASE)


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
    #: words inside the finding that a phrase's gap ("..." or "..") skipped: they are not its words
    gaps: frozenset[int] = frozenset()

    @property
    def positions(self) -> frozenset[int]:
        """The token positions that are the finding's own words (a gap's words are not)."""
        return frozenset(range(self.start, self.end)) - self.gaps

    @property
    def current(self) -> bool:
        """True when the message says this is happening (not negated, past, asked about...)."""
        return not (self.context & NOT_CURRENT)

    @property
    def message_wide(self) -> bool:
        """True for findings that combine with findings in any sentence of the message."""
        return self.kind in MESSAGE_WIDE


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
    only: frozenset[str] = frozenset()
    never: frozenset[str] = frozenset()

    def reaches(self, concept: str) -> bool:
        """True when this trigger may modify a finding of ``concept``."""
        return (not self.only or concept in self.only) and concept not in self.never


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
        counted: Iterable[str] = (),
    ) -> None:
        """``extra``: more (phrase, concept id, kind) entries, such as red-flag phrases.

        ``spellings``: chat spellings read as the words they stand for ("u" -> "you").
        ``counted``: concepts next to which a number is a count ("took 20", "20 tablets").
        """
        self._counted = frozenset(counted)
        self._spellings = {
            tuple(tokens(k)): tuple(tokens(v))
            for k, v in (spellings or {}).items()
            if 1 <= len(tokens(k)) <= 2
        }
        self._bits: dict[str, str] = {}
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
            through = frozenset(
                s.strip() if s.strip() in _CLAUSE else said(s) for s in modifier.through
            )
            trigger = _Trigger(
                modifier.category,
                modifier.direction,
                modifier.scope,
                stops,
                through,
                frozenset(modifier.only),
                frozenset(modifier.never),
            )
            triggers += [(said(p), trigger) for p in modifier.phrases]
        self._triggers: PhraseMatcher[_Trigger | None] = PhraseMatcher(
            triggers + [(said(p), None) for p in context.pseudo], fuzzy=False
        )
        self._terminators = frozenset(said(s) for s in context.terminators)
        # every word or phrase that can end a scope, found once per message
        words = set(self._terminators)
        for _, t in triggers:
            words |= t.stops | t.through
        self._stoppers: PhraseMatcher[str] = PhraseMatcher([(p, p) for p in words], fuzzy=False)
        self._idioms: PhraseMatcher[bool] = PhraseMatcher(
            [(said(p), True) for p in context.idioms], fuzzy=False
        )

    def _said(self, phrase: str) -> str:
        """A content phrase with chat spellings applied, its "..." and ".." gaps kept."""
        return " ... ".join(
            " .. ".join(self._said_bit(bit) for bit in part.split(".."))
            for part in phrase.split("...")
        )

    def _said_bit(self, bit: str) -> str:
        """`_said` of the words between two gaps, read once: the household poisons' phrases
        share a few dozen ("swallow", "button battery") among thousands."""
        said = self._bits.get(bit)
        if said is None:
            said = self._bits[bit] = " ".join(_respell(tokens(bit), self._spellings))
        return said

    def read(self, text: str) -> Reading:
        """The findings of ``text``, each with its ConText reading."""
        text = _GESTATION.sub(_pregnant, text.replace("\n", " . "))
        text = _D_AND_V.sub(_diarrhoea_or_vomiting, text)
        text = _AGE_AND_SEX.sub(lambda m: f" , aged {next(g for g in m.groups() if g)} , ", text)
        toks = tokens(_BRACKETED_AGE.sub(r", \1 \2 ,", text))
        toks = _respell(_unglue(toks), self._spellings)
        sentence = _sentence_numbers(toks)
        unique = {(m.payload[0], m.start, m.end): m for m in _longest(self._concepts.find(toks))}
        found = [
            Finding(concept, m.payload[1], m.start, m.end, sentence[m.start], " ".join(toks[m.start : m.end]),
                    gaps=m.gaps)
            for (concept, _, _), m in unique.items()
        ]  # fmt: skip
        found += _measures(toks, sentence, found, self._counted)
        idioms = self._idioms.find(toks)
        found = [f for f in found if not any(i.start <= f.start and f.end <= i.end for i in idioms)]
        triggers = self._active_triggers(toks)
        stoppers = self._stoppers.find(toks)
        # commas and semicolons end a clause too (unless a modifier goes ``through`` them)
        stoppers += [Match(i, i + 1, ",") for i, t in enumerate(toks) if t in _CLAUSE]
        alone = _clauses_alone(toks, sentence, triggers)
        read = tuple(
            replace(f, context=self._categories(f, sentence, triggers, stoppers, alone))
            for f in sorted(found, key=lambda f: (f.start, f.end))
        )
        shown = tuple((t.payload.category, " ".join(toks[t.start : t.end])) for t in triggers)
        return Reading(tuple(toks), tuple(sentence), read, shown)

    def _active_triggers(self, toks: list[str]) -> list[Match[_Trigger]]:
        """Trigger matches that no pseudo-trigger covers, plus "in <a past year>"."""
        found = self._triggers.find(toks)
        pseudo = [m for m in found if m.payload is None]
        active = [
            Match(m.start, m.end, m.payload)
            for m in found
            if m.payload is not None
            and not any(p.start <= m.start < p.end and p.length > m.length for p in pseudo)
            and not any(p.start <= m.start and m.end <= p.end for p in pseudo)
        ]
        past = _Trigger("historical", "both", _YEAR_TRIGGER_SCOPE, frozenset())
        this_year = datetime.date.today().year
        for i in range(len(toks) - 1):
            if toks[i] == "in" and toks[i + 1].isdigit() and 1900 <= int(toks[i + 1]) < this_year:
                active.append(Match(i, i + 2, past))  # "in 2019"
            elif toks[i : i + 2] in (["when", "i"], ["when", "he"], ["when", "she"]) and (
                toks[i + 2 : i + 3] == ["was"] and _number(toks[i + 3] if i + 3 < len(toks) else "")
            ):
                active.append(Match(i, i + 4, past))  # "when I was 6"
        return active

    def _categories(
        self,
        finding: Finding,
        sentence: list[int],
        triggers: list[Match[_Trigger]],
        stoppers: list[Match[str]],
        alone: frozenset[int],
    ) -> frozenset[ContextCategory]:
        """The ConText categories of ``finding``. A past-time trigger that is a clause on its
        own (``alone``: "throat swelled shut after peanuts, epipen, as a kid.") reads back over
        commas to the clauses before it, within its scope; one with words of its own ("chest
        pain and sweating, heart attack 3 years ago") reads its own clause only."""
        out: set[ContextCategory] = set()
        for match in triggers:
            trigger = match.payload
            if not trigger.reaches(finding.concept):
                continue
            if match.start < finding.end and finding.start < match.end:
                # a trigger inside the finding is part of what was said ("can't move"), except
                # in a gap, whose words are no phrase's: "speech is not slurred"
                in_gap = set(range(match.start, match.end)) <= finding.gaps
                if in_gap and trigger.direction in ("forward", "both"):
                    out.add(trigger.category)
                continue
            if sentence[match.start] != sentence[finding.start]:
                continue
            through = trigger.through
            if trigger.category == "historical" and match.start in alone:
                through = through | {","}
            stops = ((self._terminators | {","}) - through) | trigger.stops
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


def _clauses_alone(
    toks: list[str], sentence: list[int], triggers: list[Match[_Trigger]]
) -> frozenset[int]:
    """Where a trigger is a whole clause: nothing else between the commas or sentence ends
    around it ("…, as a kid." but not "…, heart attack 3 years ago")."""

    def edge(i: int, at: int) -> bool:
        return not 0 <= i < len(toks) or toks[i] in _CLAUSE or toks[i] in _ENDS or sentence[i] != at

    return frozenset(
        m.start
        for m in triggers
        if edge(m.start - 1, sentence[m.start]) and edge(m.end, sentence[m.start])
    )


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


def _respell(toks: list[str], spellings: Mapping[tuple[str, ...], tuple[str, ...]]) -> list[str]:
    """Chat spellings as words ("u" -> "you"); a short one not right after a number, where
    it may be a unit ("10 kms"); a spelling of two words is read first ("could not" ->
    "cant")."""
    if not spellings:
        return toks
    out: list[str] = []
    i = 0
    while i < len(toks):
        pair = spellings.get(tuple(toks[i : i + 2])) if i + 1 < len(toks) else None
        if pair:
            out += pair
            i += 2
            continue
        said = spellings.get((toks[i],))
        # a short spelling right after a number may be a unit or an amount ("10 kms")
        unit_like = len(toks[i]) <= 3 and bool(i) and _number(toks[i - 1]) is not None
        out += list(said) if said and not unit_like else [toks[i]]
        i += 1
    return out


def _unglue(toks: list[str]) -> list[str]:
    """Split "20min" into "20", "min" and "3yo" into "3", "yo"."""
    out: list[str] = []
    for tok in toks:
        glued = GLUED_UNIT.match(tok)
        out += [glued[1], glued[2]] if glued else [tok]
    return out


def _number(tok: str) -> float | None:
    plain = tok.replace(",", "")
    if plain.replace(".", "", 1).isdigit():
        return float(plain)
    return float(_NUMBER_WORDS[tok]) if tok in _NUMBER_WORDS else None


def _measures(
    toks: list[str], sentence: list[int], concepts: list[Finding], counted: frozenset[str]
) -> list[Finding]:
    """Durations (in minutes), ages (in years), counts, heart rates and body temperatures
    (degrees Celsius) read from numbers.

    A number is a count only next to a finding of a ``counted`` concept ("took 20", "20 of
    her tablets"), someone's age only as "3 yr old", "2yo", "6 week old" or after a person ("my
    daughter is 3", "he's 2"), and a heart rate (``pulse``, beats a minute) only within three
    words after "pulse" or "heart rate", or before "bpm" ("my pulse is like 35").
    """
    people = {i for f in concepts if f.kind == "person" for i in range(f.start, f.end)}
    symptoms = {i for f in concepts if f.kind == "symptom" for i in range(f.start, f.end)}
    ongoing = {f.start for f in concepts if f.concept in _ONGOING}
    with_pets = {sentence[k] for k, tok in enumerate(toks) if tok in _PETS}
    near = [f for f in concepts if f.concept in counted]
    out = []
    for i, tok in enumerate(toks):
        dose = _supplement_dose(toks, i)
        if dose is not None:
            out.append(Finding(dose[0], "measure", i, i + 1, sentence[i], tok, dose[1]))
            continue
        value = _number(tok)
        if value is None:
            continue
        before = toks[i - 1] if i else ""
        blocked = before in _NOT_AN_AMOUNT
        unit = i + 2 if toks[i + 1 : i + 2] == ["of"] else i + 1  # "a couple of hours"
        after = toks[unit] if unit < len(toks) else ""
        following = toks[unit + 1] if unit + 1 < len(toks) else ""
        article = tok in _ARTICLES
        if article and before == "half":
            value = 0.5
        at, said = sentence[i], " ".join(toks[i : unit + 1])
        apposed = _apposed(toks, i, unit, pet_named=at in with_pets)
        # "daughter is 6": a son or daughter right before "is" names a person too
        # "my son is just over 2 months": the person and "is" come before the hedge
        h = _unhedged(toks, i)
        below = _A_DAY if _BELOW & {*toks[h:i]} else 0.0  # "just under 3 months"
        told_before = {before, toks[h - 1] if h else ""}  # "for about 2 months"
        person_before = not told_before & _HOW_OFTEN_OR_LONG and (
            bool(people.intersection(range(max(0, h - 4), h)))
            or (h >= 2 and toks[h - 1] == "is" and toks[h - 2] in _CHILD_WORDS)
            # "my lo is 7 wks": a baby word before "is", in a sentence naming no pet
            or (
                h >= 2
                and toks[h - 1] == "is"
                and toks[h - 2] in _BABY_WORDS
                and at not in with_pets
            )
        )
        since = following == "ago" and not _still(toks, sentence, unit + 2)  # a time, not a length
        # "a 10 hour shift", "a 12 hr shift" say nothing of symptoms; "my whole 12 hr shift,
        # still rock hard" does
        stint = (
            following in _STINTS
            and before in ("a", "an")
            and (i < 2 or toks[i - 2] not in _LASTED)
            and not _still_in(toks, sentence, i)
        )
        attributive = value > 1 and (after in _SINGULAR or stint)
        # "sleeping 5 hrs a night"; not "shaking while sleeping for 6 minutes"
        doing = before in _ACTIVITIES or _activitys_length(toks, sentence, i, symptoms)
        # "cramp after 12 hours on my feet": how long before it came, not how long it lasts
        doing = doing or (before == "after" and _after_a_shift(toks, sentence, i, unit, ongoing))
        window = toks[max(0, i - 3) : i]
        named = [k for k, t in enumerate(window) if t in _PULSE_WORDS]
        # the nearest word before the number is about the heart, not oxygen ("pulse ox 98")
        pulse_word = after == "bpm" or bool(
            named and not _OXYGEN_WORDS.intersection(window[named[-1] + 1 :])
        )
        lab = None if article else _lab_level(toks, i, value, after)
        counted_here = any(i < f.start <= i + 4 or i - 3 <= f.end <= i for f in near)
        temperature = (
            None
            if article or lab or pulse_word or counted_here
            else _body_temperature(toks, i, value, after)
        )
        if lab is not None:
            out.append(Finding(lab[0], "measure", i, i + 1, at, tok, lab[1]))
        elif temperature is not None:
            out.append(Finding("body_temp", "measure", i, i + 1, at, tok, temperature))
        elif not article and pulse_word and 20 <= value <= 250:  # a plausible heart rate
            end = unit + 1 if after == "bpm" else i + 1
            out.append(Finding("pulse", "measure", i, end, at, " ".join(toks[i:end]), value))
        elif (
            after in ("month", "months")
            and not article
            and (following == "old" or (person_before and following not in _NOT_AGED) or apposed)
        ):
            out.append(Finding("age", "measure", i, unit + 1, at, said, value / 12 - below))
        elif (
            after in _BABY_AGE
            and not article
            and (apposed or _babys_age(toks, i, unit, h, person_before))
        ):
            years = value * _MINUTES[after] / _YEAR_MINUTES - below
            out.append(Finding("age", "measure", i, unit + 1, at, said, years))
        elif after in _MINUTES and not (
            blocked or since or attributive or doing or (article and after == "m")
        ):
            out.append(
                Finding("duration", "measure", i, unit + 1, at, said, value * _MINUTES[after])
            )
        elif article:
            continue
        elif (
            after in ("yo", "y")
            or (after in _YEARS and following == "old")
            or (
                after not in _NOT_AN_AGE_AFTER
                and following not in _COMPARED
                and (
                    before in ("hes", "shes")
                    or (before in ("is", "aged", "age", "turned") and person_before)
                )
            )
        ):
            out.append(Finding("age", "measure", i, unit + 1, at, said, value))
        elif (
            not blocked
            and not 1900 <= value <= 2100
            and after not in _DOSE_UNITS
            and after not in _MINUTES
            and any(i < f.start <= i + 4 or i - 3 <= f.end <= i for f in near)
        ):
            out.append(Finding("count", "measure", i, i + 1, at, tok, value))
    return out  # fmt: skip


def _after_a_shift(
    toks: list[str], sentence: list[int], i: int, unit: int, ongoing: set[int]
) -> bool:
    """True for "after 12 hours on my feet" (`_SHIFTS`), with no "still" and nothing said to
    go on (``ongoing``: "wont slow down") in the sentence: how long a day went on; not "still
    shaking after 7 mins on his side", which is the fit's."""
    told = " ".join(toks[unit + 1 : unit + 4])
    going = any(sentence[k] == sentence[i] for k in ongoing)
    return (
        any(told.startswith(shift) for shift in _SHIFTS)
        and not going
        and not _still_in(toks, sentence, i)
    )


def _still_in(toks: list[str], sentence: list[int], i: int) -> bool:
    """Whether "still" is anywhere in the sentence of ``toks[i]`` ("been sitting with him for 7
    minutes and hes still shaking"); `_still` looks only after a time that is past."""
    return any(t == "still" and sentence[k] == sentence[i] for k, t in enumerate(toks))


def _activitys_length(toks: list[str], sentence: list[int], i: int, symptoms: set[int]) -> bool:
    """True when the number at ``toks[i]`` follows "for" (with hedges between: "for about 6
    hours", "for a couple of hours") and a pastime (`_PASTIMES`) comes at most
    `_ACTIVITY_REACH` words before "for" in its clause, in a sentence that names no symptom
    before it, with no "still" and no one sat with ("with him"): "been gaming for 6 hours and
    my thumb cramps" tells how long the game went on; "cramping for 20 minutes", "thumb
    cramping, been gaming for 20 mins" and "been playing with him for 6 minutes and hes
    shaking" may tell the symptom's, so they are read as that."""
    f = _unhedged(toks, i, _LENGTH_HEDGES, most=5)
    if f < 2 or toks[f - 1] != "for" or _still_in(toks, sentence, i):
        return False  # "playing with him for 7 minutes and hes still shaking"
    if "with" in toks[i + 1 : i + 5]:
        return False  # "been driving for 30 mins with a nosebleed that wont stop"
    active, clause = False, True
    for k in range(f - 2, -1, -1):
        if sentence[k] != sentence[i]:
            break
        beside = toks[k] == "with" and toks[k + 1 : k + 2] and toks[k + 1] in _SAT_WITH
        if k in symptoms or toks[k] == "while" or beside:  # "nose bleeding, been sitting ..."
            return False
        clause = clause and toks[k] not in (",", "and", "but")
        reach = (f - 1) - k - 1  # words between the pastime and "for"
        active = active or (clause and toks[k] in _PASTIMES and reach <= _ACTIVITY_REACH)
    return active


def _babys_age(toks: list[str], i: int, unit: int, h: int, person_before: bool) -> bool:
    """True when the number at ``toks[i]``, in weeks or days, is a baby's age: "my 6 week old",
    "a 10 day old baby", "my baby is about 6 weeks old", "my son is 6 weeks"; not "2 day old
    chicken" or "for 6 weeks"."""
    before = toks[i - 1] if i else ""
    following = toks[unit + 1] if unit + 1 < len(toks) else ""
    if following == "old":
        noun = toks[unit + 2] if unit + 2 < len(toks) else ""
        return before in _POSSESSIVES or noun in _BABY_WORDS or person_before
    told = toks[h - 1] if h else ""  # before its hedge (`_unhedged`: ``h``)
    return person_before and told in ("is", "hes", "shes", "aged") and following not in _NOT_AGED


def _unhedged(toks: list[str], i: int, hedges: frozenset[str] = _AGE_HEDGES, most: int = 4) -> int:
    """Where the words before the number at ``toks[i]`` stop hedging it (``hedges``, at most
    ``most``): "is just over 2 months" gives the place after "is"; "for a couple of hours"
    (`_LENGTH_HEDGES`), the place after "for"."""
    h = i
    while h > 0 and i - h < most and toks[h - 1] in hedges:
        h -= 1
    return h


def _apposed(toks: list[str], i: int, unit: int, pet_named: bool) -> bool:
    """True when the number at ``toks[i]``, in figures, with its unit at ``toks[unit]`` is set
    off by commas right after a child (`_BABY_WORDS`): "son (6 weeks) has a temp" (brackets
    arrive as commas, `_BRACKETED_AGE`), "daughter, 7 weeks, feels hot"; not "son 3 days
    vomiting", how long; not a boy or girl in a sentence naming a pet (``pet_named``)."""
    closed = unit + 1 >= len(toks) or toks[unit + 1] == "," or toks[unit + 1] in SENTENCE_END
    child = toks[i - 2] if i >= 2 and toks[i - 1] == "," else ""
    return (
        closed
        and toks[i].isdigit()
        and child in _BABY_WORDS
        and not (pet_named and child in ("boy", "girl"))
    )


def _supplement_dose(toks: list[str], i: int) -> tuple[str, float] | None:
    """A daily dose of vitamin D (in IU) or B6 (in mg): the amount at ``toks[i]`` with its
    unit ("50,000 iu", "200mg", "250 mcg") whose nearest name within four words is that
    vitamin's (not "magnesium 400 mg and vitamin d"), per day unless a week or a month is
    said just after it ("50,000 iu a week" is 7,143 a day)."""
    amount = _number(toks[i])  # "200mg" arrives as "200", "mg" (`_unglue`)
    unit = toks[i + 1] if i + 1 < len(toks) else ""
    rest = i + 2
    if amount is None or unit not in _PER_UNIT:
        return None
    nearest: tuple[int, str] | None = None
    for at in [*range(max(0, i - 4), i), *range(rest, min(len(toks), rest + 4))]:
        for name, measure in _DOSE_NAMES.items():
            if toks[at : at + len(name)] == list(name):
                distance = i - at - len(name) + 1 if at < i else at - rest + 1
                if nearest is None or distance < nearest[0]:
                    nearest = (distance, measure)
    if nearest is None or nearest[1] not in _MOST:
        return None  # no vitamin named, or another thing named nearer
    measure = nearest[1]
    daily = amount * _PER_UNIT[unit][measure] / _days_per_dose(toks[rest : rest + 5])
    return (measure, daily) if 0 < daily <= _MOST[measure] else None


def _days_per_dose(after: list[str]) -> float:
    """Days between doses said after an amount: "weekly" or "a week" 7, "every 2 weeks" 14,
    "twice a week" 3.5, "every 3 months" 90; 1 (daily) otherwise, "for a week" too."""
    for k, word in enumerate(after):
        if word not in _PER_DAYS:
            continue
        days = _PER_DAYS[word]
        if word in ("weekly", "monthly", "fortnightly"):
            return days
        lead = after[max(0, k - 2) : k]
        if "for" in lead:
            return 1.0  # how long, not how often ("for a week")
        count = _number(lead[-1]) if lead and lead[-1] not in ("a", "an") else None
        if lead[-1:] in (["a"], ["per"], ["every"], ["each"], ["an"]):
            return days / (2.0 if "twice" in lead else 1.0)
        if count is not None and "every" in lead:
            return days * count
    return 1.0


def _body_temperature(toks: list[str], i: int, value: float, after: str) -> float | None:
    """A body temperature in degrees Celsius: the number ``toks[i]`` soon after "temperature",
    "temp", "thermometer" or "fever" (within four words with a decimal point, two without:
    "a temp of 38.6", "thermometer says 38"), a decimal read off a thermometer (`_READ_OFF`:
    "38.4 on the thermometer"), or followed by "degrees", "c" or "f" and not the
    weather ("101 f" is 38.3; not "it's 38 degrees outside"); never an amount or a time."""
    if after in _MINUTES or after in _DOSE_UNITS or after in _NOT_A_RESULT:
        return None
    reach = 4 if "." in toks[i] else 2
    named = bool(_TEMPERATURE_WORDS.intersection(toks[max(0, i - reach) : i]))
    # "shes 38.4 on the thermometer": a decimal read off a thermometer, said right after it
    named = named or ("." in toks[i] and " ".join(toks[i + 1 : i + 4]).startswith(_READ_OFF))
    weather = _WEATHER_WORDS.intersection(toks[max(0, i - 3) : i + 5])
    if not named and (after not in ("degrees", "c", "f") or weather):
        return None
    if after == "f" or 93 <= value <= 110:
        value = (value - 32) * 5 / 9
    return value if 34 <= value <= 43 else None


def _lab_level(toks: list[str], i: int, value: float, after: str) -> tuple[str, float] | None:
    """A blood result: the number ``toks[i]`` within four words after a test's name
    ("potassium came back 3.3", "calcium really low, 1.8"), or within eight when a word
    such as "level" comes between ("lithium, my level came back 1.6"), as (measure, mmol/L)."""
    window = toks[max(0, i - 4) : i]
    named = [k for k, t in enumerate(window) if t in _LAB_WORDS]
    if not named:
        further = _through_level_word(toks, i)
        window, named = (further, [0]) if further else (window, [])
    if not named or after in _DOSE_UNITS or after in _NOT_A_RESULT or after in _MINUTES:
        return None  # an amount, or a length of time ("b12 for 30 days")
    if _INTAKE.intersection(toks[i + 1 : i + 4]):
        return None  # how much someone takes or eats, not a result
    between = window[named[-1] + 1 :]
    if any(
        _number(t) is not None and t not in _ARTICLES and not _a_dose(between, k)
        for k, t in enumerate(between)
    ):
        return None  # another number came first ("potassium 20 mmol, then 3.1")
    if _OTHER_TESTS.intersection(window[named[-1] + 1 :]):
        return None  # another test's result ("b12 fine, ferritin 45")
    measure = _LAB_WORDS[window[named[-1]]]
    if measure not in _WHOLE_NUMBER_RESULTS and "." not in toks[i]:
        return None
    if measure == "calcium_level" and 4.5 < value <= 16.0:
        value /= _CALCIUM_MG_PER_MMOL
    low, high = _LAB_RANGES[measure]
    return (measure, value) if low <= value <= high else None


def _a_dose(toks: list[str], k: int) -> bool:
    """Whether ``toks[k]`` is the number of a dose ("800 mg"): its unit follows it."""
    return _number(toks[k]) is not None and k + 1 < len(toks) and toks[k + 1] in _DOSE_UNITS


def _through_level_word(toks: list[str], i: int) -> list[str] | None:
    """The words from a test's name to the number ``toks[i]`` when a word such as "level"
    comes just before it and only `_LEVEL_FILLER` or doses lie between the name and that word
    ("lithium, my level came back 1.6"); None when there is no such name."""
    levels = [k for k in range(max(0, i - 4), i) if toks[k] in _LEVEL_WORDS]
    if not levels:
        return None
    for start in range(levels[-1] - 1, max(-1, levels[-1] - 9), -1):
        tok = toks[start]
        if tok in _LAB_WORDS:
            return toks[start:i]
        if not (tok in _LEVEL_FILLER or tok in _DOSE_UNITS or _a_dose(toks, start)):
            return None
    return None


def _diarrhoea_or_vomiting(match: re.Match[str]) -> str:
    before = match.string[max(0, match.start() - 12) : match.start()]
    return match[0] if _NOT_D_AND_V.search(before) else " diarrhoea or vomiting "


def _pregnant(match: re.Match[str]) -> str:
    return f" {match[1] or match[2]} weeks pregnant "


def _still(toks: list[str], sentence: list[int], start: int) -> bool:
    """ "20 mins ago and it's still locked": something that started then is still going on."""
    at = sentence[min(start, len(sentence)) - 1]
    return any(t == "still" for t, n in zip(toks[start:], sentence[start:], strict=True) if n == at)


def _sentence_numbers(toks: list[str]) -> list[int]:
    """For each token, which sentence it is in (sentences end at . ! ? and line breaks)."""
    numbers, current = [], 0
    for tok in toks:
        numbers.append(current)
        if tok in SENTENCE_END:
            current += 1
    return numbers
