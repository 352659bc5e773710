"""`echolens echo` and `echolens export echo` on a planted store."""

from __future__ import annotations

import csv
import xml.etree.ElementTree as ET
from pathlib import Path

import polars as pl
import pytest

import echolens
from tests.conftest import Cli
from tests.test_echo_timing import Plant, at


@pytest.fixture
def planted(tmp_path: Path) -> Cli:
    path = tmp_path / "cli.duckdb"
    with echolens.open(path) as database:
        plant = Plant(database)
        for k in range(12):  # Russia first by two days in 12 narratives, China follows
            plant.item(f"ru{k}", "tass", at(k), f"N{k:02d}")
            plant.item(f"ru{k}b", "rt", at(k, 3), f"N{k:02d}")
            plant.item(f"cn{k}", "xinhua", at(k + 2), f"N{k:02d}")
            plant.item(f"cn{k}b", "cgtn", at(k + 2, 5), f"N{k:02d}")
        for k in range(4):  # Russia alone
            for j in range(3):
                plant.item(f"solo{k}-{j}", "tass", at(k, j), f"SOLO{k}")
        plant.item("west0", "bbc", at(30), "N00")
        plant.commit()
        plant.cite("cn0", "TASS", "tass", "russia-state")
    return Cli(path)


def test_echo_json_has_the_convergence_and_the_gaps(planted: Cli) -> None:
    data = planted.json("echo", "--from", "russia-state", "--to", "china-state",
                        "--permutations", "500")
    conv = data["convergence"]
    assert (conv["lead"]["a_first"], conv["lead"]["b_first"], conv["lead"]["ties"]) == (12, 0, 0)
    assert conv["lags"]["median_hours"] == 48.0
    assert conv["baseline"]["p_value"] < 0.01
    assert conv["citations"]["status"] == "ok"
    gaps = data["coverage_gaps"]
    assert [g["narrative_id"] for g in gaps["gaps"]] == ["SOLO0", "SOLO1", "SOLO2", "SOLO3"]
    assert all(g["status"] == "never" for g in gaps["gaps"])


def test_echo_text_table_and_period(planted: Cli) -> None:
    out = planted("echo", "--from", "russia-state", "--to", "china-state", "--since",
                  "2022-03-05", "--until", "2022-03-08", "--permutations", "200").stdout
    # narratives N04..N07 start in the period; N06 and N07's Chinese items fall after it
    assert "russia-state first / china-state first / ties" in out
    assert "2 / 0 / 0" in out
    assert "verdict:" in out and "coverage gaps" in out


def test_unknown_ecosystem_lists_the_known_ones(planted: Cli) -> None:
    result = planted("echo", "--from", "russia-state", "--to", "mars", expect=2)
    assert "unknown ecosystem 'mars'" in result.stderr
    assert "china-state" in result.stderr and "west" in result.stderr


def test_bad_dates_are_clear(planted: Cli) -> None:
    result = planted("echo", "--from", "russia-state", "--to", "china-state", "--since",
                     "March", expect=2)
    assert "--since 'March' is not a date" in result.stderr


def test_export_echo_graphml_and_gexf(planted: Cli, tmp_path: Path) -> None:
    target = tmp_path / "echo.graphml"
    planted("export", "echo", "--format", "graphml", "--output", str(target))
    ns = {"g": "http://graphml.graphdrawing.org/xmlns"}
    root = ET.parse(target).getroot()
    keys = {k.get("id"): k.get("attr.name") for k in root.findall("g:key", ns)}
    edges = {}
    for edge in root.findall("g:graph/g:edge", ns):
        data = {keys[d.get("key")]: d.text for d in edge.findall("g:data", ns)}
        edges[(edge.get("source"), edge.get("target"))] = data
    eco = edges[("ecosystem:russia-state", "ecosystem:china-state")]
    assert (eco["narratives"], eco["median_lag_hours"]) == ("12", "48.0")
    assert edges[("ecosystem:china-state", "ecosystem:west")]["narratives"] == "1"
    assert ("ecosystem:china-state", "ecosystem:russia-state") not in edges
    assert edges[("source:tass", "source:xinhua")]["narratives"] == "12"
    assert edges[("source:tass", "source:bbc")]["narratives"] == "1"
    gexf = tmp_path / "echo.gexf"
    planted("export", "echo", "--format", "gexf", "--output", str(gexf))
    assert ET.parse(gexf).getroot().tag.endswith("gexf")


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_echo_tables(planted: Cli, tmp_path: Path, fmt: str) -> None:
    folder = tmp_path / f"echo-{fmt}"
    planted("export", "echo", "--format", fmt, "--output", str(folder))
    if fmt == "csv":
        with (folder / "edges.csv").open(encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        nodes = pl.read_csv(folder / "nodes.csv")
    else:
        rows = pl.read_parquet(folder / "edges.parquet").to_dicts()
        nodes = pl.read_parquet(folder / "nodes.parquet")
    pairs = {(r["source"], r["target"]): float(r["weight"]) for r in rows}
    assert pairs[("ecosystem:russia-state", "ecosystem:china-state")] == 12.0
    assert set(nodes["id"]) >= {"ecosystem:russia-state", "source:tass", "source:xinhua"}


def test_export_echo_unknown_format(planted: Cli, tmp_path: Path) -> None:
    result = planted("export", "echo", "--format", "svg", "--output", str(tmp_path / "x"),
                     expect=2)
    assert "unknown graph format 'svg'" in result.stderr
