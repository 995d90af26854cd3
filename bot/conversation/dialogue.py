"""The conversation rules: from a session and one user turn to the bot's replies.

`Dialogue` decides what a turn means (a red flag, a command, a button, an answer to the
waiting question, a question) and moves the session on; `Answers` builds the replies. It is
synchronous and does no I/O, so every rule can be tested directly; the `Engine` adds
per-user locking and the session store around it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from bot.content.loader import Bundle
from bot.content.model import Choice, Node
from bot.conversation.answers import NOTED, RAISED, Answers
from bot.events import Button, Incoming, Reply, Urgency
from bot.language.embedding import Embedder
from bot.language.retrieval import MARGIN, SUGGEST, VOUCHED, CardIndex, Decision
from bot.language.safety import RedFlagHit, RedFlagScanner
from bot.language.text import clean_text
from bot.language.understand import Intent, Understanding
from bot.storage.journal import KEEP_UNANSWERED_DAYS
from bot.storage.store import DEFAULT_TTL_SECONDS, Session

#: Longest message read for answering; longer ones are cut and the user is told.
MAX_TEXT = 2000
#: Longest message scanned for red flags (so an emergency late in a long message is not missed).
MAX_SCAN = 20_000

_COMMAND = re.compile(r"^/([A-Za-z0-9_]+)(?:@\S+)?\s*(.*)$", re.DOTALL)
_ACTIONS = ("triage", "nutrients", "foods", "redflags", "about", "help", "faq", "causes")
#: The turn event that carries a question the bot could not answer.
UNANSWERED = "unanswered"
#: Intents that answer a question with knowledge (worth giving after an urgent escalation).
_KNOWLEDGE = ("faq", "nutrient", "foods", "diet", "cause")
#: Intents that ask for a menu of topics; a question naming something that reads as one gets
#: the nearest cards instead (the red-flag list is never replaced).
_MENUS_OF_TOPICS = ("causes", "nutrients")
#: Intents that are conversation, not questions: never looked up among the answer cards.
_CONVERSATIONAL = ("greet", "thanks", "menu", "help", "yes", "no", "about")


@dataclass
class Turn:
    """The result of one user turn: replies, and whether to delete the user's data."""

    replies: list[Reply] = field(default_factory=list)
    forget: bool = False
    public: bool = False
    events: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Retention:
    """How long this deployment keeps sessions and unanswered questions, in days."""

    session_days: float = DEFAULT_TTL_SECONDS / 86400
    question_days: float = KEEP_UNANSWERED_DAYS


