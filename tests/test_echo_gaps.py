"""Coverage gaps on a planted store: never carried, late and little, and B's nearest coverage
found by centroid similarity of real stored embeddings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import echolens
from echolens.echo.gaps import coverage_gaps
from echolens.errors import NotFound, UsageError
from tests.test_echo_timing import Plant, at

A, B = "west", "china-state"
E1, E2, E3, E4 = ([1.0 if i == k else 0.0 for i in range(4)] for k in range(4))


@pytest.fixture
def plant(tmp_path: Path) -> Iterator[Plant]:
    database = echolens.open(tmp_path / "gaps.duckdb")
    yield Plant(database)
    database.close()


def _mix(*parts: tuple[float, list[float]]) -> list[float]:
    return list(np.sum([w * np.array(v) for w, v in parts], axis=0))


def _planted(plant: Plant) -> None:
    # CASUALTIES: west 10 items from day 0, China 1 item on day 12: late and little
    for k in range(10):
        plant.item(f"cas{k}", "bbc", at(k * 0.5), "CASUALTIES", vector=E1)
    plant.item("cas-cn", "xinhua", at(12), "CASUALTIES", vector=E1)
    # CONDEMN: west 5 items, China never
    for k in range(5):
        plant.item(f"con{k}", "bbc", at(k), "CONDEMN", vector=E2)
    # SANCTIONS: both, promptly: no gap
    for k in range(6):
        plant.item(f"san{k}", "bbc", at(k), "SANCTIONS", vector=E3)
        plant.item(f"san-cn{k}", "xinhua", at(k, 2), "SANCTIONS", vector=E3)
    # SMALL: west 2 items only: not prominent
    plant.item("sm0", "bbc", at(1), "SMALL", vector=E4)
    plant.item("sm1", "bbc", at(2), "SMALL", vector=E4)
    # China's own narratives: one close to CASUALTIES, one close to CONDEMN
    plant.item("cn-war0", "xinhua", at(3), "CN-WAR", vector=_mix((1, E1), (0.3, E3)),
               title="Xinhua: civilians evacuated")
    plant.item("cn-war1", "cgtn", at(4), "CN-WAR", vector=_mix((1, E1), (1.0, E4)))
    plant.item("cn-un", "cgtn", at(2), "CN-UN", vector=_mix((1, E2), (0.5, E4)),
               title="China calls for dialogue at the UN")
    plant.commit()


def test_gaps_are_ranked_by_volume_with_their_status(plant: Plant) -> None:
    _planted(plant)
    result = coverage_gaps(plant.db, A, B)
    assert [(g.narrative_id, g.status) for g in result.gaps] == [
        ("CASUALTIES", "late-and-little"), ("CONDEMN", "never")]
    casualties, condemn = result.gaps
    assert (casualties.a_items, casualties.b_items) == (10, 1)
    assert casualties.lag_days == pytest.approx(12.0)
    assert (condemn.a_items, condemn.b_items, condemn.b_first) == (5, 0, None)
    assert result.a_narratives == 3 and result.total_gaps == 2  # SMALL is not prominent


def test_nearest_coverage_is_the_closest_b_narrative(plant: Plant) -> None:
    _planted(plant)
    gaps = {g.narrative_id: g for g in coverage_gaps(plant.db, A, B).gaps}
    near = gaps["CASUALTIES"].nearest
    assert near is not None and near.narrative_id == "CN-WAR"  # the gap itself is excluded
    centroid = np.array(_mix((1, E1), (0.3, E3))) / np.linalg.norm(_mix((1, E1), (0.3, E3)))
    centroid += np.array(_mix((1, E1), (1.0, E4))) / np.linalg.norm(_mix((1, E1), (1.0, E4)))
    assert near.similarity == pytest.approx(float(centroid[0] / np.linalg.norm(centroid)),
                                            abs=1e-5)
    assert (near.item_id, near.b_items) == ("cn-war0", 2)
    assert near.item_title == "Xinhua: civilians evacuated"
    condemn = gaps["CONDEMN"].nearest
    assert condemn is not None and condemn.narrative_id == "CN-UN"


def test_thresholds_change_what_counts_as_late_and_little(plant: Plant) -> None:
    _planted(plant)
    strict = coverage_gaps(plant.db, A, B, late_days=20)
    assert [g.narrative_id for g in strict.gaps] == ["CONDEMN"]
    loose = coverage_gaps(plant.db, A, B, min_items=2, limit=1)
    assert [g.narrative_id for g in loose.gaps] == ["CASUALTIES"]
    assert loose.total_gaps == 3  # SMALL counts with min_items=2
    window = coverage_gaps(plant.db, A, B, until=at(10))
    assert [(g.narrative_id, g.status) for g in window.gaps] == [
        ("CASUALTIES", "never"), ("CONDEMN", "never")]


def test_without_embeddings_gaps_are_shown_and_nearest_is_explained(plant: Plant) -> None:
    for k in range(4):
        plant.item(f"w{k}", "bbc", at(k), "GAP")
    plant.item("c0", "xinhua", at(1), "OTHER")
    plant.commit()
    result = coverage_gaps(plant.db, A, B)
    assert [g.narrative_id for g in result.gaps] == ["GAP"]
    assert result.gaps[0].nearest is None
    assert any("embedding" in n for n in result.notes)


def test_bad_arguments_are_clear(plant: Plant) -> None:
    _planted(plant)
    with pytest.raises(NotFound, match="atlantis"):
        coverage_gaps(plant.db, "atlantis", B)
    with pytest.raises(UsageError):
        coverage_gaps(plant.db, A, A)
    with pytest.raises(UsageError):
        coverage_gaps(plant.db, A, B, min_items=0)
