"""Question benchmark: how many real questions get a specific, correct answer.

Question sets (tests/data/heldout/questions_*.yaml) are written by someone who never saw the
content: each question as people type it, its area, and what a correct answer must contain
(``must``: groups of alternatives; every group must appear in the reply). Each question is
asked of a fresh session, with the packaged embedding model, and counted as:

- correct: the reply contains every group of ``must``;
- honest: the bot said it does not know, or offered "Did you mean" choices (``offered``: the
  share of all questions where one of those choices, tapped, gives a correct answer);
- wrong: any other answer (a confident answer without what the question needed), or an alarm.

Two more figures say where a miss comes from: ``reachable``, the share of questions for which
some answer of the content holds every group of ``must`` (what better content could add), and
``ranked first``, the share whose top-ranked card holds them (what a better decision could add).
``alarms`` counts replies that led with an urgent or emergency escalation: on these ordinary
questions, each is a needless alarm (it is also counted wrong).

Goal on the first run of a fresh set: >= 90% correct, <= 3% wrong, the rest honest.
``--at COMMIT`` scores a set with the code and content of an earlier commit (a git worktree).
Several sets give each one's figures, then all together, with how the answered cards were
decided (the rule of `Decision.reason`: "clear", "score", "topic words"...) and how often each
was right.

``--bank without-set`` asks a set the question model was trained on (A-L, the card
paraphrases) with its own questions left out of the bank, as new questions; ``--bank none``
asks without the question model.

``--replies FILE`` writes every question with its gist and the reply, buttons included (and
the reply's digest), for a judge who reads them blind to the verdicts; ``--judged FILE`` (id:
"right", "partly", "wrong" or "honest", then the reply's digest) prints the judge's shares
and how they meet the verdicts, without any text; a label whose reply has since changed is
left out as stale. tests/data/judged_replies/ holds the labels of the held-out sets.

Usage: python benchmarks/questions.py [--set FILE ...] [--at COMMIT] [--quiet] [--area AREA]
       [--bank all|without-set|none] [--replies FILE] [--judged FILE]
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SET = ROOT / "tests" / "data" / "heldout" / "questions_a.yaml"


def score(path: Path, root: Path, bank: str = "all") -> list[dict[str, Any]]:
    """Ask every question of ``path`` with the code and content under ``root``; ``bank`` is
    "all" (the question model as shipped), "without-set" (its bank without this set's own
    questions, for a set the bank was built from) or "none" (no question model)."""
    sys.path.insert(0, str(root))
    import yaml

    from bot.content.loader import load_content
    from bot.conversation.dialogue import UNANSWERED, Dialogue
    from bot.events import Incoming, SessionKey

    try:
        from bot.language.embedding import load_embedder
    except ImportError:  # commits before 2026-11-27 kept it in recall
        from bot.language.recall import load_embedder  # type: ignore[no-redef]
    from bot.storage.store import Session

    bundle = load_content(root / "content")
    model = getattr(bundle, "questions", None)  # earlier commits: no question model
    if model is not None and bank == "none":
        bundle = dataclasses.replace(bundle, questions=None)
    elif model is not None and bank == "without-set":
        own = {item["text"] for item in yaml.safe_load(path.read_text(encoding="utf-8"))}
        kept = tuple((q, refs) for q, refs in model.bank if q not in own)
        bundle = dataclasses.replace(bundle, questions=model.model_copy(update={"bank": kept}))
    dialogue = Dialogue(bundle, load_embedder())
    texts: dict[str, str] = {}  # every answer the bot can give, by its reference
    try:
        from bot.language.retrieval import candidates

        for c in candidates(bundle):
            rendered = dialogue.answers.render(c.ref)
            texts[c.ref] = rendered.text.casefold() if rendered is not None else ""
    except (ImportError, AttributeError):  # earlier commits: no answer cards
        pass

    def holds(text: str, must: list[list[str]]) -> bool:
        """Whether ``text`` (case-folded) holds an alternative of every group of ``must``."""
        return bool(text) and all(any(a.casefold() in text for a in g) for g in must)

    try:  # the text as the dialogue reads a message
        from bot.conversation.dialogue import MAX_SCAN
        from bot.language.text import clean_text

        def read_as(text: str) -> str:
            return clean_text(text[:MAX_SCAN])
    except ImportError:  # earlier commits

        def read_as(text: str) -> str:
            return text

    results = []
    for item in yaml.safe_load(path.read_text(encoding="utf-8")):
        must = item["must"]
        decision = None
        if hasattr(dialogue, "lookup"):
            text = read_as(item["text"])
            decision = dialogue.lookup(text, dialogue.understanding.route(text))
        first = decision.ranked[0].candidate.ref if decision and decision.ranked else ""
        turn = dialogue.respond(Session(), Incoming(SessionKey("bench", "1"), text=item["text"]))
        shown = "\n".join(
            r.text + "".join(f"\n[button] {b.label}" for b in r.buttons) for r in turn.replies
        )
        reply = "\n".join(r.text for r in turn.replies).casefold()
        kinds = {kind for kind, _ in turn.events}
        missing = [g for g in must if not holds(reply, [g])]
        alarm = any(r.urgency is not None and r.urgency.value in ("emergency", "urgent")
                    for r in turn.replies)  # fmt: skip
        reason = ""
        if ("intent", "card_answer") in turn.events and decision is not None:
            reason = getattr(decision, "reason", "")  # earlier commits give no reason
        offered = False  # "Did you mean" with a right card one tap away
        if "suggest" in kinds and not alarm:
            for button in (b for r in turn.replies for b in r.buttons if b.id.startswith("k:")):
                tapped = dialogue.respond(
                    Session(), Incoming(SessionKey("bench", "1"), button=button.id)
                )
                offered = offered or holds(
                    "\n".join(r.text for r in tapped.replies).casefold(), must
                )
        if not missing and not alarm:
            verdict = "correct"
        elif not alarm and (UNANSWERED in kinds or "suggest" in kinds):
            verdict = "honest"
        else:
            verdict = "wrong"
        results.append(
            {"id": item["id"], "area": item["area"], "text": item["text"], "verdict": verdict,
             "offered": offered and verdict == "honest",
             # reachable: some answer holds what is needed; ranked first: the top card does
             "reachable": any(holds(t, must) for t in texts.values()),
             "first": holds(texts.get(first, ""), must),
             "missing": missing, "alarm": alarm, "reason": reason,
             "first_line": reply.splitlines()[0] if reply else "", "gist": item.get("gist", ""),
             "reply": shown}
        )  # fmt: skip
    return results


def run(path: Path, at: str | None, bank: str = "all") -> list[dict[str, Any]]:
    """Score one set, at this tree or at commit ``at``."""
    if not at:
        return score(path, Path(os.environ.get("NERVEBOT_BENCH_ROOT", ROOT)), bank)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", tmp, at],
                       check=True, capture_output=True)  # fmt: skip
        try:
            out = subprocess.run(
                [sys.executable, str(Path(__file__).resolve()), "--set", str(path), "--json",
                 "--bank", bank],
                check=True, capture_output=True, text=True,
                env={**os.environ, "NERVEBOT_BENCH_ROOT": tmp},
            )  # fmt: skip
            return list(json.loads(out.stdout))
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", tmp],
                           check=False, capture_output=True)  # fmt: skip


def table(results: list[dict[str, Any]], by: str) -> None:
    """Correct / honest / wrong per value of ``by`` (an area, or a set), then in all."""
    groups: dict[str, Counter[str]] = defaultdict(Counter)
    for r in results:
        for group in (r[by], "ALL"):
            groups[group][r["verdict"]] += 1
            groups[group]["offered"] += bool(r.get("offered"))
    print(f"\n{by:<18} {'n':>4} {'correct':>8} {'honest':>7} {'wrong':>6}   {'offered':>7}")
    for name in sorted(groups, key=lambda a: (a == "ALL", a)):
        c = groups[name]
        n = c["correct"] + c["honest"] + c["wrong"]
        print(
            f"{name:<18} {n:>4} {c['correct'] / n:>8.1%} {c['honest'] / n:>7.1%} {c['wrong'] / n:>6.1%}"
            f"   {c['offered'] / n:>7.1%}"
        )


def reply_digest(reply: str) -> str:
    """A short fingerprint of a reply, so that a judge's label is known to be about it."""
    return hashlib.sha256(reply.encode("utf-8")).hexdigest()[:10]


