"""``nervebot explain``: how one message is read, step by step, so moderators can see why."""

from __future__ import annotations

from typing import Any

from bot.conversation.dialogue import MAX_SCAN, MAX_TEXT, UNANSWERED, Dialogue
from bot.events import Incoming, SessionKey, Urgency
from bot.language.retrieval import Decision
from bot.language.safety import MODEL_RULE
from bot.language.text import clean_text
from bot.storage.store import Session


def explain(dialogue: Dialogue, text: str) -> dict[str, Any]:
    """The findings and their context, the rules that fired, the triage model, the recall net,
    and the urgency."""
    text = clean_text(text[:MAX_SCAN])  # as the dialogue reads a message
    assessment = dialogue.scanner.assess(text)
    reading = assessment.reading
    emergency = assessment.urgency is Urgency.EMERGENCY  # then nothing else is answered
    intent = None if emergency else dialogue.understanding.route(text[:MAX_TEXT])
    decision = None if intent is None else dialogue.lookup(text[:MAX_TEXT], intent)
    return {
        "text": text,
        "findings": [
            {
                "concept": f.concept,
                "kind": f.kind,
                "words": f.words,
                "sentence": f.sentence,
                "value": f.value,
                "context": sorted(f.context),
                "current": f.current,
            }
            for f in reading.findings
        ],
        "triggers": [{"category": c, "words": w} for c, w in reading.triggers],
        "rules": [
            {
                "flag": f.rule.flag.id,
                "rule": f.rule.text,
                "urgency": f.rule.flag.urgency.value,
                "findings": [x.concept for x in f.findings],
            }
            for f in assessment.fired
        ],
        "net": [
            {"flag": n.flag.id, "example": n.example, "score": round(n.score, 3)}
            for n in assessment.net
        ],
        "model": (
            {
                "emergency": round(assessment.model.emergency, 3),
                "urgent": round(assessment.model.urgent, 3),
            }
            if assessment.model
            else None
        ),
        "clarify": assessment.clarify.id if assessment.clarify else None,
        "red_flags": [h.flag.id for h in assessment.hits],
        "raised_by": {h.flag.id: h.rule for h in assessment.hits},
        "urgency": assessment.urgency.value if assessment.urgency else None,
        "answer": (
            {"kind": intent.kind, "target": intent.target, "topic": intent.topic}
            if intent
            else None
        ),
        "entities": list(decision.entities) if decision else [],
        "cards": (
            {
                "decision": decision.kind,
                "reason": decision.reason,
                "chance": None if decision.chance is None else round(decision.chance, 3),
                "top": [
                    {
                        "ref": r.candidate.ref,
                        "score": round(r.score, 3),
                        "lexical": round(r.lexical, 3),
                        "semantic": round(r.semantic, 3),
                        "entities": round(r.entities, 3),
                        "bank": round(r.bank, 3),
                    }
                    for r in decision.ranked[:5]
                ],
            }
            if decision
            else None
        ),
        "stage_notes": _stage_notes(dialogue, decision) if decision else [],
        "chat": _chat(dialogue, text),
    }


def _chat(dialogue: Dialogue, text: str) -> dict[str, Any]:
    """What the chat itself replies to ``text`` from a new session, which can differ from the
    cards' decision (a close runner-up the question model does not vouch for is offered as
    "Did you mean" to a described symptom); nothing is stored."""
    turn = dialogue.respond(Session(), Incoming(SessionKey("explain", "1"), text=text))
    first = next((r.text for r in turn.replies if r.text.strip()), "")
    return {
        "events": [_event(kind, value) for kind, value in turn.events],
        "first": first.strip().splitlines()[0] if first.strip() else "",
    }


def _event(kind: str, value: str) -> str:
    """An event of the chat as explain shows it: an intent by its name, a suggestion or an
    unanswered question by its kind alone (their value is the text itself)."""
    if kind == "intent":
        return value
    return kind if kind in ("suggest", UNANSWERED) else f"{kind} {value}"


def _stage_notes(dialogue: Dialogue, decision: Decision) -> list[dict[str, Any]]:
    """The life-stage notes the reply would carry: after an answer, or before the choices."""
    if decision.kind not in ("answer", "suggest") or not decision.ranked:
        return []
    answered = decision.kind == "answer"
    about = decision.ranked[0].candidate.about if answered else frozenset()
    named = decision.said_now
    return [
        {"stage": n.stage, "on": [e for e in n.about if e in about or e in named]}
        for n in dialogue.answers.notes_for(decision, answered)
    ]


def as_text(data: dict[str, Any]) -> str:
    """The explanation as a short report for a terminal."""
    lines = [f"message: {data['text']}", "", "findings (concept, words, context):"]
    for f in data["findings"]:
        value = f"={f['value']:g}" if f["value"] is not None else ""
        context = ", ".join(f["context"]) or "present"
        mark = " " if f["current"] else "x"
        lines.append(
            f"  {mark} {f['concept']}{value} ({f['kind']}, sentence {f['sentence'] + 1}): "
            f'"{f["words"]}" [{context}]'
        )
    if not data["findings"]:
        lines.append("  (none)")
    if data["triggers"]:
        lines.append("context triggers: " + "; ".join(
            f"{t['category']}: \"{t['words']}\"" for t in data["triggers"]
        ))  # fmt: skip
    lines += ["", "rules fired:"]
    lines += [
        f"  {r['flag']} ({r['urgency']}): {r['rule']}  <- {', '.join(r['findings'])}"
        for r in data["rules"]
    ] or ["  (none)"]
    model = data.get("model")
    if model:
        lines += [
            "",
            f"triage model: emergency {model['emergency']:.2f}, urgent {model['urgent']:.2f}",
        ]
        lines += [
            f"  raised {flag} ({rule})"
            for flag, rule in data["raised_by"].items()
            if rule.startswith(MODEL_RULE)
        ]
    if data["net"]:
        lines += ["", "recall net (nearest examples):"]
        lines += [f"  {n['flag']} {n['score']:.2f}: {n['example']}" for n in data["net"]]
    if data["clarify"]:
        lines.append(f"grey zone: asks whether '{data['clarify']}' is happening now")
    answer = data.get("answer")
    lines += ["", f"urgency: {data['urgency'] or 'none'}"]
    if answer:
        target = f" {answer['target']}" if answer["target"] else ""
        topic = f" ({answer['topic']})" if answer["topic"] else ""
        lines.append(f"answer: {answer['kind']}{target}{topic}")
    cards = data.get("cards")
    if cards:
        lines.append(f"entities: {', '.join(data['entities']) or '(none)'}")
        why = f", {cards['reason']}" if cards.get("reason") else ""
        if cards.get("chance") is not None:
            why += f", chance right {cards['chance']:.2f}"
        lines.append(
            f"answer cards ({cards['decision']}{why}): score; lexical, semantic, entities;"
            " added by read questions"
        )
        lines += [
            f"  {c['score']:.2f}; {c['lexical']:.2f}, {c['semantic']:.2f}, {c['entities']:+.2f};"
            f" {c['bank']:+.2f}  {c['ref']}"
            for c in cards["top"]
        ]
        when = "then" if cards["decision"] == "answer" else "before the choices,"
        for note in data.get("stage_notes", []):
            lines.append(f"  {when} the note for {note['stage']} on {', '.join(note['on'])}")
    chat = data.get("chat")
    if chat:
        lines.append(f"the chat replies ({', '.join(chat['events'])}): {chat['first'][:90]}")
    lines.append("(x = not current: negated, historical, hypothetical, reported or figurative)")
    return "\n".join(lines) + "\n"
