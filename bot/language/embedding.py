"""Sentence embeddings: the packaged wordllama model, and content's texts read from storage.

The model is a small static embedding model that ships inside its PyPI package (wordllama,
16 MB, MIT): a text's vector is the normalised mean of its tokens' vectors, so it does not
depend on the other texts of a batch. That makes stored vectors exact: `StoredEmbedder`
takes the rows of content's own texts from `bot.content.vectors.StoredVectors` and embeds
only what the store lacks, giving the very rows the model would.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from threadpoolctl import threadpool_limits

from bot.content.vectors import PROBES, StoredVectors

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
    """The packaged model, or None (with a warning) when it cannot be loaded here; numpy's
    BLAS is kept to one thread from then on (`one_blas_thread`)."""
    one_blas_thread()
    try:
        return WordLlamaEmbedder()
    except Exception as exc:  # the rules still work without the net
        _log.warning("the safety recall net is off: %s", exc)
        return None


def one_blas_thread() -> None:
    """Keep numpy's BLAS (its matrix products) to one thread in this process.

    The bot's products are small: a question's vector against a few thousand rows, tens of
    microseconds on one core. With one BLAS thread per core, each product waits for every
    core, and on a shared machine whose other core is busy that made looking up an answer
    several times slower (about 1 ms a question against 5 to 7 ms, two cores under load).
    """
    threadpool_limits(limits=1, user_api="blas")


class StoredEmbedder:
    """``embedder``, with the texts ``vectors`` holds read from it instead of embedded."""

    def __init__(self, embedder: Embedder, vectors: StoredVectors) -> None:
        self._embedder = embedder
        self._vectors = vectors

    def embed(self, texts: Sequence[str]) -> Any:
        """Rows of ``texts``: stored rows where there are some, the model's for the rest."""
        rows = [self._vectors.row(t) for t in texts]
        missing = [i for i, row in enumerate(rows) if row is None]
        if not missing:
            return self._vectors.rows[np.array(rows, dtype=np.intp)]
        out = np.empty((len(texts), self._vectors.rows.shape[1]), dtype=np.float32)
        found = [i for i, row in enumerate(rows) if row is not None]
        out[found] = self._vectors.rows[np.array([rows[i] for i in found], dtype=np.intp)]
        out[missing] = self._embedder.embed([texts[i] for i in missing])
        return out


def with_stored(embedder: Embedder | None, vectors: StoredVectors | None) -> Embedder | None:
    """``embedder`` reading content's texts from ``vectors`` when this model made them (it
    gives the `PROBES` the store carries the very same rows), else ``embedder`` itself."""
    if embedder is None or vectors is None:
        return embedder
    if not made_by(embedder, vectors):
        _log.warning(
            "stored vectors were not made by this embedding model: start-up embeds live "
            "(run python tools/embed_content.py)"
        )
        return embedder
    return StoredEmbedder(embedder, vectors)


def made_by(embedder: Embedder, vectors: StoredVectors) -> bool:
    """Whether ``vectors`` were made by ``embedder``: the store carries the `PROBES`, and the
    model gives them the stored rows exactly."""
    if vectors.probes != PROBES:
        return False
    try:
        live = np.asarray(embedder.embed(list(PROBES)))
    except Exception as exc:  # a model that cannot embed the probes cannot vouch for the store
        _log.warning("the embedding model failed on the probe texts: %s", exc)
        return False
    return live.shape == vectors.probe_rows.shape and bool(np.array_equal(live, vectors.probe_rows))
