"""Shared fixtures: a fresh store per test, the CLI runner, tiny item files."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from typer.testing import CliRunner

import echolens
from echolens.cli import app
from echolens.database import Database

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _embedding_cache_in_tmp(tmp_path_factory: pytest.TempPathFactory,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    """`echolens cluster` keeps vectors in a default cache: a test's goes to a temporary
    folder, never to the home directory."""
    monkeypatch.setenv("ECHOLENS_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(autouse=True, scope="session")
def _engine_build_in_tmp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The faster query engine (`echolens.embed.fast_engine`) is compiled once per session
    into a temporary folder, which the servers the tests start inherit."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ECHOLENS_ENGINE_DIR", str(tmp_path_factory.mktemp("engine")))
        yield


def require_data(path: Path, what: str) -> None:
    """Skip a test whose real data (read from beside the checkout, never copied into it) is
    missing; where `ECHOLENS_REQUIRE_DATA` is set, as `.ci/run` sets it, fail instead, so CI
    cannot pass by skipping."""
    if path.exists():
        return
    message = f"{what} not found at {path}"
    if os.environ.get("ECHOLENS_REQUIRE_DATA"):
        pytest.fail(f"{message} (ECHOLENS_REQUIRE_DATA is set)")
    pytest.skip(message)


def benchmark_module(name: str) -> ModuleType:
    """`benchmarks/<name>.py` imported as a module (the benchmarks are scripts, not a package;
    run as scripts they find their shared `common` module beside them, as here)."""
    if str(REPO / "benchmarks") not in sys.path:
        sys.path.append(str(REPO / "benchmarks"))
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = echolens.open(tmp_path / "test.duckdb")
    yield database
    database.close()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "cli.duckdb"


class Cli:
    def __init__(self, db_path: Path) -> None:
        self.runner = CliRunner()
        self.db_path = db_path

    def __call__(self, *args: str, expect: int | None = 0) -> Any:
        result = self.runner.invoke(app, ["--db", str(self.db_path), *args])
        if expect is not None:
            assert result.exit_code == expect, (result.output, result.exception)
        return result

    def json(self, *args: str, expect: int | None = 0) -> Any:
        result = self(*args, "--json", expect=expect)
        return json.loads(result.stdout)


@pytest.fixture
def cli(db_path: Path) -> Cli:
    return Cli(db_path)


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write((row if isinstance(row, str) else json.dumps(row, ensure_ascii=False))
                         + "\n")
    return path


@pytest.fixture
def sample_rows() -> list[dict[str, Any]]:
    return [
        {"id": "a1", "source": "tass.ru", "url": "https://tass.ru/politika/1?utm_source=tg",
         "title": "Минобороны РФ: в Украине обнаружены биолаборатории США",
         "text": "Минобороны России заявило, что на Украине обнаружены военно-биологические "
                 "лаборатории, финансируемые Пентагоном.",
         "published_at": "2022-03-06T09:00:00Z", "views": 1200},
        {"id": "a2", "source": "globaltimes.cn",
         "text": "US owes the world a clear explanation on its biomilitary activities",
         "published_at": "2022-03-24T10:46:00Z", "likes": "15"},
        {"id": "a3", "source": "pravda.com.ua",
         "text": "Україна спростувала російські вигадки про біолабораторії США",
         "published_at": "2022-03-07T12:00:00+02:00"},
        {"id": "a4", "source": "news.cn",
         "text": "俄罗斯国防部称美国在乌克兰资助生物实验室", "published_at": "2022-03-08"},
    ]


from tests.httpserver import http_client, server  # noqa: E402, F401 - shared fixtures
