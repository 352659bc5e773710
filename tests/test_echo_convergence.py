"""Convergence between ecosystems on planted timelines whose truth is known by construction:
planted leads, volume imbalance (one ecosystem ten times larger), ties, missing days,
undated items, citation flow, the permutation baseline and the matrix."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

import echolens
from echolens.echo.convergence import (
    convergence,
    convergence_matrix,
    first_probabilities,
    jensen_shannon,
)
from echolens.errors import NotFound
from tests.test_echo_timing import Plant, at

A, B = "russia-state", "china-state"


@pytest.fixture
def plant(tmp_path: Path) -> Iterator[Plant]:
    database = echolens.open(tmp_path / "conv.duckdb")
    yield Plant(database)
    database.close()


def _planted_lead(plant: Plant, narratives: int = 40) -> list[float]:
    """A's three items start on day k; B's start 24, 48 or 72 hours later. Returns the lags."""
    lags = []
    for k in range(narratives):
        lag = 24.0 * (1 + k % 3)
        lags.append(lag)
        for j in range(3):
            plant.item(f"a{k}-{j}", "tass", at(k, 6 * j), f"N{k:02d}")
            plant.item(f"b{k}-{j}", "xinhua", at(k, lag + 6 * j), f"N{k:02d}")
    plant.commit()
    return lags


def test_a_planted_lead_is_counted_and_beats_chance(plant: Plant) -> None:
    lags = _planted_lead(plant)
    c = convergence(plant.db, A, B, permutations=1000)
    assert (c.lead.shared, c.lead.a_first, c.lead.b_first, c.lead.ties) == (40, 40, 0, 0)
    assert c.share_of_b_led_by_a == 1.0
    q1, mid, q3 = np.percentile(lags, [25, 50, 75])
    assert (c.lags.q1_hours, c.lags.median_hours, c.lags.q3_hours) == (q1, mid, q3)
    assert c.lags.echo_median_hours == mid
    assert c.baseline is not None
    assert c.baseline.expected_a_first == pytest.approx(20.0)  # 3 vs 3 items: a coin flip
    assert c.baseline.p_value < 0.01 and c.baseline.p_value_reverse > 0.5
    assert "russia-state leads china-state beyond chance" in c.verdict
    reverse = convergence(plant.db, B, A, permutations=1000)
    assert (reverse.lead.a_first, reverse.lead.b_first) == (0, 40)
    assert reverse.lags.median_hours == -mid
    assert reverse.baseline is not None and reverse.baseline.p_value > 0.5
    assert "russia-state leads china-state beyond chance" in reverse.verdict


def test_a_modest_lead_at_equal_volume_is_detected(plant: Plant) -> None:
    rng = np.random.default_rng(7)
    for k in range(40):
        a_leads = k < 30  # A first in 30 of 40 narratives
        for j in range(2):
            shift = rng.uniform(1, 48)
            plant.item(f"a{k}-{j}", "tass", at(k, (0 if a_leads else shift) + j), f"N{k:02d}")
            plant.item(f"b{k}-{j}", "xinhua", at(k, (shift if a_leads else 0) + j),
                       f"N{k:02d}")
    plant.commit()
    c = convergence(plant.db, A, B, permutations=2000)
    assert (c.lead.a_first, c.lead.b_first) == (30, 10)
    assert c.baseline is not None and c.baseline.p_value < 0.01
    assert c.lead.a_share_ci is not None
    low, high = c.lead.a_share_ci
    assert low < 0.75 < high and high - low < 0.4


def test_volume_imbalance_alone_is_not_a_lead(plant: Plant) -> None:
    """A publishes ten times more at random times: first more often, but only by chance."""
    rng = np.random.default_rng(3)
    expected_a_first = 0
    for k in range(40):
        a_times = rng.uniform(0, 240, size=10)
        b_times = rng.uniform(0, 240, size=1)
        expected_a_first += int(a_times.min() < b_times.min())
        for j, hours in enumerate(a_times):
            plant.item(f"a{k}-{j}", "tass" if j % 2 else "rt", at(0, float(hours)), f"N{k:02d}")
        plant.item(f"b{k}", "xinhua", at(0, float(b_times[0])), f"N{k:02d}")
    plant.commit()
    c = convergence(plant.db, A, B, permutations=2000)
    assert c.lead.a_first == expected_a_first and c.lead.a_first >= 30
    assert c.baseline is not None
    assert c.baseline.expected_a_first == pytest.approx(40 * 10 / 11)
    assert c.baseline.p_value > 0.05 and c.baseline.p_value_reverse > 0.05
    assert "no lead beyond chance" in c.verdict


def test_random_timelines_are_rarely_flagged(tmp_path: Path) -> None:
    """20 independent pairs with no lead: the 5% tests flag about 2 of 40 one-sided tests."""
    pairs = 20
    sources = {f"s{p}{side}": f"eco{p}{side}" for p in range(pairs) for side in "ab"}
    with echolens.open(tmp_path / "random.duckdb") as database:
        plant = Plant(database, sources)
        rng = np.random.default_rng(11)
        for p in range(pairs):
            for k in range(30):
                for side in "ab":
                    for j, hours in enumerate(rng.uniform(0, 96, size=3)):
                        plant.item(f"{p}{side}{k}-{j}", f"s{p}{side}", at(k, float(hours)),
                                   f"P{p}N{k}")
        plant.commit()
        flagged = 0
        for p in range(pairs):
            c = convergence(database, f"eco{p}a", f"eco{p}b", permutations=500, seed=p)
            assert c.baseline is not None and c.lead.shared == 30
            flagged += (c.baseline.p_value < 0.05) + (c.baseline.p_value_reverse < 0.05)
    assert flagged <= 5


def test_ties_and_missing_days(plant: Plant) -> None:
    """Dates known only to the day: same-day firsts are ties; weeks where one side is silent
    have no divergence."""
    for k in range(10):  # both on the same day: ties
        plant.item(f"ta{k}", "tass", at(2 * k), f"T{k}")
        plant.item(f"tb{k}", "xinhua", at(2 * k), f"T{k}")
        plant.item(f"tb{k}x", "cgtn", at(2 * k + 3), f"T{k}")
    for k in range(5):  # A a day earlier, with days missing in between
        plant.item(f"la{k}", "tass", at(3 * k), f"L{k}")
        plant.item(f"lb{k}", "xinhua", at(3 * k + 1), f"L{k}")
    for k in range(3):
        plant.item(f"ma{k}", "tass", at(4 * k + 2), f"M{k}")
        plant.item(f"mb{k}", "xinhua", at(4 * k), f"M{k}")
    plant.item("lonely", "tass", at(40), "Q")  # a week where only A publishes
    plant.commit()
    c = convergence(plant.db, A, B, permutations=500)
    assert c.lead.tie_ids == tuple(sorted(f"T{k}" for k in range(10)))
    assert c.lead.a_first_ids == tuple(f"L{k}" for k in range(5))
    assert c.lead.b_first_ids == tuple(f"M{k}" for k in range(3))
    assert c.baseline is not None
    # a tie narrative has 1 A and 2 B items, two of them at the earliest time: shuffled, the
    # two are B's with chance 1/3 (B first), else a tie; the other narratives cannot tie
    assert c.baseline.expected_ties == pytest.approx(10 * 2 / 3)
    assert c.baseline.expected_b_first == pytest.approx(10 / 3 + 8 / 2)
    silent = [w for w in c.weekly if w.b_items == 0]
    assert silent and all(w.jsd is None for w in silent)
    assert all(w.jsd is not None for w in c.weekly if w.a_items and w.b_items)


def test_first_probabilities_match_brute_force_shuffles() -> None:
    cases = [(3, 1, 2), (2, 2, 1), (4, 2, 3), (1, 3, 4), (2, 5, 2)]
    na, nb, g = (np.array(x) for x in zip(*cases, strict=True))
    p_a, p_b = first_probabilities(na, nb, g)
    for k, (x, y, group) in enumerate(cases):
        labels = ["a"] * x + ["b"] * y
        outcomes = [set(order[:group]) for order in itertools.permutations(labels)]
        assert p_a[k] == pytest.approx(sum(o == {"a"} for o in outcomes) / len(outcomes))
        assert p_b[k] == pytest.approx(sum(o == {"b"} for o in outcomes) / len(outcomes))


def test_undated_items_do_not_make_an_ecosystem_first(plant: Plant) -> None:
    for k in range(5):
        plant.item(f"old{k}", "rt", datetime(2016, 1, 1, tzinfo=UTC), f"N{k}", undated=True)
        plant.item(f"cn{k}", "xinhua", at(k), f"N{k}")
        plant.item(f"ru{k}", "tass", at(k, 5), f"N{k}")
    plant.commit()
    c = convergence(plant.db, A, B, permutations=200)
    assert (c.lead.a_first, c.lead.b_first) == (0, 5)
    assert c.undated_excluded == 5
    assert any("5 item(s)" in n and "no known date" in n for n in c.notes)


def test_share_of_b_counts_every_narrative_b_carried(plant: Plant) -> None:
    _planted_lead(plant, narratives=4)
    for k in range(6):
        plant.item(f"only-b{k}", "xinhua", at(k), f"B{k}")
    plant.commit()
    c = convergence(plant.db, A, B, permutations=100)
    assert (c.a_narratives, c.b_narratives, c.lead.a_first) == (4, 10, 4)
    assert c.share_of_b_led_by_a == pytest.approx(0.4)


def test_citation_flow_counts_b_items_citing_a(plant: Plant) -> None:
    _planted_lead(plant, narratives=3)
    plant.cite("b0-0", "TASS", "tass", A)
    plant.cite("b0-0", "RT", "rt", A, ordinal=1)
    plant.cite("b1-0", "RT", None, A)
    plant.cite("b2-0", "Reuters", None, "west")
    plant.cite("b2-1", "Russian Defense Ministry", None, A, kind="government")
    con = plant.db.store.con
    con.execute("INSERT INTO citation_items SELECT id, 'test', content_hash, 0, false, NULL,"
                " NULL, false, now() FROM items WHERE source_id = 'xinhua'")
    flow = convergence(plant.db, A, B, permutations=0).citations
    assert (flow.status, flow.b_items, flow.b_items_checked) == ("ok", 9, 9)
    assert (flow.b_items_citing_a, flow.citations) == (3, 4)
    assert dict(flow.top) == {"RT": 2, "TASS": 1, "Russian Defense Ministry": 1}
    assert flow.by_kind == {"government": 1, "media": 2}
    assert convergence(plant.db, "west", B, permutations=0).citations.b_items_citing_a == 1
    con.execute("DELETE FROM citations")
    empty = convergence(plant.db, A, B, permutations=0)
    assert empty.citations.status == "empty" and empty.citations.b_items_citing_a == 0
    assert any("citations table is empty" in n for n in empty.notes)
    con.execute("DROP TABLE citations")
    missing = convergence(plant.db, A, B, permutations=0)
    assert missing.citations.status == "missing" and missing.lead.a_first == 3
    assert any("no citations table" in n for n in missing.notes)


def test_jensen_shannon_bounds() -> None:
    assert jensen_shannon({"x": 3, "y": 1}, {"x": 6, "y": 2}) == pytest.approx(0.0)
    assert jensen_shannon({"x": 3}, {"y": 5}) == pytest.approx(1.0)
    assert jensen_shannon({"x": 1, "y": 1}, {"x": 1}) == pytest.approx(0.3112781, abs=1e-6)
    assert jensen_shannon({}, {"y": 5}) is None


def test_same_week_same_mix_has_zero_divergence(plant: Plant) -> None:
    for k in range(3):
        plant.item(f"a{k}", "tass", at(k), f"N{k}")
        plant.item(f"b{k}", "xinhua", at(k, 1), f"N{k}")
    plant.commit()
    c = convergence(plant.db, A, B, permutations=0)
    assert c.jsd == pytest.approx(0.0) and c.baseline is None
    assert [w.jsd for w in c.weekly] == [pytest.approx(0.0)]


def test_period_bounds_and_determinism(plant: Plant) -> None:
    _planted_lead(plant, narratives=20)
    c = convergence(plant.db, A, B, since=at(5), until=at(10), permutations=300, seed=4)
    # A starts N05..N09 inside [day 5, day 10); B follows 24/48/72 h later, so N08 (72 h)
    # and N09 (24 h, on day 10) have no B item inside the period
    assert c.lead.a_first_ids == ("N05", "N06", "N07")
    assert c.a_narratives == 5
    again = convergence(plant.db, A, B, since=at(5), until=at(10), permutations=300, seed=4)
    assert c.to_dict() == again.to_dict()


def test_unknown_ecosystem_lists_the_known_ones(plant: Plant) -> None:
    _planted_lead(plant, narratives=2)
    with pytest.raises(NotFound) as info:
        convergence(plant.db, A, "atlantis")
    assert "'atlantis'" in str(info.value) and "china-state" in info.value.fix


def test_matrix_cells_mirror_each_other_and_carry_ids(plant: Plant) -> None:
    _planted_lead(plant, narratives=6)
    plant.item("w0", "bbc", at(0, 1), "N00")
    plant.item("w1", "bbc", at(5), "N01")
    plant.commit()
    m = convergence_matrix(plant.db, [A, B, "west"], permutations=200)
    assert len(m.cells) == 6
    assert m.cell(A, B).lead.a_first == m.cell(B, A).lead.b_first == 6
    assert m.cell(A, "west").lead.a_first_ids == ("N00", "N01")
    assert m.cell("west", B).lead.a_first_ids == ("N00",)
    assert m.cell("west", B).lead.b_first_ids == ("N01",)
    cells = {(c["from"], c["to"]): c for c in m.to_dict()["cells"]}
    assert cells[("west", B)]["narrative_ids"]["shared"] == ["N00", "N01"]
