"""Stored vectors: start-up reads the rows of content's own texts instead of embedding them,
and answers exactly as if it had embedded them; a stale, foreign or broken store costs time,
never an answer."""

from __future__ import annotations

import dataclasses
import io
import logging
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bot.content.loader import Bundle, load_content
from bot.content.vectors import VECTORS, StoredVectors
from bot.language.embedding import Embedder, StoredEmbedder, with_stored
from bot.language.retrieval import CardIndex
from bot.language.safety import RedFlagScanner
from bot.moderation.validate import validate_dir
from bot.moderation.vectors import PROBES, content_texts, missing_texts, store_vectors

QUESTIONS = (
    "how much magnesium is in almonds",
    "can i take b6 and magnesium together",
    "my eyelid has been twitching for 3 days",
    "is tonic water good for cramps",
)


class Counting:
    """The real model, noting every text it is asked to embed."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self.texts: list[str] = []

    def embed(self, texts: Sequence[str]) -> Any:
        self.texts += texts
        return self.embedder.embed(texts)


class Shifted:
    """Another model: the real one's rows, rotated by one dimension."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def embed(self, texts: Sequence[str]) -> Any:
        return np.roll(np.asarray(self.embedder.embed(texts)), 1, axis=1)


def _signals(index: CardIndex, text: str) -> list[Any]:
    return [np.asarray(v) for v in dataclasses.astuple(index.signals(text))]


def _same_signals(a: CardIndex, b: CardIndex) -> bool:
    return all(
        np.array_equal(x, y)
        for q in QUESTIONS
        for x, y in zip(_signals(a, q), _signals(b, q), strict=True)
    )


def test_the_shipped_store_holds_every_text_start_up_embeds(bundle: Bundle) -> None:
    assert bundle.vectors is not None, f"no {VECTORS}: run python tools/embed_content.py"
    missing = missing_texts(bundle)
    assert not missing, (
        f"{len(missing)} texts are not stored, e.g. {missing[:3]}: "
        "run python tools/embed_content.py"
    )


def test_stored_rows_are_the_models_rows_exactly(bundle: Bundle, embedder: Embedder) -> None:
    assert bundle.vectors is not None
    texts = content_texts(bundle)
    rows = [bundle.vectors.row(t) for t in texts]
    assert None not in rows
    assert np.array_equal(bundle.vectors.rows[rows], embedder.embed(texts))
    # and a text's row does not depend on the texts embedded with it
    alone = np.vstack([embedder.embed([t]) for t in texts[::97]])
    assert np.array_equal(alone, bundle.vectors.rows[rows[::97]])


def test_start_up_embeds_only_the_probes_with_the_shipped_store(
    bundle: Bundle, embedder: Embedder
) -> None:
    counting = Counting(embedder)
    stored = CardIndex(bundle, counting)
    RedFlagScanner.for_bundle(bundle, counting)
    assert counting.texts == [*PROBES, *PROBES]
    assert _same_signals(stored, CardIndex(dataclasses.replace(bundle, vectors=None), embedder))


def test_edited_content_embeds_only_what_the_store_lacks(
    content_copy: Path, embedder: Embedder
) -> None:
    cards = content_copy / "cards" / "conditions.yaml"
    text = cards.read_text(encoding="utf-8")
    new_ask = "do twitches ever mean something bad is going on"
    cards.write_text(
        text.replace(
            "      - when should i worry about muscle twitching\n",
            f"      - when should i worry about muscle twitching\n      - {new_ask}\n",
            1,
        ),
        encoding="utf-8",
    )
    edited = load_content(content_copy)
    assert edited.vectors is not None
    assert missing_texts(edited) == [new_ask]
    counting = Counting(embedder)
    index = CardIndex(edited, counting)
    assert counting.texts == [*PROBES, new_ask]
    assert _same_signals(index, CardIndex(dataclasses.replace(edited, vectors=None), embedder))
    # `nervebot validate` says so, as a warning
    _, problems = validate_dir(content_copy)
    stale = [p for p in problems if p.path.endswith(VECTORS)]
    assert [p.severity for p in stale] == ["warning"]
    assert "1 text(s)" in stale[0].message and "tools/embed_content.py" in stale[0].message


def test_a_store_made_by_another_model_is_not_used(
    bundle: Bundle, embedder: Embedder, caplog: pytest.LogCaptureFixture
) -> None:
    foreign = store_vectors(bundle, Shifted(embedder))
    with caplog.at_level(logging.WARNING):
        chosen = with_stored(embedder, foreign)
    assert chosen is embedder
    assert "not made by this embedding model" in caplog.text
    index = CardIndex(dataclasses.replace(bundle, vectors=foreign), embedder)
    assert _same_signals(index, CardIndex(dataclasses.replace(bundle, vectors=None), embedder))
    assert isinstance(with_stored(embedder, bundle.vectors), StoredEmbedder)
    assert with_stored(None, bundle.vectors) is None


def _npy() -> bytes:
    out = io.BytesIO()
    np.save(out, np.zeros(3))
    return out.getvalue()


def _corrupt_deflate(good: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(good)) as src, zipfile.ZipFile(out, "w") as dst:
        for name in src.namelist():
            dst.writestr(name, src.read(name), compress_type=zipfile.ZIP_DEFLATED)
    data = bytearray(out.getvalue())
    data[200:260] = b"\xff" * 60  # inside the first member's compressed bytes
    return bytes(data)