def judged(results: list[dict[str, Any]], given: dict[str, str]) -> None:
    """A judge's labels of the replies (no texts): each label's share, and against the verdicts.
    A label is "LABEL DIGEST" (the reply's digest in the --replies file it was made from);
    a label whose reply has changed since is stale and left out."""
    labels: dict[str, str] = {}
    stale = 0
    for r in results:
        label, _, digest = str(given.get(r["id"], "")).partition(" ")
        if label and digest and digest != reply_digest(r["reply"]):
            stale += 1
        elif label:
            labels[r["id"]] = label
    unknown = sorted(set(labels.values()) - {"right", "partly", "wrong", "honest"})
    if unknown:
        raise SystemExit(f"--judged: labels must be right, partly, wrong or honest, not {unknown}")
    rows = [r for r in results if r["id"] in labels]
    if stale:
        print(f"\njudged: {stale} labels are stale (their reply changed since): left out")
    if not rows:
        print("\njudged: no labels for these questions")
        return
    kinds = ("right", "partly", "wrong", "honest")
    n = len(rows)
    print(f"\njudged ({n} of {len(results)} replies labelled by a reader who saw the gist):")
    print(
        "  " + "   ".join(f"{k} {sum(labels[r['id']] == k for r in rows) / n:.1%}" for k in kinds)
    )
    print(f"  {'verdict':<9}" + "".join(f"{k:>8}" for k in kinds))
    for verdict in ("correct", "honest", "wrong"):
        line = [sum(r["verdict"] == verdict and labels[r["id"]] == k for r in rows) for k in kinds]
        print(f"  {verdict:<9}" + "".join(f"{c:>8}" for c in line))
    print(f"  {'area':<18}{'n':>4}" + "".join(f"{k:>8}" for k in kinds))
    for area in sorted({r["area"] for r in rows}):
        mine = [r for r in rows if r["area"] == area]
        counts = [sum(labels[r["id"]] == k for r in mine) for k in kinds]
        print(f"  {area:<18}{len(mine):>4}" + "".join(f"{c:>8}" for c in counts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", type=Path, nargs="+", default=[DEFAULT_SET])
    parser.add_argument("--at", help="score with the code and content of this commit")
    parser.add_argument("--quiet", action="store_true", help="figures only, no question texts")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--area", help="list the misses of one area")
    parser.add_argument(
        "--replies", type=Path, metavar="FILE",
        help="write each question, its gist and the bot's reply (with its buttons) for a judge",
    )  # fmt: skip
    parser.add_argument(
        "--judged", type=Path, metavar="FILE",
        help="a judge's labels of replies (question id: right|partly|wrong|honest), e.g. of"
        " --replies: counts against the verdicts (not tests/data/judged/, which labels answers)",
    )  # fmt: skip
    parser.add_argument(
        "--bank", choices=("all", "without-set", "none"), default="all",
        help="the question model's bank: as shipped, without the set's own questions, or no model",
    )  # fmt: skip
    args = parser.parse_args()
    results = []
    for path in (p.resolve() for p in args.set):
        for r in run(path, args.at, args.bank):
            r["set"] = path.stem.removeprefix("questions_")
            results.append(r)
    if args.json:
        print(json.dumps(results))
        return
    if args.replies:
        entries = [
            {**{k: r[k] for k in ("id", "area", "text", "gist", "reply")},
             "digest": reply_digest(r["reply"])}
            for r in results
        ]  # fmt: skip
        args.replies.write_text(
            yaml.safe_dump(entries, allow_unicode=True, sort_keys=False, width=100), "utf-8"
        )
    at = f" --at {args.at}" if args.at else ""
    at += f" --bank {args.bank}" if args.bank != "all" else ""
    shown = " ".join(
        str(p.resolve().relative_to(ROOT) if p.resolve().is_relative_to(ROOT) else p)
        for p in args.set
    )
    print(f"command: python benchmarks/questions.py --set {shown}{at}")
    table(results, "area")
    print(f"\n{'set':<18} {'n':>4} {'reachable':>9} {'ranked first':>12} {'alarms':>6}")
    sets = sorted({r["set"] for r in results})
    for name in [*sets, "ALL"] if len(sets) > 1 else sets:
        rows = [r for r in results if name in ("ALL", r["set"])]
        n = len(rows)
        reach = sum(bool(r.get("reachable")) for r in rows) / n
        first = sum(bool(r.get("first")) for r in rows) / n
        alarms = sum(bool(r.get("alarm")) for r in rows)
        print(f"{name:<18} {n:>4} {reach:>9.1%} {first:>12.1%} {alarms:>6}")
    if len(args.set) > 1:
        table(results, "set")
        decided: dict[str, Counter[str]] = defaultdict(Counter)
        for r in results:
            if r.get("reason"):
                decided[r["reason"]][r["verdict"]] += 1
        if decided:
            print(f"\n{'answered by rule':<22} {'n':>4} {'right':>6}")
            for reason, c in sorted(decided.items()):
                n = sum(c.values())
                print(f"{reason:<22} {n:>4} {c['correct'] / n:>6.0%}")
    if args.judged:
        judged(results, yaml.safe_load(args.judged.read_text(encoding="utf-8")))
    if not args.quiet:
        for r in results:
            if r["verdict"] != "correct" and (args.area in (None, r["area"])):
                print(f"\n[{r['verdict']}] {r['id']} {r['area']}: {r['text']}\n  -> {r['first_line'][:100]}"
                      f"\n  missing: {r['missing']}")  # fmt: skip


if __name__ == "__main__":
    main()
