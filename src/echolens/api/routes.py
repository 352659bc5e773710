"""The JSON API: every read query of the library, each table also as CSV (`.csv` twin), and
the token-protected writes (ingest, source edits)."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from typing import Annotated, Any, Literal

import duckdb
from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, Field, field_validator

from echolens.api import queries, views
from echolens.api.app import Dashboard
from echolens.api.search import (
    MAX_QUERY_CHARS,
    ItemFilter,
    SearchQuery,
    SearchResult,
    api_json,
)
from echolens.api.search import (
    check_text as check_query_text,
)
from echolens.errors import NotFound, UsageError

router = APIRouter(prefix="/api")

CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "CSV"}}
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "bad input (JSON error with code, message and fix)"},
    404: {"description": "unknown id"},
    422: {"description": "invalid parameter"},
}

Id = Annotated[str, Path(min_length=1, max_length=200)]
Eco = Annotated[str | None, Query(max_length=100, description="Ecosystem, e.g. russia-state")]
Lang = Annotated[str | None, Query(max_length=20, description="ISO 639-1 code")]
Src = Annotated[str | None, Query(max_length=200, description="Source id")]
Since = Annotated[date | None, Query(description="From this day (YYYY-MM-DD, UTC)")]
Until = Annotated[date | None, Query(description="To this day, inclusive (YYYY-MM-DD)")]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]


async def dashboard(request: Request) -> Dashboard:  # async: no thread pool hop
    board: Dashboard = request.app.state.dashboard
    return board


def cursor(board: Annotated[Dashboard, Depends(dashboard)]
           ) -> Iterator[duckdb.DuckDBPyConnection]:
    with board.cursor() as cur:
        yield cur


Board = Annotated[Dashboard, Depends(dashboard)]
Cur = Annotated[duckdb.DuckDBPyConnection, Depends(cursor)]


def check_text(value: str | None, name: str) -> str | None:
    """Reject text DuckDB and the models cannot take (NUL, lone surrogates) with a 4xx."""
    return None if value is None else check_query_text(value, name)


def _cell(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    return value


def csv_response(rows: Sequence[dict[str, Any]], name: str) -> Response:
    """Rows as a CSV download (columns of the first row; lists and dicts as JSON)."""
    buffer = io.StringIO()
    if rows:
        columns = list(rows[0].keys())
        writer = csv.writer(buffer)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_cell(row.get(c)) for c in columns])
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in name)[:80]
    return Response(buffer.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{safe}.csv"'})


async def item_filter(ecosystem: Eco = None, lang: Lang = None, source: Src = None,
                since: Since = None, until: Until = None,
                narrative: Annotated[str | None, Query(max_length=200)] = None) -> ItemFilter:
    for name, value in (("ecosystem", ecosystem), ("lang", lang), ("source", source),
                        ("narrative", narrative)):
        check_text(value, name)
    if since and until and until < since:
        raise UsageError(f"until {until} is before since {since}", "give until after since")
    return ItemFilter(ecosystem=ecosystem or None, lang=lang or None, source=source or None,
                      since=since, until=until, narrative=narrative or None)


Filters = Annotated[ItemFilter, Depends(item_filter)]


def _period(since: date | None, until: date | None) -> None:
    if since and until and until < since:
        raise UsageError(f"until {until} is before since {since}", "give until after since")


# -- meta and stats ------------------------------------------------------------------------
@router.get("/stats", tags=["store"], responses=ERRORS)
def stats(cur: Cur) -> dict[str, Any]:
    """Items by ecosystem, source, language and month; rejects by reason; embeddings."""
    from echolens.store.duckdb_store import DuckDBStore

    store = DuckDBStore.__new__(DuckDBStore)
    store.con = cur
    return store.stats()


@router.get("/overview", tags=["narratives"], responses=ERRORS)
def overview(board: Board, cur: Cur, since: Since = None, until: Until = None
             ) -> dict[str, Any]:
    """Activity of narratives by ecosystem over time, the narratives that crossed
    ecosystems most recently, the newest matches with fact-checked claims."""
    _period(since, until)
    return board.memo(("overview", since, until),
                      lambda: views.overview(cur, since=since, until=until))


# -- narratives ----------------------------------------------------------------------------
def _narratives(cur: duckdb.DuckDBPyConnection, ecosystem: str | None,
                ecosystems: str | None, first: str | None, pair: str | None, which: str,
                since: date | None, until: date | None, limit: int, offset: int
                ) -> dict[str, Any]:
    _period(since, until)
    for name, value in (("ecosystem", ecosystem), ("ecosystems", ecosystems),
                        ("first", first), ("pair", pair)):
        check_text(value, name)
    names = [e.strip() for e in (ecosystems or "").split(",") if e.strip()]
    pair_names: tuple[str, str] | None = None
    if pair:
        parts = [p.strip() for p in pair.split(",")]
        if len(parts) != 2 or not all(parts) or parts[0] == parts[1]:
            raise UsageError(f"pair {pair!r}", "give two different ecosystems: pair=A,B")
        pair_names = (parts[0], parts[1])
    return views.narratives(cur, ecosystem=ecosystem, ecosystems=names or None, first=first,
                            pair=pair_names, which=which, since=since, until=until,
                            limit=limit, offset=offset)


Which = Literal["shared", "a_first", "b_first", "ties"]
EcoList = Annotated[str | None, Query(max_length=500,
                                      description="Comma-separated: narratives carried by all")]
First = Annotated[str | None, Query(max_length=100,
                                    description="With ecosystems: this one carried it first")]
Pair = Annotated[str | None, Query(max_length=300,
                                   description="A,B: the narratives behind a matrix cell")]


@router.get("/narratives", tags=["narratives"], responses=ERRORS)
def narratives(cur: Cur, ecosystem: Eco = None, ecosystems: EcoList = None,
               first: First = None, pair: Pair = None, which: Which = "shared",
               since: Since = None, until: Until = None, limit: Limit = 100,
               offset: Offset = 0) -> dict[str, Any]:
    """Active narratives, largest first, with their size per ecosystem."""
    return _narratives(cur, ecosystem, ecosystems, first, pair, which, since, until, limit,
                       offset)


@router.get("/narratives.csv", tags=["narratives"], responses={**CSV_RESPONSE, **ERRORS})
def narratives_csv(cur: Cur, ecosystem: Eco = None, ecosystems: EcoList = None,
                   first: First = None, pair: Pair = None, which: Which = "shared",
                   since: Since = None, until: Until = None) -> Response:
    rows = _narratives(cur, ecosystem, ecosystems, first, pair, which, since, until,
                       1_000_000, 0)["narratives"]
    return csv_response(rows, "narratives")


@router.get("/narratives/{narrative_id}", tags=["narratives"], responses=ERRORS)
def narrative(board: Board, cur: Cur, narrative_id: Id) -> dict[str, Any]:
    """One narrative: label, keywords per language, timeline, first-seen per ecosystem,
    the echo chain, items grouped by ecosystem and language, matched fact-checks."""
    check_text(narrative_id, "narrative id")
    detail = narrative_data(board, cur, narrative_id)
    return {k: v for k, v in detail.items() if k != "item_groups"}


def narrative_data(board: Dashboard, cur: duckdb.DuckDBPyConnection, narrative_id: str,
                   item_limit: int | None = views.ITEMS_ON_PAGE) -> dict[str, Any]:
    """`views.narrative`, cached until the store changes (do not modify the result)."""
    check_text(narrative_id, "narrative id")
    return board.memo(("narrative", narrative_id, item_limit),
                      lambda: views.narrative(cur, narrative_id, item_limit=item_limit,
                                              citations=board.citation_status(cur)))


@router.get("/narratives/{narrative_id}/items.csv", tags=["narratives"],
            responses={**CSV_RESPONSE, **ERRORS})
def narrative_items_csv(board: Board, cur: Cur, narrative_id: Id) -> Response:
    check_text(narrative_id, "narrative id")
    detail = narrative_data(board, cur, narrative_id, item_limit=None)
    return csv_response(detail["items"], f"narrative-{narrative_id}-items")


@router.get("/narratives/{narrative_id}/timeline.csv", tags=["narratives"],
            responses={**CSV_RESPONSE, **ERRORS})
def narrative_timeline_csv(board: Board, cur: Cur, narrative_id: Id) -> Response:
    check_text(narrative_id, "narrative id")
    detail = narrative_data(board, cur, narrative_id, item_limit=0)
    return csv_response(views.timeline_rows(detail), f"narrative-{narrative_id}-timeline")


@router.get("/narratives/{narrative_id}/factchecks.csv", tags=["narratives"],
            responses={**CSV_RESPONSE, **ERRORS})
def narrative_factchecks_csv(board: Board, cur: Cur, narrative_id: Id) -> Response:
    check_text(narrative_id, "narrative id")
    detail = narrative_data(board, cur, narrative_id, item_limit=0)
    return csv_response(detail["factcheck_matches"], f"narrative-{narrative_id}-factchecks")


# -- items and search ----------------------------------------------------------------------
@router.get("/items/{item_id}", tags=["items"], responses=ERRORS)
def item(cur: Cur, item_id: Id) -> dict[str, Any]:
    """One item with its narratives and fact-check matches."""
    check_text(item_id, "item id")
    found = queries.item(cur, item_id)
    if found is None:
        raise NotFound(f"no item {item_id!r}", "search items at /api/search")
    return found


Q = Annotated[str, Query(max_length=MAX_QUERY_CHARS,
                         description="Words in any language; empty lists items newest first")]
Mode = Literal["hybrid", "keyword", "semantic"]


def _search(board: Dashboard, cur: duckdb.DuckDBPyConnection, q: str, mode: str,
            filters: ItemFilter, limit: int, offset: int) -> dict[str, Any]:
    check_text(q, "q")
    key = ("search", q, mode, tuple(sorted(filters.as_params().items())), limit, offset)
    return board.memo(key, lambda: _search_now(board, cur, q, mode, filters, limit, offset))


def _search_now(board: Dashboard, cur: duckdb.DuckDBPyConnection, q: str, mode: str,
                filters: ItemFilter, limit: int, offset: int) -> dict[str, Any]:
    result = _run_search(board, cur, q, mode, filters, limit, offset)
    return {**_search_head(q, mode, filters, result),
            "hits": [h.as_dict() for h in result.hits]}


def _search_body(board: Dashboard, cur: duckdb.DuckDBPyConnection, q: str, mode: str,
                 filters: ItemFilter, limit: int, offset: int) -> bytes:
    """`_search_now` as JSON bytes, with the hits joined from their cached JSON when the
    search built it (encoding 50 hits again for every page cost ~1 ms of GIL)."""
    result = _run_search(board, cur, q, mode, filters, limit, offset)
    head = _search_head(q, mode, filters, result)
    if result.hits_json is None:
        return api_json({**head, "hits": [h.as_dict() for h in result.hits]})
    return api_json(head)[:-1] + b',"hits":' + result.hits_json + b"}"


def _run_search(board: Dashboard, cur: duckdb.DuckDBPyConnection, q: str, mode: str,
                filters: ItemFilter, limit: int, offset: int) -> SearchResult:
    return board.search.search(cur, SearchQuery(text=q, filters=filters, mode=mode,  # type: ignore[arg-type]
                                                limit=limit, offset=offset))


def _search_head(q: str, mode: str, filters: ItemFilter, result: SearchResult
                 ) -> dict[str, Any]:
    """The fields of a search answer before its hits."""
    return {"q": q, "mode": mode, "filters": filters.as_params(),
            "keyword_matches": result.keyword_matches, "model_id": result.model_id,
            "similarity": result.similarity, "query_lang": result.query_lang}


@router.get("/search", tags=["items"], responses=ERRORS, response_model=dict[str, Any])
async def search(board: Board, filters: Filters, q: Q = "", mode: Mode = "hybrid",
                 limit: Limit = 50, offset: Offset = 0) -> Response:
    """Items by keyword and by meaning across languages ("biolabs" also finds 生物实验室
    and биолаборатории), with filters for ecosystem, language, source, dates, narrative."""
    # The JSON is kept as bytes per store version (FastAPI's own encoder took ~5 ms for a
    # page of hits) and a repeated search answers from the event loop.
    key = ("search.json", q, mode, tuple(sorted(filters.as_params().items())), limit, offset)
    body = board.fresh_page(key)
    if body is None:
        await _query_vector(board, q, mode)
        body = await run_in_threadpool(_search_json, board, key, q, mode, filters, limit,
                                       offset)
    return Response(body, media_type="application/json")


async def _query_vector(board: Dashboard, q: str, mode: str) -> None:
    """Queue the query's embedding and wait for it here, in the event loop: a request
    waiting for a model holds no thread (20 threads blocked on the models, woken at each
    batch, fought the model threads for the GIL). The search in the thread pool then finds
    the vector cached; on a model error it embeds again and reports the error."""
    future = board.search.query_vector(q, mode)
    if future is not None:
        with contextlib.suppress(Exception):
            await asyncio.wrap_future(future)


def _search_json(board: Dashboard, key: tuple[Any, ...], q: str, mode: str,
                 filters: ItemFilter, limit: int, offset: int) -> bytes:
    check_text(q, "q")
    with board.read_cursor() as cur:  # the bytes are the cache here, not the dict memo
        return board.page(key, lambda: _search_body(board, cur, q, mode, filters, limit,
                                                    offset))


@router.get("/search.csv", tags=["items"], responses={**CSV_RESPONSE, **ERRORS})
def search_csv(board: Board, cur: Cur, filters: Filters, q: Q = "", mode: Mode = "hybrid",
               limit: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> Response:
    return csv_response(_search(board, cur, q, mode, filters, limit, 0)["hits"], "search")


# -- sources -------------------------------------------------------------------------------
@router.get("/sources", tags=["sources"], responses=ERRORS)
def sources(cur: Cur, ecosystem: Eco = None) -> list[dict[str, Any]]:
    """Outlets with items, reach (followers, views where known) and active period."""
    check_text(ecosystem, "ecosystem")
    return queries.sources_table(cur, ecosystem)


@router.get("/sources.csv", tags=["sources"], responses={**CSV_RESPONSE, **ERRORS})
def sources_csv(cur: Cur, ecosystem: Eco = None) -> Response:
    check_text(ecosystem, "ecosystem")
    return csv_response(queries.sources_table(cur, ecosystem), "sources")


@router.get("/sources/{source_id}", tags=["sources"], responses=ERRORS)
def source(cur: Cur, source_id: Id) -> dict[str, Any]:
    """One outlet: items, reach, languages, narratives, whom it cites and who cites it."""
    check_text(source_id, "source id")
    return views.source(cur, source_id)


# -- ecosystems ----------------------------------------------------------------------------
@router.get("/ecosystems", tags=["echo"], responses=ERRORS)
def ecosystems(board: Board, cur: Cur, since: Since = None, until: Until = None,
               names: EcoList = None) -> dict[str, Any]:
    """Pairwise convergence of ecosystems (share echoed, median lag, citation flow) with the
    narrative ids behind each cell."""
    return ecosystems_data(board, cur, since, until, names)


def ecosystems_data(board: Dashboard, cur: duckdb.DuckDBPyConnection, since: date | None,
                    until: date | None, names: str | None) -> dict[str, Any]:
    _period(since, until)
    check_text(names, "names")
    chosen = [n.strip() for n in (names or "").split(",") if n.strip()] or None
    return board.memo(("ecosystems", tuple(chosen or ()), since, until),
                      lambda: views.ecosystems_matrix(cur, names=chosen, since=since,
                                                      until=until))


@router.get("/ecosystems.csv", tags=["echo"], responses={**CSV_RESPONSE, **ERRORS})
def ecosystems_csv(board: Board, cur: Cur, since: Since = None, until: Until = None,
                   names: EcoList = None) -> Response:
    data = ecosystems_data(board, cur, since, until, names)
    return csv_response(views.matrix_rows(data), "ecosystems")


# -- fact-checks ---------------------------------------------------------------------------
@router.get("/factchecks", tags=["factchecks"], responses=ERRORS)
def factchecks(cur: Cur, limit: Limit = 100, offset: Offset = 0) -> list[dict[str, Any]]:
    """Stored fact-checks, most matched first."""
    return queries.factchecks_table(cur, limit, offset)


@router.get("/factchecks.csv", tags=["factchecks"], responses={**CSV_RESPONSE, **ERRORS})
def factchecks_csv(cur: Cur) -> Response:
    return csv_response(queries.factchecks_table(cur, 1_000_000, 0), "factchecks")


@router.get("/matches/recent", tags=["factchecks"], responses=ERRORS)
def recent_matches(cur: Cur, limit: Limit = 50) -> list[dict[str, Any]]:
    """The newest items that matched a fact-checked claim above threshold."""
    return queries.recent_matches(cur, limit)


@router.get("/matches/recent.csv", tags=["factchecks"], responses={**CSV_RESPONSE, **ERRORS})
def recent_matches_csv(cur: Cur, limit: Annotated[int, Query(ge=1, le=100_000)] = 1000
                       ) -> Response:
    return csv_response(queries.recent_matches(cur, limit), "recent-matches")


class ClaimLookup(BaseModel):
    text: str = Field(min_length=1, max_length=MAX_QUERY_CHARS * 2)
    top_k: int = Field(10, ge=1, le=50)


def lookup_claim(board: Dashboard, text: str, top_k: int) -> dict[str, Any]:
    """Fact-checks matching one claim (hybrid lexical + dense), with explanations."""
    from echolens.claims.service import Query as ClaimQuery

    check_text(text, "text")
    claim = " ".join(text.split())
    if not claim:
        raise UsageError("empty claim", "paste the claim to check")
    matcher = board.claim_matcher()
    if matcher is None:
        return {"text": claim, "matches": [], "factchecks": 0}
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = matcher.match([ClaimQuery("lookup", claim)], top_k=top_k, explain=True)[0]
    facts = {f.id: f for f in matcher.index.factchecks}
    return {"text": claim, "factchecks": len(facts), "matches": [
        {"factcheck_id": m.factcheck_id, "probability": round(m.probability, 4),
         "score": round(m.score, 4), "rank": m.rank, "shared_terms": list(m.shared_terms),
         "closest_sentence": m.closest_sentence, "claim": facts[m.factcheck_id].text,
         "title": facts[m.factcheck_id].title, "verdict": facts[m.factcheck_id].verdict,
         "organization": facts[m.factcheck_id].organization,
         "url": facts[m.factcheck_id].url}
        for m in found]}


@router.get("/factchecks/match", tags=["factchecks"], responses=ERRORS)
def match_claim_get(board: Board,
                    text: Annotated[str, Query(min_length=1, max_length=MAX_QUERY_CHARS * 2)],
                    top_k: Annotated[int, Query(ge=1, le=50)] = 10) -> dict[str, Any]:
    """Paste a claim, get the stored fact-checks that match it, with scores and why."""
    return lookup_claim(board, text, top_k)


@router.post("/factchecks/match", tags=["factchecks"], responses=ERRORS)
def match_claim_post(board: Board, body: ClaimLookup) -> dict[str, Any]:
    """The same as GET, for long claims."""
    return lookup_claim(board, body.text, body.top_k)


@router.get("/rejects", tags=["store"], responses=ERRORS)
def rejects(cur: Cur, reason: Annotated[str | None, Query(max_length=100)] = None,
            limit: Limit = 100) -> list[dict[str, Any]]:
    """Open rejects with their reason, place and raw payload."""
    check_text(reason, "reason")
    rows = cur.execute(
        "SELECT id, reason, detail, connector, location, locator, first_seen FROM rejects"
        " WHERE status = 'open' AND (? IS NULL OR reason = ?) ORDER BY location, locator"
        " LIMIT ?", [reason, reason, limit]).fetchall()
    names = ("id", "reason", "detail", "connector", "location", "locator", "first_seen")
    return [dict(zip(names, r, strict=True)) for r in rows]


# -- writes (Bearer token) -----------------------------------------------------------------
Auth = Annotated[str | None, Header(max_length=1000)]
WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS, 401: {"description": "missing or wrong bearer token"},
    403: {"description": "the server is read-only"}}


class IngestBody(BaseModel):
    items: list[dict[str, Any]] = Field(min_length=1, max_length=5000)


class SourceBody(BaseModel):
    name: str | None = Field(None, max_length=300)
    ecosystem: str = Field(min_length=1, max_length=100)
    domain: str | None = Field(None, max_length=300)
    platform: str = Field("web", max_length=50)
    country: str | None = Field(None, max_length=50)
    kind: str = Field("outlet", max_length=30)
    state_affiliated: bool | None = None
    followers: int | None = Field(None, ge=0)
    aliases: list[str] = Field(default_factory=list, max_length=100)

    @field_validator("name", "ecosystem", "domain", "platform", "country", "kind")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        return check_text(value, "field")


@router.post("/ingest", tags=["writes"], responses=WRITE_ERRORS)
def ingest(board: Board, body: Annotated[IngestBody, Body()],
           authorization: Auth = None) -> dict[str, Any]:
    """Ingest items in the echolens item format (needs the write token)."""
    from echolens.ingest.files import record_to_raw
    from echolens.model import Provenance, RawItem, Reject

    board.check_token(authorization)
    records: list[RawItem | Reject] = []
    for k, row in enumerate(body.items, start=1):
        check_text(json.dumps(row, ensure_ascii=False), f"item {k}")
        records.append(record_to_raw(row, Provenance("api", "POST /api/ingest", f"item {k}")))
    with board.write_lock:
        report = board.database.ingest_records(records)
    result: dict[str, Any] = report.to_json()
    return result


@router.put("/sources/{source_id}", tags=["writes"], responses=WRITE_ERRORS)
def put_source(board: Board, source_id: Id, body: SourceBody,
               authorization: Auth = None) -> dict[str, Any]:
    """Add or update one source (needs the write token)."""
    from echolens.sources.registry import source_from_mapping

    board.check_token(authorization)
    check_text(source_id, "source id")
    entry = {"id": source_id, **body.model_dump()}
    found = source_from_mapping(entry, "PUT /api/sources")
    with board.write_lock:
        board.database.add_sources([found])
    return {"id": found.id, "ecosystem": found.ecosystem, "saved": True}
