"""Pictures of flows for moderators: Mermaid and Graphviz DOT, coloured by urgency."""

from __future__ import annotations

from bot.content.loader import Bundle
from bot.content.model import Choice, Flow, Node
from bot.events import Urgency

COLOURS = {
    Urgency.EMERGENCY: "#dc2626",
    Urgency.URGENT: "#ea580c",
    Urgency.ROUTINE: "#2563eb",
    Urgency.SELF_CARE: "#16a34a",
}
_NEUTRAL = "#6b7280"


def _urgency(bundle: Bundle, choice: Choice) -> Urgency | None:
    levels = [choice.urgency] if choice.urgency else []
    flags = {f.id: f for f in bundle.safety.red_flags}
    if choice.red_flag in flags:
        levels.append(Urgency(flags[choice.red_flag].urgency))
    return min(levels, key=lambda u: u.rank) if levels else None


def _target(choice: Choice) -> str:
    if choice.next:
        return choice.next
    return f"action_{choice.action}"


def _outcome_label(node: Node) -> str:
    assert node.outcome is not None
    return "Outcome: report" if node.outcome.report else f"Outcome: {_short(node.outcome.text)}"


def _short(text: str, limit: int = 48) -> str:
    text = " ".join(text.replace("**", "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def mermaid(bundle: Bundle, flow: Flow) -> str:
    """The flow as a Mermaid flowchart (paste into any Markdown viewer that renders Mermaid)."""
    lines = ["flowchart TD"]
    actions: set[str] = set()
    flags: set[str] = set()
    edges: list[tuple[str, str, str, Urgency | None]] = []
    for node in flow.nodes:
        if node.outcome is not None:
            label = _outcome_label(node)
            lines.append(f'    {node.id}(["{_mermaid_text(label)}"])')
            lines.append(f"    class {node.id} outcome")
        else:
            lines.append(f'    {node.id}["{_mermaid_text(_short(node.ask or node.id))}"]')
        for choice in node.choices:
            if choice.action:
                actions.add(choice.action)
            urgency = _urgency(bundle, choice)
            edges.append((node.id, _target(choice), choice.label, urgency))
            if choice.red_flag:
                flags.add(choice.red_flag)
                edges.append((node.id, f"flag_{choice.red_flag}", "red flag", urgency))
    for action in sorted(actions):
        lines.append(f'    action_{action}[/"{action}"/]')
    for flag in sorted(flags):
        lines.append(f'    flag_{flag}{{{{"escalate: {flag}"}}}}')
        lines.append(f"    class flag_{flag} redflag")
    styles = []
    for index, (source, target, label, urgency) in enumerate(edges):
        lines.append(f'    {source} -->|"{_mermaid_text(_short(label, 32))}"| {target}')
        if urgency is not None:
            styles.append(f"    linkStyle {index} stroke:{COLOURS[urgency]},stroke-width:2px")
    lines += styles
    lines.append("    classDef outcome fill:#dcfce7,stroke:#16a34a")
    lines.append("    classDef redflag fill:#fee2e2,stroke:#dc2626")
    return "\n".join(lines) + "\n"


def _mermaid_text(text: str) -> str:
    return text.replace('"', "#quot;")


def _dot_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def dot(bundle: Bundle, flow: Flow) -> str:
    """The flow as Graphviz DOT (``dot -Tsvg`` draws it)."""
    lines = [
        f'digraph "{_dot_text(flow.id)}" {{',
        "    rankdir=TB;",
        '    node [shape=box, style="rounded,filled", fillcolor="#f9fafb", fontname="Helvetica"];',
        '    edge [fontname="Helvetica", fontsize=10];',
        f'    label="{_dot_text(flow.title)}"; labelloc=t;',
    ]
    extra: dict[str, str] = {}
    for node in flow.nodes:
        if node.outcome is not None:
            label = _outcome_label(node)
            lines.append(
                f'    "{node.id}" [label="{_dot_text(label)}", shape=ellipse, fillcolor="#dcfce7"];'
            )
        else:
            lines.append(f'    "{node.id}" [label="{_dot_text(_short(node.ask or node.id))}"];')
        for choice in node.choices:
            urgency = _urgency(bundle, choice)
            colour = COLOURS[urgency] if urgency else _NEUTRAL
            target = _target(choice)
            if choice.action:
                extra[target] = f'    "{target}" [label="{choice.action}", shape=parallelogram];'
            lines.append(
                f'    "{node.id}" -> "{target}" [label="{_dot_text(_short(choice.label, 32))}", color="{colour}", fontcolor="{colour}"];'
            )
            if choice.red_flag:
                flag = f"flag_{choice.red_flag}"
                extra[flag] = (
                    f'    "{flag}" [label="escalate: {choice.red_flag}", shape=octagon, fillcolor="#fee2e2"];'
                )
                lines.append(f'    "{node.id}" -> "{flag}" [color="{colour}", style=dashed];')
    lines += sorted(extra.values())
    lines.append("}")
    return "\n".join(lines) + "\n"
