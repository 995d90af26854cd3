"""Safety benchmark: how the red-flag check triages labelled free-text vignettes.

Vignettes (tests/data/vignettes*.yaml) are written independently of the content's phrasings.
Reported the way symptom checkers are judged (Semigran et al. 2015; Gilbert et al. 2020):
emergencies escalated as emergencies, urgent cases escalated at least as urgent ("safe"),
and over-triage: benign messages that raised an alarm.

Each round of vignettes was first run as a held-out set and then used to improve the rules.
The check is scored as the bot runs it: rules, then the triage model, then the recall net; the
report says how often the model raised a flag no rule raised and how often the one-tap
question was asked.
``--at COMMIT`` scores a vignette file with the code and content of an earlier commit (in a
temporary git worktree), which reproduces a round's first run where that state was committed.

Usage: python benchmarks/safety.py [--set FILE] [--at COMMIT] [--quiet]

``--quiet`` prints the figures without the texts of misses and alarms, so a held-out round can
be scored without being read.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"

SETS = {
    "round 1 (used for tuning)": "vignettes.yaml",
    "round 2 (used for tuning after its first run)": "vignettes_round2.yaml",
    "round 3 (used for tuning after its first run)": "vignettes_round3.yaml",
    "round 4 (used for tuning after its first run)": "vignettes_round4.yaml",
    "round 5 (used for tuning after its first run)": "vignettes_round5.yaml",
    "round 6 (used for tuning after its first run)": "vignettes_round6.yaml",
    "round 7 (used for tuning after its first run)": "vignettes_round7.yaml",
    "round 8 (used for tuning after its first run)": "vignettes_round8.yaml",
    "round 9 (blind; used to build the findings/context/rules layer)": "vignettes_round9.yaml",
    "round 10 (blind; used for tuning after its first run)": "vignettes_round10.yaml",
    "round 11 (blind; used for tuning after its first run)": "vignettes_round11.yaml",
    "round 12 (blind; used for tuning after its first run)": "vignettes_round12.yaml",
    "round 13 (blind; used for tuning after its first run)": "vignettes_round13.yaml",
    "round 14 (blind, held out)": "heldout/vignettes_round14.yaml",
    "round 15 (blind; used for tuning after its second run)": "vignettes_round15.yaml",
    "round 16 (blind; used for tuning after its second run)": "vignettes_round16.yaml",
    "round 17 (blind; used for tuning after its second run)": "vignettes_round17.yaml",
    "round 18 (blind; used for tuning after its third run)": "vignettes_round18.yaml",
    "round 19 (blind; used for tuning after its second run)": "vignettes_round19.yaml",
    "round 20 (blind; used for tuning after its third run)": "vignettes_round20.yaml",
    "round 21 (blind; used for tuning after its second run)": "vignettes_round21.yaml",
    "round 22 (blind; read and used for tuning after its held-out runs)": "vignettes_round22.yaml",
    "round 23 (blind; read and used for tuning after its held-out runs)": "vignettes_round23.yaml",
    "round 24 (blind; read and used for tuning after its held-out runs)": "vignettes_round24.yaml",
    "round 25 (blind; read and used for tuning after its held-out runs)": "vignettes_round25.yaml",
    "round 26 (blind; read and used for tuning after its held-out runs)": "vignettes_round26.yaml",
    "round 27 (blind; read and used for tuning after its held-out runs)": "vignettes_round27.yaml",
    "round 28 (blind, held out)": "heldout/vignettes_round28.yaml",
    "round 29 (blind, held out)": "heldout/vignettes_round29.yaml",
    "round 30 (blind, held out)": "heldout/vignettes_round30.yaml",
    "round 31 (blind, held out)": "heldout/vignettes_round31.yaml",
    "round 32 (blind; read and used for tuning after its first run)": "vignettes_round32.yaml",
    "round 33 (blind, held out)": "heldout/vignettes_round33.yaml",
    "round 34 (blind; read and used for tuning after its first run)": "vignettes_round34.yaml",
    "round 35 (blind, held out)": "heldout/vignettes_round35.yaml",
}

# Runs inside the tree being measured: prints [group, text, urgency, flag, how] per vignette,
# where how is "rule", "net" (raised by the recall net) or "ask" (its clarifying question).
_SCORE = """
import json, sys, yaml
try:  # the layout since the rooms (issue 8); before that bot/ was flat
    from bot.content.loader import bundled_content_dir, load_content
    from bot.language.safety import RedFlagScanner
except ImportError:
    from bot.loader import bundled_content_dir, load_content
    from bot.safety import RedFlagScanner
try:  # with the recall net, as the running bot builds it (since issue 9)
    try:
        from bot.language.embedding import load_embedder
    except ImportError:  # commits before 2026-11-27 kept it in recall
        from bot.language.recall import load_embedder  # type: ignore[no-redef]
    bundle = load_content(bundled_content_dir())
    if hasattr(RedFlagScanner, "for_bundle"):  # with the triage model (since round 23)
        scanner = RedFlagScanner.for_bundle(bundle, load_embedder())
    else:
        scanner = RedFlagScanner(bundle.safety, load_embedder())
