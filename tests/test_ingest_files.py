"""Ingesting item files: outcomes, rejects with reasons, idempotence, the three formats."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from tests.conftest import Cli, write_jsonl


def test_jsonl_ingest_outcomes_and_fields(tmp_path: Path, cli: Cli,
                                          sample_rows: list[dict[str, Any]]) -> None:
    path = write_jsonl(tmp_path / "items.jsonl", sample_rows)
    out = cli.json("ingest", str(path))
    assert out == {"new": 4, "duplicate": 0, "rejected": 0, "reasons": {},
                   "near_duplicates": 0, "new_sources": out["new_sources"]}
    export = tmp_path / "out.jsonl"
    cli("export", "items", "--output", str(export))
    items = {r["id"]: r for r in pl.read_ndjson(export).to_dicts()}
    assert set(items) == {"a1", "a2", "a3", "a4"}
    assert items["a1"]["lang"] == "ru" and items["a3"]["lang"] == "uk"
    assert items["a2"]["lang"] == "en" and items["a4"]["lang"] == "zh"
    assert items["a1"]["ecosystem"] == "russia-state"
    assert items["a4"]["ecosystem"] == "china-state"
    # time zones are converted to UTC; a date alone is midnight UTC
    assert items["a3"]["published_at"] == "2022-03-07T10:00:00Z"
    assert items["a4"]["published_at"] == "2022-03-08T00:00:00Z"
    assert items["a1"]["url"].endswith("utm_source=tg")
    assert "utm_source" not in items["a1"]["canonical_url"]
    assert items["a1"]["views"] == 1200 and items["a2"]["likes"] == 15


def test_same_file_twice_adds_nothing(tmp_path: Path, cli: Cli,
                                      sample_rows: list[dict[str, Any]]) -> None:
    path = write_jsonl(tmp_path / "items.jsonl", sample_rows + ["{broken"])
    first = cli.json("ingest", str(path))
    second = cli.json("ingest", str(path))
    assert (first["new"], first["rejected"]) == (4, 1)
    assert (second["new"], second["duplicate"], second["rejected"]) == (0, 4, 1)
    stats = cli.json("stats")
    assert stats["items"] == 4
    assert stats["rejected_by_reason"] == {"bad-json": 1}
    assert stats["by_outcome"] == {"new": 4, "new-near-duplicate": 0, "rejected": 1}


def test_every_bad_line_is_a_reject_with_reason_and_line(tmp_path: Path, cli: Cli) -> None:
    good = {"source": "bbc.com", "text": "Ukraine war: talks resume", "published_at": "2022-03-01"}
    path = tmp_path / "bad.jsonl"
    lines = [
        b'{"source": "bbc.com", "text": "fine", "published_at": "2022-03-01T00:00:00Z"}',
        b'{"source": "bbc.com", "text": "no date"}',
        b'{"source": "bbc.com", "text": "odd date", "published_at": "yesterday-ish"}',
        b'{"source": "bbc.com", "text": "   ", "published_at": "2022-03-01"}',
        b'not json at all',
        b'[1, 2, 3]',
        '{"source": "bbc.com", "text": "caf\xe9", "published_at": "2022-03-01"}'.encode("latin-1"),
        b'{"text": "nobody said it", "published_at": "2022-03-01"}',
        b'{"source": "bbc.com", "text": "many views", "published_at": "2022-03-01", "views": "x"}',
        b'{"source": "bbc.com", "text": "from the future", "published_at": "2999-01-01"}',
        b'{"id": "dup", "source": "bbc.com", "text": "first text", "published_at": "2022-03-01"}',
        b'{"id": "dup", "source": "bbc.com", "text": "other text", "published_at": "2022-03-02"}',
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    out = cli.json("ingest", str(path))
    assert out["new"] == 2
    assert out["reasons"] == {
        "missing-date": 1, "bad-date": 2, "empty-text": 1, "bad-json": 2, "bad-encoding": 1,
        "missing-source": 1, "bad-number": 1, "repeated-id": 1,
    }
    assert out["rejected"] == 10
    rejects = cli.json("rejects", "list")
    by_reason = {r["reason"]: r for r in rejects}
    assert by_reason["bad-encoding"]["locator"] == "line 7"
    assert "line 2" in by_reason["missing-date"]["detail"]
    assert "ISO 8601" in by_reason["missing-date"]["detail"]
    assert by_reason["missing-source"]["payload"].startswith("{")
    del good


def test_dates_in_four_languages_and_incomplete_dates_rejected(tmp_path: Path,
                                                               cli: Cli) -> None:
    dates = {"year": "2022", "month": "2022-03", "month-name": "March 2022", "no-year": "Mar 3",
             "dotted": "10.03.2022", "feed": "Thu, 10 Mar 2022 08:00:00 +0300",
             "written": "March 3, 2022", "ru": "3 марта 2022", "uk": "17 травня 2023, 14:05",
             "zh": "2022年3月14日", "ru-month-only": "март 2022", "dotted-short": "7.3.23 14:05:33"}
    path = write_jsonl(tmp_path / "dates.jsonl", [
        {"id": name, "source": "bbc.com", "text": f"item dated {name}", "published_at": value}
        for name, value in dates.items()])
    out = cli.json("ingest", str(path))
    assert out["new"] == 7
    assert out["reasons"] == {"bad-date": 5}
    details = sorted(r["detail"] for r in cli.json("rejects", "list"))
    assert any("incomplete date '2022': no month and no day" in d for d in details)
    assert any("incomplete date 'Mar 3': no year" in d for d in details)
    assert all("ISO 8601" in d for d in details)
    con = duckdb.connect(str(cli.db_path), read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    stored = dict(con.execute("SELECT id, strftime(published_at, '%Y-%m-%d %H:%M')"
                              " FROM items").fetchall())
    con.close()
    assert stored == {"dotted": "2022-03-10 00:00", "feed": "2022-03-10 05:00",
                      "written": "2022-03-03 00:00", "ru": "2022-03-03 00:00",
                      "uk": "2023-05-17 14:05", "zh": "2022-03-14 00:00",
                      "dotted-short": "2023-03-07 14:05"}


def test_exit_code_non_zero_only_when_nothing_imported(tmp_path: Path, cli: Cli) -> None:
    bad_only = write_jsonl(tmp_path / "bad.jsonl", ["{oops", "{still bad"])
    result = cli("ingest", str(bad_only), expect=1)
    assert "rejected 2" in result.output
    mixed = write_jsonl(tmp_path / "mixed.jsonl", [
        {"source": "bbc.com", "text": "ok", "published_at": "2022-03-01"}, "{bad"])
    cli("ingest", str(mixed), expect=0)
    cli("ingest", str(mixed), "--strict", expect=1)


def test_csv_with_map_and_bad_rows(tmp_path: Path, cli: Cli) -> None:
    path = tmp_path / "items.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["headline", "outlet", "date", "link"])
        writer.writerow(["Xinhua: Russia says US-funded biolabs found", "news.cn",
                         "2022-03-08T01:00:00Z", "https://news.cn/a?spm=1"])
        writer.writerow(["Чи є в Україні біолабораторії США?", "stopfake.org", "2022-03-09", ""])
        handle.write("too,many,fields,here,and,more\n")
        writer.writerow(["", "bbc.com", "2022-03-10", ""])
    out = cli.json("ingest", str(path), "--map", "headline=text", "--map", "outlet=source",
                   "--map", "date=published_at", "--map", "link=url")
    assert out["new"] == 2
    assert out["reasons"] == {"bad-csv": 1, "empty-text": 1}
    sources = {s["domain"]: s for s in cli.json("sources", "list")}
    assert sources["stopfake.org"]["kind"] == "factchecker"
    assert sources["news.cn"]["ecosystem"] == "china-state"


def test_bad_map_and_unknown_format_are_clear(tmp_path: Path, cli: Cli) -> None:
    path = write_jsonl(tmp_path / "x.jsonl", [])
    result = cli("ingest", str(path), "--map", "nonsense", expect=2)
    assert "column=field" in result.output
    odd = tmp_path / "items.weird"
    odd.write_text("hello")
    result = cli("ingest", str(odd), "--json", expect=1)
    assert '"unknown-format": 1' in result.stdout
    result = cli("ingest", str(tmp_path / "missing.jsonl"), expect=2)
    assert "no such file" in result.output


def test_parquet_round_trip(tmp_path: Path, cli: Cli, sample_rows: list[dict[str, Any]]) -> None:
    path = tmp_path / "items.parquet"
    pl.DataFrame(sample_rows).write_parquet(path)
    assert cli.json("ingest", str(path))["new"] == 4
    for fmt in ("csv", "parquet", "jsonl"):
        target = tmp_path / f"export.{fmt}"
        cli("export", "items", "--format", fmt, "--output", str(target))
        frame = {"csv": pl.read_csv, "parquet": pl.read_parquet,
                 "jsonl": pl.read_ndjson}[fmt](target)
        assert frame.height == 4
        assert {"id", "source", "ecosystem", "lang", "published_at", "url", "title", "text",
                "duplicate_of"} <= set(frame.columns)


def test_unknown_source_is_kept_as_unknown(tmp_path: Path, cli: Cli) -> None:
    path = write_jsonl(tmp_path / "x.jsonl", [
        {"source": "some-blog.example", "text": "A post about the war in Ukraine",
         "published_at": "2022-03-01"},
        {"source": "Mystery Channel", "text": "Another post about Kyiv",
         "published_at": "2022-03-01"},
    ])
    cli.json("ingest", str(path))
    ecosystems = {s["id"]: s["ecosystem"] for s in cli.json("sources", "list")}
    assert ecosystems["some-blog.example"] == "unknown"
    assert ecosystems["mystery channel"] == "unknown"
    assert cli.json("stats")["by_ecosystem"] == {"unknown": 2}


def test_rejects_are_reprocessable(tmp_path: Path, cli: Cli) -> None:
    path = write_jsonl(tmp_path / "x.jsonl", [
        {"text": "Zelensky addresses parliament", "published_at": "2022-03-08T12:00:00Z"},
        {"text": "Зеленський звернувся до парламенту", "published_at": "2022-03-08T12:05:00Z"},
        {"text": "no date and no source"},
    ])
    first = cli.json("ingest", str(path), expect=1)  # nothing imported: exit code 1
    assert first["reasons"] == {"missing-source": 3}
    out = tmp_path / "rejects.jsonl"
    cli("rejects", "export", "--output", str(out))
    assert len(out.read_text(encoding="utf-8").splitlines()) == 3
    retry = cli.json("rejects", "retry", "--source", "bbc.com")
    assert retry["new"] == 2 and retry["reasons"] == {"missing-date": 1}
    stats = cli.json("stats")
    assert stats["items"] == 2
    assert stats["rejected_by_reason"] == {"missing-date": 1}  # still open, with its new reason
    again = cli.json("rejects", "retry", "--source", "bbc.com", expect=1)
    assert again["new"] == 0 and again["rejected"] == 1


def test_csv_non_utf8_row_and_corrupt_parquet(tmp_path: Path, cli: Cli) -> None:
    path = tmp_path / "mixed.csv"
    path.write_bytes(
        b"source,text,published_at\n"
        b"bbc.com,Kyiv under curfew,2022-03-15T20:00:00Z\n"
        + "tass.ru,Москва заявила,2022-03-15\n".encode("cp1251")
        + b"cnn.com,Grain deal signed in Istanbul,2022-07-22\n"
    )
    out = cli.json("ingest", str(path))
    assert (out["new"], out["reasons"]) == (2, {"bad-encoding": 1})
    [reject] = cli.json("rejects", "list", "--reason", "bad-encoding")
    assert reject["locator"] == "line 3" and "UTF-8" in reject["detail"]
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 this is not parquet")
    result = cli("ingest", str(broken), "--json", expect=1)
    assert '"bad-parquet": 1' in result.stdout


def test_language_set_is_configurable(tmp_path: Path, cli: Cli, monkeypatch: Any) -> None:
    rows = [{"source": "dw.com", "published_at": "2022-03-01",
             "text": "Die Bundesregierung hat neue Sanktionen gegen Russland beschlossen"},
            {"source": "bbc.com", "published_at": "2022-03-01",
             "text": "The government has approved new sanctions against Russia"}]
    path = write_jsonl(tmp_path / "x.jsonl", rows)
    cli.json("ingest", str(path))
    assert cli.json("stats")["by_language"] == {"en": 1, "other": 1}
    monkeypatch.setenv("ECHOLENS_LANGUAGES", "en,de")
    cli.json("ingest", str(path), "--db", str(tmp_path / "de.duckdb"))
    assert cli.json("stats", "--db", str(tmp_path / "de.duckdb"))["by_language"] == {
        "de": 1, "en": 1}
