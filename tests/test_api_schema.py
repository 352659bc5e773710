"""Property-based tests of the JSON API against its own OpenAPI schema (schemathesis,
in-process): generated valid and invalid requests to every operation never get a server
error, and every error is JSON with a message.

(schemathesis' pytest plugin does not run under this pytest, so the cases of each operation
are drawn with its hypothesis strategies directly.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error

from echolens.api import create_app
from echolens.database import Database
from tests.api_stores import build_small_store, hashing_encoder

EXAMPLES = {"positive": 10, "negative": 5}  # per operation (generation dominates the time)


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Any:
    path: Path = build_small_store(tmp_path_factory.mktemp("schema") / "small.duckdb")
    database = Database(path, read_only=True)
    app = create_app(database, encoder=hashing_encoder)
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    database.close()


def _check(case: Any, failures: list[str]) -> None:
    response = case.call()
    try:
        case.validate_response(response, checks=[not_a_server_error])
    except Exception as exc:  # schemathesis raises a FailureGroup with the details
        failures.append(f"{case.operation.label}: {exc}")
        return
    if response.status_code >= 400 and case.path.startswith("/api/"):
        error = response.json().get("error", {})
        if not error.get("message"):
            failures.append(f"{case.operation.label}: {response.status_code} without a "
                            f"JSON error: {response.text[:200]}")


@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_no_generated_request_makes_a_server_error(api_schema: Any, mode: str) -> None:
    failures: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 20
    for operation in operations:
        strategy = operation.as_strategy(generation_mode=schemathesis.GenerationMode(mode))

        @given(case=strategy)
        @settings(max_examples=EXAMPLES[mode], deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case: Any) -> None:
            _check(case, failures)

        try:
            run()
        except Unsatisfiable:  # no invalid request exists (an operation without parameters)
            assert mode == "negative" and not operation.query and not operation.path_parameters
    assert not failures, "\n".join(failures[:20])
