"""Convergence between two ecosystems over a period: who carries shared narratives first, how
far behind the other follows, whether that beats chance, whom they cite, how alike they are.

    from echolens.echo.convergence import convergence, convergence_matrix
    c = convergence(db, "russia-state", "china-state")       # db: Database, store or connection
    c.lead.a_first, c.baseline.p_value, c.verdict, c.to_dict()
    m = convergence_matrix(db, ["russia-state", "china-state", "ukraine", "west"])

Definitions (ordered pair A -> B; only dated items inside ``since <= published_at < until``):

* A narrative is carried by an ecosystem when it holds at least one of its items. Shared: both.
* A first / B first / tie: comparing A's and B's earliest items in a shared narrative; equal
  timestamps are a tie (dates known only to the day make ties common).
* Lag: B's first minus A's first, in hours (positive: A earlier), over shared narratives.
* Bootstrap: shared narratives resampled with replacement (seeded): 95% interval of A's share.
* Permutation baseline: within each shared narrative, the ecosystem labels of its A and B items
  are shuffled, keeping every item's time and each ecosystem's item count in that narrative
  (so an ecosystem that publishes ten times more is also first more often under the null).
  Who comes first depends only on the labels of the items at the narrative's earliest time, so
  the number of A items among them is drawn from the hypergeometric law, which is exactly the
  distribution a full shuffle gives. p-value (A leads beyond chance): share of shuffles whose
  net lead (A first minus B first) is at least the observed one, with the +1 correction.
* Citation flow: B's items whose citations name a source of ecosystem A (needs citations).
* Jensen-Shannon divergence (base 2, 0 = same mix, 1 = disjoint) between A's and B's
  distributions of items over narratives, per week (Monday) and over the whole period.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from statistics import median
from typing import Any

import duckdb
import numpy as np

from echolens.echo.graphs import GRAPH_FORMATS, Edge, Node, write_graph
from echolens.echo.timing import (
    CITATION_NOTES,
    UNDATED_SQL,
    citation_status,
    connection,
    default_model_id,
    period_sql,
)
from echolens.errors import NotFound, UsageError

__all__ = [
    "Baseline",
    "CitationFlow",
    "Convergence",
    "ConvergenceMatrix",
    "EchoGraph",
    "LagStats",
    "LeadLag",
    "WeekDivergence",
    "convergence",
    "check_ecosystems",
    "convergence_matrix",
    "echo_graph",
    "export_echo_graph",
    "jensen_shannon",
    "known_ecosystems",
    "resolve_model",
]

PERMUTATIONS = 2000
BOOTSTRAPS = 2000
ALPHA = 0.05


# -- results -------------------------------------------------------------------------------
@dataclass(frozen=True)
class LeadLag:
    """Who was first in the shared narratives, with the narrative ids behind each count."""

    a_first_ids: tuple[str, ...]
    b_first_ids: tuple[str, ...]
    tie_ids: tuple[str, ...]
    a_share_ci: tuple[float, float] | None  # bootstrap 95% interval of a_first / shared

    @property
    def shared(self) -> int:
        return len(self.a_first_ids) + len(self.b_first_ids) + len(self.tie_ids)

    @property
    def a_first(self) -> int:
        return len(self.a_first_ids)

    @property
    def b_first(self) -> int:
        return len(self.b_first_ids)

    @property
    def ties(self) -> int:
        return len(self.tie_ids)

    @property
    def a_share(self) -> float | None:
        return self.a_first / self.shared if self.shared else None

    def to_dict(self) -> dict[str, Any]:
        return {"shared": self.shared, "a_first": self.a_first, "b_first": self.b_first,
                "ties": self.ties, "a_share": _round(self.a_share),
                "a_share_ci": [_round(x) for x in self.a_share_ci] if self.a_share_ci else None,
                "a_first_ids": list(self.a_first_ids), "b_first_ids": list(self.b_first_ids),
                "tie_ids": list(self.tie_ids)}


@dataclass(frozen=True)
class LagStats:
    """B's first minus A's first, in hours, over shared narratives (positive: A earlier)."""

    n: int
    median_hours: float | None
    q1_hours: float | None
    q3_hours: float | None
    echo_median_hours: float | None  # over the narratives A carried first only

    def to_dict(self) -> dict[str, Any]:
        return {k: _round(v) if isinstance(v, float) else v for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class Baseline:
    """The label-permutation null: what volume and timing alone give."""

    permutations: int
    seed: int
    expected_a_first: float
    expected_b_first: float
    expected_ties: float
    a_first_interval: tuple[float, float]  # 2.5 and 97.5 percentiles under the null
    p_value: float  # A leads B beyond chance (one-sided, net lead at least the observed)
    p_value_reverse: float  # B leads A beyond chance

    def to_dict(self) -> dict[str, Any]:
        return {"permutations": self.permutations, "seed": self.seed,
                "expected_a_first": _round(self.expected_a_first),
                "expected_b_first": _round(self.expected_b_first),
                "expected_ties": _round(self.expected_ties),
                "a_first_interval": list(self.a_first_interval),
                "p_value": _round(self.p_value, 4), "p_value_reverse":
                _round(self.p_value_reverse, 4)}


@dataclass(frozen=True)
class CitationFlow:
    """How often B's items cite sources of A (status: ok | empty | missing citations)."""

    status: str
    b_items: int
    b_items_checked: int  # B's items that went through citation extraction
    b_items_citing_a: int
    citations: int
    top: tuple[tuple[str, int], ...]
    by_kind: dict[str, int] = field(default_factory=dict)  # kind -> B items citing such A

    @property
    def share(self) -> float | None:
        return self.b_items_citing_a / self.b_items_checked if self.b_items_checked else None

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "b_items": self.b_items,
                "b_items_checked": self.b_items_checked,
                "b_items_citing_a": self.b_items_citing_a, "citations": self.citations,
                "share": _round(self.share), "top": [list(t) for t in self.top],
                "by_kind": dict(self.by_kind)}