def _huge_shape() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (4000000000, 256), }"
        header += b" " * (118 - len(header)) + b"\n"
        z.writestr("keys.npy", b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header)
    return out.getvalue()


@pytest.mark.parametrize(
    "broken",
    ["garbage", "truncated zip", "empty", "an npy file", "corrupt deflate", "huge shape"],
)
def test_a_broken_store_is_ignored(
    content_copy: Path, broken: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = content_copy / VECTORS
    made = {
        "garbage": lambda: b"not a zip file at all",
        "truncated zip": lambda: b"PK\x03\x04 truncated",
        "empty": lambda: b"",  # what an interrupted writer would once have left
        "an npy file": _npy,
        "corrupt deflate": lambda: _corrupt_deflate(path.read_bytes()),
        "huge shape": _huge_shape,
    }[broken]()
    path.write_bytes(made)
    with caplog.at_level(logging.WARNING):
        loaded = load_content(content_copy)
    assert loaded.vectors is None
    assert "are ignored" in caplog.text
    _, problems = validate_dir(content_copy)
    assert not [p for p in problems if p.severity == "error"]
    warned = [p for p in problems if p.path.endswith(VECTORS)]
    assert [p.severity for p in warned] == ["warning"] and "cannot be read" in warned[0].message


def test_writing_the_store_replaces_it_whole(tmp_path: Path, bundle: Bundle) -> None:
    assert bundle.vectors is not None
    path = tmp_path / VECTORS
    bundle.vectors.write(path)
    first = path.read_bytes()
    bundle.vectors.write(path)  # over an existing store: a new file renamed over it
    assert path.read_bytes() == first
    assert [p.name for p in path.parent.iterdir()] == ["vectors.npz"]  # no temporary left


def test_a_store_without_the_probes_is_not_used(
    bundle: Bundle, embedder: Embedder, caplog: pytest.LogCaptureFixture
) -> None:
    assert bundle.vectors is not None
    stored = bundle.vectors
    unvouched = StoredVectors(stored.keys, stored.rows, (), np.zeros((0, stored.rows.shape[1])))
    # its own probes, which would vouch for anything it holds
    other = StoredVectors(stored.keys, stored.rows, ("x",) * len(PROBES), stored.probe_rows)
    with caplog.at_level(logging.WARNING):
        assert with_stored(embedder, unvouched) is embedder
        assert with_stored(embedder, other) is embedder
    assert "not made by this embedding model" in caplog.text


def test_a_model_failing_on_the_probes_embeds_live(bundle: Bundle) -> None:
    class Failing:
        def embed(self, texts: Sequence[str]) -> Any:
            raise TypeError("TextEncodeInput must be Union[...]")

    failing = Failing()
    assert with_stored(failing, bundle.vectors) is failing


def test_a_store_of_the_wrong_shape_is_ignored(
    content_copy: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = content_copy / VECTORS
    np.savez(path, keys=np.zeros((3, 16), np.uint8), rows=np.zeros((2, 4), np.float32),
             probes=np.array(["a"]), probe_rows=np.zeros((1, 4), np.float32))  # fmt: skip
    with caplog.at_level(logging.WARNING):
        assert load_content(content_copy).vectors is None
    assert "3 keys for rows of shape (2, 4)" in caplog.text
    np.savez(path, keys=np.array([b"x" * 16]), rows=np.zeros((1, 4), np.float32),
             probes=np.array(["a"]), probe_rows=np.zeros((1, 4), np.float32))  # fmt: skip
    assert load_content(content_copy).vectors is None


def test_without_a_store_everything_is_embedded(content_copy: Path, embedder: Embedder) -> None:
    (content_copy / VECTORS).unlink()
    bare = load_content(content_copy)
    assert bare.vectors is None
    counting = Counting(embedder)
    CardIndex(bare, counting)
    assert len(counting.texts) > 1000
    assert missing_texts(bare) == content_texts(bare)
    _, problems = validate_dir(content_copy)  # no store is no warning: it is optional
    assert not [p for p in problems if p.path.endswith(VECTORS)]


def test_keys_survive_a_round_trip_whatever_their_bytes(tmp_path: Path) -> None:
    # numpy's fixed-width bytes drop trailing zero bytes; the store must not
    keys = (b"\x00" * 16, b"a" * 15 + b"\x00", b"\xff" * 16)
    rows = np.arange(12, dtype=np.float32).reshape(3, 4)
    stored = StoredVectors(keys, rows, ("p",), np.ones((1, 4), np.float32))
    stored.write(tmp_path / "v.npz")
    back = StoredVectors.read(tmp_path / "v.npz")
    assert back is not None
    assert back.keys == keys and np.array_equal(back.rows, rows) and back.probes == ("p",)
    assert StoredVectors.read(tmp_path / "none.npz") is None
    assert "3 texts" in repr(back)


def test_loading_the_model_keeps_numpys_blas_to_one_thread() -> None:
    """Small matrix products on many BLAS threads wait for busy cores (`one_blas_thread`)."""
    from threadpoolctl import threadpool_info, threadpool_limits

    from bot.language.embedding import load_embedder

    with threadpool_limits(limits=2, user_api="blas"):  # restored to what it was afterwards
        load_embedder()
        blas = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
        if not blas:  # a BLAS threadpoolctl cannot see (Apple's Accelerate): nothing to limit
            pytest.skip("no BLAS library that threadpoolctl can limit")
        assert all(pool["num_threads"] == 1 for pool in blas)
