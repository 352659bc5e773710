"""Echo tracing on the real demo store: convergence speed, the US-biolabs narrative's echo
chain, and who published first between Russian and Chinese state media.

Runs on a COPY of the demo store (`.cache/demo.duckdb` in the checkout, else the
`echolens.duckdb` that `make demo` builds; or `--db PATH`), so the original is never
opened for writing. When the copy holds no extracted citations, they are extracted first
(`echolens.echo.citation_store`), so the chain shows the citations that connect ecosystems.

Usage: `.venv/bin/python benchmarks/echo_bench.py [--db PATH] [--repeat 7]`; the lead's
`benchmarks/run.py` can call `echo_section(path)` and paste the markdown it returns.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import copy_store, machine

REPO = Path(__file__).resolve().parent.parent
#: the demo store: the dev cache's, else the one `make demo` builds in the checkout
DEMO = next((p for p in (REPO / ".cache" / "demo.duckdb", REPO / "echolens.duckdb")
             if p.exists()), REPO / ".cache" / "demo.duckdb")
RU, CN = "russia-state", "china-state"
BIOLAB = (r"biolab|bio-lab|biological (lab|weapon|research|activit|militar)|bioweapon|"
          r"biomilitary|биолаборатор|биологическ|биооруж|лабораторий на украине|"
          r"біолаборатор|біологічн|біозброї|生物实验室|生物武器|生物军事")




def timed(fn: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    fn()  # warm-up: first query plans, imports
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return times, result


def demo_copy(source: Path, folder: Path) -> Path:
    if not source.exists():
        sys.exit(f"no demo store at {source}: build it with `echolens --db {source} demo`")
    return copy_store(source, folder)


def _hours(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value / 24:+.1f} d" if abs(value) >= 48 else f"{value:+.1f} h"


def echo_section(store: Path = DEMO, repeat: int = 7) -> str:
    import echolens
    from echolens.echo.convergence import convergence, convergence_matrix
    from echolens.echo.timing import default_model_id

    lines = ["## Echo tracing (demo store)", ""]
    with tempfile.TemporaryDirectory() as tmp:
        db = echolens.open(demo_copy(store, Path(tmp)))
        con = db.store.con
        model = default_model_id(con)
        lines += _store_summary(db, model)
        lines += _ensure_citations(db)

        # -- speed ---------------------------------------------------------------------------
        base_sql = (
            "SELECT count(*) FROM (SELECT m.narrative_id FROM narrative_members m"
            " JOIN items i ON i.id = m.item_id JOIN sources s ON s.id = i.source_id"
            " WHERE m.model_id = ? AND m.narrative_id IS NOT NULL AND s.ecosystem IN (?, ?)"
            " GROUP BY 1 HAVING count(DISTINCT s.ecosystem) = 2)")
        base_times, base_count = timed(
            lambda: con.execute(base_sql, [model, RU, CN]).fetchall()[0][0], repeat)
        ours_times, result = timed(lambda: convergence(db, RU, CN), repeat)
        ecosystems = [RU, CN, "ukraine", "west"]
        matrix_times, _ = timed(lambda: convergence_matrix(db, ecosystems), max(1, repeat // 3))
        base_med, ours_med = statistics.median(base_times), statistics.median(ours_times)
        lines += [
            "### Convergence query speed", "",
            f"`convergence(db, \"{RU}\", \"{CN}\")` over the whole store ({result.lead.shared}"
            f" shared narratives, 2000 label shuffles, 2000 bootstrap resamples, weekly JSD,"
            f" citation flow), {repeat} runs after one warm-up, machine: {machine()}"
            " (shared with other jobs).", "",
            "| query | median | min | max |", "|---|---|---|---|",
            f"| baseline: plain SQL count of shared narratives ({base_count}) | "
            f"{base_med * 1000:.1f} ms | {min(base_times) * 1000:.1f} ms | "
            f"{max(base_times) * 1000:.1f} ms |",
            f"| echolens convergence (everything above) | {ours_med * 1000:.1f} ms | "
            f"{min(ours_times) * 1000:.1f} ms | {max(ours_times) * 1000:.1f} ms |",
            f"| convergence matrix of {len(ecosystems)} ecosystems ({len(ecosystems) * 3} "
            f"ordered pairs, {max(1, repeat // 3)} runs) | "
            f"{statistics.median(matrix_times) * 1000:.0f} ms | "
            f"{min(matrix_times) * 1000:.0f} ms | {max(matrix_times) * 1000:.0f} ms |", "",
            f"Ratio: {ours_med / base_med:.1f}x the bare count; goal < 1 s: "
            f"{'met' if ours_med < 1 else 'NOT met'} ({ours_med:.3f} s).", "",
        ]
        lines += _biolabs(db, model)
        lines += _ru_cn(db)
        db.close()
    return "\n".join(lines) + "\n"


def _store_summary(db: Any, model: str | None) -> list[str]:
    con = db.store.con
    from echolens.echo.timing import UNDATED_SQL

    rows = con.execute(
        "SELECT coalesce(s.ecosystem, 'unknown'), count(*),"
        f" count(*) FILTER (WHERE {UNDATED_SQL}),"
        " count(*) FILTER (WHERE json_extract_string(i.extra, '$.date_precision') = 'day'),"
        " count(DISTINCT m.narrative_id)"
        " FROM items i LEFT JOIN sources s ON s.id = i.source_id"
        " LEFT JOIN narrative_members m ON m.item_id = i.id AND m.model_id = ?"
        " GROUP BY 1 ORDER BY 2 DESC", [model]).fetchall()
    out = [f"Store: narratives of model `{model}`. Items per ecosystem (undated: excluded from "
           "timing; day-only: the date has no time of day, read as 00:00 local):", "",
           "| ecosystem | items | undated | day-only dates | narratives |", "|---|---|---|---|---|"]
    out += [f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]} |" for r in rows]
    return [*out, ""]


def _ensure_citations(db: Any) -> list[str]:
    from echolens.echo.citation_store import extract_pending
    from echolens.echo.timing import citation_status

    status = citation_status(db.store.con)
    if status == "ok":
        return ["Citations: already extracted in the store.", ""]
    if status == "missing":
        return ["Citations: the store has no citations table; citation evidence not shown.", ""]
    report = extract_pending(db)
    return [f"Citations: the demo store had none; extracted on the copy in "
            f"{report.seconds:.1f} s (`extract_pending`).", ""]


def _biolabs(db: Any, model: str | None) -> list[str]:
    from echolens.echo.timing import UNDATED_SQL, narrative_timing

    con = db.store.con
    found = con.execute(
        "SELECT m.narrative_id, count(*) AS hits, any_value(n.size), any_value(n.label)"
        " FROM narrative_members m JOIN items i ON i.id = m.item_id"
        " JOIN narratives n ON n.model_id = m.model_id AND n.id = m.narrative_id"
        " WHERE m.model_id = ? AND regexp_matches(lower(coalesce(i.title, '') || ' ' || i.text),"
        " ?) GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5", [model, BIOLAB]).fetchall()
    total = con.execute(
        "SELECT coalesce(s.ecosystem, 'unknown'), count(*) FROM items i"
        " LEFT JOIN sources s ON s.id = i.source_id"
        " WHERE regexp_matches(lower(coalesce(i.title, '') || ' ' || i.text), ?)"
        " GROUP BY 1 ORDER BY 2 DESC", [BIOLAB]).fetchall()
    out = ["### The US-biolabs narrative", "",
           f"Items matching `{BIOLAB}` by ecosystem: "
           + ", ".join(f"{e} {c}" for e, c in total) + ".", "",
           "Narratives holding the most matching items:", "",
           "| narrative | matching items | size | label |", "|---|---|---|---|"]
    out += [f"| {r[0]} | {r[1]} | {r[2]} | {str(r[3])[:80]} |" for r in found]
    if not found:
        return [*out, "", "No narrative holds a matching item.", ""]
    timing = narrative_timing(db, found[0][0], model)
    out += ["", f"First item per ecosystem in {found[0][0]} "
            f"({timing.dated} dated items, {timing.undated} undated excluded):", "",
            "| ecosystem | first seen (UTC) | source | items | title |", "|---|---|---|---|---|"]
    out += [f"| {f.ecosystem} | {f.item.published_at:%Y-%m-%d %H:%M} | {f.item.source_id} | "
            f"{f.items} | {f.item.title[:90]} |" for f in timing.first_seen]
    if timing.chain is not None:
        chain = timing.chain
        out += ["", f"Echo chain: origin **{chain.origin}** ("
                + "; ".join(f"{i.published_at:%m-%d %H:%M} {i.source_id}"
                            for i in chain.origin_items) + ")"]
        for step in chain.steps:
            cites = "; ".join(f"{c.item_id} cites {c.name}" for c in step.citations)
            out.append(f"-> **{step.first.ecosystem}** {_hours(step.lag_hours)} after the origin"
                       f" ({step.first.item.source_id}){': ' + cites if cites else ''}")
    out += [f"Note: {n}" for n in timing.notes]
    first_hits = con.execute(
        "SELECT coalesce(s.ecosystem, 'unknown') AS e, min(i.published_at),"
        " arg_min(i.source_id, (i.published_at, i.id)),"
        " arg_min(coalesce(i.title, i.text), (i.published_at, i.id)),"
        " arg_min(m.narrative_id, (i.published_at, i.id)), count(*)"
        " FROM items i LEFT JOIN sources s ON s.id = i.source_id"
        " LEFT JOIN narrative_members m ON m.item_id = i.id AND m.model_id = ?"
        f" WHERE regexp_matches(lower(coalesce(i.title, '') || ' ' || i.text), ?)"
        f" AND NOT {UNDATED_SQL} GROUP BY 1 ORDER BY 2", [model, BIOLAB]).fetchall()
    out += ["", "Cross-check by keyword alone (items that name biolabs, whatever their "
            "narrative), first per ecosystem:", "",
            "| ecosystem | first (UTC) | source | items | narrative | title |",
            "|---|---|---|---|---|---|"]
    out += [f"| {r[0]} | {r[1]:%Y-%m-%d %H:%M} | {r[2]} | {r[5]} | {r[4]} | "
            f"{' '.join(str(r[3]).split())[:90]} |" for r in first_hits]
    return [*out, ""]


def _ru_cn(db: Any) -> list[str]:
    from echolens.demo import DEMO_WINDOW

    out = ["### Russian vs Chinese state media: who published first", "",
           f"All narratives carried by both `{RU}` and `{CN}` (dated items only). Permutation "
           "baseline: ecosystem labels shuffled within each narrative, times and per-narrative "
           "volumes kept (2000 shuffles, seed 0). Twice: over the whole store, and over the "
           "window of the Chinese headline corpus, where both ecosystems are sampled "
           "(outside it the store holds only the fact-check-related RU22Fact items).", ""]
    out += _ru_cn_table(db, None, None, "whole store")
    out += _ru_cn_table(db, DEMO_WINDOW[0], DEMO_WINDOW[1],
                        f"from {DEMO_WINDOW[0]:%Y-%m-%d} up to {DEMO_WINDOW[1]:%Y-%m-%d}")
    return out


def _ru_cn_table(db: Any, since: Any, until: Any, title: str) -> list[str]:
    from echolens.echo.convergence import convergence

    c = convergence(db, RU, CN, since, until)
    out = [f"**{title}** ({c.undated_excluded} undated items excluded)", "",
           "| figure | value |", "|---|---|",
           f"| narratives: {RU} / {CN} / shared | {c.a_narratives} / {c.b_narratives} / "
           f"{c.lead.shared} |",
           f"| {RU} first / {CN} first / ties | {c.lead.a_first} / {c.lead.b_first} / "
           f"{c.lead.ties} |"]
    if c.lead.a_share_ci is not None and c.lead.a_share is not None:
        out.append(f"| share {RU} first (bootstrap 95% CI) | {c.lead.a_share:.0%} "
                   f"({c.lead.a_share_ci[0]:.0%}-{c.lead.a_share_ci[1]:.0%}) |")
    out.append(f"| lag of {CN} after {RU}: median [Q1, Q3] | {_hours(c.lags.median_hours)} "
               f"[{_hours(c.lags.q1_hours)}, {_hours(c.lags.q3_hours)}] |")
    if c.baseline is not None:
        b = c.baseline
        out += [f"| chance: expected {RU} first / {CN} first / ties | "
                f"{b.expected_a_first:.1f} / {b.expected_b_first:.1f} / {b.expected_ties:.1f} |",
                f"| p-value {RU} leads / {CN} leads | {b.p_value:.4f} / "
                f"{b.p_value_reverse:.4f} |"]
    flow = c.citations
    out += [f"| {CN} items citing {RU} sources | {flow.b_items_citing_a} of "
            f"{flow.b_items_checked} ({(flow.share or 0):.1%}): "
            + ", ".join(f"{n} {k}" for n, k in flow.top) + " |",
            "| the same by kind of cited source (items) | "
            + ", ".join(f"{k} {v}" for k, v in flow.by_kind.items()) + " |",
            f"| Jensen-Shannon divergence (whole period) | "
            f"{'-' if c.jsd is None else f'{c.jsd:.3f}'} |", "",
            f"Verdict: {c.verdict}.", ""]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=DEMO, help="demo store (copied, not written)")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    print(echo_section(args.db, args.repeat))


if __name__ == "__main__":
    main()
