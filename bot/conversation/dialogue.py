"""The conversation rules: from a session and one user turn to the bot's replies.

`Dialogue` is synchronous and does no I/O, so every rule can be tested directly; the
`Engine` adds per-user locking and the session store around it.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field

from bot import markup
from bot.content.loader import Bundle
from bot.content.model import Choice, Flow, Node
from bot.events import Button, Incoming, Reply, Urgency
from bot.language.safety import RedFlagHit, RedFlagScanner
from bot.language.understand import Intent, Understanding
from bot.storage.journal import scrub
from bot.storage.store import Session

#: Longest message read for answering; longer ones are cut and the user is told.
MAX_TEXT = 2000
#: Longest message scanned for red flags (so an emergency late in a long message is not missed).
MAX_SCAN = 20_000
#: How many contributors a triage report lists.
REPORT_TOP = 3
#: A nutrient weighing at least this much in a triage suggests asking for a blood test.
BLOOD_TEST_SCORE = 3

_COMMAND = re.compile(r"^/([A-Za-z0-9_]+)(?:@\S+)?\s*(.*)$", re.DOTALL)
_ACTIONS = ("triage", "nutrients", "foods", "redflags", "about", "help", "faq", "causes")


@dataclass
class Turn:
    """The result of one user turn: replies, and whether to delete the user's data."""

    replies: list[Reply] = field(default_factory=list)
    forget: bool = False
    public: bool = False
    events: list[tuple[str, str]] = field(default_factory=list)


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


