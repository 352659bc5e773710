"""How the dashboard behaves under concurrent clients: one render per cold page however many
clients ask for it at once, and a background warm-up that gives way to requests."""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from echolens.api import create_app
from echolens.api.app import Dashboard, SingleFlight
from echolens.database import Database
from tests.api_stores import build_small_store, hashing_encoder


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_small_store(tmp_path_factory.mktemp("load") / "small.duckdb")


@pytest.fixture
def board(store_path: Path) -> Iterator[Dashboard]:
    database = Database(store_path, read_only=True)
    yield Dashboard(database)
    database.close()


def _together(count: int, call: object) -> list[object]:
    """`call()` from `count` threads at once; their results or exceptions."""
    results: list[object] = [None] * count
    start = threading.Barrier(count)

    def run(k: int) -> None:
        start.wait()
        try:
            results[k] = call()  # type: ignore[operator]
        except Exception as exc:  # noqa: BLE001 - collected for the test to look at
            results[k] = exc

    threads = [threading.Thread(target=run, args=(k,)) for k in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    return results


def test_concurrent_calls_for_one_key_share_one_computation() -> None:
    flight = SingleFlight()
    calls = []

    def slow() -> str:
        calls.append(1)
        time.sleep(0.3)  # every other thread arrives while this runs
        return f"value {len(calls)}"

    assert _together(8, lambda: flight.run(("k",), slow)) == ["value 1"] * 8
    assert len(calls) == 1
    assert flight.run(("k",), slow) == "value 2"  # finished: the next call computes again


def test_waiters_get_the_exception_of_the_computation_they_shared() -> None:
    flight = SingleFlight()
    calls = []

    def failing() -> str:
        calls.append(1)
        time.sleep(0.3)
        raise LookupError("gone")

    results = _together(5, lambda: flight.run(("k",), failing))
    assert all(isinstance(r, LookupError) and str(r) == "gone" for r in results)
    assert len(calls) == 1


def test_a_cold_page_asked_for_by_many_clients_at_once_is_rendered_once(board: Dashboard
                                                                        ) -> None:
    renders = []

    def render() -> bytes:
        renders.append(1)
        time.sleep(0.3)
        return b"<html>page</html>"

    pages = _together(6, lambda: board.page(("narrative", "n-biolabs"), render))
    assert pages == [b"<html>page</html>"] * 6
    assert len(renders) == 1
    assert board.page(("narrative", "n-biolabs"), render) == b"<html>page</html>"
    assert len(renders) == 1  # cached


def test_the_warm_up_waits_while_requests_are_answered(store_path: Path) -> None:
    app = create_app(Database(store_path, read_only=True), encoder=hashing_encoder)
    board: Dashboard = app.state.dashboard
    seen: list[int] = []

    @app.get("/in-flight")
    def in_flight() -> dict[str, int]:
        seen.append(board.requests_in_flight)
        return {"n": board.requests_in_flight}

    with TestClient(app) as client:
        assert client.get("/in-flight").json() == {"n": 1}  # counted by the middleware
        assert board.requests_in_flight == 0
        stop = threading.Event()
        waited = threading.Event()

        def warm() -> None:
            board.wait_until_idle(stop)
            waited.set()

        board.requests_in_flight = 1  # a request being answered
        thread = threading.Thread(target=warm)
        thread.start()
        assert not waited.wait(0.3)
        board.requests_in_flight = 0
        board.last_request_ended = time.monotonic()
        assert waited.wait(2)
        thread.join()
    board.database.close()


@pytest.mark.parametrize("seconds", [0.0, 30.0])
def test_serve_renders_the_largest_pages_before_it_listens_within_its_budget(
        store_path: Path, seconds: float) -> None:
    from echolens.api.app import warm_before_listening

    app = create_app(Database(store_path, read_only=True), encoder=hashing_encoder)
    board: Dashboard = app.state.dashboard
    rendered, active = warm_before_listening(app, seconds)
    assert active == 2
    assert rendered == (2 if seconds else 0)
    for narrative in ("n-biolabs", "n-grain"):
        assert board.has_page(("narrative", narrative)) == bool(seconds)
    board.database.close()
