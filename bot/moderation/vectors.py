"""Which texts of a content bundle start-up embeds, and the stored vectors that spare it that.

``tools/embed_content.py`` writes the store (`bot.content.vectors`); `nervebot validate` warns
when it lacks texts (start-up then embeds them, which is slower but answers the same).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from bot.content.loader import Bundle
from bot.content.vectors import PROBES, StoredVectors
from bot.language.embedding import Embedder
from bot.language.retrieval import CardIndex
from bot.language.safety import RedFlagScanner


class _Recorder:
    """An embedder that notes every text it is given and returns zero rows."""

    def __init__(self) -> None:
        self.texts: dict[str, None] = {}

    def embed(self, texts: Sequence[str]) -> Any:
        self.texts.update(dict.fromkeys(texts))
        return np.zeros((len(texts), 1), dtype=np.float32)


def content_texts(bundle: Bundle) -> list[str]:
    """Every text start-up embeds for ``bundle`` (the recall net's examples, example questions,
    answer sentences and bank questions), each once, in the order first met."""
    recorder = _Recorder()
    bare = dataclasses.replace(bundle, vectors=None)
    RedFlagScanner.for_bundle(bare, recorder)
    CardIndex(bare, recorder)
    return list(recorder.texts)


def missing_texts(bundle: Bundle) -> list[str]:
    """The texts start-up embeds that ``bundle``'s stored vectors lack (all without a store)."""
    stored = bundle.vectors
    return [t for t in content_texts(bundle) if stored is None or stored.row(t) is None]


def store_vectors(bundle: Bundle, embedder: Embedder) -> StoredVectors:
    """The vectors of every text start-up embeds for ``bundle``, made by ``embedder``."""
    texts = content_texts(bundle)
    rows = np.asarray(embedder.embed(texts), dtype=np.float32)
    probe_rows = np.asarray(embedder.embed(list(PROBES)), dtype=np.float32)
    return StoredVectors(tuple(StoredVectors.key(t) for t in texts), rows, PROBES, probe_rows)