class Dialogue:
    """Conversation rules over one content bundle."""

    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle
        self.scanner = RedFlagScanner(bundle.safety)
        self.understanding = Understanding(bundle)

    # ------------------------------------------------------------------ entry point

    def respond(self, session: Session, incoming: Incoming) -> Turn:
        """Answer one turn, updating ``session`` in place."""
        turn = Turn(public=incoming.public)
        moved = self._reconcile(session)
        if moved and not self._overrides_update_notice(incoming):
            node = self._current_node(session)
            notice = self.bundle.message("content_updated")
            turn.replies.append(
                self._question(session, node, notice) if node else self._menu_reply(notice)
            )
        elif incoming.attachment is not None and incoming.text is None and incoming.button is None:
            turn.replies.append(self._menu_reply(self.bundle.message("non_text")))
        elif incoming.button is not None:
            self._button(session, incoming.button.strip(), turn)
        else:
            self._text(session, incoming.text or "", turn)
        session.content_version = self.bundle.version
        node = self._current_node(session)
        session.node_sig = _signature(node) if node is not None else None
        if not turn.replies:  # every turn gets an answer
            turn.replies.append(self._menu_reply(self.bundle.message("fallback")))
        return turn

    def _overrides_update_notice(self, incoming: Incoming) -> bool:
        """Commands and red flags are handled even right after a content update."""
        text = (incoming.text or "").strip()
        return text.startswith("/") or bool(text and self.scanner.scan(text[:MAX_SCAN]))

    def _reconcile(self, session: Session) -> bool:
        """Fit the session to the live content; True if the user's place had to move."""
        if session.pending not in (None, "forget"):
            session.pending = None
        if session.flow is None:
            session.answers.clear()
            return False
        if session.content_version == self.bundle.version:
            return False
        nodes = self.bundle.nodes
        flow = session.flow
        for node_id, choice_id in list(session.answers.items()):
            node = nodes.get((flow, node_id))
            if node is None or all(c.id != choice_id for c in node.choices):
                del session.answers[node_id]
        current = nodes.get((flow, session.node or ""))
        if current is not None and current.ask is not None:
            # unchanged question: carry on; same question with other choices: ask it again
            return session.node_sig not in (None, _signature(current))
        if flow not in self.bundle.flows:
            self._leave_flow(session)
            return True
        session.node = self._nearest(flow, session.answers)
        return True

    def _nearest(self, flow: str, answers: dict[str, str]) -> str:
        """Where to resume: after the last answer that still leads somewhere, else the start."""
        nodes = self.bundle.nodes
        for node_id, choice_id in reversed(answers.items()):
            choice = next(c for c in nodes[(flow, node_id)].choices if c.id == choice_id)
            following = nodes.get((flow, choice.next or ""))
            if following is not None and following.ask is not None:
                return following.id
        return self.bundle.flows[flow].start

    # ------------------------------------------------------------------ free text

    def _text(self, session: Session, raw: str, turn: Turn) -> None:
        text = clean_text(raw[:MAX_SCAN])
        if not text:
            turn.replies.append(self._menu_reply(self.bundle.message("empty")))
            return
        hits = self.scanner.scan(text)
        if hits:
            self._escalate(session, hits, turn)
            return
        if len(text) > MAX_TEXT:
            turn.replies.append(Reply(self.bundle.message("too_long", limit=f"{MAX_TEXT:,}")))
            text = text[:MAX_TEXT]
        command = _COMMAND.match(text)
        if command:
            self._command(session, command.group(1).lower(), command.group(2).strip(), turn)
            return
        if session.pending == "forget":
            if self.understanding.has_intent(text, "yes"):
                self._forget_answer(session, True, turn)
                return
            session.pending = None
            if self.understanding.has_intent(text, "no"):
                self._forget_answer(session, False, turn)
                return
        node = self._current_node(session)
        if node is not None and session.flow is not None:
            choice = self.understanding.choice(session.flow, node, text)
            if choice is not None:
                self._choose(session, node, choice, turn)
                return
        intent = self.understanding.route(text)
        turn.events.append(("intent", intent.kind))
        if intent.kind == "fallback":
            turn.events.append(("fallback", scrub(text)))
        if node is not None and intent.kind in ("fallback", "triage_offer", "greet", "menu"):
            turn.replies.append(
                self._question(session, node, prefix=self.bundle.message("pick_option"))
            )
            return
        self._route(session, intent, turn)
        if node is not None and session.node == node.id:
            turn.replies.append(
                self._question(session, node, prefix=self.bundle.message("resume_prompt"))
            )

    def _route(self, session: Session, intent: Intent, turn: Turn) -> None:
        kind = intent.kind
        if kind == "faq" and intent.target:
            turn.replies.append(self._faq(intent.target))
        elif kind == "nutrient" and intent.target:
            turn.replies.append(self._nutrient(intent.target, intent.topic))
        elif kind == "foods":
            turn.replies.append(self._foods(intent.target))
        elif kind == "diet" and intent.target:
            turn.replies.append(self._diet(intent.target))
        elif kind == "cause" and intent.target:
            turn.replies.append(self._cause(intent.target))
        elif kind == "triage_offer":
            turn.replies.append(
                Reply(
                    self.bundle.message("triage_offer"),
                    (
                        Button("cmd:triage", self.bundle.message("triage_start_label")),
                        Button("cmd:causes", self._menu_label("causes")),
                        Button("menu", self.bundle.message("menu_label")),
                    ),
                )
            )
        elif kind in ("greet", "menu"):
            turn.replies.append(self._menu_reply(self.bundle.message("greet")))
        elif kind == "thanks":
            turn.replies.append(Reply(self.bundle.message("thanks"), self._menu_button()))
        elif kind in _ACTIONS:
            self._action(session, kind, turn)
        elif session.flow is None:
            turn.replies.append(self._menu_reply(self.bundle.message("fallback")))
        else:
            turn.replies.append(Reply(self.bundle.message("fallback")))

    # ------------------------------------------------------------------ commands and actions

    def _command(self, session: Session, name: str, arg: str, turn: Turn) -> None:
        msg = self.bundle.message
        if name == "start":
            self._leave_flow(session)
            session.pending = None
            turn.replies.append(Reply(f"{msg('welcome')}\n\n{msg('disclaimer')}"))
            if arg in _ACTIONS:  # a deep link such as /start triage
                self._action(session, arg, turn)
            else:
                turn.replies.append(self._menu_reply(self._menu_node().ask or ""))
        elif name == "menu":
            turn.replies.append(self._menu_reply(self._menu_node().ask or ""))
        elif name == "nutrient":
            if not arg:
                self._action(session, "nutrients", turn)
            else:
                turn.replies.append(self._nutrient_by_name(arg))
        elif name == "foods" and arg:
            named = self.understanding.entities(arg)
            for nutrient in named.get("nutrient", [])[:1]:
                turn.replies.append(self._foods(nutrient))
            for diet in named.get("diet", [])[:1]:
                turn.replies.append(self._diet(diet))
            if not turn.replies:
                turn.replies.append(self._foods(None, unknown=arg))
        elif name == "reset":
            had = session.flow is not None or session.pending is not None
            self._leave_flow(session)
            session.pending = None
            turn.replies.append(self._menu_reply(msg("reset_done" if had else "nothing_to_reset")))
        elif name == "forget":
            session.pending = "forget"
            turn.replies.append(
                Reply(
                    msg("forget_confirm"),
                    (
                        Button("forget:yes", msg("forget_yes")),
                        Button("forget:no", msg("forget_no")),
                    ),
                )
            )
        elif name in _ACTIONS:
            self._action(session, name, turn)
        else:
            turn.replies.append(
                Reply(
                    msg("unknown_command", command=markup.escape("/" + name))
                    + "\n\n"
                    + msg("help"),
                    self._menu_buttons(),
                )
            )

    def _action(self, session: Session, action: str, turn: Turn) -> None:
        msg = self.bundle.message
        b = self.bundle
        if action == "triage":
            self._start_flow(session, "triage", turn)
        elif action == "nutrients":
            turn.replies.append(
                Reply(
                    msg("nutrients_intro"),
                    tuple(Button(f"n:{n.id}", n.name) for n in b.nutrients.values()),
                )
            )
        elif action == "foods":
            turn.replies.append(self._foods(None))
        elif action == "causes":
            turn.replies.append(
                Reply(
                    msg("causes_intro"),
                    tuple(Button(f"c:{c.id}", c.name) for c in b.causes.values()),
                )
            )
        elif action == "faq":
            buttons = tuple(
                Button(f"q:{e.id}", _question_label(e.questions[0])) for e in b.faq.values()
            )
            turn.replies.append(Reply(msg("faq_intro"), buttons))
        elif action == "redflags":
            turn.replies.append(Reply(msg("redflags_intro"), self._menu_button()))
        elif action == "about":
            turn.replies.append(Reply(msg("about"), self._menu_button()))
        elif action == "help":
            turn.replies.append(Reply(msg("help"), self._menu_buttons()))

    # ------------------------------------------------------------------ buttons

    def _button(self, session: Session, button: str, turn: Turn) -> None:
        b = self.bundle
        kind, _, rest = button.partition(":")
        if button == "menu":
            turn.replies.append(self._menu_reply(self._menu_node().ask or ""))
        elif button == "resume":
            node = self._current_node(session)
            if node is None:
                turn.replies.append(self._menu_reply(b.message("nothing_to_reset")))
            else:
                turn.replies.append(self._question(session, node))
        elif kind == "cmd" and rest in _ACTIONS:
            self._action(session, rest, turn)
        elif kind == "n" and rest.split(":")[0] in b.nutrients:
            nid, _, topic = rest.partition(":")
            if topic and topic not in b.topics:
                self._stale(session, turn)
            else:
                turn.replies.append(self._nutrient(nid, topic or None))
        elif kind == "f" and rest in b.nutrients:
            turn.replies.append(self._foods(rest))
        elif kind == "d" and rest in b.diets:
            turn.replies.append(self._diet(rest))
        elif kind == "c" and rest in b.causes:
            turn.replies.append(self._cause(rest))
        elif kind == "q" and rest in b.faq:
            turn.replies.append(self._faq(rest))
        elif kind == "forget" and rest in ("yes", "no") and session.pending == "forget":
            self._forget_answer(session, rest == "yes", turn)
        elif button.count(".") == 2:
            self._flow_button(session, button, turn)
        else:
            self._stale(session, turn)

    def _flow_button(self, session: Session, button: str, turn: Turn) -> None:
        flow_id, node_id, choice_id = button.split(".")
        node = self.bundle.nodes.get((flow_id, node_id))
        choice = next((c for c in node.choices if c.id == choice_id), None) if node else None
        if node is None or choice is None:
            self._stale(session, turn)
        elif choice.action is not None:  # menu choices work from any message, any time
            self._action(session, choice.action, turn)
        elif session.flow == flow_id and session.node == node_id:
            self._choose(session, node, choice, turn)
        else:
            self._stale(session, turn)

    def _stale(self, session: Session, turn: Turn) -> None:
        node = self._current_node(session)
        prefix = self.bundle.message("stale_button")
        if node is None:
            turn.replies.append(self._menu_reply(prefix + "\n\n" + (self._menu_node().ask or "")))
        else:
            turn.replies.append(self._question(session, node, prefix=prefix))

    # ------------------------------------------------------------------ flows

    def _flow(self, flow_id: str) -> Flow:
        return self.bundle.flows[flow_id]

    def _current_node(self, session: Session) -> Node | None:
        if session.flow is None or session.node is None:
            return None
        node = self.bundle.nodes.get((session.flow, session.node))
        return node if node is not None and node.ask is not None else None

    def _leave_flow(self, session: Session) -> None:
        session.flow = session.node = None
        session.answers.clear()

    def _start_flow(self, session: Session, flow_id: str, turn: Turn) -> None:
        if turn.public:  # personal health questions belong in a private conversation
            turn.replies.append(
                Reply(
                    self.bundle.message("private_only"),
                    (Button(f"private:{flow_id}", self.bundle.message("private_label")),),
                )
            )
            return
        flow = self._flow(flow_id)
        self._leave_flow(session)
        session.pending = None
        session.flow = flow.id
        turn.events.append(("flow_start", flow.id))
        self._enter(session, flow.start, turn)

    def _enter(self, session: Session, node_id: str, turn: Turn) -> None:
        assert session.flow is not None
        node = self.bundle.nodes[(session.flow, node_id)]
        if node.outcome is not None:
            turn.replies.append(self._outcome(session, node))
            turn.events.append(("flow_done", session.flow))
            self._leave_flow(session)
        else:
            session.node = node.id
            turn.events.append(("enter", f"{session.flow}.{node.id}"))
            turn.replies.append(self._question(session, node))

    def _choose(self, session: Session, node: Node, choice: Choice, turn: Turn) -> None:
        if choice.action is not None:
            self._action(session, choice.action, turn)
            return
        session.answers[node.id] = choice.id
        turn.events.append(("answer", f"{session.flow}.{node.id}"))
        if choice.red_flag is not None:
            flag = next(f for f in self.bundle.safety.red_flags if f.id == choice.red_flag)
            hit = RedFlagHit(flag)
            if hit.urgency is Urgency.EMERGENCY:
                self._leave_flow(session)
                self._raise([hit], turn, resume=False)
                return
            self._raise([hit], turn, resume=False)
        if choice.next is not None:
            self._enter(session, choice.next, turn)

    def _question(self, session: Session, node: Node, prefix: str | None = None) -> Reply:
        text = node.ask or ""
        if prefix:
            text = f"{prefix}\n\n{text}"
        buttons = tuple(Button(f"{session.flow}.{node.id}.{c.id}", c.label) for c in node.choices)
        return Reply(text, buttons, flow=session.flow, node=node.id)

    def _outcome(self, session: Session, node: Node) -> Reply:
        assert node.outcome is not None
        if not node.outcome.report:
            return Reply(node.outcome.text, self._menu_button(), flow=session.flow, node=node.id)
        b = self.bundle
        msg = b.message
        scores: Counter[str] = Counter()
        urgency = Urgency.SELF_CARE
        flags = {f.id: f for f in b.safety.red_flags}
        for node_id, choice_id in session.answers.items():
            answered = b.nodes.get((session.flow or "", node_id))
            choice = (
                next((c for c in answered.choices if c.id == choice_id), None) if answered else None
            )
            if choice is None:
                continue
            scores.update(choice.adds)
            levels = [choice.urgency] if choice.urgency else []
            if choice.red_flag in flags:
                levels.append(Urgency(flags[choice.red_flag].urgency))
            for level in levels:
                if level.rank < urgency.rank:
                    urgency = level
        order = {k: i for i, k in enumerate([*b.nutrients, *b.causes])}
        top = sorted((k for k, v in scores.items() if v > 0), key=lambda k: (-scores[k], order[k]))
        top = top[:REPORT_TOP]
        parts = [msg("report_intro")]
        buttons: list[Button] = []
        if top:
            lines = [msg("report_contributors")]
            for key in top:
                if key in b.nutrients:
                    n = b.nutrients[key]
                    lines.append(f"• **{n.name}**: {n.why.text}")
                    buttons.append(Button(f"n:{key}", n.name))
                else:
                    c = b.causes[key]
                    lines.append(f"• **{c.name}**: {c.why.text}")
                    buttons.append(Button(f"c:{key}", c.name))
            parts.append("\n".join(lines))
        else:
            parts.append(msg("report_none"))
        nutrients = [b.nutrients[k] for k in top if k in b.nutrients]
        if nutrients:
            foods = [msg("report_foods")]
            for n in nutrients:
                foods.append(f"• {n.name}: " + "; ".join(f.food for f in n.foods[:3]))
            parts.append("\n".join(foods))
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
        buttons.append(Button("cmd:triage", self._menu_label("triage")))
        buttons.append(Button("menu", msg("menu_label")))
        return Reply(
            "\n\n".join(parts), tuple(buttons), urgency=urgency, flow=session.flow, node=node.id
        )

    # ------------------------------------------------------------------ safety

    def _escalate(self, session: Session, hits: list[RedFlagHit], turn: Turn) -> None:
        resume = self._current_node(session) is not None
        session.pending = None  # the user's place in a flow is kept: once safe, they may carry on
        self._raise(hits, turn, resume=resume)

    def _raise(self, hits: list[RedFlagHit], turn: Turn, *, resume: bool) -> None:
        turn.replies.append(self._escalation(hits, resume=resume))
        turn.events += [("red_flag", f"{h.urgency.value}:{h.flag.id}") for h in hits]

    def _escalation(self, hits: list[RedFlagHit], *, resume: bool) -> Reply:
        top = hits[0].urgency
        escalation = self.bundle.safety.escalation
        text = escalation.get(top) or escalation[Urgency.EMERGENCY]
        details = "\n".join(f"• {h.flag.text}" for h in hits)
        buttons = [Button("cmd:redflags", self._menu_label("redflags"))]
        if resume:
            buttons.append(Button("resume", self.bundle.message("resume_label")))
        return Reply(f"{text}\n\n{details}", tuple(buttons), urgency=top)

    # ------------------------------------------------------------------ knowledge replies

    def _faq(self, faq_id: str) -> Reply:
        entry = self.bundle.faq[faq_id]
        buttons = [self._related_button(r) for r in entry.related]
        buttons.append(Button("menu", self.bundle.message("menu_label")))
        return Reply(
            self._sourced(entry.answer, [entry.source]), tuple(buttons), urgency=entry.urgency
        )

    def _sourced(self, text: str, sources: list[str]) -> str:
        """A knowledge text followed by where it comes from."""
        return f"{text}\n\n{self.bundle.message('source_line', sources='; '.join(sources))}"

    def _related_button(self, ref: str) -> Button:
        b = self.bundle
        if ref in b.nutrients:
            return Button(f"n:{ref}", b.nutrients[ref].name)
        if ref in b.causes:
            return Button(f"c:{ref}", b.causes[ref].name)
        return Button(f"d:{ref}", b.diets[ref].name)

    def _nutrient(self, nid: str, topic: str | None) -> Reply:
        b = self.bundle
        n = b.nutrients[nid]
        topic_buttons = [Button(f"n:{nid}:{t}", b.topics[t].label) for t in n.facts if t != topic]
        foods = Button(f"f:{nid}", b.message("foods_label", name=n.name))
        if topic is not None and topic in n.facts:
            fact = n.facts[topic]
            text = self._sourced(
                f"**{n.name}: {b.topics[topic].heading}**\n\n{fact.text}", [fact.source]
            )
        else:
            text = self._sourced(f"**{n.name}**\n\n{n.summary.text}", [n.summary.source])
        return Reply(text, (*topic_buttons, foods))

    def _nutrient_by_name(self, name: str) -> Reply:
        target = self._lookup(name)
        if target is not None and target[0] == "nutrient":
            return self._nutrient(target[1], None)
        b = self.bundle
        return Reply(
            b.message("nutrient_unknown", name=markup.escape(_shorten(name, 40))),
            tuple(Button(f"n:{n.id}", n.name) for n in b.nutrients.values()),
        )

    def _lookup(self, name: str) -> tuple[str, str] | None:
        """Find a nutrient or diet by its name or an alias (typos tolerated)."""
        intent = self.understanding.route(name)
        if intent.kind in ("nutrient", "foods") and intent.target:
            return ("nutrient", intent.target)
        if intent.kind == "diet" and intent.target:
            return ("diet", intent.target)
        return None

    def _foods(self, nid: str | None, unknown: str | None = None) -> Reply:
        b = self.bundle
        if nid is None:
            text = b.message("foods_intro")
            if unknown is not None:
                text = (
                    b.message("nutrient_unknown", name=markup.escape(_shorten(unknown, 40)))
                    + "\n\n"
                    + text
                )
            buttons = [Button(f"f:{n.id}", n.name) for n in b.nutrients.values()]
            buttons += [Button(f"d:{d.id}", d.name) for d in b.diets.values()]
            return Reply(text, tuple(buttons))
        n = b.nutrients[nid]
        lines = [b.message("foods_heading", name=n.name)]
        lines += [f"• {f.food}, {f.serving}: {f.amount}" for f in n.foods]
        text = "\n".join(lines)
        sources = sorted({f.source for f in n.foods})
        if n.food_tip is not None:
            text += f"\n\n{n.food_tip.text}"
            sources = sorted({*sources, n.food_tip.source})
        text = self._sourced(text, sources)
        return Reply(
            text, (Button(f"n:{nid}", n.name), Button("cmd:foods", self._menu_label("foods")))
        )

    def _diet(self, did: str) -> Reply:
        b = self.bundle
        d = b.diets[did]
        lines = [f"**{d.name}**"] + [f"• {t.text}" for t in d.tips]
        sources = sorted({t.source for t in d.tips})
        buttons = tuple(
            Button(f"f:{nid}", b.message("foods_label", name=b.nutrients[nid].name))
            for nid in d.nutrients
        )
        return Reply(self._sourced("\n".join(lines), sources), buttons)

    def _cause(self, cid: str) -> Reply:
        b = self.bundle
        c = b.causes[cid]
        lines = [f"**{c.name}**"] + [f"• {f.text}" for f in c.facts]
        sources = sorted({f.source for f in c.facts})
        buttons = (
            Button("cmd:triage", b.message("triage_start_label")),
            Button("cmd:causes", self._menu_label("causes")),
        )
        return Reply(self._sourced("\n".join(lines), sources), buttons)

    def _forget_answer(self, session: Session, yes: bool, turn: Turn) -> None:
        session.pending = None
        if yes:
            self._leave_flow(session)
            turn.forget = True
            turn.replies.append(Reply(self.bundle.message("forget_done")))
        else:
            turn.replies.append(self._menu_reply(self.bundle.message("forget_cancelled")))

    # ------------------------------------------------------------------ menu helpers

    def _menu_node(self) -> Node:
        flow = self._flow("menu")
        return self.bundle.nodes[(flow.id, flow.start)]

    def _menu_buttons(self) -> tuple[Button, ...]:
        node = self._menu_node()
        return tuple(Button(f"menu.{node.id}.{c.id}", c.label) for c in node.choices)

    def _menu_button(self) -> tuple[Button, ...]:
        return (Button("menu", self.bundle.message("menu_label")),)

    def _menu_label(self, action: str) -> str:
        node = self._menu_node()
        return next((c.label for c in node.choices if c.action == action), action.title())

    def _menu_reply(self, text: str) -> Reply:
        return Reply(text, self._menu_buttons())


def _signature(node: Node) -> str:
    """A short fingerprint of a question's choices, to notice when an update changed them."""
    return hashlib.sha1(",".join(c.id for c in node.choices).encode()).hexdigest()[:10]


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _question_label(text: str) -> str:
    text = _shorten(text, 70)
    return text[:1].upper() + text[1:] + ("" if text.endswith(("?", "…")) else "?")
