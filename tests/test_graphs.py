"""Graph writers: GraphML, GEXF, CSV and Parquet files parse back with the same graph."""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl
import pytest
from lxml import etree

from echolens.echo.graphs import Edge, Node, write_graph
from echolens.errors import UsageError

GRAPHML = {"g": "http://graphml.graphdrawing.org/xmlns"}
GEXF = {"x": "http://gexf.net/1.3"}

NODES = [
    Node("tass", "TASS", {"ecosystem": "russia-state", "items": 40, "registered": True}),
    Node("global-times", "Global Times", {"ecosystem": "china-state", "items": 12,
                                          "registered": True}),
    Node("name:Gorlov & Sons <Ltd>", "Gorlov & Sons <Ltd>\x01",
         {"ecosystem": None, "items": 1, "registered": False}),
]
EDGES = [
    Edge("global-times", "tass", 7.0, {"sole_items": 3, "share": 0.25}),
    Edge("global-times", "name:Gorlov & Sons <Ltd>", 1.0, {"sole_items": 0, "share": 1}),
]


def test_graphml_round_trip(tmp_path: Path) -> None:
    [path] = write_graph(NODES, EDGES, "graphml", tmp_path / "g.graphml")
    root = etree.parse(str(path)).getroot()
    keys = {(k.get("for"), k.get("attr.name")): k.get("attr.type")
            for k in root.findall("g:key", GRAPHML)}
    assert keys[("node", "ecosystem")] == "string"
    assert keys[("node", "items")] == "long"
    assert keys[("node", "registered")] == "boolean"
    assert keys[("edge", "weight")] == "double"
    assert keys[("edge", "share")] == "double"  # ints and floats mixed
    graph = root.find("g:graph", GRAPHML)
    assert graph is not None and graph.get("edgedefault") == "directed"
    nodes = root.findall(".//g:node", GRAPHML)
    assert [n.get("id") for n in nodes] == [n.id for n in NODES]
    odd = nodes[2]
    data = {d.get("key"): d.text for d in odd.findall("g:data", GRAPHML)}
    assert data["n_label"] == "Gorlov & Sons <Ltd>"  # escaped, control character dropped
    assert "n_ecosystem" not in data  # None: no value
    edges = root.findall(".//g:edge", GRAPHML)
    assert [(e.get("source"), e.get("target")) for e in edges] == [
        (e.source, e.target) for e in EDGES]
    weights = [next(d.text for d in e.findall("g:data", GRAPHML) if d.get("key") == "e_weight")
               for e in edges]
    assert [float(w or 0) for w in weights] == [7.0, 1.0]


def test_gexf_round_trip(tmp_path: Path) -> None:
    [path] = write_graph(NODES, EDGES, "gexf", tmp_path / "g.gexf")
    root = etree.parse(str(path)).getroot()
    assert root.get("version") == "1.3"
    attrs = {a.get("title"): (a.get("id"), a.get("type"))
             for a in root.findall(".//x:attributes[@class='node']/x:attribute", GEXF)}
    assert attrs["items"][1] == "long" and attrs["ecosystem"][1] == "string"
    nodes = root.findall(".//x:nodes/x:node", GEXF)
    assert len(nodes) == 3
    tass = next(n for n in nodes if n.get("id") == "tass")
    values = {v.get("for"): v.get("value") for v in tass.findall(".//x:attvalue", GEXF)}
    assert values[attrs["ecosystem"][0]] == "russia-state"
    assert values[attrs["registered"][0]] == "true"
    edges = root.findall(".//x:edges/x:edge", GEXF)
    assert [(e.get("source"), e.get("target"), float(e.get("weight") or 0)) for e in edges] == [
        ("global-times", "tass", 7.0), ("global-times", "name:Gorlov & Sons <Ltd>", 1.0)]


def test_csv_files(tmp_path: Path) -> None:
    files = write_graph(NODES, EDGES, "csv", tmp_path / "out")
    assert [f.name for f in files] == ["nodes.csv", "edges.csv"]
    with files[0].open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["id"] for r in rows] == [n.id for n in NODES]
    assert rows[0]["ecosystem"] == "russia-state" and rows[2]["ecosystem"] == ""
    assert rows[0]["registered"] == "true"
    with files[1].open(encoding="utf-8") as handle:
        edges = list(csv.DictReader(handle))
    assert [(e["source"], e["target"], float(e["weight"])) for e in edges] == [
        ("global-times", "tass", 7.0), ("global-times", "name:Gorlov & Sons <Ltd>", 1.0)]


def test_parquet_files_keep_types(tmp_path: Path) -> None:
    files = write_graph(NODES, EDGES, "parquet", tmp_path / "out")
    nodes = pl.read_parquet(files[0])
    edges = pl.read_parquet(files[1])
    assert nodes.height == 3 and edges.height == 2
    assert nodes.schema["items"] == pl.Int64 and nodes.schema["registered"] == pl.Boolean
    assert edges.schema["share"] == pl.Float64
    assert edges["weight"].to_list() == [7.0, 1.0]
    assert nodes["ecosystem"].to_list() == ["russia-state", "china-state", None]


def test_empty_graph_writes_valid_files(tmp_path: Path) -> None:
    [path] = write_graph([], [], "gexf", tmp_path / "empty.gexf")
    assert etree.parse(str(path)).getroot().findall(".//x:node", GEXF) == []
    files = write_graph([], [], "parquet", tmp_path / "empty")
    assert pl.read_parquet(files[0]).height == 0


def test_bad_graphs_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="names no node"):
        write_graph(NODES[:1], EDGES, "graphml", tmp_path / "x.graphml")
    with pytest.raises(UsageError, match="appears twice"):
        write_graph([NODES[0], NODES[0]], [], "graphml", tmp_path / "x.graphml")
    with pytest.raises(UsageError, match="unknown graph format"):
        write_graph(NODES, [], "dot", tmp_path / "x.dot")
    assert not (tmp_path / "x.graphml").exists()
