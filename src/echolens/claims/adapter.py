"""A linear query adapter for the dense side, learned from (query, relevant fact-check)
pairs: `q' = normalise(q + q @ W)` in the centred space (see `matcher`).

multilingual-e5-small puts a tweet and the fact-check of its claim close together, but not
always closer than fact-checks on the same topic; a residual linear map of the query vector,
trained with a softmax over the whole pool (the relevant fact-check against every other one),
moves tweets towards the claims they make. It is the cheapest form of fine-tuning: numpy
only, a 384 x 384 matrix, no model weights changed. Trained on CLEF-2020 train by
`benchmarks/claims_eval.py --tune` (steps chosen by 5-fold cross-validation on train) and
shipped as `data/query_adapter.npz`; applied only to queries in the pool's main language.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from importlib import resources

import numpy as np

ADAPTER_FILE = "query_adapter.npz"


def _normalize(rows: np.ndarray) -> np.ndarray:
    out: np.ndarray = rows / np.maximum(np.linalg.norm(rows, axis=-1, keepdims=True), 1e-9)
    return out


def apply_adapter(queries: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    """Adapted, re-normalised query rows (unchanged without an adapter)."""
    if weights is None or not len(queries):
        return queries
    return _normalize(queries + queries @ weights)


def train_adapter(queries: np.ndarray, docs: np.ndarray, pairs: Sequence[tuple[int, int]], *,
                  steps: int = 50, temperature: float = 20.0, l2: float = 0.01,
                  learning_rate: float = 1e-3,
                  on_step: Callable[[int, np.ndarray], None] | None = None) -> np.ndarray:
    """W minimising the softmax cross-entropy of each (query row, relevant doc row) pair
    against all `docs` rows (L2-normalised), with Adam; `on_step(step, W)` after each step."""
    dim = queries.shape[1]
    weights = np.zeros((dim, dim), np.float32)
    if not pairs:
        return weights
    q_rows = np.asarray([p[0] for p in pairs])
    d_rows = np.asarray([p[1] for p in pairs])
    x = np.asarray(queries[q_rows], np.float32)
    docs = np.asarray(docs, np.float32)
    m1 = np.zeros_like(weights)
    m2 = np.zeros_like(weights)
    for step in range(1, steps + 1):
        u = x + x @ weights
        norm = np.linalg.norm(u, axis=1, keepdims=True)
        un = u / norm
        logits = temperature * (un @ docs.T)
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        probs[np.arange(len(d_rows)), d_rows] -= 1.0
        grad_un = temperature * (probs @ docs) / len(d_rows)
        grad_u = (grad_un - un * (grad_un * un).sum(axis=1, keepdims=True)) / norm
        grad = x.T @ grad_u + l2 * weights
        m1 = 0.9 * m1 + 0.1 * grad
        m2 = 0.999 * m2 + 0.001 * grad * grad
        weights -= (learning_rate * (m1 / (1 - 0.9 ** step))
                    / (np.sqrt(m2 / (1 - 0.999 ** step)) + 1e-8)).astype(np.float32)
        if on_step is not None:
            on_step(step, weights)
    return weights


@lru_cache(maxsize=1)
def packaged_adapter() -> np.ndarray | None:
    """The adapter shipped with echolens (None if the file is missing)."""
    path = resources.files("echolens.claims").joinpath("data", ADAPTER_FILE)
    if not path.is_file():
        return None
    with path.open("rb") as handle, np.load(handle) as data:
        return np.asarray(data["weights"], np.float32)
