"""The typed, immutable content model: every YAML file in `content/` validates against it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from bot.events import Urgency

Id = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,40}$")]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
#: A lone number, or a leftover of one split at its comma ("000 iu").
_NUMBER_ONLY = re.compile(r"^[\d\s.,]+$|^0\d\d")


def _not_a_bare_number(phrase: str) -> str:
    if _NUMBER_ONLY.search(phrase):
        raise ValueError(
            f"{phrase!r} is a bare number and would match that number in any message; "
            'a name with a comma in a [list] is split there, so quote it: "20,000 iu"'
        )
    return phrase


#: Words people write, as matched in messages: never a bare number.
Phrase = Annotated[Text, AfterValidator(_not_a_bare_number)]
Phrases = Annotated[tuple[Phrase, ...], Field(min_length=1)]

#: What a menu choice may do instead of moving to another node.
Action = Literal["triage", "nutrients", "foods", "redflags", "about", "help", "faq", "causes"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


class Fact(_Model):
    """A statement for readers, with where it comes from."""

    text: Text
    source: Text


#: Kinds of food some people do not eat: a diet answer rules them out of food tips.
FoodGroup = Literal["meat", "fish", "dairy", "egg"]


class Food(_Model):
    """A food source with the amount of a nutrient in one serving, and the food groups it
    belongs to (so a vegan is never told to eat liver)."""

    food: Text
    serving: Text
    amount: Text
    source: Text
    contains: tuple[FoodGroup, ...] = ()


class Topic(_Model):
    """A kind of nutrient fact (symptoms, intake...) and the words that ask for it."""

    id: Id
    label: Text
    heading: Text
    keywords: tuple[Phrase, ...] = ()


class Nutrient(_Model):
    """Everything the bot can say about one nutrient."""

    id: Id
    name: Text
    aliases: Phrases
    summary: Fact
    why: Fact
    #: ``why`` told for one symptom (a flow choice's ``symptom``), when it reads differently
    why_for: dict[Id, Fact] = Field(default_factory=dict)
    facts: dict[Id, Fact]
    foods: Annotated[tuple[Food, ...], Field(min_length=1)]
    food_tip: Fact | None = None


class Diet(_Model):
    """Food tips for a way of eating (vegan, dairy-free...) or for sunlight."""

    id: Id
    name: Text
    aliases: Phrases
    tips: Annotated[tuple[Fact, ...], Field(min_length=1)]
    #: the nutrients its tips concern: buttons to their food lists, and a question naming the
    #: diet and one of them gets the tips ("vegan sources of b12"); naming only others, it gets
    #: the nutrient's answer ("high in b6? im vegetarian"). Without any, the tips answer only
    #: a question that names no nutrient.
    nutrients: tuple[Id, ...] = ()


class Cause(_Model):
    """A non-nutrient cause of twitching or cramps (caffeine, stress...)."""

    id: Id
    name: Text
    aliases: Phrases
    why: Fact
    #: ``why`` told for one symptom (a flow choice's ``symptom``), when it reads differently
    why_for: dict[Id, Fact] = Field(default_factory=dict)
    facts: Annotated[tuple[Fact, ...], Field(min_length=1)]


class FaqEntry(_Model):
    """A common question, the ways people phrase it, and its answer."""

    id: Id
    #: the entry's button label in the list of common questions, as a reader would write it
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
    questions: Phrases
    answer: Text
    source: Text
    related: tuple[Id, ...] = ()
    urgency: Urgency | None = None


#: What a vocabulary entity names.
EntityKind = Literal["medicine", "condition", "life_stage", "form", "food", "test", "topic"]


#: Someone's age in years.
Age = Annotated[float, Field(ge=0, le=130)]


class Entity(_Model):
    """A thing questions name (a medicine class, a condition, a supplement form...) and the
    words people use for it: brand and generic names, lay words."""

    id: Id
    kind: EntityKind
    names: Phrases
    #: for a life stage, the ages in years it covers (from, to): a question that tells
    #: someone's age ("my 9 yo", "im 75", "my mum is 80") names it
    ages: tuple[Age, Age] | None = None
    #: whether a card that is not about it answers a question naming it worse (default: every
    #: kind but a food): "too much" makes the question, "my pharmacist said" does not
    #: (nutrients, which are not entities, always are)
    decisive: bool | None = None
    #: what a question naming this rules out: a card about the opposite (and not about this)
    #: is not an answer to it ("result_low" for "result_high": a card about a falsely high
    #: potassium does not answer "my potassium was 3.3")
    opposite: Id | None = None
    #: for a food, the food group it belongs to: a question that says it is avoided ("i hate
    #: fish", "allergic to dairy") gets food lists without that group
    group: FoodGroup | None = None

    @property
    def is_decisive(self) -> bool:
        """Whether a question naming this wants a card about it (`decisive`, or by kind)."""
        return self.decisive if self.decisive is not None else self.kind != "food"

    @model_validator(mode="after")
    def _group_of_a_food(self) -> Entity:
        if self.group is not None and self.kind != "food":
            raise ValueError("group: only a food belongs to a food group")
        return self

    @model_validator(mode="after")
    def _ages_of_a_life_stage(self) -> Entity:
        if self.ages is not None:
            if self.kind != "life_stage":
                raise ValueError("ages: only a life stage has ages")
            if self.ages[0] > self.ages[1]:
                raise ValueError("ages: give them as [from, to], from the younger")
        return self


class Card(_Model):
    """An answer card: one answerable thing, what it is about, and how people ask it."""

    id: Id
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
    about: tuple[Id, ...] = ()
    asks: Annotated[tuple[Text, ...], Field(min_length=2)]
    answer: Text
    source: Text
    related: tuple[Id, ...] = ()
    urgency: Urgency | None = None
    #: about supplements in general (storing them, choosing a brand): a nutrient the question
    #: names never counts against it
    any_nutrient: bool = False


#: The entities a told blood result names, below or above its usual range (`ResultRange`).
RESULT_LOW, RESULT_HIGH = "result_low", "result_high"


class ResultRange(_Model):
    """The usual range of a nutrient's blood result, so that a result someone tells ("my
    potassium was 3.3") reads as low or high (the ``result_low`` and ``result_high`` entities
    of the vocabulary) and finds the answers about such a result."""

    nutrient: Id
    low: float
    high: float
    #: the unit the range is in, as its first word ("mmol" for mmol/L)
    unit: Id
    #: other units a result may be given in, each with what it is multiplied by to be in
    #: ``unit`` ("ng" for a vitamin D result in ng/mL: 2.5)
    also: dict[Id, Annotated[float, Field(gt=0)]] = Field(default_factory=dict)
    #: vocabulary entities whose words may stand between the name and the result ("vitamin d
    #: level ... 38 nmol/l"); any other name there makes the number another test's
    tests: tuple[Id, ...] = ()
    #: words right before the name that make it another test ("active b12", "ionised calcium")
    other_tests: tuple[Id, ...] = ()
    #: whether a result is written with a decimal point (potassium 3.3; a whole number after
    #: "potassium" is more often a dose)
    decimal: bool = False
    #: whether a result is read only with its unit (vitamin D "38" is low in nmol/L and
    #: normal in ng/mL)
    needs_unit: bool = False
    #: the highest number read as a result in ``unit`` (above it, it is in another unit:
    #: calcium "9.5" is mg/dL)
    most: float
    source: Text

    @model_validator(mode="after")
    def _low_below_high(self) -> ResultRange:
        if not 0 < self.low < self.high < self.most:
            raise ValueError("a result range needs 0 < low < high < most")
        return self


class StageNote(_Model):
    """What is different for one life stage about some nutrients (or other entities): said
    after an answer about one of them that is not about the stage, when the question names
    the stage ("how much calcium does my 15 year old need": the teenage figures)."""

    stage: Id
    about: Annotated[tuple[Id, ...], Field(min_length=1)]
    note: Text
    source: Text


#: How a rule's term reads: concepts joined by "|", optionally "N of " first, or a measure.
_TERM = re.compile(
    r"^(?P<unless>!)?(?:(?P<n>[2-9]) of )?(?P<any>[a-z0-9_]+(?:\|[a-z0-9_]+)*)$"
    r"|^(?P<unless_measure>!)?(?P<measure>duration|count|age|pulse|body_temp|vitamin_d_iu|b6_mg|potassium_level|sodium_level|calcium_level|magnesium_level|b12_level|lithium_level)(?P<op><=|>=|<|>)(?P<value>\d+(?:\.\d+)?)(?P<unit>min|h|d|w)?"
    r"(?:(?P<op2><=|<)(?P<value2>\d+(?:\.\d+)?)(?P<unit2>min|h|d|w)?)?$"
)
#: Minutes in a unit of a duration term.
DURATION_UNITS = {"min": 1.0, "h": 60.0, "d": 1440.0, "w": 10080.0}
#: ``sensation``: how a place is said to feel ("my lips feel fizzy"), read with its context
#: like any finding; it lets the triage model's urgent head read a feeling the reader does not
#: know as a symptom (`bot.language.safety`).
ConceptKind = Literal[
    "symptom", "site", "side", "onset", "severity", "context", "person", "sensation"
]
ContextCategory = Literal[
    "negated", "historical", "hypothetical", "reported", "figurative", "uncertain"
]


class Concept(_Model):
    """A clinical idea the safety check can find in text, with the words people use for it.

    ``kind`` decides how far it reaches: a ``context`` (a medicine, a wound, surgery, a
    pregnancy, something swallowed) or a ``person`` counts anywhere in the message; the other
    kinds combine in a rule only within one sentence.
    """

    id: Id
    kind: ConceptKind
    phrases: Phrases


class Modifier(_Model):
    """ConText trigger words that change how a finding near them is read.

    ``forward`` triggers modify what follows them, ``backward`` ones what precedes them,
    within ``scope`` words, stopping at a terminator or the end of the sentence. ``stop_at``
    adds terminators for this modifier; ``through`` lists terminators it may pass ("had a
    stroke, but has recovered"; "," for commas). ``only``: the concepts it may modify (empty:
    all), so that "lol" can make "paralysed" figurative but never a suicidal statement;
    ``never``: concepts it leaves alone, so that "he keeps telling me" reports an opinion but
    not a wish to die.
    """

    category: ContextCategory
    direction: Literal["forward", "backward", "both"]
    scope: Annotated[int, Field(ge=1, le=20)] = 5
    phrases: Phrases
    stop_at: tuple[Text, ...] = ()
    through: tuple[Text, ...] = ()
    only: tuple[Id, ...] = ()
    never: tuple[Id, ...] = ()


class ContextRules(_Model):
    """Everything that decides whether a finding is current: modifiers, pseudo-triggers, stops."""

    modifiers: Annotated[tuple[Modifier, ...], Field(min_length=1)]
    pseudo: tuple[Text, ...] = ()
    terminators: tuple[Text, ...] = ()
    idioms: tuple[Text, ...] = ()


@dataclass(frozen=True)
class Term:
    """One part of a rule: ``count`` different concepts among ``concepts``, or a measure.

    A measure term compares a measure's value with ``value`` (and, for a range, ``value2``);
    durations are in minutes.
    """

    concepts: tuple[str, ...] = ()
    count: int = 1
    measure: str | None = None
    op: str | None = None
    value: float = 0.0
    op2: str | None = None
    value2: float = 0.0
    unless: bool = False

    def __str__(self) -> str:
        if self.measure:
            upper = f"{self.op2}{self.value2:g}" if self.op2 else ""
            unless = "!" if self.unless else ""
            return f"{unless}{self.measure}{self.op}{self.value:g}{upper}"
        head = ("!" if self.unless else "") + (f"{self.count} of " if self.count > 1 else "")
        return head + "|".join(self.concepts)


def parse_rule(rule: str) -> tuple[Term, ...]:
    """``"weakness|numbness + one_side"`` -> its terms; raises ValueError on bad syntax."""
    terms = []
    for part in rule.split("+"):
        found = _TERM.match(part.strip())
        if not found:
            raise ValueError(
                f"cannot read '{part.strip()}' in rule '{rule}': write concept ids joined by "
                "'|', optionally '2 of ' first, '!' for 'unless', or a measure such as "
                "duration>=10min, count>=5, age<12 ('!' before a measure too: !body_temp<37.5)"
            )
        if found["measure"]:
            measure = found["measure"]
            if measure != "duration" and (found["unit"] or found["unit2"]):
                raise ValueError(f"only durations have units, in rule '{rule}'")
            scale = DURATION_UNITS[found["unit"] or "min"] if measure == "duration" else 1.0
            scale2 = DURATION_UNITS[found["unit2"] or "min"] if measure == "duration" else 1.0
            terms.append(
                Term(
                    measure=measure,
                    op=found["op"],
                    value=float(found["value"]) * scale,
                    op2=found["op2"],
                    value2=float(found["value2"] or 0) * scale2,
                    unless=bool(found["unless_measure"]),
                )
            )
        else:
            concepts = tuple(found["any"].split("|"))
            count = int(found["n"] or 1)
            if count > len(set(concepts)):
                raise ValueError(f"'{part.strip()}' asks for more concepts than it names")
            if found["unless"] and count > 1:
                raise ValueError(f"'{part.strip()}': '!' takes concepts, not a count")
            terms.append(Term(concepts=concepts, count=count, unless=bool(found["unless"])))
    if all(t.unless for t in terms):
        raise ValueError(f"rule '{rule}' needs at least one term without '!'")
    return tuple(terms)


def _readable(rule: str) -> str:
    """A rule as written, once `parse_rule` has read it (a ValueError becomes a problem)."""
    parse_rule(rule)
    return rule


Rule = Annotated[str, AfterValidator(_readable)]


#: The concept id under which a red flag's own ``phrases`` are found.
PHRASE_CONCEPT = "flag_{}"


class RedFlag(_Model):
    """A dangerous situation: the rules that recognise it and how urgently to get care.

    It is raised by any rule in ``when`` (each a combination of current findings), or by any
    of its ``phrases`` (a shorthand for a rule of one finding). ``escalation`` replaces the
    general escalation text where the situation needs its own (a poison line, crisis lines).
    """

    id: Id
    name: Text
    urgency: Literal[Urgency.EMERGENCY, Urgency.URGENT]
    phrases: tuple[Text, ...] = ()
    when: tuple[Rule, ...] = ()
    text: Text
    source: Text
    escalation: Text | None = None
    examples: tuple[Text, ...] = ()


class Net(_Model):
    """Cosine scores for the recall net: raise the flag at ``escalate``, ask from ``ask`` up."""

    escalate: Annotated[float, Field(gt=0, le=1)]
    ask: Annotated[float, Field(gt=0, le=1)]


class TriageModelSettings(_Model):
    """The triage model: its weights file (JSON, under the content folder), the red flags it
    raises, the probabilities at which it raises them, and the fewest words it reads."""

    file: Text
    emergency: Annotated[float, Field(gt=0, lt=1)]
    min_words: Annotated[int, Field(ge=1)] = 1
    emergency_flag: Id
    #: the urgent head's probability from which it raises ``urgent_flag`` (both or neither)
    urgent: Annotated[float, Field(gt=0, lt=1)] | None = None
    urgent_flag: Id | None = None

    @model_validator(mode="after")
    def _urgent_both_or_neither(self) -> TriageModelSettings:
        if (self.urgent is None) != (self.urgent_flag is None):
            raise ValueError("model: give both urgent and urgent_flag, or neither")
        return self


class TriageWeights(BaseModel):
    """A trained triage model as stored in content: for every word or word pair, its inverse
    document frequency and one weight per head; a bias per head; the words it never reads;
    what it was trained on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    about: str = ""
    heads: tuple[Literal["emergency", "urgent"], Literal["emergency", "urgent"]]
    bias: tuple[float, float]
    trained_on: dict[str, str] = Field(default_factory=dict)
    ignored: tuple[str, ...] = ()
    terms: Annotated[dict[str, tuple[float, float, float]], Field(min_length=1)]


