"""Usage statistics for moderators, built from the journal's anonymous counts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

#: How many unanswered questions and drop-off points a report lists.
TOP = 15


def report(
    rows: Sequence[tuple[str, str, int]],
    questions: Sequence[tuple[str, int]] = (),
    delivery: dict[str, int] | None = None,
) -> dict[str, Any]:
    """Turn (kind, key, count) rows, unanswered questions and the inbox and outbox counts
    into the figures moderators and operators read."""
    by: dict[str, Counter[str]] = {}
    for kind, key, count in rows:
        by.setdefault(kind, Counter())[key] += count
    started, done = by.get("flow_start", Counter()), by.get("flow_done", Counter())
    entered, answered = by.get("enter", Counter()), by.get("answer", Counter())
    drop = Counter(
        {node: entered[node] - answered[node] for node in entered if entered[node] > answered[node]}
    )
    urgency: Counter[str] = Counter()
    flags: Counter[str] = Counter()
    for key, count in by.get("red_flag", Counter()).items():
        level, _, flag = key.partition(":")
        urgency[level] += count
        flags[flag] += count
    return {
        "flows": {
            flow: {"started": started[flow], "completed": done[flow]}
            for flow in sorted(set(started) | set(done))
        },
        "drop_off": dict(drop.most_common(TOP)),
        "red_flags_by_urgency": dict(urgency.most_common()),
        "red_flags": dict(flags.most_common()),
        "answers_by_kind": dict(by.get("intent", Counter()).most_common()),
        "unanswered": dict(list(questions)[:TOP]),
        "delivery": dict(delivery or {}),
    }


def as_table(data: dict[str, Any], days: int) -> str:
    """The report as plain text tables for the terminal."""
    span = "day" if days == 1 else f"{days} days"
    out = [f"nervebot usage, last {span} (anonymous counts)", ""]

    def section(title: str, rows: list[tuple[str, Any]], empty: str = "(none)") -> None:
        out.append(title)
        if not rows:
            out.append(f"  {empty}")
        width = max((len(str(k)) for k, _ in rows), default=0)
        out.extend(f"  {k!s:<{width}}  {v}" for k, v in rows)
        out.append("")

    section(
        "Conversations (started / completed)",
        [(flow, f"{v['started']} / {v['completed']}") for flow, v in data["flows"].items()],
    )
    section("Where people leave a flow (node: left there)", list(data["drop_off"].items()))
    section("Red flags raised, by urgency", list(data["red_flags_by_urgency"].items()))
    section("Red flags raised, by flag", list(data["red_flags"].items()))
    section("Free-text answers, by kind", list(data["answers_by_kind"].items()))
    section(
        "Questions the bot could not answer (identifiers removed)", list(data["unanswered"].items())
    )
    labels = {
        "waiting": "updates waiting to be answered",
        "set_aside": "updates set aside (could not be read; last 24 h)",
        "unsent": "replies waiting to be sent",
        "failed": "replies not delivered (last 24 h)",
    }
    section(
        "Delivery, now",
        [(labels.get(k, k), v) for k, v in data.get("delivery", {}).items()],
    )
    return "\n".join(out).rstrip() + "\n"
