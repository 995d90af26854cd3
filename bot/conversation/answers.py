"""What each answer looks like: nutrient cards, food lists, diets, causes, FAQ, reports, menus.

`Answers` turns content into `Reply` objects and holds no conversation state: the dialogue
decides *which* answer a turn gets, this module decides *how it reads*. Every text comes from
the content bundle; only the layout (bold headings, bullets, buttons) is decided here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace

from bot import markup
from bot.content.loader import Bundle
from bot.content.model import Node, StageNote
from bot.events import Button, Reply, Urgency
from bot.language.retrieval import Decision
from bot.language.safety import RedFlagHit

#: At most this many life-stage notes follow one answer (`Answers.stage_notes`).
STAGE_NOTES = 2
#: How many contributors a triage report lists.
REPORT_TOP = 3
#: How many common questions one page of the list shows (a phone screen of buttons).
FAQ_PAGE = 8
#: A nutrient weighing at least this much in a triage suggests asking for a blood test.
BLOOD_TEST_SCORE = 3
#: Answers kept under this prefix are contributors mentioned in passing ("I work out a lot").
NOTED = "noted:"
#: How much a contributor mentioned in passing weighs in the report.
NOTED_WEIGHT = 2
#: Answers kept under this prefix are red flags raised by what the person typed during the
#: check: the report's "how soon" is never less urgent than they were.
RAISED = "raised:"


@dataclass(frozen=True)
class Profile:
    """What a symptom check's answers say about the person, for the report."""

    scores: Counter[str]
    urgency: Urgency
    symptom: str | None
    avoids: frozenset[str]
    taking: frozenset[str]
    noted: list[str]


