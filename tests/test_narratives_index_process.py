"""The narrative index in a child process (`ProcessIndex`): the same answers as the index
in this process, its file readable as a `USearchIndex`'s, and a clear way out when the
child process is missing or dies."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from echolens.narratives.index import (
    EXACT_LIMIT,
    ProcessIndex,
    USearchIndex,
    load_index,
    make_index,
    save_index,
)


def unit_rows(n: int, dim: int, seed: int) -> np.ndarray:
    data = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return data / np.linalg.norm(data, axis=1, keepdims=True)


def test_answers_equal_those_of_the_index_in_this_process(tmp_path: Path) -> None:
    data = unit_rows(2500, 24, seed=1)
    here, child = USearchIndex(24), ProcessIndex(24)
    try:
        assert child._proc is not None and child._local is None  # a real child process
        for lo in range(0, 2400, 600):  # added in blocks, as `Grouper.add` does
            here.add(data[lo:lo + 600])
            child.add(data[lo:lo + 600])
            for threads in (1, 0):
                got, want = child.search(data[2400:], 12, threads), here.search(data[2400:], 12)
                assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
        assert len(child) == 2400
        ids = [f"i{k}" for k in range(2400)]
        path = tmp_path / "m.index"
        save_index(child, path, ids, 24)
        loaded, why = load_index(path, ids, 24)
        assert why == "ok" and isinstance(loaded, USearchIndex) and len(loaded) == 2400
        assert np.array_equal(loaded.search(data[2400:], 12)[0], here.search(data[2400:], 12)[0])
    finally:
        child.close()
    assert child._proc is not None and child._proc.poll() is not None  # closed: it ended


def test_large_groupings_get_the_child_process_index() -> None:
    small, large = make_index(8, EXACT_LIMIT), make_index(8, EXACT_LIMIT + 1)
    assert not isinstance(small, ProcessIndex)
    assert isinstance(large, ProcessIndex)
    large.close()


class ExitsAtOnce(ProcessIndex):
    worker = ("-c", "raise SystemExit(3)")


def test_a_child_that_never_answers_leaves_the_index_in_this_process(
        caplog: pytest.LogCaptureFixture) -> None:
    data = unit_rows(300, 16, seed=2)
    index = ExitsAtOnce(16)
    with caplog.at_level(logging.WARNING, logger="echolens.narratives.index"):
        index.add(data[:250])
    assert "ended before answering (exit code 3)" in caplog.text
    assert "runs in this process" in caplog.text
    here = USearchIndex(16)
    here.add(data[:250])
    assert np.array_equal(index.search(data[250:], 5)[0], here.search(data[250:], 5)[0])
    assert len(index) == 250


def test_a_child_that_dies_midway_is_an_error_not_a_silent_fallback() -> None:
    data = unit_rows(200, 16, seed=3)
    index = ProcessIndex(16)
    index.add(data[:100])
    assert index._proc is not None
    index._proc.kill()
    index._proc.wait()
    with pytest.raises(RuntimeError, match=r"index process ended .* after 100 vectors"):
        index.add(data[100:])


def test_the_child_reports_its_errors_and_goes_on() -> None:
    index = ProcessIndex(16)
    try:
        with pytest.raises(RuntimeError, match="narrative index process: .*"):
            index.add(np.zeros((3, 7), dtype=np.float32))  # wrong dimension
        index.add(unit_rows(10, 16, seed=4))
        assert len(index) == 10
    finally:
        index.close()


def test_ctrl_c_is_left_to_the_parent() -> None:
    """Ctrl-C reaches the whole process group; the child goes on (and ends when the parent
    closes the pipe) instead of dying with a traceback of its own."""
    import signal
    import time

    index = ProcessIndex(16)
    try:
        index.add(unit_rows(10, 16, seed=5))  # the worker is up and serving
        assert index._proc is not None
        index._proc.send_signal(signal.SIGINT)
        time.sleep(0.2)
        index.add(unit_rows(10, 16, seed=6))
        assert len(index) == 20 and index._proc.poll() is None
    finally:
        index.close()


def test_a_saved_index_given_to_the_grouper_ends_its_own_process() -> None:
    from echolens.narratives.calibration import load_calibration
    from echolens.narratives.grouping import Grouper

    grouper = Grouper(load_calibration("multilingual-e5-small-q4:query"), dim=16,
                      expected=EXACT_LIMIT + 1)
    started = grouper.index
    assert isinstance(started, ProcessIndex) and started._proc is not None
    grouper.use_index(USearchIndex(16))
    assert started._proc.poll() is not None
