"""Query embeddings for search: each distinct text embedded once, models side by side and
all loaded before the first search, concurrent first searches embedded in the order they came,
each free model taking its fair share of the waiting texts (at most `max_batch`), each request
free as soon as its own vector is there, a model failure reaching the requests of its texts and
losing no model; per-thread read cursors."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

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
        self.threads: list[int] = []  # the thread of each call
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.fail = fail

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        self.threads.append(threading.get_ident())
        if len(self.calls) == 1:
            self.entered.set()
            assert self.gate.wait(10)
        if self.fail:
            raise RuntimeError("model crashed")
        return self.inner.embed(texts)


def test_each_text_is_embedded_once_and_cached() -> None:
    model = GatedEmbedder()
    model.gate.set()
    vectors = QueryVectors([model])
    first = vectors.get("biolabs")
    np.testing.assert_allclose(first, HashingEmbedder(64).embed(["biolabs"])[0], rtol=1e-6)
    np.testing.assert_array_equal(vectors.get("biolabs"), first)
    assert model.calls == [["biolabs"]]


def test_two_models_embed_side_by_side() -> None:
    models = [GatedEmbedder(), GatedEmbedder()]
    vectors = QueryVectors(models)
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(vectors.get, t) for t in ("first", "second")]
        # both models are inside a call at once (neither gate is open yet)
        assert all(model.entered.wait(10) for model in models)
        for model in models:
            model.gate.set()
        got = [f.result(10) for f in futures]
    np.testing.assert_allclose(got, HashingEmbedder(64).embed(["first", "second"]), rtol=1e-6)
    assert sorted(call for model in models for call in model.calls) == [["first"], ["second"]]


def _wait_for_waiting(vectors: QueryVectors, count: int) -> None:
    for _ in range(1000):
        with vectors._lock:
            if len(vectors._waiting) >= count:
                return
        threading.Event().wait(0.01)
    raise AssertionError(f"never saw {count} waiting texts")


def test_texts_waiting_behind_a_busy_model_are_taken_in_turn_up_to_max_batch() -> None:
    model = GatedEmbedder()
    vectors = QueryVectors([model], max_batch=4)
    texts = [f"query {k}" for k in range(6)]
    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(lambda: (vectors.get(texts[0]), threading.get_ident()))
        assert model.entered.wait(10)
        rest = []
        for count, text in enumerate(texts[1:], start=1):  # each waiting before the next
            rest.append(pool.submit(vectors.get, text))
            _wait_for_waiting(vectors, count)
        again = pool.submit(vectors.get, texts[3])  # asked twice while waiting
        model.gate.set()
        vector, first_thread = first.result(10)
        got = [vector, *(f.result(10) for f in rest)]
        np.testing.assert_array_equal(again.result(10), got[3])
    # the oldest first: one model takes all it may (max_batch), then the rest
    assert model.calls == [texts[:1], texts[1:5], texts[5:]]
    # the model ran in a worker thread of its own, never in a request's thread
    assert len(set(model.threads)) == 1 and first_thread not in model.threads
    np.testing.assert_allclose(got, HashingEmbedder(64).embed(texts), rtol=1e-6)
    np.testing.assert_array_equal(vectors.get(texts[2]), got[2])  # cached
    assert len(model.calls) == 3


def _two_busy_models_then(waiting: int) -> tuple[list[GatedEmbedder], list[str], list[str]]:
    """Two models inside a call, `waiting` more texts queued behind them; then both gates
    open. Returns the models, the texts and the waiting order."""
    models = [GatedEmbedder(), GatedEmbedder()]
    vectors = QueryVectors(models, max_batch=4)
    texts = [f"query {k}" for k in range(2 + waiting)]
    with ThreadPoolExecutor(2 + waiting) as pool:
        futures = [pool.submit(vectors.get, t) for t in texts[:2]]
        assert all(model.entered.wait(10) for model in models)
        futures += [pool.submit(vectors.get, t) for t in texts[2:]]
        _wait_for_waiting(vectors, waiting)
        with vectors._lock:
            order = list(vectors._waiting)
        for model in models:
            model.gate.set()
        for future in futures:
            future.result(10)
    return models, texts, order


def test_two_models_share_the_waiting_texts_fairly() -> None:
    models, texts, order = _two_busy_models_then(6)
    later = [call for model in models for call in model.calls[1:]]
    # the first model back takes half of 6, the next half of the 3 left, then the last one
    assert sorted(len(call) for call in later) == [1, 2, 3]
    assert sorted(t for call in later for t in call) == sorted(texts[2:])  # each text once
    for model in models:  # each model took the waiting texts in their order
        taken = [t for call in model.calls[1:] for t in call]
        assert taken == [t for t in order if t in taken]


def test_a_short_queue_is_embedded_one_text_per_call() -> None:
    models, _, _ = _two_busy_models_then(2)
    later = [call for model in models for call in model.calls[1:]]
    assert sorted(len(call) for call in later) == [1, 1]  # not both on one model


def test_a_model_error_reaches_its_requests_and_the_model_stays_in_the_pool() -> None:
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
        # would wait forever if the model were lost; the failure was not cached
        assert pool.submit(vectors.get, "a").result(10).shape == (64,)
    assert model.calls == [["a"], ["b"], ["a"]]


def test_warm_up_loads_every_model_before_the_first_search() -> None:
    models = [GatedEmbedder(), GatedEmbedder()]
    for model in models:
        model.gate.set()
    vectors = QueryVectors(models)
    vectors.warm_up()
    assert [model.calls for model in models] == [[["warm up"]], [["warm up"]]]
    with ThreadPoolExecutor(2) as pool:  # both models are back in the pool
        pool.submit(vectors.get, "x").result(10)
        pool.submit(vectors.get, "y").result(10)


def test_read_cursor_is_kept_per_thread_and_dropped_after_an_error(tmp_path: Path) -> None:
    import duckdb

    import echolens
    from echolens.api.app import Dashboard

    board = Dashboard(echolens.open(tmp_path / "store.duckdb"))
    try:
        with board.read_cursor() as first:
            assert first.execute("SELECT current_setting('TimeZone')").fetchall() == [("UTC",)]
        with board.read_cursor() as again:
            assert again is first
        with pytest.raises(duckdb.Error), board.read_cursor() as failing:
            failing.execute("SELECT * FROM no_such_table")
        with board.read_cursor() as fresh:
            assert fresh is not first
            assert fresh.execute("SELECT 1").fetchall() == [(1,)]
        with ThreadPoolExecutor(1) as pool:  # another thread has a cursor of its own
            other = pool.submit(lambda: board.read_cursor().__enter__()).result(10)
        assert other is not fresh
    finally:
        board.database.close()


def test_a_submitted_vector_is_awaited_without_a_thread_and_not_cancelled_by_one_waiter(
        ) -> None:
    import asyncio

    model = GatedEmbedder()
    vectors = QueryVectors([model])
    future = vectors.submit("biolabs")
    assert model.entered.wait(10) and not future.done()
    assert vectors.submit("biolabs") is future  # one embedding per text

    async def leave_early() -> None:  # a client that gives up while its text is embedded
        waiting = asyncio.ensure_future(asyncio.wrap_future(future))
        await asyncio.sleep(0.01)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting

    asyncio.run(leave_early())
    assert not future.cancelled()
    model.gate.set()
    expected = HashingEmbedder(64).embed(["biolabs"])[0]
    np.testing.assert_allclose(future.result(10), expected, rtol=1e-6)
    np.testing.assert_array_equal(vectors.get("biolabs"), future.result())  # cached
    assert vectors.submit("biolabs").done() and model.calls == [["biolabs"]]


def test_model_threads_leave_when_idle_and_come_back_for_new_texts() -> None:
    models = [GatedEmbedder(), GatedEmbedder()]
    for model in models:
        model.gate.set()
    vectors = QueryVectors(models, idle_seconds=0.05)
    vectors.get("first")
    for _ in range(500):  # both workers gone, their models idle again
        with vectors._lock:
            if len(vectors._idle) == 2:
                break
        threading.Event().wait(0.01)
    else:
        raise AssertionError("the model threads did not leave")
    assert vectors.get("second").shape == (64,)
    threads = {t for model in models for t in model.threads}
    assert threading.get_ident() not in threads


def test_close_lets_the_batch_in_the_model_finish_and_stops_the_threads() -> None:
    """At exit (`close`, registered with atexit) no model thread may still be inside the
    engine: a thread the interpreter kills there aborts the whole process."""
    model = GatedEmbedder()
    vectors = QueryVectors([model], idle_seconds=60.0)
    future = vectors.submit("in the model")
    assert model.entered.wait(10)
    closer = threading.Thread(target=vectors.close)
    closer.start()
    closer.join(0.2)
    assert closer.is_alive()  # waits for the batch in the model
    model.gate.set()
    closer.join(10)
    assert not closer.is_alive() and future.result(1).shape == (64,)
    assert not any(worker.is_alive() for worker in vectors._workers)