class Answers:
    """Builds every reply the bot gives from one content bundle."""

    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle

    # ------------------------------------------------------------------ menus and questions

    def menu_node(self) -> Node:
        """The first question of the menu flow (its choices are the menu)."""
        flow = self.bundle.flows["menu"]
        return self.bundle.nodes[(flow.id, flow.start)]

    def menu_prompt(self) -> str:
        """The menu's question text."""
        return self.menu_node().ask or ""

    def menu_buttons(self) -> tuple[Button, ...]:
        """The main menu as buttons."""
        node = self.menu_node()
        return tuple(Button(f"menu.{node.id}.{c.id}", c.label) for c in node.choices)

    def menu_button(self) -> tuple[Button, ...]:
        """A single button back to the menu."""
        return (Button("menu", self.bundle.message("menu_label")),)

    def menu_label(self, action: str) -> str:
        """The menu's label for ``action`` (e.g. "Symptom check" for triage)."""
        node = self.menu_node()
        return next((c.label for c in node.choices if c.action == action), action.title())

    def menu(self, text: str) -> Reply:
        """``text`` with the main menu under it."""
        return Reply(text, self.menu_buttons())

    def question(self, flow: str | None, node: Node, prefix: str | None = None) -> Reply:
        """A flow's question with one button per choice, optionally after ``prefix``; in a
        flow of several questions, where it stands ("Question 4 of 11") and a Back button."""
        text = node.ask or ""
        buttons = [Button(f"{flow}.{node.id}.{c.id}", c.label) for c in node.choices]
        position, total = self.position(flow, node.id)
        if total > 1:
            text = self.bundle.message("progress", n=str(position), total=str(total)) + "\n" + text
            if position > 1:
                buttons.append(Button("back", self.bundle.message("back_label")))
        if prefix:
            text = f"{prefix}\n\n{text}"
        return Reply(text, tuple(buttons), flow=flow, node=node.id)

    def position(self, flow: str | None, node_id: str) -> tuple[int, int]:
        """Which question of its flow ``node_id`` is, from 1, and how many questions it has."""
        found = self.bundle.flows.get(flow or "")
        asked = [n.id for n in found.nodes if n.ask is not None] if found else []
        return (asked.index(node_id) + 1 if node_id in asked else 0), len(asked)

    def with_menu_button(self, key: str) -> Reply:
        """A message from content with a button back to the menu."""
        return Reply(self.bundle.message(key), self.menu_button())

    def about(self, session_days: float, question_days: float) -> Reply:
        """What the bot is, and what this deployment keeps and for how long."""
        msg = self.bundle.message

        def days(n: float) -> str:
            return msg("one_day") if n == 1 else msg("days", n=f"{n:g}")

        questions = (
            msg("about_questions", days=days(question_days))
            if question_days > 0
            else msg("about_no_questions")
        )
        text = msg("about", session_days=days(session_days), questions=questions)
        return Reply(text, self.menu_button())

    def help(self) -> Reply:
        """The help text with the main menu."""
        return Reply(self.bundle.message("help"), self.menu_buttons())

    def unknown_command(self, name: str) -> Reply:
        """What an unknown ``/name`` gets: say so, then the help."""
        msg = self.bundle.message
        text = msg("unknown_command", command=markup.escape("/" + name)) + "\n\n" + msg("help")
        return Reply(text, self.menu_buttons())

    def triage_offer(self) -> Reply:
        """An offer to start the symptom check, for someone describing symptoms."""
        msg = self.bundle.message
        return Reply(
            msg("triage_offer"),
            (
                Button("cmd:triage", msg("triage_start_label")),
                Button("cmd:causes", self.menu_label("causes")),
                Button("menu", msg("menu_label")),
            ),
        )

    def forget_confirm(self) -> Reply:
        """Ask before deleting everything stored about a user."""
        msg = self.bundle.message
        return Reply(
            msg("forget_confirm"),
            (Button("forget:yes", msg("forget_yes")), Button("forget:no", msg("forget_no"))),
        )

    def private_only(self, flow: str) -> Reply:
        """A personal check was asked for in a group: offer a private conversation."""
        msg = self.bundle.message
        return Reply(msg("private_only"), (Button(f"private:{flow}", msg("private_label")),))

    # ------------------------------------------------------------------ lists

    def nutrient_list(self) -> Reply:
        """Every nutrient as a button."""
        b = self.bundle
        buttons = tuple(Button(f"n:{n.id}", n.name) for n in b.nutrients.values())
        return Reply(b.message("nutrients_intro"), buttons)

    def cause_list(self) -> Reply:
        """Every non-nutrient cause as a button."""
        b = self.bundle
        buttons = tuple(Button(f"c:{c.id}", c.name) for c in b.causes.values())
        return Reply(b.message("causes_intro"), buttons)

    def faq_list(self, page: int = 1) -> Reply:
        """One page of the common questions, a button each, with a button to the next page."""
        b = self.bundle
        entries = list(b.faq.values())
        pages = max(1, -(-len(entries) // FAQ_PAGE))
        page = min(max(page, 1), pages)
        shown = entries[(page - 1) * FAQ_PAGE : page * FAQ_PAGE]
        buttons = [Button(f"q:{e.id}", e.title) for e in shown]
        if page > 1:
            buttons.append(Button(f"faqpage:{page - 1}", b.message("faq_previous")))
        if page < pages:
            buttons.append(Button(f"faqpage:{page + 1}", b.message("faq_more")))
        buttons.append(Button("menu", b.message("menu_label")))
        text = b.message("faq_intro")
        if pages > 1:
            text += "\n" + b.message("faq_page", page=str(page), pages=str(pages))
        return Reply(text, tuple(buttons))

    # ------------------------------------------------------------------ knowledge

    def sourced(self, text: str, sources: list[str]) -> str:
        """A knowledge text followed by where it comes from."""
        # each source once, in order, though several facts may share one
        parts = dict.fromkeys(p.strip() for s in sources for p in s.split(";") if p.strip())
        return f"{text}\n\n{self.bundle.message('source_line', sources='; '.join(parts))}"

    def faq(self, faq_id: str) -> Reply:
        """An FAQ answer with its source and buttons to what it relates to."""
        entry = self.bundle.faq[faq_id]
        buttons = [self._related_button(r) for r in entry.related]
        buttons.append(Button("menu", self.bundle.message("menu_label")))
        return Reply(
            self.sourced(entry.answer, [entry.source]), tuple(buttons), urgency=entry.urgency
        )

    def card(self, card_id: str) -> Reply:
        """An answer card with its source and buttons to what it relates to."""
        card = self.bundle.cards[card_id]
        buttons = [self._related_button(r) for r in card.related]
        buttons.append(Button("menu", self.bundle.message("menu_label")))
        return Reply(self.sourced(card.answer, [card.source]), tuple(buttons), urgency=card.urgency)

    def render(self, ref: str, avoids: frozenset[str] = frozenset()) -> Reply | None:
        """The answer a retrieval reference names (``card:ID``, ``faq:ID``,
        ``nutrient:ID:TOPIC``, ``foods:ID``, ``cause:ID``, ``diet:ID``), or None if stale;
        a food list leaves out the food groups in ``avoids``."""
        b = self.bundle
        kind, _, rest = ref.partition(":")
        if kind == "card" and rest in b.cards:
            return self.card(rest)
        if kind == "faq" and rest in b.faq:
            return self.faq(rest)
        if kind == "nutrient":
            nid, _, topic = rest.partition(":")
            if nid in b.nutrients and (not topic or topic in b.nutrients[nid].facts):
                return self.nutrient(nid, topic or None)
        if kind == "foods" and rest in b.nutrients:
            return self.foods(rest, avoids=avoids)
        if kind == "cause" and rest in b.causes:
            return self.cause(rest)
        if kind == "diet" and rest in b.diets:
            return self.diet(rest)
        return None

    def answer(
        self, ref: str, notes: list[StageNote], avoids: frozenset[str] = frozenset()
    ) -> Reply | None:
        """The answer ``ref`` names, followed by the life-stage ``notes`` (`notes_for`), or
        None if stale; a food list leaves out the food groups in ``avoids``."""
        reply = self.render(ref, avoids)
        if reply is None or not notes:
            return reply
        return replace(reply, text="\n\n".join([reply.text, *self._said(notes)]))

    def notes_for(self, decision: Decision, answered: bool) -> list[StageNote]:
        """What is different for a life stage the question names (said now: `Decision.said_now`):
        after its top answer (``answered``), on what that answer is about; before the choices
        of a "Did you mean", on what else the question names ("is magnesium ok while
        breastfeeding": the breastfeeding note on magnesium)."""
        named = list(decision.said_now)
        if answered:
            return self.stage_notes(decision.ranked[0].candidate.about, named)
        return self.stage_notes(frozenset(e for e in named if not self._is_stage(e)), named)

    def stage_notes(self, about: frozenset[str], named: list[str]) -> list[StageNote]:
        """The notes on what ``about`` (an answer's entities) and the question both name (or
        else the answer's one nutrient), each for the first life stage the question names that
        the answer leaves out and has a note on it, at most `STAGE_NOTES`: "can my 15 year old
        take magnesium" gets the teenage figures after the magnesium answer."""
        b = self.bundle
        stages = [e for e in named if e not in about and self._is_stage(e)]
        if not stages:
            return []
        targets = [e for e in named if e in about]
        if not targets:
            targets = [e for e in about if e in b.nutrients]
            if len(targets) != 1:
                return []
        notes: list[StageNote] = []
        for target in targets:
            note = next((n for s in stages if (n := b.stage_notes.get((s, target)))), None)
            if note is not None and note not in notes:
                notes.append(note)
        return notes[:STAGE_NOTES]

    def _is_stage(self, eid: str) -> bool:
        entity = self.bundle.entities.get(eid)
        return entity is not None and entity.kind == "life_stage"

    def _said(self, notes: list[StageNote]) -> list[str]:
        return [self.sourced(n.note, [n.source]) for n in notes]

    def did_you_mean(
        self, choices: list[tuple[str, str]], notes: list[StageNote] | None = None
    ) -> Reply:
        """ "Did you mean" with a button for each (reference, title); after the life-stage
        ``notes`` (`notes_for`), if any."""
        buttons = [Button(f"k:{ref}"[:64], title) for ref, title in choices]
        buttons.append(Button("menu", self.bundle.message("menu_label")))
        if not notes:
            return Reply(self.bundle.message("did_you_mean"), tuple(buttons))
        text = "\n\n".join([*self._said(notes), self.bundle.message("did_you_mean_more")])
        return Reply(text, tuple(buttons))

    def dont_know(self, medicine: bool) -> Reply:
        """An honest "I don't know", pointing to a pharmacist for a medicine question."""
        text = self.bundle.message("dont_know")
        if medicine:
            text += "\n\n" + self.bundle.message("ask_pharmacist")
        return Reply(text, self.menu_buttons())

    def _related_button(self, ref: str) -> Button:
        b = self.bundle
        if ref in b.nutrients:
            return Button(f"n:{ref}", b.nutrients[ref].name)
        if ref in b.causes:
            return Button(f"c:{ref}", b.causes[ref].name)
        return Button(f"d:{ref}", b.diets[ref].name)

    def nutrient(self, nid: str, topic: str | None) -> Reply:
        """A nutrient's summary, or one topic of it, with buttons to its other topics and foods."""
        b = self.bundle
        n = b.nutrients[nid]
        # every topic, the current one too: the buttons keep their numbers from screen to screen
        topic_buttons = [Button(f"n:{nid}:{t}", b.topics[t].label) for t in n.facts]
        foods = Button(f"f:{nid}", b.message("foods_label", name=_mid(n.name)))
        if topic is not None and topic in n.facts:
            fact = n.facts[topic]
            text = self.sourced(
                f"**{n.name}: {b.topics[topic].heading}**\n\n{fact.text}", [fact.source]
            )
        else:
            text = self.sourced(f"**{n.name}**\n\n{n.summary.text}", [n.summary.source])
        return Reply(text, (*topic_buttons, foods, *self.menu_button()))

    def nutrient_unknown(self, name: str) -> Reply:
        """No nutrient goes by ``name``: say so and list the ones there are."""
        b = self.bundle
        return Reply(
            b.message("nutrient_unknown", name=markup.escape(_shorten(name, 40))),
            tuple(Button(f"n:{n.id}", n.name) for n in b.nutrients.values()),
        )

    def foods(
        self, nid: str | None, unknown: str | None = None, avoids: frozenset[str] = frozenset()
    ) -> Reply:
        """A nutrient's food sources with amounts, without the food groups in ``avoids``
        (unless that leaves none); without a nutrient, a choice of nutrients and diets."""
        b = self.bundle
        if nid is None:
            text = b.message("foods_intro")
            if unknown is not None:
                text = b.message("foods_unknown", name=markup.escape(_shorten(unknown, 40)))
            buttons = [Button(f"f:{n.id}", n.name) for n in b.nutrients.values()]
            buttons += [Button(f"d:{d.id}", d.name) for d in b.diets.values()]
            return Reply(text, tuple(buttons))
        n = b.nutrients[nid]
        kept = [f for f in n.foods if not avoids.intersection(f.contains)] or list(n.foods)
        lines = [b.message("foods_heading", name=_mid(n.name))]
        left_out = sorted({g for f in n.foods if f not in kept for g in avoids & set(f.contains)})
        if left_out:
            groups = ", ".join(b.message(f"food_group_{g}") for g in left_out)
            lines[0] += b.message("foods_without", groups=groups)
        lines += [f"• {f.food}, {f.serving}: {f.amount}" for f in kept]
        text = "\n".join(lines)
        sources = sorted({f.source for f in kept})
        if n.food_tip is not None:
            text += f"\n\n{n.food_tip.text}"
            sources = sorted({*sources, n.food_tip.source})
        return Reply(
            self.sourced(text, sources),
            (Button(f"n:{nid}", n.name), Button("cmd:foods", self.menu_label("foods"))),
        )

    def diet(self, did: str) -> Reply:
        """Tips for a diet, with buttons to the food lists of the nutrients it concerns."""
        b = self.bundle
        d = b.diets[did]
        lines = [f"**{d.name}**"] + [f"• {t.text}" for t in d.tips]
        sources = sorted({t.source for t in d.tips})
        buttons = tuple(
            Button(f"f:{nid}", b.message("foods_label", name=b.nutrients[nid].name))
            for nid in d.nutrients
        )
        return Reply(self.sourced("\n".join(lines), sources), buttons)

    def cause(self, cid: str) -> Reply:
        """What a non-nutrient cause (stress, caffeine, medicines...) has to do with symptoms."""
        b = self.bundle
        c = b.causes[cid]
        lines = [f"**{c.name}**"] + [f"• {f.text}" for f in c.facts]
        sources = sorted({f.source for f in c.facts})
        buttons = (
            Button("cmd:triage", b.message("triage_start_label")),
            Button("cmd:causes", self.menu_label("causes")),
            *self.menu_button(),
        )
        return Reply(self.sourced("\n".join(lines), sources), buttons)

    # ------------------------------------------------------------------ outcomes and safety

    def outcome(self, flow: str | None, node: Node, answers: Mapping[str, str]) -> Reply:
        """A flow's ending; for a report, the contributors, food tips and urgency from ``answers``.

        The report fits the answers: texts told for the symptom named, food tips only from
        food groups the person eats, and a nutrient they take as a supplement never among the
        foods that help (the report says to review the supplement instead).
        """
        assert node.outcome is not None
        if not node.outcome.report:
            return Reply(node.outcome.text, self.menu_button(), flow=flow, node=node.id)
        b = self.bundle
        msg = b.message
        profile = self.profile(flow, answers)
        scores, urgency = profile.scores, profile.urgency
        order = {k: i for i, k in enumerate([*b.nutrients, *b.causes])}
        top = sorted((k for k, v in scores.items() if v > 0), key=lambda k: (-scores[k], order[k]))
        top = top[:REPORT_TOP]
        # what the person told us in passing was promised a place in the report
        top += [k for k in profile.noted if k not in top and scores[k] > 0]
        parts = [msg("report_intro")]
        buttons: list[Button] = []
        if top:
            lines = [msg("report_contributors")]
            for key in top:
                item = b.nutrients.get(key) or b.causes[key]
                why = item.why_for.get(profile.symptom or "", item.why)
                lines.append(f"• **{item.name}**: {why.text}")
                kind = "n" if key in b.nutrients else "c"
                buttons.append(Button(f"{kind}:{key}", item.name))
            parts.append("\n".join(lines))
        else:
            parts.append(msg("report_none"))
        nutrients = [b.nutrients[k] for k in top if k in b.nutrients]
        foods = [msg("report_foods")]
        for n in nutrients:
            if n.id in profile.taking:
                continue
            fitting = [f.food for f in n.foods if not set(f.contains) & profile.avoids][:3]
            if fitting:
                foods.append(f"• {n.name}: " + "; ".join(fitting))
        if len(foods) > 1:
            parts.append("\n".join(foods))
        taken = [_mid(b.nutrients[k].name) for k in b.nutrients if k in profile.taking]
        if taken:
            parts.append(msg("report_supplements", names=_join(taken, "or")))
        # a blood test fits when a nutrient stands out or the symptoms deserve a doctor anyway
        testable = [
            n
            for n in nutrients
            if scores[n.id] >= BLOOD_TEST_SCORE or urgency is not Urgency.SELF_CARE
        ]
        if testable:
            parts.append(msg("report_blood_test", names=_join([n.name for n in testable])))
        parts.append(msg(f"urgency_{urgency.value}"))
        parts.append(node.outcome.text)
        parts.append(msg("report_footer"))
        buttons.append(Button("cmd:triage", self.menu_label("triage")))
        buttons.append(Button("menu", msg("menu_label")))
        return Reply("\n\n".join(parts), tuple(buttons), urgency=urgency, flow=flow, node=node.id)

    def profile(self, flow: str | None, answers: Mapping[str, str]) -> Profile:
        """What a flow's ``answers`` say: weights, urgency, symptom, diet and supplements.

        Contributors the person mentioned in passing (``NOTED`` answers) weigh too.
        """
        b = self.bundle
        scores: Counter[str] = Counter()
        urgency = Urgency.SELF_CARE
        symptom: str | None = None
        avoids: set[str] = set()
        taking: set[str] = set()
        cleared: set[str] = set()
        specific: set[str] = set()  # added by a question about the contributor itself
        noted: list[str] = []
        flags = {f.id: f for f in b.safety.red_flags}
        for node_id, choice_id in answers.items():
            if node_id.startswith(RAISED):
                flag = flags.get(node_id.removeprefix(RAISED))
                if flag is not None and Urgency(flag.urgency).rank < urgency.rank:
                    urgency = Urgency(flag.urgency)
                continue
            if node_id.startswith(NOTED):
                key = node_id.removeprefix(NOTED)
                if key in b.nutrients or key in b.causes:
                    scores[key] += NOTED_WEIGHT
                    noted.append(key)
                continue
            answered = b.nodes.get((flow or "", node_id))
            choice = (
                next((c for c in answered.choices if c.id == choice_id), None) if answered else None
            )
            if choice is None:
                continue
            scores.update(choice.adds)
            cleared.update(choice.clears)
            if answered is not None:  # a question that can rule a contributor out asks about it
                asks_about = {key for c in answered.choices for key in c.clears}
                specific.update(key for key in choice.adds if key in asks_about)
            symptom = symptom or choice.symptom
            avoids.update(choice.avoids)
            taking.update(choice.taking)
            levels = [choice.urgency] if choice.urgency else []
            if choice.red_flag in flags:
                levels.append(Urgency(flags[choice.red_flag].urgency))
            for level in levels:
                if level.rank < urgency.rank:
                    urgency = level
        # an answer that rules a contributor out ("no alcohol", "sleep fine") clears the
        # weight the general questions gave it, unless another specific answer adds it back
        for key in cleared - specific:
            scores.pop(key, None)
        return Profile(scores, urgency, symptom, frozenset(avoids), frozenset(taking), noted)

    def escalation(
        self, hits: list[RedFlagHit], *, resume: bool, someone_else: bool = False
    ) -> Reply:
        """Send someone to care: the escalation text of the most urgent hit and every red flag.

        ``someone_else``: the message is about another person, so the helper is addressed too.
        """
        top = hits[0].urgency
        escalation = self.bundle.safety.escalation
        # the situation's own text where it has one (a poison line, crisis lines first)
        text = hits[0].flag.escalation or escalation.get(top) or escalation[Urgency.EMERGENCY]
        if someone_else and top is Urgency.EMERGENCY:
            text += "\n\n" + self.bundle.message("escalation_other")
        details = "\n".join(f"• {h.flag.text}" for h in hits)
        buttons = [Button("cmd:redflags", self.menu_label("redflags"))]
        if resume:
            buttons.append(Button("resume", self.bundle.message("resume_label")))
        return Reply(f"{text}\n\n{details}", tuple(buttons), urgency=top)

    def clarify(self, flag_id: str) -> Reply:
        """The recall net's one question in the grey zone: is this happening now, suddenly?"""
        msg = self.bundle.message
        return Reply(
            msg("clarify_question"),
            (
                Button(f"safety:yes:{flag_id}", msg("clarify_yes")),
                Button("safety:no", msg("clarify_no")),
            ),
        )


def _mid(name: str) -> str:
    """A name as it reads inside a sentence: "vitamin B12", "magnesium"."""
    return name[:1].lower() + name[1:]


def _join(names: list[str], word: str = "and") -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + f" {word} " + names[-1]


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _question_label(text: str) -> str:
    text = _shorten(text, 70)
    return text[:1].upper() + text[1:] + ("" if text.endswith(("?", "…")) else "?")
