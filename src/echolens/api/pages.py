"""The dashboard pages (server-rendered Jinja2, HTMX for in-place updates where a browser
has JavaScript; every page works without it). Same data as the JSON API (`views`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import date, datetime
from functools import partial
from typing import Annotated, Any
from urllib.parse import urlencode

import duckdb
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from echolens.api import queries, views
from echolens.api.app import TEMPLATE_DIR, Dashboard
from echolens.api.charts import colour, heat, ink
from echolens.api.queries import first_row
from echolens.api.routes import (
    Board,
    Cur,
    EcoList,
    Filters,
    First,
    Id,
    Limit,
    Mode,
    Offset,
    Pair,
    Q,
    Since,
    Until,
    Which,
    _narratives,
    _period,
    _search,
    check_text,
    ecosystems_data,
    lookup_claim,
    narrative_data,
)
from echolens.api.search import SEMANTIC_BAND
from echolens.errors import NotFound

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(TEMPLATE_DIR))


def _fmt_date(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and len(value) >= 10:
        return value[:16].replace("T", " ")
    return "" if value is None else str(value)


def _hours(value: Any) -> str:
    if value is None:
        return "–"
    hours = float(value)
    if abs(hours) >= 48:
        return f"{hours / 24:.1f} days"
    return f"{hours:.1f} h"


def _pct(value: Any) -> str:
    return "–" if value is None else f"{100 * float(value):.0f}%"


def _num(value: Any) -> str:
    return "–" if value is None else f"{int(value):,}"


def _short(text: Any, size: int = 220) -> str:
    flat = " ".join(str(text or "").split())
    return flat if len(flat) <= size else flat[: size - 1] + "…"


def _http_url(value: Any) -> str:
    """The URL when it is http(s); "" for anything else (javascript:, data:...): item URLs
    come from the web and are untrusted."""
    text = str(value or "").strip()
    return text if text.lower().startswith(("http://", "https://")) else ""


def _query(**params: Any) -> str:
    return urlencode({k: v for k, v in params.items() if v not in (None, "")})


templates.env.filters.update(date=_fmt_date, hours=_hours, pct=_pct, num=_num, short=_short,
                             httpurl=_http_url)
templates.env.globals.update(colour=colour, heat=heat, ink=ink, query=_query)


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    board = request.app.state.dashboard
    context.setdefault("writable", board.writable)
    return templates.TemplateResponse(request, name, context, status_code=status)


def cached(board: Dashboard, key: tuple[Any, ...], build: Callable[[], HTMLResponse]
           ) -> HTMLResponse:
    """A page rendered once per store version (pages that read many rows)."""
    return HTMLResponse(board.page(key, lambda: bytes(build().body)))


def render_error(request: Request, status: int, message: str, fix: str) -> Response:
    return render(request, "error.html", status=status, status_code=status, message=message,
                  fix=fix)


@router.get("/", response_class=HTMLResponse)
def overview_page(request: Request, board: Board, cur: Cur, since: Since = None,
                  until: Until = None) -> HTMLResponse:
    _period(since, until)

    def build() -> HTMLResponse:
        data = board.memo(("overview", since, until),
                          lambda: views.overview(cur, since=since, until=until))
        chart = views.activity_chart(data["activity"])
        return render(request, "overview.html", data=data, chart=Markup(chart),
                      since=since, until=until)

    return cached(board, ("overview", since, until), build)


@router.get("/narratives", response_class=HTMLResponse)
def narratives_page(request: Request, cur: Cur,
                    ecosystem: Annotated[str | None, Query(max_length=100)] = None,
                    ecosystems: EcoList = None, first: First = None, pair: Pair = None,
                    which: Which = "shared", since: Since = None, until: Until = None,
                    limit: Limit = 100, offset: Offset = 0) -> HTMLResponse:
    data = _narratives(cur, ecosystem, ecosystems, first, pair, which, since, until, limit,
                       offset)
    params = _query(ecosystem=ecosystem, ecosystems=ecosystems, first=first, pair=pair,
                    which=which if pair else None,
                    since=since.isoformat() if since else None,
                    until=until.isoformat() if until else None)
    return render(request, "narratives.html", data=data, params=params,
                  ecosystem=ecosystem, ecosystem_names=queries.ecosystems(cur),
                  limit=limit, offset=offset)


@router.get("/narratives/{narrative_id}", response_class=HTMLResponse)
async def narrative_page(request: Request, board: Board, narrative_id: Id) -> HTMLResponse:
    # Pages rendered in the background answer from the event loop (no thread pool hop).
    body = board.fresh_page(("narrative", narrative_id))
    if body is None:
        body = await run_in_threadpool(_narrative_page_now, request, board, narrative_id)
    return HTMLResponse(body)


def _narrative_page_now(request: Request, board: Dashboard, narrative_id: str) -> bytes:
    with board.read_cursor() as cur:
        return board.page(("narrative", narrative_id), lambda: bytes(_narrative_html(
            request, narrative_data(board, cur, narrative_id)).body))


def _narrative_html(request: Request, detail: dict[str, Any]) -> HTMLResponse:
    chart = views.narrative_chart(detail)
    return render(request, "narrative.html", n=detail, chart=Markup(chart),
                  timeline=views.timeline_rows(detail))


def _narrative_bytes(request: Request, cur: duckdb.DuckDBPyConnection, narrative_id: str
                     ) -> bytes:
    board: Dashboard = request.app.state.dashboard
    detail = views.narrative(cur, narrative_id, citations=board.citation_status(cur))
    return bytes(_narrative_html(request, detail).body)


def warm_narrative_pages(app: Any, stop: threading.Event, limit: int = 5000,
                         deadline: float | None = None, workers: int = 1) -> int:
    """Render the pages of the active narratives, largest first, into the page cache (they
    then answer from memory), until done, `stop` is set or half the cache budget is used.
    Each page waits until no request has been answered for 50 ms: the warm-up gives way
    to clients. `deadline` (`time.monotonic()`): stop there too. `workers` threads render
    side by side (DuckDB reads in parallel: 2 on 2 cores took 0.6 of the time of one).
    Returns how many pages were rendered."""
    board: Dashboard = app.state.dashboard
    with board.cursor() as cur:
        ids = iter([str(r[0]) for r in cur.execute(
            "SELECT id FROM narratives WHERE status = 'active' ORDER BY size DESC, id LIMIT ?",
            [limit]).fetchall()])
    taking = threading.Lock()
    counts: list[int] = []

    def work() -> None:
        rendered = 0
        with board.cursor() as cur:
            while True:
                board.wait_until_idle(stop)  # clients first
                if stop.is_set() or board.pages_used() > board.page_budget() // 2:
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    break
                with taking:
                    narrative_id = next(ids, None)
                if narrative_id is None:
                    break
                key = ("narrative", narrative_id)
                if board.has_page(key):
                    continue
                request = Request({"type": "http", "app": app, "router": app.router,
                                   "method": "GET", "scheme": "http", "root_path": "",
                                   "path": f"/narratives/{narrative_id}", "query_string": b"",
                                   "headers": [], "server": ("127.0.0.1", 80)})
                try:  # not through the data memo: the page is all that is kept
                    board.page(key, partial(_narrative_bytes, request, cur, narrative_id))
                except NotFound:  # merged away since the list was read
                    continue
                rendered += 1
        counts.append(rendered)

    threads = [threading.Thread(target=work, name=f"echolens-pages-{k}")
               for k in range(max(1, workers) - 1)]
    for thread in threads:
        thread.start()
    work()
    for thread in threads:
        thread.join()
    return sum(counts)


@router.get("/ecosystems", response_class=HTMLResponse)
def ecosystems_page(request: Request, board: Board, cur: Cur, since: Since = None,
                    until: Until = None, names: EcoList = None) -> HTMLResponse:
    matrix = ecosystems_data(board, cur, since, until, names)
    cells = {(c["from"], c["to"]): c for c in matrix["cells"]}
    top = max([c["share_of_b_led_by_a"] or 0 for c in matrix["cells"]] or [0])
    period = _query(since=since.isoformat() if since else None,
                    until=until.isoformat() if until else None)
    return render(request, "ecosystems.html", matrix=matrix, cells=cells, top=top or 1,
                  since=since, until=until, names=names or "", period=period)


@router.get("/sources", response_class=HTMLResponse)
def sources_page(request: Request, cur: Cur,
                 ecosystem: Annotated[str | None, Query(max_length=100)] = None
                 ) -> HTMLResponse:
    check_text(ecosystem, "ecosystem")
    return render(request, "sources.html", rows=queries.sources_table(cur, ecosystem),
                  ecosystem=ecosystem, ecosystem_names=queries.ecosystems(cur))


@router.get("/sources/{source_id}", response_class=HTMLResponse)
def source_page(request: Request, cur: Cur, source_id: Id) -> HTMLResponse:
    check_text(source_id, "source id")
    row = views.source(cur, source_id)
    from echolens.api.search import ItemFilter, SearchQuery

    board = request.app.state.dashboard
    recent = board.search.search(cur, SearchQuery(filters=ItemFilter(source=source_id),
                                                  limit=50)).hits
    return render(request, "source.html", s=row, items=[h.as_dict() for h in recent])


@router.get("/search", response_class=HTMLResponse)
def search_page(request: Request, board: Board, cur: Cur, filters: Filters, q: Q = "",
                mode: Mode = "hybrid", limit: Limit = 50, offset: Offset = 0
                ) -> HTMLResponse:
    data = _search(board, cur, q, mode, filters, limit, offset)
    params = _query(q=q, mode=mode if mode != "hybrid" else None, **filters.as_params())
    narrative_label = None
    if filters.narrative:
        row = first_row(cur.execute("SELECT label FROM narratives WHERE id = ? LIMIT 1",
                          [filters.narrative]).fetchall())
        narrative_label = row[0] if row else None
    return render(request, "search.html", data=data, q=q, mode=mode, f=filters,
                  params=params, limit=limit, offset=offset, band=SEMANTIC_BAND,
                  narrative_label=narrative_label,
                  ecosystem_names=queries.ecosystems(cur), langs=queries.languages(cur),
                  partial=request.headers.get("HX-Request") == "true")


@router.get("/items/{item_id}", response_class=HTMLResponse)
def item_page(request: Request, cur: Cur, item_id: Id) -> HTMLResponse:
    check_text(item_id, "item id")
    found = queries.item(cur, item_id)
    if found is None:
        from echolens.errors import NotFound

        raise NotFound(f"no item {item_id!r}", "search items at /search")
    cites = views._citations_of(cur, [item_id]).get(item_id, [])
    return render(request, "item.html", item=found, citations=cites)


@router.get("/factchecks", response_class=HTMLResponse)
def factchecks_page(request: Request, board: Board, cur: Cur,
                    claim: Annotated[str | None, Query(max_length=4000)] = None
                    ) -> HTMLResponse:
    lookup = lookup_claim(board, claim, 10) if claim and claim.strip() else None
    return render(request, "factchecks.html", claim=claim or "", lookup=lookup,
                  rows=queries.factchecks_table(cur, 100, 0),
                  partial=request.headers.get("HX-Request") == "true")