except ImportError:
    scanner = RedFlagScanner(load_content(bundled_content_dir()).safety)
rows = []
for group, texts in yaml.safe_load(open(sys.argv[1], encoding="utf-8")).items():
    for text in texts:
        if hasattr(scanner, "assess"):
            a = scanner.assess(text)
            hits = list(a.hits)
            how = ("net" if hits[0].rule == "recall net" else
                   "model" if hits[0].rule.startswith("triage model") else "rule") if hits else (
                "ask" if getattr(a, "clarify", None) else None)
        else:
            hits, how = scanner.scan(text), None
        rows.append([group, text, hits[0].urgency.value if hits else None,
                     hits[0].flag.id if hits else None, how])
print(json.dumps(rows))
"""


Row = tuple[str, "str | None", "str | None", "str | None"]  # text, urgency, flag, how


def evaluate(vignettes: Path, tree: Path = ROOT) -> dict[str, list[Row]]:
    """Each vignette group with the most urgent urgency the check in ``tree`` gave every message."""
    done = subprocess.run(
        [sys.executable, "-c", _SCORE, str(vignettes)],
        capture_output=True, text=True, check=True, cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)},
    )  # fmt: skip
    out: dict[str, list[Row]] = {}
    for group, text, urgency, flag, how in json.loads(done.stdout):
        out.setdefault(group, []).append((text, urgency, flag, how))
    return out


def report(results: dict[str, list[Row]], quiet: bool = False) -> None:
    """Print the three figures, the net's share, which flags caught what, misses and alarms."""
    results = {"emergency": [], "emergency_or_urgent": [], "benign": [], **results}
    emergency = [(t, u) for t, u, _, _ in results["emergency"]]
    urgent = [(t, u) for t, u, _, _ in results["emergency_or_urgent"]]
    benign = [(t, u) for t, u, _, _ in results["benign"]]
    rows = [r for group in results.values() for r in group]
    caught = [t for t, u in emergency if u == "emergency"]
    safe_urgent = [t for t, u in urgent if u in ("emergency", "urgent")]
    alarms = [t for t, u in benign if u is not None]
    print(f"emergencies escalated as emergency: {len(caught)}/{len(emergency)}")
    print(f"urgent cases escalated (urgent or emergency): {len(safe_urgent)}/{len(urgent)}")
    print(f"benign messages with a needless alarm (over-triage): {len(alarms)}/{len(benign)}")
    asked = sum(1 for r in rows if r[3] == "ask")
    netted = sum(1 for r in rows if r[3] == "net")
    print(f"recall net raised {netted}; the one-tap question (is it happening now?) was asked "
          f"{asked} times, of {len(rows)} messages")  # fmt: skip
    modelled = [(g, r[1]) for g, group in results.items() for r in group if r[3] == "model"]
    if modelled:
        by_group = {g: sum(1 for gg, _ in modelled if gg == g) for g in results}
        print("triage model raised (no rule raised as much): "
              + ", ".join(f"{g} {n}" for g, n in by_group.items()))  # fmt: skip
    caught_by: dict[str, int] = {}
    for _text, _urgency, flag, _how in results["emergency"] + results["emergency_or_urgent"]:
        if flag is not None:
            caught_by[flag] = caught_by.get(flag, 0) + 1
    print("flags raised on emergency and urgent vignettes (the sets carry no per-flag labels): "
          + ", ".join(f"{f} {n}" for f, n in sorted(caught_by.items(), key=lambda x: -x[1])))  # fmt: skip
    if quiet:
        return
    missed = [t for t, u in emergency if u != "emergency"] + [t for t, u in urgent if u is None]
    for text in missed:
        print(f"  missed: {text}")
    for text in alarms:
        print(f"  alarm:  {text}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--set", help="one vignette file from tests/data (default: all rounds)")
    parser.add_argument(
        "--at", metavar="COMMIT", help="score with the code and content of this commit"
    )
    parser.add_argument("--quiet", action="store_true", help="figures only, no message texts")
    args = parser.parse_args()
    command = "python benchmarks/safety.py" + (f" --set {args.set}" if args.set else "")
    print("command: " + command + (f" --at {args.at}" if args.at else ""))
    sets = {args.set: args.set} if args.set else SETS
    with tempfile.TemporaryDirectory() as tmp:
        tree = ROOT
        if args.at:
            tree = Path(tmp) / "tree"
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), args.at],
                           check=True, capture_output=True)  # fmt: skip
        try:
            for title, name in sets.items():
                if not (DATA / name).exists():
                    print(
                        f"\n{title}: none yet (tests/data/{name}); write one before tuning safety content again"
                    )
                    continue
                print(f"\n{title} (tests/data/{name})")
                report(evaluate(DATA / name, tree), args.quiet)
        finally:
            if args.at:
                subprocess.run(
                    ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                    check=False,
                )


if __name__ == "__main__":
    main()
