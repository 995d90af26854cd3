"""Stored vectors: the embeddings of content's own texts, computed ahead of time.

Start-up embeds every example question, answer sentence, bank question and red-flag example
of the content. ``tools/embed_content.py`` stores their vectors in `VECTORS` beside the
question model, so start-up reads them instead (`bot.language.embedding.StoredEmbedder`).
The store is a cache, never content: a text it lacks is embedded as before, a store that is
missing, unreadable or made by another model is ignored (with a warning), and it is not part
of the content's version.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

_log = logging.getLogger(__name__)

#: Where the store is, inside a content folder.
VECTORS = "models/vectors.npz"
#: Bytes of a text's key (its BLAKE2b digest).
KEY_BYTES = 16
#: Texts whose stored rows must equal the model's own for the store to be used: the store
#: carries exactly these (a store with other or no probes is not used).
PROBES = (
    "my eyelid keeps twitching",
    "magnesium and night cramps",
    "vitamin b12 tingling",
    "can i take calcium with levothyroxine?",
    "numbness in both feet after weight loss surgery",
)


@dataclass(frozen=True, eq=False)
class StoredVectors:
    """Rows of vectors by text key, and the probe texts that show which model made them."""

    keys: tuple[bytes, ...] = field(repr=False)
    rows: np.ndarray = field(repr=False)
    probes: tuple[str, ...]
    probe_rows: np.ndarray = field(repr=False)
    _row_of: dict[bytes, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.rows.ndim != 2 or len(self.keys) != len(self.rows):
            raise ValueError(f"{len(self.keys)} keys for rows of shape {self.rows.shape}")
        if self.probe_rows.shape != (len(self.probes), self.rows.shape[1]):
            raise ValueError(f"{len(self.probes)} probes for rows of shape {self.probe_rows.shape}")
        object.__setattr__(self, "_row_of", {k: i for i, k in enumerate(self.keys)})

    def __repr__(self) -> str:
        return f"StoredVectors({len(self.keys)} texts, probes={self.probes!r})"

    def __len__(self) -> int:
        return len(self.keys)

    @staticmethod
    def key(text: str) -> bytes:
        """The key of a text in the store: its BLAKE2b digest."""
        return hashlib.blake2b(text.encode("utf-8"), digest_size=KEY_BYTES).digest()

    def row(self, text: str) -> int | None:
        """The row of ``text``, or None when the store lacks it."""
        return self._row_of.get(self.key(text))

    @classmethod
    def read(cls, path: Path) -> StoredVectors | None:
        """The store at ``path``; None when there is none, or (with a warning) when it cannot
        be read."""
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                keys = data["keys"]
                if keys.dtype != np.uint8 or keys.ndim != 2 or keys.shape[1] != KEY_BYTES:
                    raise ValueError(
                        f"keys are {keys.dtype} {keys.shape}, not {KEY_BYTES} bytes each"
                    )
                raw = keys.tobytes()  # (not an S16 array: numpy drops a key's trailing zero bytes)
                probes = data["probes"]
                if probes.ndim != 1 or probes.dtype.kind != "U":
                    raise ValueError(f"probes are {probes.dtype} {probes.shape}, not texts")
                return cls(
                    tuple(raw[i : i + KEY_BYTES] for i in range(0, len(raw), KEY_BYTES)),
                    np.ascontiguousarray(data["rows"], dtype=np.float32),
                    tuple(str(p) for p in probes),
                    np.ascontiguousarray(data["probe_rows"], dtype=np.float32),
                )
        except Exception as exc:  # a cache: whatever is wrong with it, embed live instead
            _log.warning(
                "stored vectors in %s are ignored (%s: %s): start-up embeds live",
                path,
                type(exc).__name__,
                exc,
            )
            return None

    def write(self, path: Path) -> None:
        """Write the store to ``path`` (uncompressed: vectors hardly compress), atomically: a
        bot reading it meanwhile sees the old store or the new one, never half of one."""
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".vectors-", suffix=".npz")
        try:
            with os.fdopen(handle, "wb") as out:
                np.savez(
                    out,
                    keys=np.frombuffer(b"".join(self.keys), dtype=np.uint8).reshape(-1, KEY_BYTES),
                    rows=self.rows.astype(np.float32),
                    probes=np.array(self.probes, dtype=str),
                    probe_rows=self.probe_rows.astype(np.float32),
                )
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
