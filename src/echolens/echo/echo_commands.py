"""`echolens echo --from A --to B`: the convergence table and the coverage gaps (thin wrapper
over `echolens.echo.convergence.convergence` and `echolens.echo.gaps.coverage_gaps`)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer

from echolens.echo.convergence import Convergence
from echolens.echo.gaps import CoverageGaps
from echolens.errors import EcholensError, UsageError

DbOption = Annotated[str | None, typer.Option("--db", help="Store file [env: ECHOLENS_DB].")]


def parse_day(value: str | None, option: str, *, end: bool = False) -> datetime | None:
    """An ISO date or datetime (UTC when it names no zone). With `end`, a bare date means the
    end of that day, so `--until 2022-03-31` includes March 31."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise UsageError(f"{option} {value!r} is not a date", "use YYYY-MM-DD") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if end and len(value) <= 10:
        parsed += timedelta(days=1)
    return parsed


def _hours(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value / 24:+.1f} d" if abs(value) >= 48 else f"{value:+.1f} h"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def convergence_lines(c: Convergence) -> list[str]:
    """The convergence table as text lines (metric, value)."""
    a, b, lead = c.a, c.b, c.lead
    rows: list[tuple[str, str]] = [
        ("narratives carried", f"{a} {c.a_narratives}, {b} {c.b_narratives}, shared "
                               f"{lead.shared}"),
        (f"{a} first / {b} first / ties", f"{lead.a_first} / {lead.b_first} / {lead.ties}"),
        (f"share of shared that {a} led", _pct(lead.a_share) + (
            f" (95% CI {_pct(lead.a_share_ci[0])}-{_pct(lead.a_share_ci[1])})"
            if lead.a_share_ci else "")),
        (f"share of {b}'s narratives {a} led", _pct(c.share_of_b_led_by_a)),
        (f"lag of {b} after {a} (median [Q1, Q3])",
         f"{_hours(c.lags.median_hours)} [{_hours(c.lags.q1_hours)}, "
         f"{_hours(c.lags.q3_hours)}]"),
    ]
    if c.baseline is not None:
        base = c.baseline
        rows.append((f"chance: {a} first expected (95% range)",
                     f"{base.expected_a_first:.1f} ({base.a_first_interval[0]:.0f}-"
                     f"{base.a_first_interval[1]:.0f}); {base.permutations} shuffles, "
                     f"seed {base.seed}"))
        rows.append((f"p-value {a} leads / {b} leads",
                     f"{base.p_value:.4f} / {base.p_value_reverse:.4f}"))
    flow = c.citations
    if flow.status == "ok":
        top = ", ".join(f"{name} {count}" for name, count in flow.top)
        kinds = ", ".join(f"{kind} {count}" for kind, count in flow.by_kind.items())
        rows.append((f"{b} items citing {a} sources",
                     f"{flow.b_items_citing_a} of {flow.b_items_checked} checked "
                     f"({_pct(flow.share)}){' [' + kinds + ']' if kinds else ''}"
                     f"{': ' + top if top else ''}"))
    rows.append(("Jensen-Shannon divergence (period)",
                 "-" if c.jsd is None else f"{c.jsd:.3f}"))
    width = max(len(k) for k, _ in rows)
    period = (f"  from {c.since:%Y-%m-%d %H:%M}" if c.since else "") + (
        f"  up to {c.until:%Y-%m-%d %H:%M} (excluded)" if c.until else "")
    lines = [f"{a} -> {b}{period or '  (all dates)'}  [UTC]"]
    lines += [f"  {k:<{width}}  {v}" for k, v in rows]
    weeks = [w for w in c.weekly if w.jsd is not None]
    if weeks:
        lines.append("  weekly divergence (week: JSD, items a/b): " + "; ".join(
            f"{w.week:%m-%d}: {w.jsd:.2f} {w.a_items}/{w.b_items}" for w in weeks[:12]))
    lines.append(f"  verdict: {c.verdict}")
    lines += [f"  note: {n}" for n in c.notes]
    return lines


def gap_lines(gaps: CoverageGaps) -> list[str]:
    lines = [f"coverage gaps: prominent in {gaps.a}, missing or late and little in {gaps.b} "
             f"({gaps.total_gaps} of {gaps.a_narratives} narratives with enough items"
             + (f"; top {len(gaps.gaps)}" if len(gaps.gaps) < gaps.total_gaps else "") + ")"]
    for g in gaps.gaps:
        when = "never" if g.status == "never" else (
            f"{g.b_items} item(s), {g.lag_days:.0f} d later" if g.lag_days is not None else "")
        lines.append(f"  {g.narrative_id}  {g.a_items:>4} items  {when:<22} {g.label or ''}")
        if g.nearest:
            n = g.nearest
            lines.append(f"      nearest in {gaps.b}: {n.narrative_id} (cos {n.similarity:.2f},"
                         f" {n.b_items} items) {n.item_title[:100]}")
    lines += [f"  note: {n}" for n in gaps.notes]
    return lines


def echo(
    from_eco: Annotated[str, typer.Option("--from", help="Ecosystem A, e.g. russia-state.")],
    to_eco: Annotated[str, typer.Option("--to", help="Ecosystem B, e.g. china-state.")],
    since: Annotated[str | None, typer.Option(help="From this date (YYYY-MM-DD).")] = None,
    until: Annotated[str | None, typer.Option(help="Up to this date, included.")] = None,
    permutations: Annotated[int, typer.Option(help="Label shuffles for the baseline.",
                                              min=0)] = 2000,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap and the shuffles.")] = 0,
    gaps_limit: Annotated[int, typer.Option("--gaps", help="Coverage gaps to show.",
                                            min=0)] = 10,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    db: DbOption = None,
) -> None:
    """How ecosystem A echoes into B: who was first, lags against chance, citations, gaps."""
    from echolens.database import Database
    from echolens.echo.convergence import convergence
    from echolens.echo.gaps import coverage_gaps

    try:
        start = parse_day(since, "--since")
        end = parse_day(until, "--until", end=True)
        with Database(db) as database:
            result = convergence(database, from_eco, to_eco, start, end,
                                 permutations=permutations, seed=seed)
            gaps = coverage_gaps(database, from_eco, to_eco, start, end, limit=gaps_limit)
    except EcholensError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    if json_out:
        data: dict[str, Any] = {"convergence": result.to_dict(),
                                "coverage_gaps": gaps.to_dict()}
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")
        return
    for line in [*convergence_lines(result), "", *gap_lines(gaps)]:
        typer.echo(line)


def register(app: typer.Typer) -> None:
    """Add `echolens echo` to the app."""
    app.command("echo")(echo)
