"""Write a node/edge graph as GraphML, GEXF (both open in Gephi), CSV or Parquet.

    from echolens.echo.graphs import Edge, Node, write_graph
    nodes = [Node("tass", "TASS", {"ecosystem": "russia-state"}),
             Node("global-times", "Global Times", {"ecosystem": "china-state"})]
    edges = [Edge("global-times", "tass", 12.0, {"items": 12})]
    write_graph(nodes, edges, "gexf", "citations.gexf")      # one file
    write_graph(nodes, edges, "csv", "citations/")           # nodes.csv + edges.csv

Attributes are str, int, float or bool (None: no value); each attribute name has one type,
inferred over all nodes (or edges), str winning over numbers. GraphML and GEXF are written
with the standard library (no dependency); characters XML 1.0 forbids are dropped.
"""

from __future__ import annotations

import csv
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from echolens.errors import UsageError
from echolens.output_files import written_whole

if TYPE_CHECKING:
    import polars as pl

AttrValue = str | int | float | bool | None
GRAPH_FORMATS = ("graphml", "gexf", "csv", "parquet")
GRAPHML_NS = "http://graphml.graphdrawing.org/xmlns"
GEXF_NS = "http://gexf.net/1.3"
_BAD_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True)
class Node:
    """A graph node: a unique id, a display label and attributes."""

    id: str
    label: str = ""
    attrs: Mapping[str, AttrValue] = field(default_factory=dict)


@dataclass(frozen=True)
class Edge:
    """A directed edge source -> target with a weight and attributes."""

    source: str
    target: str
    weight: float = 1.0
    attrs: Mapping[str, AttrValue] = field(default_factory=dict)


def _type(values: list[AttrValue]) -> str:
    """boolean | long | double | string for one attribute over all its values."""
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return "boolean"
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return "long"
    if present and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                       for v in present):
        return "double"
    return "string"


def _schema(records: Sequence[Mapping[str, AttrValue]]) -> dict[str, str]:
    names: dict[str, list[AttrValue]] = {}
    for attrs in records:
        for key, value in attrs.items():
            names.setdefault(key, []).append(value)
    return {key: _type(values) for key, values in names.items()}


