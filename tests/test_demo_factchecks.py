"""The demo's fact-check step on a tiny slice of the real EUvsDisinfo and StopFake files:
the subset rule, the import, matching of items (never against themselves), the re-run."""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import echolens
from echolens.claims.importers import read_euvsdisinfo
from echolens.claims.records import FactCheck
from echolens.claims.storage import FactCheckStore
from echolens.demo import (
    DEMO_CASE_TERMS,
    EUVSDISINFO_FILES,
    demo_case,
    load_factchecks,
    match_factchecks,
)
from echolens.embed.base import HashingEmbedder
from echolens.ingest.datasets import data_dir
from echolens.ingest.files import record_to_raw
from echolens.model import Provenance

BIOLAB = re.compile(r"biolab|biological lab", re.IGNORECASE)
_HASHING = HashingEmbedder(dim=384)


def hashing_encode(kind: str, texts: Sequence[str]) -> np.ndarray:
    """Character trigrams: no model, same words -> close vectors."""
    return _HASHING.embed(list(texts))


@pytest.fixture(scope="module")
def real_root() -> Path:
    path = data_dir()
    if not all((path / folder / name).is_file() for folder, name in EUVSDISINFO_FILES):
        pytest.skip(f"EUvsDisinfo files not found under {path} (set ECHOLENS_DATA_DIR)")
    return path


@pytest.fixture(scope="module")
def tiny_root(real_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder with the first rows of each real file, plus the cknabs cases whose
    title names biolabs (so that a biolabs item has its debunk in the slice)."""
    root = tmp_path_factory.mktemp("data")
    for folder, name in EUVSDISINFO_FILES:
        with (real_root / folder / name).open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            fields = reader.fieldnames or []
        picked = rows[:25] + [r for r in rows[25:] if BIOLAB.search(r.get("title") or "")]
        (root / folder).mkdir()
        with (root / folder / name).open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            writer.writerows(picked)
    (root / "ru22fact").mkdir()
    frame = pl.read_parquet(real_root / "ru22fact" / "ukrainian_fact_validate.parquet")
    frame.head(40).write_parquet(root / "ru22fact" / "ukrainian_fact_validate.parquet")
    return root


def test_the_subset_rule_reads_the_cases_only_and_keeps_full_import_ids(
        tiny_root: Path) -> None:
    folder, name = EUVSDISINFO_FILES[0]  # kalkun: cases with summaries
    path = tiny_root / folder / name
    everything = [r for r in read_euvsdisinfo(path) if isinstance(r, FactCheck)]
    subset = [r for r in read_euvsdisinfo(path, demo_case) if isinstance(r, FactCheck)]
    assert 0 < len(subset) < len(everything)
    full_ids = {r.id: r for r in everything}
    assert all(full_ids[r.id] == r for r in subset)  # same ids, locators and texts
    with path.open(encoding="utf-8", newline="") as handle:
        raw = list(csv.DictReader(handle))
    kept = {f"row {n + 2}" for n, row in enumerate(raw) if demo_case(row)}
    assert {r.locator for r in subset} == kept
    catalonia = next(row for row in raw if "Catalonia" in (row.get("keywords") or ""))
    assert not demo_case(catalonia)
    assert demo_case({"countries": "Russia+Ukraine", "title": "Anything"})
    assert demo_case({"keywords": "Biological weapons", "title": "Secret labs"})
    assert all(DEMO_CASE_TERMS.search(" ".join(
        filter(None, (row.get("keywords"), row.get("title"), row.get("summary")))))
        for row in raw if demo_case(row))


def test_demo_step_stores_matches_never_self_and_a_rerun_adds_nothing(
        tiny_root: Path, tmp_path: Path) -> None:
    said: list[str] = []
    with echolens.open(tmp_path / "demo.duckdb") as db:
        new = load_factchecks(db, tiny_root, say=said.append)
        facts = FactCheckStore(db.store)
        assert new == facts.count() > 0  # linked duplicates are not new
        stopfake = next(f for f in facts.factchecks() if f.organization == "StopFake")
        assert any(f.organization == "EUvsDisinfo" for f in facts.factchecks())
        assert "EUvsDisinfo (EEAS East StratCom)" in said[-1]
        items = [
            {"id": "biolabs", "source": "cgtn.com", "lang": "en",
             "title": "Pentagon funds biological laboratories in Ukraine, says Russia",
             "text": "Pentagon funds biological laboratories in Ukraine, says Russia"},
            {"id": "self", "source": "stopfake.org", "url": stopfake.url, "lang": stopfake.lang,
             "text": stopfake.text},
            {"id": "other", "source": "bbc.com", "lang": "en",
             "text": "Heavy snowfall closes schools across Scotland"},
        ]
        db.ingest_records([record_to_raw(item | {"published_at": "2022-03-10T00:00:00Z"},
                                         Provenance("test", "mem", str(k)))
                           for k, item in enumerate(items)])
        ids = {r[1]: r[0] for r in db.store.con.execute(
            "SELECT id, coalesce(url, text) FROM items").fetchall()}
        first = match_factchecks(db, encode=hashing_encode, say=said.append)
        assert first is not None
        con = db.store.con
        stored = con.execute("SELECT subject_id, factcheck_id, rank, probability, "
                             "above_threshold FROM claim_matches WHERE subject_kind = 'item' "
                             "ORDER BY subject_id, rank").fetchall()
        assert {s for s, *_ in stored} == set(ids.values())
        assert len(stored) == 3 * 5
        assert [r[2] for r in stored if r[0] == ids[stopfake.url]] == [1, 2, 3, 4, 5]
        assert stopfake.id not in {r[1] for r in stored if r[0] == ids[stopfake.url]}
        assert first == sum(1 for r in stored if r[4])
        biolab_item = next(v for k, v in ids.items() if k.startswith("Pentagon"))
        top = next(r[1] for r in stored if r[0] == biolab_item and r[2] == 1)
        top_fact = next(f for f in facts.factchecks() if f.id == top)
        assert re.search(r"biolog|biolab|laborator", top_fact.match_text(), re.IGNORECASE)
        assert any(line.startswith("fact-check matches: ") for line in said)

        before = con.execute("SELECT * FROM claim_matches ORDER BY ALL").fetchall()
        assert match_factchecks(db, encode=hashing_encode, say=said.append) == 0
        assert con.execute("SELECT * FROM claim_matches ORDER BY ALL").fetchall() == before

        # the demo's reset: fact-checks, their rejects and every match go; a reload is the same
        kept = [(f.id, f.duplicate_of) for f in facts.factchecks(include_duplicates=True)]
        facts.clear()
        for table in ("factchecks", "factcheck_rejects", "claim_matches"):
            row = con.execute(f"SELECT count(*) FROM {table}").fetchone()
            assert row == (0,), table
        assert con.execute("SELECT count(*) FROM embeddings WHERE model_id LIKE "
                           "'%:passage'").fetchone() != (0,)  # the vector cache stays
        load_factchecks(db, tiny_root, say=said.append)
        assert [(f.id, f.duplicate_of) for f in facts.factchecks(include_duplicates=True)] \
            == kept
