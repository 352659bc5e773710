"""Self-contained HTML reports (inline CSS and SVG, no script, no external asset) that can be
mailed, archived or printed: one narrative, or the convergence between ecosystems.

    from echolens.api.report import narrative_report, ecosystems_report
    html = narrative_report(db, "n-3f2a...")
    html = ecosystems_report(db, ["russia-state", "china-state"], since=date(2022, 3, 1))
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from echolens.api import queries, views
from echolens.api.app import STATIC_DIR, TEMPLATE_DIR
from echolens.api.charts import colour, heat, ink
from echolens.database import Database
from echolens.echo.timing import narrative_timing
from echolens.errors import UsageError
from echolens.output_files import write_whole

MAX_REPORT_ITEMS = 2000
MAX_REPORT_NARRATIVES = 30


def _environment() -> Environment:
    from echolens.api import pages

    env = Environment(loader=FileSystemLoader(str(TEMPLATE_DIR)),
                      autoescape=select_autoescape(["html"]))
    env.filters.update(pages.templates.env.filters)
    env.globals.update(colour=colour, heat=heat, ink=ink)
    return env


def _con(db: Database | duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    con = db if isinstance(db, duckdb.DuckDBPyConnection) else db.store.con
    cur = con.cursor()
    cur.execute("SET TimeZone = 'UTC'").fetchall()
    return cur


def _common(con: duckdb.DuckDBPyConnection, store: str) -> dict[str, Any]:
    return {"css": Markup((STATIC_DIR / "style.css").read_text(encoding="utf-8")),
            "credits": queries.data_credits(con),
            "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "store": store}


def narrative_report(db: Database | duckdb.DuckDBPyConnection, narrative_id: str, *,
                     store_name: str = "") -> str:
    """One narrative: timeline with first-seen markers, echo chain, fact-checks, keywords,
    and every item (source, date, citations, link to the original)."""
    con = _con(db)
    try:
        detail = views.narrative(con, narrative_id, item_limit=MAX_REPORT_ITEMS)
        chart = views.narrative_chart(detail, chart_id="report-timeline", links=False)
        context = _common(con, store_name)
    finally:
        con.close()
    return _environment().get_template("report_narrative.html").render(
        n=detail, chart=Markup(chart), timeline=views.timeline_rows(detail), **context)


def ecosystems_report(db: Database | duckdb.DuckDBPyConnection, ecosystems: list[str], *,
                      since: date | None = None, until: date | None = None,
                      store_name: str = "") -> str:
    """Convergence between `ecosystems` over a period: activity chart, pairwise matrix, and
    the narratives they share with each one's first item (link to the original)."""
    if len(ecosystems) < 2:
        raise UsageError(f"{len(ecosystems)} ecosystem(s) given",
                         "name two or more, e.g. --ecosystems russia-state,china-state")
    con = _con(db)
    try:
        matrix = views.ecosystems_matrix(con, names=ecosystems, since=since, until=until)
        act = queries.activity(con, since=since, until=until)
        act["points"] = [p for p in act["points"] if p["ecosystem"] in ecosystems]
        chart = views.activity_chart(act, link_base=None, chart_id="report-activity")
        shared = queries.narratives_carried_by(con, ecosystems[:2], since=since, until=until)
        shared = shared[:MAX_REPORT_NARRATIVES]
        firsts: dict[str, list[dict[str, Any]]] = {}
        for n in shared:
            timing = narrative_timing(con, n["id"], n["model_id"])
            firsts[n["id"]] = [f.to_dict() for f in timing.first_seen
                               if f.ecosystem in ecosystems]
        urls = dict(con.execute(
            "SELECT id, url FROM items WHERE id IN (SELECT unnest(?))",
            [[r["item_id"] for rows in firsts.values() for r in rows]]).fetchall())
        context = _common(con, store_name)
    finally:
        con.close()
    cells = {(c["from"], c["to"]): c for c in matrix["cells"]}
    top = max([c["share_of_b_led_by_a"] or 0 for c in matrix["cells"]] or [0]) or 1
    return _environment().get_template("report_ecosystems.html").render(
        matrix=matrix, cells=cells, top=top, chart=Markup(chart), shared=shared,
        firsts=firsts, urls=urls, ecosystems=ecosystems, since=since, until=until, **context)


def write_report(html: str, out: str | Path) -> Path:
    return write_whole(out, html)


def demo_report(db: Database, out: str | Path) -> Path:
    """The report `echolens demo --no-serve` writes: convergence of the ecosystems with the
    most items."""
    con = _con(db)
    try:
        names = [e["ecosystem"] for e in queries.ecosystems(con) if e["ecosystem"] != "unknown"]
    finally:
        con.close()
    return write_report(ecosystems_report(db, names[:4], store_name=Path(db.path).name), out)
