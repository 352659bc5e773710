"""Query embeddings for search: each distinct text embedded once, concurrent first searches
embedded together in batches, a model failure reaching every waiting request."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from echolens.api.search import QueryVectors
from echolens.embed.base import HashingEmbedder


class GatedEmbedder:
    """A hashing embedder whose first call waits until the test opens the gate, and which
    records the texts of every call."""

    def __init__(self, fail: bool = False) -> None:
        self.inner = HashingEmbedder(64)
        self.model_id = self.inner.model_id
        self.dim = self.inner.dim
        self.calls: list[list[str]] = []
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.fail = fail

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        if len(self.calls) == 1:
            self.entered.set()
            assert self.gate.wait(10)
        if self.fail:
            raise RuntimeError("model crashed")
        return self.inner.embed(texts)


def _wait_for_waiting(vectors: QueryVectors, count: int) -> None:
    for _ in range(1000):
        with vectors._lock:
            if len(vectors._waiting) >= count:
                return
        threading.Event().wait(0.01)
    raise AssertionError(f"never saw {count} waiting texts")


def test_texts_waiting_behind_a_busy_model_are_embedded_in_one_batch() -> None:
    model = GatedEmbedder()
    vectors = QueryVectors([model])
    texts = [f"query {k}" for k in range(6)]
    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(vectors.get, texts[0])
        assert model.entered.wait(10)
        rest = [pool.submit(vectors.get, t) for t in texts[1:]]
        again = pool.submit(vectors.get, texts[3])  # asked twice while waiting
        _wait_for_waiting(vectors, len(texts) - 1)
        model.gate.set()
        got = [first.result(10), *(f.result(10) for f in rest)]
        np.testing.assert_array_equal(again.result(10), got[3])
    assert model.calls[0] == [texts[0]]
    assert sorted(model.calls[1]) == sorted(texts[1:])
    assert len(model.calls) == 2
    expected = HashingEmbedder(64).embed(texts)
    for vector, want in zip(got, expected, strict=True):
        np.testing.assert_allclose(vector, want, rtol=1e-6)
    # cached: no further model call
    np.testing.assert_array_equal(vectors.get(texts[2]), got[2])
    assert len(model.calls) == 2


def test_two_models_embed_side_by_side() -> None:
    busy, other = GatedEmbedder(), GatedEmbedder()
    other.gate.set()
    vectors = QueryVectors([other, busy])  # `busy` is taken first
    with ThreadPoolExecutor(4) as pool:
        stuck = pool.submit(vectors.get, "first")
        assert busy.entered.wait(10)
        # the other model answers while the first is still busy
        np.testing.assert_allclose(pool.submit(vectors.get, "second").result(10),
                                   HashingEmbedder(64).embed(["second"])[0], rtol=1e-6)
        busy.gate.set()
        stuck.result(10)
    assert busy.calls == [["first"]] and other.calls == [["second"]]


def test_a_model_error_reaches_every_waiting_request_and_nothing_hangs() -> None:
    model = GatedEmbedder(fail=True)
    vectors = QueryVectors([model])
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(vectors.get, "a")
        assert model.entered.wait(10)
        second = pool.submit(vectors.get, "b")
        _wait_for_waiting(vectors, 1)
        model.gate.set()
        for future in (first, second):
            with pytest.raises(RuntimeError, match="model crashed"):
                future.result(10)
        model.fail = False
        # the model is back in the pool and the failure was not cached
        assert pool.submit(vectors.get, "a").result(10).shape == (64,)
    assert model.calls[-1] == ["a"]


def test_each_model_takes_an_even_share_of_the_waiting_texts() -> None:
    models = [GatedEmbedder(), GatedEmbedder()]
    vectors = QueryVectors(models)
    texts = [f"query {k}" for k in range(8)]
    with ThreadPoolExecutor(10) as pool:
        futures = [pool.submit(vectors.get, texts[0])]
        assert models[1].entered.wait(10)
        futures.append(pool.submit(vectors.get, texts[1]))
        assert models[0].entered.wait(10)
        futures += [pool.submit(vectors.get, t) for t in texts[2:]]
        _wait_for_waiting(vectors, 6)
        for model in models:
            model.gate.set()
        for future in futures:
            future.result(10)
    calls = [call for model in models for call in model.calls]
    assert sorted(t for call in calls for t in call) == sorted(texts)  # each text once
    assert max(len(call) for call in calls) == 3  # 6 waiting for 2 models: 3 each at most
