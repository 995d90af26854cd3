"""The semantic recall net: nearest example descriptions of each red flag, by embedding.

Rules catch what they name; the net is for phrasings no rule foresaw. It compares a message
with the example descriptions the content gives for each red flag, using the packaged
embedding model (`bot.language.embedding`). Static embeddings measure topic, not negation,
time or who is affected, so the scanner consults the net only where no rule fired and only on
the sentences holding a current symptom finding; above the ``escalate`` score it raises the
flag, in the grey zone above ``ask`` it asks one question. It never lowers an urgency, and is
not asked once a rule has raised one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.content.model import RedFlag
from bot.language.embedding import Embedder


@dataclass(frozen=True)
class Nearest:
    """One red flag's closest example to a message, and how close (cosine, -1 to 1)."""

    flag: RedFlag
    example: str
    score: float


class RecallNet:
    """Nearest-neighbour search over every red flag's example descriptions."""

    def __init__(self, flags: Iterable[RedFlag], embedder: Embedder) -> None:
        self._examples = [(flag, text) for flag in flags for text in flag.examples]
        self._embedder = embedder
        self._matrix = embedder.embed([t for _, t in self._examples]) if self._examples else None

    def nearest(self, text: str, limit: int = 3) -> list[Nearest]:
        """The closest example of each red flag, best first, at most ``limit`` flags."""
        if self._matrix is None or not text.strip():
            return []
        scores = self._matrix @ self._embedder.embed([text])[0]
        best: dict[str, Nearest] = {}
        for (flag, example), score in zip(self._examples, scores, strict=True):
            if flag.id not in best or score > best[flag.id].score:
                best[flag.id] = Nearest(flag, example, float(score))
        return sorted(best.values(), key=lambda n: -n.score)[:limit]
