"""Store the vectors of every text start-up embeds, so that start-up reads them instead.

The texts are content's own: the recall net's red-flag examples, the example questions and
answer sentences of every card, and the question model's bank. Their vectors go to
``content/models/vectors.npz`` (`bot.content.vectors`). Run it after changing content or
retraining the question model (tools/train_questions.py runs it); a test checks that the
store holds every text and the very rows the model gives them. A stale store only makes
start-up slower: texts it lacks are embedded as before.

    python tools/embed_content.py             # write content/models/vectors.npz
    python tools/embed_content.py --check     # exit 1 if the store is not used in full
    python tools/embed_content.py --content /content   # another content folder (the Docker
                                                       # image has this tool too)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.content.loader import load_content  # noqa: E402
from bot.content.vectors import VECTORS  # noqa: E402
from bot.language.embedding import load_embedder, made_by  # noqa: E402
from bot.moderation.vectors import missing_texts, store_vectors  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--content", type=Path, default=ROOT / "content")
    parser.add_argument("--check", action="store_true", help="exit 1 if any text is missing")
    args = parser.parse_args()
    bundle = load_content(args.content)
    embedder = load_embedder()
    if embedder is None:
        raise SystemExit("the embedding model is needed to store or check vectors")
    if args.check:
        if bundle.vectors is None or not made_by(embedder, bundle.vectors):
            print(f"{VECTORS} is missing, unreadable or made by another embedding model")
            return 1
        missing = missing_texts(bundle)
        print(f"{len(missing)} text(s) start-up embeds are not stored in {VECTORS}")
        return 1 if missing else 0
    stored = store_vectors(bundle, embedder)
    out = args.content / VECTORS
    stored.write(out)
    print(f"wrote {out}: {len(stored)} texts, {out.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
