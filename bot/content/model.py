"""The typed, immutable content model: every YAML file in `content/` validates against it."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from bot.events import Urgency

Id = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,40}$")]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Phrases = Annotated[tuple[Text, ...], Field(min_length=1)]

#: What a menu choice may do instead of moving to another node.
Action = Literal["triage", "nutrients", "foods", "redflags", "about", "help", "faq", "causes"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


class Fact(_Model):
    """A statement for readers, with where it comes from."""

    text: Text
    source: Text


class Food(_Model):
    """A food source with the amount of a nutrient in one serving."""

    food: Text
    serving: Text
    amount: Text
    source: Text


class Topic(_Model):
    """A kind of nutrient fact (symptoms, intake...) and the words that ask for it."""

    id: Id
    label: Text
    heading: Text
    keywords: tuple[Text, ...] = ()


class Nutrient(_Model):
    """Everything the bot can say about one nutrient."""

    id: Id
    name: Text
    aliases: Phrases
    summary: Fact
    why: Fact
    facts: dict[Id, Fact]
    foods: Annotated[tuple[Food, ...], Field(min_length=1)]
    food_tip: Fact | None = None


class Diet(_Model):
    """Food tips for a way of eating (vegan, dairy-free...) or for sunlight."""

    id: Id
    name: Text
    aliases: Phrases
    tips: Annotated[tuple[Fact, ...], Field(min_length=1)]
    nutrients: tuple[Id, ...] = ()


class Cause(_Model):
    """A non-nutrient cause of twitching or cramps (caffeine, stress...)."""

    id: Id
    name: Text
    aliases: Phrases
    why: Fact
    facts: Annotated[tuple[Fact, ...], Field(min_length=1)]


class FaqEntry(_Model):
    """A common question, the ways people phrase it, and its answer."""

    id: Id
    questions: Phrases
    answer: Text
    source: Text
    related: tuple[Id, ...] = ()
    urgency: Urgency | None = None


class RedFlag(_Model):
    """A dangerous symptom: phrasings that raise it and how urgently to get care."""

    id: Id
    name: Text
    urgency: Literal[Urgency.EMERGENCY, Urgency.URGENT]
    phrases: tuple[Text, ...] = ()
    concepts: tuple[Annotated[tuple[Phrases, ...], Field(min_length=2)], ...] = ()
    also: tuple[Text, ...] = ()
    text: Text
    source: Text


class Safety(_Model):
    """Red flags plus the words that negate a symptom or break a clause."""

    negations: Phrases
    pseudo_negations: tuple[Text, ...] = ()
    clause_breaks: tuple[Text, ...] = ()
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

    messages: dict[Id, Text] = Field(default_factory=dict)
    commands: tuple[Command, ...] = ()
    intents: dict[Id, tuple[Text, ...]] = Field(default_factory=dict)
    topics: tuple[Topic, ...] = ()
    nutrients: tuple[Nutrient, ...] = ()
    diets: tuple[Diet, ...] = ()
    causes: tuple[Cause, ...] = ()
    faq: tuple[FaqEntry, ...] = ()
    safety: Safety | None = None
    flows: tuple[Flow, ...] = ()


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
