"""`echolens factchecks import|list` and `echolens match` through Typer's CliRunner."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from echolens.claims import commands
from echolens.claims.commands import register

from .test_claims_matching import fake_encode


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[typer.Typer, list[str]]:
    monkeypatch.setattr(commands, "default_encoder", lambda: fake_encode)
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """echolens (test app)."""

    register(app)
    return app, ["--db", str(tmp_path / "c.duckdb")]


def _facts(tmp_path: Path) -> Path:
    path = tmp_path / "facts.jsonl"
    lines = [
        {"id": "f1", "text": "US runs secret biological laboratories in Ukraine",
         "verdict": "false", "organization": "EUvsDisinfo"},
        {"id": "f2", "text": "Poland plans to annex western Ukraine", "lang": "en"},
        {"id": "f3", "text": "Western vaccines kill people"},
        {"id": "f4", "text": ""},
        {"id": "f5", "text": "x", "verdict": "sort of"},
    ]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\nnot json\n", encoding="utf-8")
    return path


def _imported(cli: tuple[typer.Typer, list[str]], tmp_path: Path
              ) -> tuple[typer.Typer, list[str], CliRunner]:
    """The app, its --db arguments and a runner, with `_facts` imported."""
    app, db = cli
    runner = CliRunner()
    assert runner.invoke(app, ["factchecks", "import", str(_facts(tmp_path)), "--format",
                               "jsonl", *db]).exit_code == 0
    return app, db, runner


def test_import_list_and_batch_match(cli: tuple[typer.Typer, list[str]],
                                     tmp_path: Path) -> None:
    app, db = cli
    runner = CliRunner()
    result = runner.invoke(app, ["factchecks", "import", str(_facts(tmp_path)), "--format",
                                 "jsonl", "--json", *db])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["new"], report["rejected"]) == (3, 3)
    assert {r["reason"] for r in report["rejects"]} == {"empty-text", "unknown-verdict",
                                                        "bad-json"}
    result = runner.invoke(app, ["factchecks", "list", "--json", *db])
    assert [f["id"] for f in json.loads(result.stdout)] == ["f1", "f2", "f3"]

    queries = tmp_path / "q.jsonl"
    queries.write_text(
        json.dumps({"id": "q1", "text": "Poland wants to annex western Ukraine"}) + "\n"
        + json.dumps({"id": "q2", "text": "美国在乌克兰的生物实验室", "lang": "zh"}) + "\n"
        + json.dumps({"id": "q3", "text": "vaccines " * 1000}) + "\n", encoding="utf-8")
    out = tmp_path / "out" / "m.jsonl"
    result = runner.invoke(app, ["match", "--queries", str(queries), "--top-k", "2",
                                 "--output", str(out), *db])
    assert result.exit_code == 0, result.output
    assert "truncated" in result.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["q1", "q2", "q3"]
    assert all(len(r["matches"]) == 2 for r in rows)
    assert rows[0]["matches"][0]["factcheck_id"] == "f2"
    assert set(rows[0]["matches"][0]) >= {"factcheck_id", "score"}
    scores = [m["score"] for m in rows[0]["matches"]]
    assert scores == sorted(scores, reverse=True)


def test_match_warns_of_unreadable_query_lines_and_answers_the_rest(
        cli: tuple[typer.Typer, list[str]], tmp_path: Path) -> None:
    app, db, runner = _imported(cli, tmp_path)
    queries = tmp_path / "q.jsonl"
    queries.write_bytes(b'{"id": "q1", "text": "Poland wants to annex western Ukraine"}\n'
                        b'{"id": "latin1", "text": "caf\xe9 claim"}\n'
                        b'not json\n'
                        b'{"id": "q2", "text": "Western vaccines kill people"}\n')
    out = tmp_path / "m.jsonl"
    result = runner.invoke(app, ["match", "--queries", str(queries), "--top-k", "1",
                                 "--output", str(out), *db])
    assert result.exit_code == 0, result.output
    assert "line 2: not valid UTF-8" in result.stderr and "line 3: not JSON" in result.stderr
    assert [json.loads(x)["id"] for x in out.read_text().splitlines()] == ["q1", "latin1",
                                                                          "q2"]
    assert list(tmp_path.glob("*.partial")) == []
    itself = runner.invoke(app, ["match", "--queries", str(queries), "--output", str(queries),
                                 *db])
    assert itself.exit_code == 2 and "is the queries file" in itself.stderr
    assert queries.read_bytes().startswith(b'{"id": "q1"')  # untouched


def test_a_claim_matched_again_is_not_embedded_again(
        cli: tuple[typer.Typer, list[str]], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    app, db = cli
    embedded: list[tuple[str, str]] = []

    def counting_encode(kind: str, texts: Sequence[str]) -> np.ndarray:
        embedded.extend((kind, t) for t in texts)
        return fake_encode(kind, texts)

    monkeypatch.setattr(commands, "default_encoder", lambda: counting_encode)
    runner = CliRunner()
    assert runner.invoke(app, ["factchecks", "import", str(_facts(tmp_path)), "--format",
                               "jsonl", *db]).exit_code == 0
    queries = tmp_path / "q.jsonl"
    claims = ["Poland wants to annex western Ukraine", "Western vaccines are killing people"]
    queries.write_text("".join(json.dumps({"id": f"q{k}", "text": text}) + "\n"
                               for k, text in enumerate(claims)), encoding="utf-8")
    outputs = []
    for run in ("first", "again"):
        embedded.clear()
        out = tmp_path / f"{run}.jsonl"
        result = runner.invoke(app, ["match", "--queries", str(queries), "--output", str(out),
                                     *db])
        assert result.exit_code == 0, result.output
        outputs.append(out.read_text())
        again = sorted(t for kind, t in embedded if kind == "query" and t in claims)
        assert again == ([] if run == "again" else sorted(claims))
    assert outputs[0] == outputs[1]
    from echolens.store.duckdb_store import DuckDBStore

    store = DuckDBStore(db[1])
    try:  # apart from the items' vectors of the same model (keys of another hash)
        models = dict(store.con.execute(
            "SELECT model_id, count(*) FROM embeddings GROUP BY 1").fetchall())
    finally:
        store.close()
    assert models.get("multilingual-e5-small-q4:query@claims") == 2
    assert "multilingual-e5-small-q4:query" not in models


def test_match_reads_language_codes_as_ingestion_does(
        cli: tuple[typer.Typer, list[str]], tmp_path: Path) -> None:
    app, db, runner = _imported(cli, tmp_path)
    queries = tmp_path / "q.jsonl"
    text = "Poland wants to annex western Ukraine"
    queries.write_text("".join(json.dumps({"id": lang, "text": text, "lang": lang}) + "\n"
                               for lang in ("en", "EN-us", "eng")), encoding="utf-8")
    out = tmp_path / "m.jsonl"
    result = runner.invoke(app, ["match", "--queries", str(queries), "--output", str(out), *db])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    # "EN-us" and "eng" are the pool's language: matched as "en" is, not across languages
    assert rows[1]["matches"] == rows[0]["matches"] == rows[2]["matches"]


def test_match_text_prints_a_table_with_an_explanation(
        cli: tuple[typer.Typer, list[str]], tmp_path: Path) -> None:
    app, db = cli
    runner = CliRunner()
    runner.invoke(app, ["factchecks", "import", str(_facts(tmp_path)), *db])
    result = runner.invoke(app, ["match", "--text", "Poland to annex western Ukraine",
                                 "--top-k", "1", *db])
    assert result.exit_code == 0, result.output
    assert "f2" in result.stdout and "annex" in result.stdout.lower()
    assert "P(match)" in result.stdout


def test_match_on_an_empty_store_says_so(cli: tuple[typer.Typer, list[str]]) -> None:
    app, db = cli
    result = CliRunner().invoke(app, ["match", "--text", "anything", *db])
    assert result.exit_code != 0
    assert "no fact-checks" in result.stderr


def test_match_needs_exactly_one_input(cli: tuple[typer.Typer, list[str]]) -> None:
    app, db = cli
    result = CliRunner().invoke(app, ["match", *db])
    assert result.exit_code == 2 and "--queries" in result.stderr


def test_import_of_a_missing_file_is_a_clear_error(cli: tuple[typer.Typer, list[str]],
                                                   tmp_path: Path) -> None:
    app, db = cli
    result = CliRunner().invoke(app, ["factchecks", "import", str(tmp_path / "nope.csv"), *db])
    assert result.exit_code == 2 and "no such file" in result.stderr