class Dialogue:
    """Conversation rules over one content bundle."""

    def __init__(
        self, bundle: Bundle, embedder: Embedder | None = None, retention: Retention | None = None
    ) -> None:
        self.bundle = bundle
        self.answers = Answers(bundle)
        self.retention = retention or Retention()
        # where a message's clauses part: punctuation, and content's words that join a remark
        joiners = "|".join(re.escape(w) for w in bundle.intents.get("joiner", ()))
        self._clauses = re.compile(
            r"[,.;!?]+" + (rf"|\b(?:{joiners})\b" if joiners else ""), re.IGNORECASE
        )
        self.scanner = RedFlagScanner.for_bundle(bundle, embedder)
        self.understanding = Understanding(bundle)
        self.cards = CardIndex.for_bundle(bundle, embedder)

    # ------------------------------------------------------------------ entry point

    def respond(self, session: Session, incoming: Incoming) -> Turn:
        """Answer one turn, updating ``session`` in place.

        In a public conversation (a group) a personal check never shows: the turn is answered
        as if no check were open, and the private check is left exactly as it was.
        """
        if not incoming.public or session.flow is None:
            return self._respond(session, incoming)
        flow, node, answers = session.flow, session.node, dict(session.answers)
        version, sig = session.content_version, session.node_sig
        session.flow = session.node = None
        session.answers.clear()
        turn = self._respond(session, incoming, reconcile=False)
        if session.flow is None:  # a group turn cannot start a check, so the private one stays
            session.flow, session.node = flow, node
            session.answers.update(answers)
            session.content_version, session.node_sig = version, sig
        return turn

    def _respond(self, session: Session, incoming: Incoming, *, reconcile: bool = True) -> Turn:
        turn = Turn(public=incoming.public)
        moved = self._reconcile(session) if reconcile else False
        if moved and not self._overrides_update_notice(incoming):
            node = self._current_node(session)
            notice = self.bundle.message("content_updated")
            turn.replies.append(
                self.answers.question(session.flow, node, notice)
                if node
                else self.answers.menu(notice)
            )
        elif incoming.attachment is not None and incoming.text is None and incoming.button is None:
            turn.replies.append(self.answers.menu(self.bundle.message("non_text")))
        elif incoming.button is not None:
            self._button(session, incoming.button.strip(), turn)
        else:
            self._text(session, incoming.text or "", turn)
        session.content_version = self.bundle.version
        node = self._current_node(session)
        session.node_sig = _signature(node) if node is not None else None
        if not turn.replies:  # every turn gets an answer
            turn.replies.append(self.answers.menu(self.bundle.message("fallback")))
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
            if node_id.startswith((NOTED, RAISED)):
                continue
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
        """Where to resume: the first question on the answered path with no answer yet."""
        nodes = self.bundle.nodes
        node_id = self.bundle.flows[flow].start
        for _ in range(len(nodes)):
            node = nodes.get((flow, node_id))
            choice = (
                next((c for c in node.choices if c.id == answers.get(node_id)), None)
                if (node is not None)
                else None
            )
            following = nodes.get((flow, choice.next or "")) if choice is not None else None
            if following is None or following.ask is None:
                return node_id
            node_id = following.id
        return node_id

    # ------------------------------------------------------------------ free text

    def _text(self, session: Session, raw: str, turn: Turn) -> None:
        text = clean_text(raw[:MAX_SCAN])
        if not text:
            turn.replies.append(self.answers.menu(self.bundle.message("empty")))
            return
        assessment = self.scanner.assess(text)  # safety first, before any routing
        if assessment.hits:
            hits = list(assessment.hits)
            self._escalate(session, hits, turn, someone_else=assessment.someone_else)
            if hits[0].urgency is not Urgency.EMERGENCY:  # then answer the question, if one
                intent = self.understanding.route(text[:MAX_TEXT])
                decision = self.lookup(text[:MAX_TEXT], intent)
                if decision.kind == "answer":
                    reply = self._answer(decision)
                    turn.replies.extend([reply] if reply is not None else [])
            return
        self._understand(session, text, turn)
        if assessment.clarify is not None:  # the recall net's grey zone: one question
            turn.replies.append(self.answers.clarify(assessment.clarify.id))
            turn.events.append(("clarify", assessment.clarify.id))

    def _understand(self, session: Session, text: str, turn: Turn) -> None:
        """Free text without a red flag: a command, an answer, or a question to answer."""
        if len(text) > MAX_TEXT:
            turn.replies.append(Reply(self.bundle.message("too_long", limit=f"{MAX_TEXT:,}")))
            text = text[:MAX_TEXT]
        command = _COMMAND.match(text)
        if command:
            self._command(session, command.group(1).lower(), command.group(2).strip(), turn)
            return
        if text.strip().isdigit() and self._current_node(session) is None:
            # "2" typed where no question is open: not a question about "2"
            turn.replies.append(self.answers.menu(self.bundle.message("number_alone")))
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
            if self.understanding.is_only(text, "back"):  # "go back"; not "spasms in my back"
                self._back(session, turn)
                return
            # a clause about a later question is that question's answer, not this one's:
            # "cramps, and i drink like 4 coffees a day" (cramps; 4 or more cups, not "days")
            rest = self._without_side_clauses(session, node, text)
            choice = self._typed_choice(session.flow, node, rest, cue=False) if rest else None
            if choice is not None:
                typed = not text.strip().isdigit() and text.strip().casefold() != (
                    choice.label.casefold()
                )
                later = self._answer_later(session, text, turn)  # "stressed, and i'm 34"
                noted = self._note_in_passing(session, text, [choice, *later])
                said = [self.bundle.message("noted_answer", label=c.label) for c in later]
                self._choose(session, node, choice, turn, typed=typed, noted=noted, said=said)
                return
            if self._side_remark(session, node, text, turn):
                return
        intent = self.understanding.route(text)
        if intent.kind in _KNOWLEDGE or intent.kind == "fallback":
            answered = self._retrieve(text, intent, turn, in_flow=node is not None)
            if not answered and node is not None:
                prefix = self.bundle.message("pick_option")
                turn.replies.append(self.answers.question(session.flow, node, prefix))
                return
            if node is not None and session.node == node.id:
                prefix = self.bundle.message("resume_prompt")
                turn.replies.append(self.answers.question(session.flow, node, prefix))
            return
        if intent.kind not in _CONVERSATIONAL:  # a list or an offer: a card may fit better
            decision = self.lookup(text, intent)
            reply = (
                self._answer(decision)
                if decision.kind == "answer" and self._clear_of_runner_up(decision)
                else None
            )
            if reply is not None:
                turn.replies.append(reply)
                turn.events.append(("intent", "card_answer"))
                if node is not None:
                    prefix = self.bundle.message("resume_prompt")
                    turn.replies.append(self.answers.question(session.flow, node, prefix))
                elif intent.kind == "triage_offer":  # a symptom described: offer the check too
                    turn.replies.append(self.answers.triage_offer())
                return
            if (
                decision.kind in ("suggest", "answer")  # an answer not clear of the next card
                and node is None
                and (
                    intent.kind == "triage_offer"
                    or (intent.kind in _MENUS_OF_TOPICS and decision.entities)
                )
            ):
                # a symptom with a question in it, or a question naming something that reads
                # as a request for a menu of topics ("can atorvastatin cause cramps": the
                # causes menu): the nearest cards, then the check where a symptom was described
                turn.events.append((UNANSWERED, text))
                self._suggest(text, decision, turn)
                if intent.kind == "triage_offer":
                    turn.replies.append(self.answers.triage_offer())
                return
            if (
                intent.kind == "triage_offer"  # never the red-flag list or a menu asked for
                and decision.kind == "unknown"
                and "medicine" in decision.kinds
                and node is None
            ):
                # a medicine named that no card answers for ("started topiramate and my
                # fingers tingle"): an honest "I don't know" and a pharmacist, not a list
                turn.events.append(("intent", "card_unknown"))
                turn.events.append((UNANSWERED, text))
                turn.replies.append(self.answers.dont_know(medicine=True))
                turn.replies.append(self.answers.triage_offer())
                return
        turn.events.append(("intent", intent.kind))
        if node is not None and intent.kind in ("triage_offer", "greet", "menu"):
            prefix = self.bundle.message("pick_option")
            turn.replies.append(self.answers.question(session.flow, node, prefix))
            return
        self._route(session, intent, turn)
        if node is not None and session.node == node.id:
            prefix = self.bundle.message("resume_prompt")
            turn.replies.append(self.answers.question(session.flow, node, prefix))

    def _answer(self, decision: Decision) -> Reply | None:
        """The reply to a decided question: its top answer, fitted to a life stage it names
        (`Answers.notes_for`)."""
        notes = self.answers.notes_for(decision, answered=True)
        return self.answers.answer(decision.ranked[0].candidate.ref, notes, decision.avoids)

    def lookup(self, text: str, intent: Intent) -> Decision:
        """What the answer cards make of a question, given the topic router's reading."""
        food_list = self.understanding.has_intent(text, "food_list", exact=True)
        return self.cards.decide(text, _preferred_ref(intent), food_list)

    def _retrieve(self, text: str, intent: Intent, turn: Turn, *, in_flow: bool) -> bool:
        """Answer a question from the answer cards; False if nothing was answered or offered.

        Above the answer score the best card answers; in the grey zone the best few are
        offered ("Did you mean"); below, an honest "I don't know". Both of the latter are
        counted as unanswered so moderators see the gaps.
        """
        decision = self.lookup(text, intent)
        turn.events.append(("intent", f"card_{decision.kind}"))
        if decision.kind == "answer":
            reply = self._answer(decision)
            if reply is not None:
                turn.replies.append(reply)
                return True
        turn.events.append((UNANSWERED, text))  # the journal scrubs it before keeping it
        if decision.kind == "suggest":
            self._suggest(text, decision, turn)
            return True
        if in_flow and not decision.entities:
            return False
        medicine = "medicine" in decision.kinds
        if decision.entities or medicine:
            turn.replies.append(self.answers.dont_know(medicine))
        elif in_flow:
            return False
        else:
            turn.replies.append(self.answers.menu(self.bundle.message("fallback")))
        return True

    def _clear_of_runner_up(self, decision: Decision) -> bool:
        """Whether the answer card is clear of the next one: two cards about level do not
        replace the list the question asked for ("warning signs on statins"), but two that
        answer the same questions are no doubt ("what causes leg cramps at night"), nor is a
        card the question model vouches for (its chance at `VOUCHED` or above)."""
        ranked = decision.ranked
        if decision.reason == "worded as an example" or len(ranked) < 2:
            return True
        if decision.chance is not None and decision.chance >= VOUCHED:
            return True  # the question model reads the margin itself, and vouches for the card
        top, runner = ranked[0], ranked[1]
        return top.score - runner.score >= MARGIN or self.cards.twins(
            top.candidate.ref, runner.candidate.ref
        )

    def _suggest(self, text: str, decision: Decision, turn: Turn) -> None:
        """Offer the best few cards of ``decision`` as "Did you mean" buttons, after what is
        different for a life stage the question names, on what else it names, if content
        says (`Answers.notes_for`)."""
        turn.events.append(("suggest", text))
        seen: set[str] = set()
        choices = []
        for ranked in decision.ranked[:3]:
            c = ranked.candidate
            if c.title not in seen and ranked.score >= SUGGEST:
                seen.add(c.title)
                choices.append((c.ref, c.title))
        notes = self.answers.notes_for(decision, answered=False)
        turn.replies.append(self.answers.did_you_mean(choices, notes))

    def _route(self, session: Session, intent: Intent, turn: Turn) -> None:
        kind, target, answers = intent.kind, intent.target, self.answers
        if kind == "faq" and target:
            turn.replies.append(answers.faq(target))
        elif kind == "nutrient" and target:
            turn.replies.append(answers.nutrient(target, intent.topic))
        elif kind == "foods":
            turn.replies.append(answers.foods(target))
        elif kind == "diet" and target:
            turn.replies.append(answers.diet(target))
        elif kind == "cause" and target:
            turn.replies.append(answers.cause(target))
        elif kind == "triage_offer":
            turn.replies.append(answers.triage_offer())
        elif kind in ("greet", "menu"):
            turn.replies.append(answers.menu(self.bundle.message("greet")))
        elif kind == "thanks":
            turn.replies.append(answers.with_menu_button("thanks"))
        elif kind in _ACTIONS:
            self._action(session, kind, turn)
        elif session.flow is None:
            turn.replies.append(answers.menu(self.bundle.message("fallback")))
        else:
            turn.replies.append(Reply(self.bundle.message("fallback")))

    # ------------------------------------------------------------------ commands and actions

    def _command(self, session: Session, name: str, arg: str, turn: Turn) -> None:
        msg, answers = self.bundle.message, self.answers
        if name == "start":
            session.pending = None
            turn.replies.append(Reply(f"{msg('welcome')}\n\n{msg('disclaimer')}"))
            if arg in _ACTIONS:  # a deep link such as /start triage
                self._action(session, arg, turn)
            elif self._current_node(session) is not None and session.flow is not None:
                # a check left unfinished (a new terminal chat, a restart): carry on or not
                self._start_flow(session, session.flow, turn)
            else:
                self._leave_flow(session)
                turn.replies.append(answers.menu(answers.menu_prompt()))
        elif name == "menu":
            turn.replies.append(answers.menu(answers.menu_prompt()))
        elif name == "nutrient":
            if not arg:
                self._action(session, "nutrients", turn)
            else:
                turn.replies.append(self._nutrient_by_name(arg))
        elif name == "foods" and arg:
            named = self.understanding.entities(arg)
            for nutrient in named.get("nutrient", [])[:1]:
                turn.replies.append(answers.foods(nutrient))
            for diet in named.get("diet", [])[:1]:
                turn.replies.append(answers.diet(diet))
            if not turn.replies:
                turn.replies.append(answers.foods(None, unknown=arg))
        elif name == "reset":
            had = session.flow is not None or session.pending is not None
            self._leave_flow(session)
            session.pending = None
            turn.replies.append(answers.menu(msg("reset_done" if had else "nothing_to_reset")))
        elif name == "forget":
            session.pending = "forget"
            turn.replies.append(answers.forget_confirm())
        elif name in _ACTIONS:
            self._action(session, name, turn)
        else:
            turn.replies.append(answers.unknown_command(name))

    def _action(self, session: Session, action: str, turn: Turn) -> None:
        answers = self.answers
        if action == "triage":
            self._start_flow(session, "triage", turn)
        elif action == "nutrients":
            turn.replies.append(answers.nutrient_list())
        elif action == "foods":
            turn.replies.append(answers.foods(None))
        elif action == "causes":
            turn.replies.append(answers.cause_list())
        elif action == "faq":
            turn.replies.append(answers.faq_list())
        elif action == "redflags":
            turn.replies.append(answers.with_menu_button("redflags_intro"))
        elif action == "about":
            turn.replies.append(
                answers.about(self.retention.session_days, self.retention.question_days)
            )
        elif action == "help":
            turn.replies.append(answers.help())

    def _nutrient_by_name(self, name: str) -> Reply:
        """``/nutrient NAME``: the nutrient of that name or alias (typos tolerated)."""
        intent = self.understanding.route(name)
        if intent.kind in ("nutrient", "foods") and intent.target:
            return self.answers.nutrient(intent.target, None)
        return self.answers.nutrient_unknown(name)

    # ------------------------------------------------------------------ buttons

    def _button(self, session: Session, button: str, turn: Turn) -> None:
        b, answers = self.bundle, self.answers
        kind, _, rest = button.partition(":")
        if button == "menu":
            turn.replies.append(answers.menu(answers.menu_prompt()))
        elif kind == "faqpage" and rest.isdigit():
            turn.replies.append(answers.faq_list(int(rest)))
        elif kind == "restart" and rest in b.flows:
            self._start_flow(session, rest, turn, fresh=True)
        elif button == "back":
            self._back(session, turn)
        elif button == "resume":
            node = self._current_node(session)
            if node is None:
                turn.replies.append(answers.menu(b.message("nothing_to_reset")))
            else:
                turn.replies.append(answers.question(session.flow, node))
        elif kind == "cmd" and rest in _ACTIONS:
            self._action(session, rest, turn)
        elif kind == "n" and rest.split(":")[0] in b.nutrients:
            nid, _, topic = rest.partition(":")
            if topic and topic not in b.topics:
                self._stale(session, turn)
            else:
                turn.replies.append(answers.nutrient(nid, topic or None))
        elif kind == "f" and rest in b.nutrients:
            turn.replies.append(answers.foods(rest))
        elif kind == "d" and rest in b.diets:
            turn.replies.append(answers.diet(rest))
        elif kind == "c" and rest in b.causes:
            turn.replies.append(answers.cause(rest))
        elif kind == "q" and rest in b.faq:
            turn.replies.append(answers.faq(rest))
        elif kind == "k" and (chosen := answers.render(rest)) is not None:
            turn.replies.append(chosen)
            turn.events.append(("intent", "card_chosen"))
        elif kind == "safety":
            self._clarified(session, rest, turn)
        elif kind == "forget" and rest in ("yes", "no") and session.pending == "forget":
            self._forget_answer(session, rest == "yes", turn)
        elif button.count(".") == 2:
            self._flow_button(session, button, turn)
        else:
            self._stale(session, turn)

    def _clarified(self, session: Session, answer: str, turn: Turn) -> None:
        """The answer to the recall net's question: yes escalates that red flag."""
        said, _, flag_id = answer.partition(":")
        flag = next((f for f in self.bundle.safety.red_flags if f.id == flag_id), None)
        if said == "yes" and flag is not None:
            self._escalate(session, [RedFlagHit(flag, "confirmed")], turn)
            return
        node = self._current_node(session)
        reply = self.bundle.message("clarify_no_reply")
        turn.replies.append(
            self.answers.question(session.flow, node, reply) if node else self.answers.menu(reply)
        )

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
        """A button from an old message: a gentle re-prompt where the user is now."""
        prefix = self.bundle.message("stale_button")
        node = self._current_node(session)
        if node is None:
            turn.replies.append(self.answers.menu(prefix + "\n\n" + self.answers.menu_prompt()))
        else:
            turn.replies.append(self.answers.question(session.flow, node, prefix))

    # ------------------------------------------------------------------ flows

    def _current_node(self, session: Session) -> Node | None:
        if session.flow is None or session.node is None:
            return None
        node = self.bundle.nodes.get((session.flow, session.node))
        return node if node is not None and node.ask is not None else None

    def _leave_flow(self, session: Session) -> None:
        session.flow = session.node = None
        session.answers.clear()

    def _start_flow(
        self, session: Session, flow_id: str, turn: Turn, *, fresh: bool = False
    ) -> None:
        if turn.public:  # personal health questions belong in a private conversation
            turn.replies.append(self.answers.private_only(flow_id))
            return
        node = self._current_node(session)
        if not fresh and node is not None and session.flow == flow_id and session.answers:
            # an unfinished check (after a restart, /quit or a detour): carry on or start again
            n, total = self.answers.position(flow_id, node.id)
            msg = self.bundle.message
            turn.replies.append(
                Reply(
                    msg("resume_offer", n=str(n), total=str(total)),
                    (
                        Button("resume", msg("resume_label")),
                        Button(f"restart:{flow_id}", msg("restart_label")),
                    ),
                )
            )
            return
        flow = self.bundle.flows[flow_id]
        self._leave_flow(session)
        session.pending = None
        session.flow = flow.id
        turn.events.append(("flow_start", flow.id))
        self._enter(session, flow.start, turn)

    def _enter(self, session: Session, node_id: str, turn: Turn, prefix: str | None = None) -> None:
        """Go to ``node_id``: ask it, or pass it when it was answered in passing, or report."""
        assert session.flow is not None
        node = self.bundle.nodes[(session.flow, node_id)]
        while node.ask is not None and node.id in session.answers:  # answered in passing
            chosen = next((c for c in node.choices if c.id == session.answers[node.id]), None)
            if chosen is None or chosen.next is None:
                break
            node = self.bundle.nodes[(session.flow, chosen.next)]
        if node.outcome is not None:
            if prefix:
                turn.replies.append(Reply(prefix))
            turn.replies.append(self.answers.outcome(session.flow, node, session.answers))
            turn.events.append(("flow_done", session.flow))
            self._leave_flow(session)
        else:
            session.node = node.id
            turn.events.append(("enter", f"{session.flow}.{node.id}"))
            turn.replies.append(self.answers.question(session.flow, node, prefix))

    def _typed_choice(self, flow: str, node: Node, text: str, *, cue: bool) -> Choice | None:
        """The choice of ``node`` that typed ``text`` picks: a number, label or word, or an
        age in years for a question of age bands. With ``cue``, only when the text is about
        this question (a side remark answering a later one)."""
        if cue and not self.understanding.mentions(flow, node, text):
            return None
        if any(c.ages for c in node.choices):  # a number of years wins over words ("34 years old")
            age = self.understanding.age(text, bare=not cue)
            if age is not None:
                by_age = next(
                    (c for c in node.choices if c.ages and c.ages[0] <= age <= c.ages[1]), None
                )
                if by_age is not None:
                    return by_age
        return self.understanding.choice(flow, node, text)

    def _note_in_passing(self, session: Session, text: str, answered: list[Choice]) -> list[str]:
        """Contributors a message in a check names ("I work out a lot"), kept for the report
        unless an answer of the same message already weighs them; their names."""
        # what the answered questions ask about is theirs to weigh ("i don't drink" answers
        # the alcohol question; it is not a mention of alcohol)
        flow = self.bundle.flows.get(session.flow or "")
        asked = [
            n
            for n in (flow.nodes if flow else ())
            if n.about and any(c in n.choices for c in answered)
        ]
        weighed = {key for n in asked for c in n.choices for key in (*c.adds, *c.clears)}
        possible = {k for n in (flow.nodes if flow else ()) for c in n.choices for k in c.adds}
        names = []
        for cause in self.understanding.entities(text, affirmed=True).get("cause", []):
            key = NOTED + cause
            if cause in possible and cause not in weighed and key not in session.answers:
                session.answers[key] = "mentioned"
                names.append(self.bundle.causes[cause].name)
        return names

    def _side_remark(self, session: Session, node: Node, text: str, turn: Turn) -> bool:
        """A remark in a check that answers later questions or names a contributor ("I drink
        like 4 coffees a day"): keep it, say so, and ask the current question again."""
        assert session.flow is not None
        flow = self.bundle.flows[session.flow]
        taken = self._answer_later(session, text, turn)
        noted = self._note_in_passing(session, text, taken)
        if not taken and not noted:
            return False
        msg = self.bundle.message
        said = [msg("noted_answer", label=c.label) for c in taken]
        if noted:
            said.append(msg("noted_cause", names=", ".join(noted)))
        turn.replies.append(self.answers.question(flow.id, node, " ".join(said)))
        return True

    def _without_side_clauses(self, session: Session, node: Node, text: str) -> str:
        """``text`` without its clauses that answer a later question and not this one."""
        flow, later = session.flow or "", self._later(session)
        rest = text
        for clause in self._clauses.split(text):
            side = not self.understanding.mentions(flow, node, clause) and any(
                self._typed_choice(flow, other, clause, cue=True) for other in later
            )
            if side and clause.strip():
                rest = rest.replace(clause, " ", 1)  # the rest keeps "pins and needles" whole
        return rest if rest.strip(" ,.;!?") else ""

    def _answer_later(self, session: Session, text: str, turn: Turn) -> list[Choice]:
        """Keep what ``text`` answers of the later questions (each about its own words)."""
        taken: list[Choice] = []
        for other in self._later(session):
            choice = self._typed_choice(session.flow or "", other, text, cue=True)
            if choice is not None and choice.next is not None and not choice.red_flag:
                session.answers[other.id] = choice.id
                turn.events.append(("answer", f"{session.flow}.{other.id}"))
                taken.append(choice)
        return taken

    def _later(self, session: Session) -> list[Node]:
        """The questions of the check after the current one that have no answer yet."""
        flow = self.bundle.flows.get(session.flow or "")
        if flow is None:
            return []
        ids = [n.id for n in flow.nodes]
        start = ids.index(session.node) + 1 if session.node in ids else 0
        return [n for n in flow.nodes[start:] if n.ask is not None and n.id not in session.answers]

    def _back(self, session: Session, turn: Turn) -> None:
        """The previous question of the check again, its answer undone."""
        node = self._current_node(session)
        if node is None or session.flow is None:
            turn.replies.append(self.answers.menu(self.bundle.message("nothing_to_reset")))
            return
        asked = [k for k in session.answers if not k.startswith((NOTED, RAISED))]
        flow = self.bundle.flows[session.flow]
        order = [n.id for n in flow.nodes]
        before = [k for k in asked if k in order and order.index(k) < order.index(node.id)]
        if before:
            previous = max(before, key=order.index)
            del session.answers[previous]  # answers given in passing to later ones stay
            node = self.bundle.nodes[(session.flow, previous)]
            session.node = node.id
        turn.events.append(("back", f"{session.flow}.{node.id}"))
        turn.replies.append(self.answers.question(session.flow, node))

    def _choose(
        self,
        session: Session,
        node: Node,
        choice: Choice,
        turn: Turn,
        *,
        typed: bool = False,
        noted: list[str] | None = None,
        said: list[str] | None = None,
    ) -> None:
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
            said = ([self.bundle.message("got_it", label=choice.label)] if typed else []) + (
                said or []
            )
            if noted:
                said.append(self.bundle.message("noted_cause", names=", ".join(noted)))
            self._enter(session, choice.next, turn, " ".join(said) or None)

    # ------------------------------------------------------------------ safety and privacy

    def _escalate(
        self, session: Session, hits: list[RedFlagHit], turn: Turn, *, someone_else: bool = False
    ) -> None:
        resume = self._current_node(session) is not None
        session.pending = None  # the user's place in a flow is kept: once safe, they may carry on
        if resume:  # the check's report will not be less urgent than this
            for hit in hits:
                session.answers[RAISED + hit.flag.id] = hit.urgency.value
        self._raise(hits, turn, resume=resume, someone_else=someone_else)

    def _raise(
        self, hits: list[RedFlagHit], turn: Turn, *, resume: bool, someone_else: bool = False
    ) -> None:
        turn.replies.append(self.answers.escalation(hits, resume=resume, someone_else=someone_else))
        turn.events += [("red_flag", f"{h.urgency.value}:{h.flag.id}") for h in hits]

    def _forget_answer(self, session: Session, yes: bool, turn: Turn) -> None:
        session.pending = None
        if yes:
            self._leave_flow(session)
            turn.forget = True
            turn.replies.append(Reply(self.bundle.message("forget_done")))
        else:
            turn.replies.append(self.answers.menu(self.bundle.message("forget_cancelled")))


def _preferred_ref(intent: Intent) -> str | None:
    """The retrieval reference the topic router would have answered with, if any."""
    if intent.kind == "faq" and intent.target:
        return f"faq:{intent.target}"
    if intent.kind == "nutrient" and intent.target:
        return f"nutrient:{intent.target}:{intent.topic or ''}"
    if intent.kind == "foods" and intent.target:
        return f"foods:{intent.target}"
    if intent.kind in ("diet", "cause") and intent.target:
        return f"{intent.kind}:{intent.target}"
    return None


def _signature(node: Node) -> str:
    """A short fingerprint of a question's choices, to notice when an update changed them."""
    return hashlib.sha1(",".join(c.id for c in node.choices).encode()).hexdigest()[:10]
