"""The semantic recall net: nearest example descriptions of each red flag, by embedding.

Rules catch what they name; the net is for phrasings no rule foresaw. It compares a message
with the example descriptions the content gives for each red flag, using a small static
embedding model that ships inside its PyPI package (wordllama, 16 MB, MIT). Static embeddings
measure topic, not negation, time or who is affected, so the scanner consults the net only
where no rule fired and only on the sentences holding a current symptom finding; above the
``escalate`` score it raises the flag, in the grey zone above ``ask`` it asks one question.
It never lowers an urgency, and is not asked once a rule has raised one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from bot.content.model import RedFlag

_log = logging.getLogger(__name__)


class Embedder(Protocol):
    """Turns texts into unit-length vectors (one row per text)."""

    def embed(self, texts: Sequence[str]) -> Any:
        """A 2-D array of normalised embeddings."""


class WordLlamaEmbedder:
    """The packaged wordllama model, loaded from its own package folder, never downloaded."""

    def __init__(self) -> None:
        import wordllama

        folder = Path(wordllama.__file__).resolve().parent
        # wordllama 0.4 looks for the tokenizer under cache_dir; its package folder has it
        self._model = wordllama.WordLlama.load(cache_dir=folder, disable_download=True)

    def embed(self, texts: Sequence[str]) -> Any:
        """Normalised 256-dimensional embeddings of ``texts``."""
        return self._model.embed(list(texts), norm=True)


def load_embedder() -> Embedder | None:
    """The packaged model, or None (with a warning) when it cannot be loaded here."""
    try:
        return WordLlamaEmbedder()
    except Exception as exc:  # the rules still work without the net
        _log.warning("the safety recall net is off: %s", exc)
        return None


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