def _text(value: AttrValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return _BAD_XML.sub("", str(value))


def check_graph(nodes: Sequence[Node], edges: Sequence[Edge]) -> None:
    """Unique node ids; every edge end is a node."""
    ids: set[str] = set()
    for node in nodes:
        if node.id in ids:
            raise UsageError(f"graph node {node.id!r} appears twice", "give nodes unique ids")
        ids.add(node.id)
    for edge in edges:
        for end in (edge.source, edge.target):
            if end not in ids:
                raise UsageError(f"edge {edge.source!r} -> {edge.target!r} names no node "
                                 f"{end!r}", "add the node or drop the edge")


def write_graph(nodes: Sequence[Node], edges: Sequence[Edge], fmt: str, path: str | Path, *,
                name: str = "echolens") -> list[Path]:
    """Write the graph; `path` is a file for graphml/gexf and a folder for csv/parquet
    (nodes.* and edges.* inside). Returns the files written."""
    check_graph(nodes, edges)
    target = Path(path)
    if fmt == "graphml":
        target.parent.mkdir(parents=True, exist_ok=True)
        _graphml(nodes, edges).write(target, encoding="utf-8", xml_declaration=True)
        return [target]
    if fmt == "gexf":
        target.parent.mkdir(parents=True, exist_ok=True)
        _gexf(nodes, edges, name).write(target, encoding="utf-8", xml_declaration=True)
        return [target]
    if fmt == "csv":
        return _csv(nodes, edges, target)
    if fmt == "parquet":
        return _parquet(nodes, edges, target)
    raise UsageError(f"unknown graph format {fmt!r}", f"use one of {', '.join(GRAPH_FORMATS)}")


def _graphml(nodes: Sequence[Node], edges: Sequence[Edge]) -> ET.ElementTree[ET.Element]:
    ET.register_namespace("", GRAPHML_NS)
    q = f"{{{GRAPHML_NS}}}"
    root = ET.Element(f"{q}graphml")
    node_schema = {"label": "string", **_schema([n.attrs for n in nodes])}
    edge_schema = {"weight": "double", **_schema([e.attrs for e in edges])}
    for scope, schema in (("node", node_schema), ("edge", edge_schema)):
        for key, kind in schema.items():
            ET.SubElement(root, f"{q}key", {"id": f"{scope[0]}_{key}", "for": scope,
                                            "attr.name": key, "attr.type": kind})
    graph = ET.SubElement(root, f"{q}graph", {"id": "G", "edgedefault": "directed"})
    for node in nodes:
        element = ET.SubElement(graph, f"{q}node", {"id": _text(node.id)})
        for key, value in {"label": node.label or node.id, **node.attrs}.items():
            if value is not None:
                ET.SubElement(element, f"{q}data", {"key": f"n_{key}"}).text = _text(value)
    for number, edge in enumerate(edges):
        element = ET.SubElement(graph, f"{q}edge", {
            "id": f"e{number}", "source": _text(edge.source), "target": _text(edge.target)})
        for key, value in {"weight": edge.weight, **edge.attrs}.items():
            if value is not None:
                ET.SubElement(element, f"{q}data", {"key": f"e_{key}"}).text = _text(value)
    ET.indent(root)
    return ET.ElementTree(root)


def _gexf(nodes: Sequence[Node], edges: Sequence[Edge],
          name: str) -> ET.ElementTree[ET.Element]:
    ET.register_namespace("", GEXF_NS)
    q = f"{{{GEXF_NS}}}"
    root = ET.Element(f"{q}gexf", {"version": "1.3"})
    meta = ET.SubElement(root, f"{q}meta")
    ET.SubElement(meta, f"{q}creator").text = "echolens"
    ET.SubElement(meta, f"{q}description").text = _text(name)
    graph = ET.SubElement(root, f"{q}graph", {"defaultedgetype": "directed", "mode": "static"})
    ids: dict[str, dict[str, str]] = {}
    for scope, schema in (("node", _schema([n.attrs for n in nodes])),
                          ("edge", _schema([e.attrs for e in edges]))):
        block = ET.SubElement(graph, f"{q}attributes", {"class": scope})
        ids[scope] = {}
        for number, (key, kind) in enumerate(schema.items()):
            ids[scope][key] = f"{scope[0]}{number}"
            ET.SubElement(block, f"{q}attribute", {"id": ids[scope][key], "title": key,
                                                   "type": kind})
    node_block = ET.SubElement(graph, f"{q}nodes")
    for node in nodes:
        element = ET.SubElement(node_block, f"{q}node", {"id": _text(node.id),
                                                         "label": _text(node.label or node.id)})
        _attvalues(element, q, ids["node"], node.attrs)
    edge_block = ET.SubElement(graph, f"{q}edges")
    for number, edge in enumerate(edges):
        element = ET.SubElement(edge_block, f"{q}edge", {
            "id": f"e{number}", "source": _text(edge.source), "target": _text(edge.target),
            "weight": repr(float(edge.weight))})
        _attvalues(element, q, ids["edge"], edge.attrs)
    ET.indent(root)
    return ET.ElementTree(root)


def _attvalues(element: ET.Element, q: str, ids: dict[str, str],
               attrs: Mapping[str, AttrValue]) -> None:
    present = {k: v for k, v in attrs.items() if v is not None}
    if not present:
        return
    values = ET.SubElement(element, f"{q}attvalues")
    for key, value in present.items():
        ET.SubElement(values, f"{q}attvalue", {"for": ids[key], "value": _text(value)})


def _rows(nodes: Sequence[Node], edges: Sequence[Edge]
          ) -> tuple[list[str], list[dict[str, AttrValue]], list[str], list[dict[str, AttrValue]]]:
    node_keys = list(_schema([n.attrs for n in nodes]))
    edge_keys = list(_schema([e.attrs for e in edges]))
    node_cols = ["id", "label", *[k for k in node_keys if k not in ("id", "label")]]
    edge_cols = ["source", "target", "weight",
                 *[k for k in edge_keys if k not in ("source", "target", "weight")]]
    node_rows = [{**dict(n.attrs), "id": n.id, "label": n.label or n.id} for n in nodes]
    edge_rows = [{**dict(e.attrs), "source": e.source, "target": e.target,
                  "weight": float(e.weight)} for e in edges]
    return node_cols, node_rows, edge_cols, edge_rows


def _csv(nodes: Sequence[Node], edges: Sequence[Edge], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    node_cols, node_rows, edge_cols, edge_rows = _rows(nodes, edges)
    written = []
    for file_name, cols, rows in (("nodes.csv", node_cols, node_rows),
                                  ("edges.csv", edge_cols, edge_rows)):
        target = folder / file_name
        with written_whole(target, newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=cols, extrasaction="ignore")
            writer.writeheader()
            for row in rows:
                writer.writerow({k: "" if v is None else _text(v) if isinstance(v, bool) else v
                                 for k, v in row.items()})
        written.append(target)
    return written


def _parquet(nodes: Sequence[Node], edges: Sequence[Edge], folder: Path) -> list[Path]:
    import polars as pl  # here: the other formats never need it (0.3 s to import)

    folder.mkdir(parents=True, exist_ok=True)
    node_cols, node_rows, edge_cols, edge_rows = _rows(nodes, edges)
    node_types = {"id": "string", "label": "string", **_schema([n.attrs for n in nodes])}
    edge_types = {"source": "string", "target": "string", "weight": "double",
                  **_schema([e.attrs for e in edges])}
    written = []
    for file_name, cols, rows, types in (("nodes.parquet", node_cols, node_rows, node_types),
                                         ("edges.parquet", edge_cols, edge_rows, edge_types)):
        schema = {c: _polars_type(types.get(c, "string")) for c in cols}
        frame = pl.DataFrame([{c: _cast(r.get(c), types.get(c, "string")) for c in cols}
                              for r in rows], schema=schema)
        target = folder / file_name
        frame.write_parquet(target)
        written.append(target)
    return written


def _polars_type(kind: str) -> pl.DataType:
    import polars as pl

    return {"string": pl.String(), "long": pl.Int64(), "double": pl.Float64(),
            "boolean": pl.Boolean()}[kind]


def _cast(value: AttrValue, kind: str) -> AttrValue:
    if value is None:
        return None
    if kind == "string":
        return str(value)
    if kind == "double":
        return float(value)
    return value
