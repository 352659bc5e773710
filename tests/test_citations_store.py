"""Citations stored in the store: extraction of pending items, re-runs, reads, CLI, export."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from lxml import etree

import echolens.echo.citations as citation_rules
from echolens.database import Database
from echolens.echo import citation_store as cs
from tests.conftest import Cli, write_jsonl

ROWS: list[dict[str, Any]] = [
    # Global Times resting on RT alone: a sole source of another ecosystem
    {"id": "gt1", "source": "globaltimes.cn", "lang": "en",
     "text": "Ukrainian troops abandon positions near Kharkiv: RT",
     "published_at": "2022-03-10T08:00:00Z"},
    # TASS citing the Russian Defense Ministry: a sole source of its own ecosystem
    {"id": "tass1", "source": "tass.ru", "lang": "ru",
     "text": "По данным Минобороны России, сбиты четыре украинских беспилотника",
     "published_at": "2022-03-11T08:00:00Z"},
    # TASS signing its own story: no citation
    {"id": "tass2", "source": "tass.ru", "lang": "ru",
     "text": "Обстрел Донецка продолжался всю ночь — ТАСС",
     "published_at": "2022-03-12T08:00:00Z"},
    # CNN citing two sources: not sole-source
    {"id": "cnn1", "source": "cnn.com", "lang": "en",
     "text": "Zelensky says talks with Moscow are stalled, Kremlin denies it",
     "published_at": "2022-03-13T08:00:00Z"},
    # Xinhua citing TASS in Chinese: foreign sole source again
    {"id": "xh1", "source": "news.cn", "lang": "zh",
     "text": "据塔斯社报道，俄军已撤出该地区", "published_at": "2022-04-02T08:00:00Z"},
    # an organisation the alias table does not know: kept, unresolved
    {"id": "cnn2", "source": "cnn.com", "lang": "en",
     "text": "Gorlov Institute of Energy warns of winter shortages in Europe",
     "published_at": "2022-04-03T08:00:00Z"},
    # nothing cited
    {"id": "up1", "source": "pravda.com.ua", "lang": "uk",
     "text": "У Києві відновили рух метро після нічної тривоги",
     "published_at": "2022-04-04T08:00:00Z"},
]


@pytest.fixture
def loaded(db: Database, tmp_path: Path) -> Database:
    db.load_curated_sources()
    report = db.ingest([str(write_jsonl(tmp_path / "items.jsonl", ROWS))])
    assert report.new == len(ROWS)
    return db


def counts(db: Database) -> tuple[int, int]:
    row = db.store.con.execute("SELECT (SELECT count(*) FROM citations), "
                               "(SELECT count(*) FROM citation_items)").fetchall()[0]
    return int(row[0]), int(row[1])


def by_item(db: Database) -> dict[str, dict[str, Any]]:
    frame = db.store.con.sql("SELECT * FROM citation_items").pl()
    return {r["item_id"]: r for r in frame.to_dicts()}


def test_extract_stores_citations_with_registry_links(loaded: Database) -> None:
    report = loaded.extract_citations()
    assert report.processed == len(ROWS)
    assert report.with_citations == 5
    rows = loaded.store.con.sql(
        "SELECT item_id, name, kind, source_id, ecosystem, resolved, lang FROM citations "
        "ORDER BY item_id, ordinal").pl().to_dicts()
    cited = {(r["item_id"], r["name"]) for r in rows}
    assert cited == {("gt1", "RT"), ("tass1", "Russian Defense Ministry"),
                     ("cnn1", "Volodymyr Zelensky"), ("cnn1", "Kremlin"), ("xh1", "TASS"),
                     ("cnn2", "Gorlov Institute of Energy")}
    link = {r["name"]: (r["source_id"], r["ecosystem"]) for r in rows}
    assert link["RT"] == ("rt", "russia-state")
    assert link["TASS"] == ("tass", "russia-state")
    assert link["Russian Defense Ministry"] == ("mil-ru", "russia-state")
    assert link["Volodymyr Zelensky"] == (None, "ukraine")  # an official: the alias table's
    assert link["Gorlov Institute of Energy"] == (None, None)
    assert {r["name"] for r in rows if not r["resolved"]} == {"Gorlov Institute of Energy"}


def test_sole_source_flags_across_ecosystems(loaded: Database) -> None:
    loaded.extract_citations()
    items = by_item(loaded)
    assert (items["gt1"]["sole_source"], items["gt1"]["sole_foreign"]) == (True, True)
    assert items["gt1"]["sole_name"] == "RT"
    assert items["gt1"]["item_ecosystem"] == "china-state"
    assert (items["xh1"]["sole_source"], items["xh1"]["sole_foreign"]) == (True, True)
    assert (items["tass1"]["sole_source"], items["tass1"]["sole_foreign"]) == (True, False)
    assert (items["cnn1"]["sole_source"], items["cnn1"]["sole_foreign"]) == (False, False)
    assert items["tass2"]["citations"] == 0  # the publisher is not its own source
    # an unknown name has no ecosystem, so it is never "foreign"
    assert (items["cnn2"]["sole_source"], items["cnn2"]["sole_foreign"]) == (True, False)
    sole = cs.sole_source_items(loaded)
    assert sorted(sole["item_id"].to_list()) == ["gt1", "xh1"]
    assert cs.sole_source_items(loaded, cited="Russia Today")["item_id"].to_list() == ["gt1"]
    all_sole = cs.sole_source_items(loaded, foreign_only=False)
    assert sorted(all_sole["item_id"].to_list()) == ["cnn2", "gt1", "tass1", "xh1"]


def test_rerun_extracts_nothing_twice(loaded: Database) -> None:
    first = loaded.extract_citations()
    stored = counts(loaded)
    again = loaded.extract_citations()
    assert again.processed == 0 and again.citations == 0
    assert counts(loaded) == stored == (first.citations, len(ROWS))


def test_version_bump_reextracts_everything_once(loaded: Database,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    loaded.extract_citations()
    stored = counts(loaded)
    monkeypatch.setattr(citation_rules, "RULES_VERSION", "test-bump")
    bumped = loaded.extract_citations()
    assert bumped.processed == bumped.reextracted == len(ROWS)
    assert counts(loaded) == stored
    versions = {r["extractor_version"] for r in by_item(loaded).values()}
    assert versions == {citation_rules.extractor_version()}
    assert "test-bump" in citation_rules.extractor_version()
    assert loaded.extract_citations().processed == 0


def test_changed_text_is_extracted_again(loaded: Database) -> None:
    loaded.extract_citations()
    loaded.store.con.execute(
        "UPDATE items SET text = 'Kremlin rejects the report, says Peskov', "
        "content_hash = 'changed' WHERE id = 'gt1'")
    report = loaded.extract_citations()
    assert report.processed == 1 and report.reextracted == 1
    names = cs.item_citations(loaded, "gt1")["name"].to_list()
    assert names == ["Kremlin", "Dmitry Peskov"]
    assert by_item(loaded)["gt1"]["sole_source"] is False


def test_interrupted_run_keeps_whole_batches_and_resumes(loaded: Database) -> None:
    class Stop(Exception):
        pass

    def stop(done: int, total: int) -> None:
        raise Stop

    with pytest.raises(Stop):
        cs.extract_pending(loaded, batch_size=3, progress=stop)
    items = by_item(loaded)
    assert len(items) == 3
    cited_items = {r[0] for r in loaded.store.con.execute(
        "SELECT DISTINCT item_id FROM citations").fetchall()}
    assert cited_items <= set(items)
    rest = loaded.extract_citations()
    assert rest.processed == len(ROWS) - 3
    assert counts(loaded)[1] == len(ROWS)


def test_deleted_items_lose_their_citations(loaded: Database) -> None:
    loaded.extract_citations()
    loaded.store.con.execute("DELETE FROM items WHERE id = 'gt1'")
    report = loaded.extract_citations()
    assert report.removed == 1 and report.processed == 0
    assert cs.item_citations(loaded, "gt1").is_empty()
    assert "gt1" not in by_item(loaded)


def test_source_added_later_links_stored_citations(loaded: Database, cli: Cli,
                                                   db_path: Path) -> None:
    loaded.extract_citations()
    assert cs.unresolved_names(loaded)["name"].to_list() == ["Gorlov Institute of Energy"]
    from echolens.sources.registry import source_from_mapping

    loaded.add_sources([source_from_mapping(
        {"id": "gorlov", "name": "Gorlov Institute of Energy", "ecosystem": "russia",
         "platform": "web", "kind": "other"}, "test")])
    report = loaded.extract_citations()
    assert report.processed == 0
    row = cs.items_citing(loaded, "Gorlov Institute of Energy")
    assert row["item_id"].to_list() == ["cnn2"]
    stored = cs.item_citations(loaded, "cnn2").to_dicts()[0]
    assert (stored["source_id"], stored["ecosystem"]) == ("gorlov", "russia")


def test_flow_filters_by_period_and_ecosystem(loaded: Database) -> None:
    loaded.extract_citations()
    flow = cs.citation_flow(loaded)
    pair = flow.filter((pl.col("citing_ecosystem") == "china-state")
                       & (pl.col("cited_name") == "RT"))
    assert pair.select("citing_source", "cited_ecosystem", "items", "sole_items").row(0) == (
        "global-times", "russia-state", 1, 1)
    march = cs.citation_flow(loaded, since="2022-03-01", until="2022-03-31")
    assert "TASS" not in march["cited_name"].to_list()  # Xinhua cited it in April
    assert "RT" in march["cited_name"].to_list()
    china = cs.citation_flow(loaded, ecosystem="china-state")
    assert set(china["cited_name"].to_list()) == {"RT", "TASS"}
    eco = cs.ecosystem_flow(loaded).filter(pl.col("citing_ecosystem") == "china-state")
    assert eco.to_dicts() == [{"citing_ecosystem": "china-state",
                               "cited_ecosystem": "russia-state", "citations": 2}]
    with pytest.raises(Exception, match="not a date"):
        cs.citation_flow(loaded, since="March")


def test_cli_citations_json(db_path: Path, cli: Cli, tmp_path: Path) -> None:
    cli("sources", "curated")
    cli("ingest", str(write_jsonl(tmp_path / "items.jsonl", ROWS)))
    out = cli("process", "--embedder", "hashing")
    assert "citations: 7 items read, 5 cite a named source" in out.stdout
    data = cli.json("citations")
    assert (data["processed"], data["items"]) == (7, 7)
    assert {"citing_ecosystem": "china-state", "cited_ecosystem": "russia-state",
            "citations": 2} in data["ecosystem_flow"]
    sole = {r["ecosystem"]: r for r in data["sole_source"]}
    assert (sole["china-state"]["sole_source"], sole["china-state"]["sole_foreign"]) == (2, 2)
    only = cli.json("citations", "--ecosystem", "west")
    assert {r["citing_ecosystem"] for r in only["flow"]} == {"west"}
    unresolved = cli.json("citations", "unresolved")
    assert [(r["name"], r["items"]) for r in unresolved] == [("Gorlov Institute of Energy", 1)]
    citing = cli.json("citations", "items", "--cited", "今日俄罗斯")
    assert [(r["item_id"], r["cited_name"], r["cue"]) for r in citing] == [("gt1", "RT", "RT")]
    table = cli("citations", "items", "--cited", "TASS")
    assert "xh1" in table.stdout and "塔斯社" in table.stdout
    text = cli("citations")
    assert "citation flow" in text.stdout and "global-times" in text.stdout


def test_cli_citations_before_processing_says_what_to_run(cli: Cli, tmp_path: Path) -> None:
    cli("ingest", str(write_jsonl(tmp_path / "items.jsonl", ROWS[:1])))
    out = cli("citations")
    assert "run `echolens process`" in out.stdout


@pytest.mark.parametrize("fmt", ["graphml", "gexf", "csv", "parquet"])
def test_export_citation_graph(loaded: Database, cli: Cli, db_path: Path, tmp_path: Path,
                               fmt: str) -> None:
    loaded.extract_citations()
    nodes, edges = cs.citation_graph(loaded)
    loaded.close()
    target = tmp_path / ("graph." + fmt if fmt in ("graphml", "gexf") else "graph")
    cli.db_path = Path(loaded.path)
    out = cli("export", "citations", "--format", fmt, "--output", str(target))
    assert f"{len(nodes)} nodes, {len(edges)} edges" in out.stdout
    ids = {n.id for n in nodes}
    assert {"global-times", "rt", "xinhua", "tass", "mil-ru",
            "name:Gorlov Institute of Energy"} <= ids
    if fmt == "graphml":
        root = etree.parse(str(target)).getroot()
        ns = {"g": "http://graphml.graphdrawing.org/xmlns"}
        assert len(root.findall(".//g:node", ns)) == len(nodes)
        found = {(e.get("source"), e.get("target")) for e in root.findall(".//g:edge", ns)}
    elif fmt == "gexf":
        root = etree.parse(str(target)).getroot()
        ns = {"x": "http://gexf.net/1.3"}
        assert len(root.findall(".//x:node", ns)) == len(nodes)
        found = {(e.get("source"), e.get("target")) for e in root.findall(".//x:edge", ns)}
        eco = {n.get("id"): n.find(".//x:attvalue", ns) for n in root.findall(".//x:node", ns)}
        assert eco["rt"] is not None and eco["rt"].get("value") == "russia-state"
    elif fmt == "csv":
        node_frame = pl.read_csv(target / "nodes.csv")
        assert node_frame.height == len(nodes)
        found = set(pl.read_csv(target / "edges.csv").select("source", "target").rows())
    else:
        assert pl.read_parquet(target / "nodes.parquet").height == len(nodes)
        found = set(pl.read_parquet(target / "edges.parquet").select("source", "target").rows())
    assert ("global-times", "rt") in found and ("xinhua", "tass") in found
    assert len(found) == len(edges)


def test_cli_extract_contract_unchanged(tmp_path: Path, cli: Cli) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", [{"id": 1, "text": "据塔斯社报道，俄军已撤出"}])
    cli("citations", "extract", "--input", str(source), "--output", str(tmp_path / "o.jsonl"))
    line = json.loads((tmp_path / "o.jsonl").read_text(encoding="utf-8"))
    assert line["id"] == "1"
    assert [(c["name"], c["cue"]) for c in line["citations"]] == [("TASS", "塔斯社")]