class QuestionModel(BaseModel):
    """What answer retrieval learnt from questions already read (``models/questions.json``):
    the question bank (each question and the answers that held what it needed) and the
    logistic model that turns the top candidate's signals into the chance it is right."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    about: str = ""
    trained_on: dict[str, str] = Field(default_factory=dict)
    #: (question, references of the answers that answered it)
    bank: tuple[tuple[str, tuple[str, ...]], ...] = ()
    features: tuple[str, ...]
    weights: tuple[Annotated[float, Field(ge=-1000, le=1000)], ...]
    bias: Annotated[float, Field(ge=-1000, le=1000)]
    #: the top candidate is answered when its chance of being right is at least this
    answer: Annotated[float, Field(gt=0, lt=1)]

    @model_validator(mode="after")
    def _one_weight_per_feature(self) -> QuestionModel:
        if len(self.weights) != len(self.features):
            raise ValueError("one weight per feature")
        return self


class Safety(_Model):
    """Red flags, the concepts their rules combine, and the ConText rules for reading them."""

    context: ContextRules
    spellings: dict[str, Text] = Field(default_factory=dict)
    counted: tuple[Id, ...] = ()
    net: Net | None = None
    model: TriageModelSettings | None = None
    concepts: tuple[Concept, ...] = ()
    never_fuzzy: tuple[Text, ...] = ()
    escalation: dict[Urgency, Text]
    red_flags: Annotated[tuple[RedFlag, ...], Field(min_length=1)]


class Choice(_Model):
    """One answer to a question: a button, the words that pick it, and where it leads."""

    id: Id
    label: Text
    says: tuple[Text, ...] = ()
    next: Id | None = None
    action: Action | None = None
    adds: dict[Id, int] = Field(default_factory=dict)
    urgency: Urgency | None = None
    red_flag: Id | None = None
    #: the symptom this answer names (the report's texts fit it)
    symptom: Id | None = None
    #: food groups this answer rules out of the report's food tips (a vegan: meat, fish...)
    avoids: tuple[FoodGroup, ...] = ()
    #: nutrients this answer says the person takes as supplements: never "foods that help"
    taking: tuple[Id, ...] = ()
    #: a typed age that picks this answer: [lowest, highest] in years
    ages: tuple[int, int] | None = None
    #: contributors this answer rules out ("no alcohol"): the weight the general questions
    #: gave them is dropped, unless another answer about them adds it again
    clears: tuple[Id, ...] = ()


class Outcome(_Model):
    """The end of a flow: a closing text and, for triage, the composed report."""

    text: Text
    report: bool = False


class Node(_Model):
    """A step of a flow: a question with choices, or an outcome."""

    id: Id
    ask: Text | None = None
    choices: tuple[Choice, ...] = ()
    outcome: Outcome | None = None
    #: words that show a remark made earlier in the flow is about this question
    #: ("coffee" for the caffeine question), so it is kept as this question's answer
    about: tuple[Text, ...] = ()


class Flow(_Model):
    """A conversation flow such as the menu or the symptom triage."""

    id: Id
    title: Text
    start: Id
    nodes: Annotated[tuple[Node, ...], Field(min_length=1)]


class Command(_Model):
    """A command the platforms list in their menus, with its short description."""

    name: Id
    description: Text


class ContentFile(_Model):
    """One YAML file of content: any of the sections, merged across files into a bundle."""

    #: the content format the folder is written for (see the loader's CONTENT_FORMAT)
    format: int | None = Field(default=None, ge=1)
    messages: dict[Id, Text] = Field(default_factory=dict)
    commands: tuple[Command, ...] = ()
    intents: dict[Id, tuple[Phrase, ...]] = Field(default_factory=dict)
    #: How people ask about a nutrient ("overview", "foods") or a diet ("diet"), with
    #: ``{name}``: the example questions of the answers that have none of their own.
    ask_templates: dict[Id, tuple[Text, ...]] = Field(default_factory=dict)
    topics: tuple[Topic, ...] = ()
    nutrients: tuple[Nutrient, ...] = ()
    diets: tuple[Diet, ...] = ()
    causes: tuple[Cause, ...] = ()
    faq: tuple[FaqEntry, ...] = ()
    entities: tuple[Entity, ...] = ()
    cards: tuple[Card, ...] = ()
    stage_notes: tuple[StageNote, ...] = ()
    result_ranges: tuple[ResultRange, ...] = ()
    safety: Safety | None = None
    flows: tuple[Flow, ...] = ()
    #: Common words that answering reads as written, never as a typo of another word
    #: ("starting" is not "statin"); written by tools/real_words.py. Not used by safety.
    real_words: tuple[Text, ...] = ()


class Expect(_Model):
    """What a transcript step expects of the replies to one user turn."""

    contains: tuple[str, ...] = ()
    not_contains: tuple[str, ...] = ()
    urgency: Urgency | Literal["any"] | None = "any"
    flow: str | Literal["any"] | None = "any"
    node: str | Literal["any"] | None = "any"
    buttons: tuple[str, ...] = ()


class Step(_Model):
    """One user turn in a transcript test: text or a button id, and what must come back."""

    user: str | None = None
    button: str | None = None
    expect: Expect = Field(default_factory=Expect)


class Transcript(_Model):
    """A named conversation that the content must answer as expected."""

    name: Text
    steps: Annotated[tuple[Step, ...], Field(min_length=1)]