@dataclass(frozen=True)
class WeekDivergence:
    week: date
    a_items: int
    b_items: int
    jsd: float | None  # None when one side published nothing in a narrative that week

    def to_dict(self) -> dict[str, Any]:
        return {"week": self.week.isoformat(), "a_items": self.a_items,
                "b_items": self.b_items, "jsd": _round(self.jsd)}


@dataclass(frozen=True)
class Convergence:
    """Everything about the ordered pair (a, b) over a period; see the module docstring."""

    a: str
    b: str
    model_id: str
    since: datetime | None
    until: datetime | None
    a_narratives: int
    b_narratives: int
    lead: LeadLag
    lags: LagStats
    baseline: Baseline | None
    citations: CitationFlow
    weekly: tuple[WeekDivergence, ...]
    jsd: float | None
    undated_excluded: int
    notes: tuple[str, ...] = field(default=())

    @property
    def share_of_b_led_by_a(self) -> float | None:
        """Of all narratives B carried, the share that A carried first."""
        return self.lead.a_first / self.b_narratives if self.b_narratives else None

    @property
    def verdict(self) -> str:
        a, b, lead = self.a, self.b, self.lead
        if not lead.shared:
            return f"{a} and {b} share no narrative in this period"
        text = (f"{a} first in {lead.a_first} of {lead.shared} shared narratives, {b} first in "
                f"{lead.b_first}, {lead.ties} ties")
        if self.baseline is None:
            return text
        base = self.baseline
        text += (f"; by chance (same volumes and times, labels shuffled) {a} would be first in "
                 f"{base.expected_a_first:.1f}")
        if base.p_value < ALPHA:
            return text + f": {a} leads {b} beyond chance (p = {base.p_value:.4f})"
        if base.p_value_reverse < ALPHA:
            return text + f": {b} leads {a} beyond chance (p = {base.p_value_reverse:.4f})"
        return (text + f": no lead beyond chance (p = {base.p_value:.3f} for {a}, "
                f"{base.p_value_reverse:.3f} for {b})")

    def to_dict(self) -> dict[str, Any]:
        return {
            "from": self.a, "to": self.b, "model_id": self.model_id,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "a_narratives": self.a_narratives, "b_narratives": self.b_narratives,
            "share_of_b_led_by_a": _round(self.share_of_b_led_by_a),
            "lead": self.lead.to_dict(), "lags": self.lags.to_dict(),
            "baseline": self.baseline.to_dict() if self.baseline else None,
            "citations": self.citations.to_dict(),
            "jsd": _round(self.jsd), "weekly": [w.to_dict() for w in self.weekly],
            "undated_excluded": self.undated_excluded, "verdict": self.verdict,
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class ConvergenceMatrix:
    """One `Convergence` per ordered pair of distinct ecosystems."""

    ecosystems: tuple[str, ...]
    cells: dict[tuple[str, str], Convergence]

    def cell(self, a: str, b: str) -> Convergence:
        return self.cells[(a, b)]

    def to_dict(self) -> dict[str, Any]:
        out = []
        for (a, b), c in self.cells.items():
            out.append({
                "from": a, "to": b, "shared": c.lead.shared, "a_first": c.lead.a_first,
                "b_first": c.lead.b_first, "ties": c.lead.ties,
                "share_of_b_led_by_a": _round(c.share_of_b_led_by_a),
                "median_lag_hours": _round(c.lags.median_hours),
                "p_value": _round(c.baseline.p_value, 4) if c.baseline else None,
                "jsd": _round(c.jsd), "citing_share": _round(c.citations.share),
                "narrative_ids": {"shared": sorted(c.lead.a_first_ids + c.lead.b_first_ids
                                                   + c.lead.tie_ids),
                                  "a_first": list(c.lead.a_first_ids),
                                  "b_first": list(c.lead.b_first_ids),
                                  "ties": list(c.lead.tie_ids)},
            })
        return {"ecosystems": list(self.ecosystems), "cells": out}


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(float(value), digits)


# -- entry points --------------------------------------------------------------------------
def known_ecosystems(db: object) -> list[str]:
    """Ecosystems of the registered sources and of the stored items, sorted."""
    con = connection(db)
    return [str(r[0]) for r in con.execute(
        "SELECT DISTINCT ecosystem FROM sources UNION "
        "SELECT DISTINCT coalesce(s.ecosystem, 'unknown') FROM items i "
        "LEFT JOIN sources s ON s.id = i.source_id ORDER BY 1"
    ).fetchall()]


def check_ecosystems(con: duckdb.DuckDBPyConnection, names: list[str]) -> None:
    known = known_ecosystems(con)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise NotFound(f"unknown ecosystem {', '.join(map(repr, unknown))}",
                       f"use one of: {', '.join(known) or '(none: the store is empty)'}")


def resolve_model(con: duckdb.DuckDBPyConnection, model_id: str | None) -> str:
    model = model_id or default_model_id(con)
    if model is None:
        raise NotFound("no narratives in this store yet",
                       "run `echolens process` after ingesting items")
    return model


def convergence(db: object, a: str, b: str, since: datetime | None = None,
                until: datetime | None = None, *, model_id: str | None = None,
                permutations: int = PERMUTATIONS, seed: int = 0) -> Convergence:
    """Convergence of the ordered pair (a, b); deterministic for a given `seed`."""
    con = connection(db)
    if a == b:
        raise UsageError(f"--from and --to are both {a!r}", "compare two different ecosystems")
    check_ecosystems(con, [a, b])
    view = _load(con, resolve_model(con, model_id), since, until, [a, b])
    return _pair(view, a, b, permutations, seed)


def convergence_matrix(db: object, ecosystems: list[str], since: datetime | None = None,
                       until: datetime | None = None, *, model_id: str | None = None,
                       permutations: int = PERMUTATIONS, seed: int = 0) -> ConvergenceMatrix:
    """`convergence` for every ordered pair of distinct `ecosystems` (the store is read once)."""
    con = connection(db)
    names = list(dict.fromkeys(ecosystems))
    check_ecosystems(con, names)
    view = _load(con, resolve_model(con, model_id), since, until, names)
    cells = {(a, b): _pair(view, a, b, permutations, seed)
             for a in names for b in names if a != b}
    return ConvergenceMatrix(tuple(names), cells)


# -- reading the store once ----------------------------------------------------------------
@dataclass(frozen=True)
class _View:
    """What every pair needs, read in four queries: one row per dated narrative member in the
    period and the chosen ecosystems (narrative, ecosystem, time, week as integer codes),
    item counts, undated counts and the citations between ecosystems."""

    model: str
    since: datetime | None
    until: datetime | None
    narratives: list[str]  # code -> narrative id, sorted
    ecosystems: dict[str, int]  # ecosystem -> code
    weeks: list[date]  # code -> Monday, sorted
    n: np.ndarray
    e: np.ndarray
    t: np.ndarray  # seconds since the epoch
    w: np.ndarray
    items: dict[str, tuple[int, int]]  # ecosystem -> (dated items in period, citation-checked)
    undated: dict[str, int]
    citation_status: str
    citations: list[tuple[str, str, str, str, int, list[str]]]  # citing eco, cited eco, name,
    # kind, citations, items


def _load(con: duckdb.DuckDBPyConnection, model: str, since: datetime | None,
          until: datetime | None, ecosystems: list[str]) -> _View:
    period, params = period_sql(since, until)
    columns = con.execute(
        "SELECT m.narrative_id AS n, coalesce(s.ecosystem, 'unknown') AS e,"
        " epoch(i.published_at) AS t,"
        " CAST(epoch(date_trunc('week', i.published_at)) // 86400 AS BIGINT) AS w"
        " FROM narrative_members m JOIN items i ON i.id = m.item_id"
        " LEFT JOIN sources s ON s.id = i.source_id"
        f" WHERE m.model_id = ? AND m.narrative_id IS NOT NULL AND {period}"
        " AND coalesce(s.ecosystem, 'unknown') IN (SELECT unnest(?))",
        [model, *params, ecosystems]).fetchnumpy()
    narratives, n_codes = np.unique(columns["n"].astype(str), return_inverse=True)
    eco_names, e_codes = np.unique(columns["e"].astype(str), return_inverse=True)
    week_days, w_codes = np.unique(np.asarray(columns["w"], dtype=np.int64),
                                   return_inverse=True)
    status = citation_status(con)
    checked = ("count(*) FILTER (WHERE i.id IN (SELECT item_id FROM citation_items))"
               if status != "missing" else "0")  # citation_items comes with citations (004)
    items = {str(r[0]): (int(r[1]), int(r[2])) for r in con.execute(
        f"SELECT coalesce(s.ecosystem, 'unknown'), count(*), {checked}"
        f" FROM items i LEFT JOIN sources s ON s.id = i.source_id WHERE {period} GROUP BY 1",
        params).fetchall()}
    undated = {str(r[0]): int(r[1]) for r in con.execute(
        "SELECT coalesce(s.ecosystem, 'unknown'), count(*) FROM items i"
        f" LEFT JOIN sources s ON s.id = i.source_id WHERE {UNDATED_SQL} GROUP BY 1"
    ).fetchall()}
    citations: list[tuple[str, str, str, str, int, list[str]]] = []
    if status != "missing":
        citations = [(str(r[0]), str(r[1]), str(r[2]), str(r[3]), int(r[4]), list(r[5]))
                     for r in con.execute(
            "SELECT coalesce(s.ecosystem, 'unknown'), coalesce(cs.ecosystem, c.ecosystem),"
            " c.name, c.kind, count(*), list(DISTINCT c.item_id) FROM citations c"
            " JOIN items i ON i.id = c.item_id LEFT JOIN sources s ON s.id = i.source_id"
            " LEFT JOIN sources cs ON cs.id = c.source_id"
            f" WHERE {period} AND coalesce(cs.ecosystem, c.ecosystem) IS NOT NULL"
            " GROUP BY ALL ORDER BY 5 DESC, 3", params).fetchall()]
    epoch = date(1970, 1, 1)
    return _View(
        model=model, since=since, until=until, narratives=[str(x) for x in narratives],
        ecosystems={str(name): k for k, name in enumerate(eco_names)},
        weeks=[epoch + timedelta(days=int(d)) for d in week_days],
        n=n_codes.astype(np.int64), e=e_codes.astype(np.int64),
        t=np.asarray(columns["t"], dtype=np.float64), w=w_codes.astype(np.int64),
        items=items, undated=undated, citation_status=status, citations=citations)


# -- the computation for one pair ---------------------------------------------------------
def _pair(view: _View, a: str, b: str, permutations: int, seed: int) -> Convergence:
    size = len(view.narratives)
    in_a = view.e == view.ecosystems.get(a, -1)
    in_b = view.e == view.ecosystems.get(b, -1)
    fa = np.full(size, np.inf)
    fb = np.full(size, np.inf)
    np.minimum.at(fa, view.n[in_a], view.t[in_a])
    np.minimum.at(fb, view.n[in_b], view.t[in_b])
    na = np.bincount(view.n[in_a], minlength=size)
    nb = np.bincount(view.n[in_b], minlength=size)
    either = in_a | in_b
    earliest = np.minimum(fa, fb)
    at_earliest = either & (view.t == earliest[view.n])
    group = np.bincount(view.n[at_earliest], minlength=size)
    shared = np.flatnonzero((na > 0) & (nb > 0))  # narrative codes: sorted by id
    ids = [view.narratives[k] for k in shared]
    outcome = np.sign(fb[shared] - fa[shared]).astype(np.int64)  # +1 A first, -1 B, 0 tie
    rng = np.random.default_rng(seed)
    lead = LeadLag(
        tuple(i for i, o in zip(ids, outcome, strict=True) if o > 0),
        tuple(i for i, o in zip(ids, outcome, strict=True) if o < 0),
        tuple(i for i, o in zip(ids, outcome, strict=True) if o == 0),
        _bootstrap(outcome, rng) if ids else None,
    )
    notes: list[str] = []
    undated = view.undated.get(a, 0) + view.undated.get(b, 0)
    if undated:
        notes.append(f"{undated} item(s) of {a} or {b} with no known date excluded")
    if not ids:
        notes.append(f"{a} and {b} share no narrative in this period")
    weekly, overall = _divergence(view, in_a, in_b)
    flow = _citation_flow(view, a, b)
    if flow.status != "ok":
        notes.append(CITATION_NOTES[flow.status])
    return Convergence(
        a=a, b=b, model_id=view.model, since=view.since, until=view.until,
        a_narratives=int((na > 0).sum()), b_narratives=int((nb > 0).sum()), lead=lead,
        lags=_lag_stats((fb[shared] - fa[shared]) / 3600.0, outcome),
        baseline=(_baseline(na[shared], nb[shared], group[shared], outcome, permutations, seed)
                  if ids and permutations > 0 else None),
        citations=flow, weekly=weekly, jsd=overall, undated_excluded=undated,
        notes=tuple(notes),
    )


def _bootstrap(outcome: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    n = len(outcome)
    picks = rng.integers(0, n, size=(BOOTSTRAPS, n))
    shares = (outcome[picks] > 0).mean(axis=1)
    low, high = np.percentile(shares, [2.5, 97.5])
    return float(low), float(high)


def _lag_stats(lag_hours: np.ndarray, outcome: np.ndarray) -> LagStats:
    if not len(lag_hours):
        return LagStats(0, None, None, None, None)
    q1, mid, q3 = np.percentile(lag_hours, [25, 50, 75])
    echoed = lag_hours[outcome > 0]
    return LagStats(len(lag_hours), float(mid), float(q1), float(q3),
                    float(np.median(echoed)) if len(echoed) else None)


def first_probabilities(na: np.ndarray, nb: np.ndarray, group: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Exact chance that A (resp. B) is strictly first when labels are shuffled: all `group`
    items at the earliest time come from A (resp. B): C(na, g) / C(na + nb, g)."""
    p_a = np.ones(len(na))
    p_b = np.ones(len(na))
    total = na + nb
    for k, (x, y, g, n) in enumerate(zip(na, nb, group, total, strict=True)):
        for j in range(int(g)):
            p_a[k] *= max(int(x) - j, 0) / (int(n) - j)
            p_b[k] *= max(int(y) - j, 0) / (int(n) - j)
    return p_a, p_b


def _baseline(na: np.ndarray, nb: np.ndarray, group: np.ndarray, outcome: np.ndarray,
              permutations: int, seed: int) -> Baseline:
    rng = np.random.default_rng([seed, 1])
    drawn = rng.hypergeometric(na, nb, group, size=(permutations, len(na)))
    a_first = (drawn == group).sum(axis=1)
    b_first = (drawn == 0).sum(axis=1)
    net = a_first - b_first
    observed = int((outcome > 0).sum() - (outcome < 0).sum())
    p_a, p_b = first_probabilities(na, nb, group)
    low, high = np.percentile(a_first, [2.5, 97.5])
    return Baseline(
        permutations=permutations, seed=seed,
        expected_a_first=float(p_a.sum()), expected_b_first=float(p_b.sum()),
        expected_ties=float(len(na) - p_a.sum() - p_b.sum()),
        a_first_interval=(float(low), float(high)),
        p_value=float((1 + (net >= observed).sum()) / (permutations + 1)),
        p_value_reverse=float((1 + (net <= observed).sum()) / (permutations + 1)),
    )


def _jsd(p: np.ndarray, q: np.ndarray) -> float | None:
    total_p, total_q = float(p.sum()), float(q.sum())
    if not total_p or not total_q:
        return None
    pv, qv = p / total_p, q / total_q
    mv = (pv + qv) / 2

    def kl(x: np.ndarray) -> float:
        mask = x > 0
        return float((x[mask] * np.log2(x[mask] / mv[mask])).sum())

    return max(0.0, min(1.0, (kl(pv) + kl(qv)) / 2))


def jensen_shannon(p: dict[str, int], q: dict[str, int]) -> float | None:
    """Jensen-Shannon divergence (base 2) of two count distributions; None if one is empty."""
    keys = sorted(set(p) | set(q))
    return _jsd(np.array([p.get(k, 0) for k in keys], dtype=float),
                np.array([q.get(k, 0) for k in keys], dtype=float))


def _divergence(view: _View, in_a: np.ndarray, in_b: np.ndarray
                ) -> tuple[tuple[WeekDivergence, ...], float | None]:
    size = len(view.narratives)
    weekly = []
    for code in np.unique(view.w[in_a | in_b]):
        week = view.w == code
        p = np.bincount(view.n[in_a & week], minlength=size).astype(float)
        q = np.bincount(view.n[in_b & week], minlength=size).astype(float)
        weekly.append(WeekDivergence(view.weeks[int(code)], int(p.sum()), int(q.sum()),
                                     _jsd(p, q)))
    overall = _jsd(np.bincount(view.n[in_a], minlength=size).astype(float),
                   np.bincount(view.n[in_b], minlength=size).astype(float))
    return tuple(weekly), overall


def _citation_flow(view: _View, a: str, b: str) -> CitationFlow:
    b_items, checked = view.items.get(b, (0, 0))
    rows = [r for r in view.citations if r[0] == b and r[1] == a]
    names: dict[str, int] = defaultdict(int)
    kinds: dict[str, set[str]] = defaultdict(set)
    for _citing, _cited, name, kind, count, item_ids in rows:
        names[name] += count
        kinds[kind].update(item_ids)
    citing = set().union(*kinds.values()) if kinds else set()
    top = sorted(names.items(), key=lambda x: (-x[1], x[0]))[:5]
    return CitationFlow(view.citation_status, b_items, checked, len(citing),
                        sum(names.values()), tuple(top),
                        {kind: len(ids) for kind, ids in sorted(kinds.items())})


# -- the echo graph ------------------------------------------------------------------------
@dataclass(frozen=True)
class EchoGraph:
    """Ecosystem and source nodes; echo edges weighted by narratives echoed and median lag.

    Ecosystem edges A -> B: narratives whose first A item came strictly before their first B
    item (ties give no edge). Source edges X -> Y: narratives whose origin ecosystem first
    appeared at source X and reached a later ecosystem first at source Y."""

    nodes: list[Node]
    edges: list[Edge]


def echo_graph(db: object, since: datetime | None = None, until: datetime | None = None, *,
               model_id: str | None = None) -> EchoGraph:
    """The echo graph of every narrative over the period (dated items only)."""
    con = connection(db)
    model = resolve_model(con, model_id)
    period, params = period_sql(since, until)
    rows = con.execute(
        "SELECT m.narrative_id, coalesce(s.ecosystem, 'unknown'), min(i.published_at),"
        " arg_min(i.source_id, (i.published_at, i.id))"
        " FROM narrative_members m JOIN items i ON i.id = m.item_id"
        " LEFT JOIN sources s ON s.id = i.source_id"
        f" WHERE m.model_id = ? AND m.narrative_id IS NOT NULL AND {period}"
        " GROUP BY 1, 2 ORDER BY 1, 3, 2", [model, *params]).fetchall()
    by_narrative: dict[str, list[tuple[str, datetime, str]]] = defaultdict(list)
    for narrative, eco, first, source in rows:
        by_narrative[narrative].append((eco, first, source))
    eco_lags: dict[tuple[str, str], list[float]] = defaultdict(list)
    src_lags: dict[tuple[str, str], list[float]] = defaultdict(list)
    eco_narratives: dict[str, int] = defaultdict(int)
    for firsts in by_narrative.values():
        for eco, _t, _src in firsts:
            eco_narratives[eco] += 1
        for k, (eco_a, t_a, _src_a) in enumerate(firsts):
            for eco_b, t_b, _src_b in firsts[k + 1:]:
                if t_b > t_a:
                    eco_lags[(eco_a, eco_b)].append((t_b - t_a).total_seconds() / 3600)
        _origin, origin_t, origin_src = firsts[0]
        for _eco_b, t_b, src_b in firsts[1:]:
            if t_b > origin_t:
                src_lags[(origin_src, src_b)].append((t_b - origin_t).total_seconds() / 3600)
    sources = con.execute(
        "SELECT i.source_id, coalesce(s.ecosystem, 'unknown'), any_value(s.name), count(*),"
        " count(DISTINCT m.narrative_id)"
        " FROM items i LEFT JOIN sources s ON s.id = i.source_id"
        " LEFT JOIN narrative_members m ON m.item_id = i.id AND m.model_id = ?"
        f" WHERE {period} GROUP BY 1, 2 ORDER BY 1", [model, *params]).fetchall()
    eco_items: dict[str, int] = defaultdict(int)
    for _src, eco, _name, count, _narratives in sources:
        eco_items[eco] += int(count)
    nodes = [Node(f"ecosystem:{eco}", eco, {"type": "ecosystem", "ecosystem": eco,
                                             "items": eco_items[eco],
                                             "narratives": eco_narratives.get(eco, 0)})
             for eco in sorted(eco_items)]
    nodes += [Node(f"source:{src}", name or src, {"type": "source", "ecosystem": eco,
                                                  "items": int(count),
                                                  "narratives": int(narratives)})
              for src, eco, name, count, narratives in sources]
    edges = [Edge(f"ecosystem:{x}", f"ecosystem:{y}", float(len(lags)),
                  {"type": "ecosystem-echo", "narratives": len(lags),
                   "median_lag_hours": round(median(lags), 3)})
             for (x, y), lags in sorted(eco_lags.items())]
    edges += [Edge(f"source:{x}", f"source:{y}", float(len(lags)),
                   {"type": "source-echo", "narratives": len(lags),
                    "median_lag_hours": round(median(lags), 3)})
              for (x, y), lags in sorted(src_lags.items())]
    return EchoGraph(nodes, edges)


def export_echo_graph(db: object, fmt: str, output: str | Path, *,
                      since: datetime | None = None, until: datetime | None = None,
                      model_id: str | None = None) -> tuple[int, int, list[Path]]:
    """Write the echo graph as GraphML, GEXF (a file) or CSV, Parquet (a folder with
    nodes.* and edges.*); returns (nodes, edges, files written)."""
    if fmt not in GRAPH_FORMATS:
        raise UsageError(f"unknown graph format {fmt!r}", f"use one of {', '.join(GRAPH_FORMATS)}")
    graph = echo_graph(db, since, until, model_id=model_id)
    files = write_graph(graph.nodes, graph.edges, fmt, output, name="echolens echo")
    return len(graph.nodes), len(graph.edges), files
