"""The claims stage as the rest of echolens uses it: fact-checks from the store, one index,
batch matching of texts (queries, items, narratives)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from echolens.claims.dense import EncodeFn, NoCache, VectorCache, embed_cached
from echolens.claims.matcher import MAX_QUERY_CHARS, ClaimIndex, MatcherConfig
from echolens.claims.records import Match
from echolens.claims.storage import FactCheckStore
from echolens.errors import EcholensError

# Calibrated match probability at or above which a stored match is an event for alerts. The
# probability is calibrated per language pair (same language / cross-lingual), so one
# probability threshold is a different fused-score threshold per pair; see docs/claims.md.
MATCH_THRESHOLD = 0.5


class EmptyFactCheckStore(EcholensError):
    code = "E301"


@dataclass(frozen=True)
class Query:
    id: str
    text: str
    lang: str | None = None


def truncate_queries(queries: Sequence[Query]) -> tuple[list[Query], list[str]]:
    """Cut over-long query texts to what the model reads; one warning per cut query."""
    out: list[Query] = []
    notes: list[str] = []
    for q in queries:
        if len(q.text) > MAX_QUERY_CHARS:
            notes.append(f"query {q.id}: {len(q.text)} characters, truncated to "
                         f"{MAX_QUERY_CHARS}")
            q = Query(q.id, q.text[:MAX_QUERY_CHARS], q.lang)
        out.append(q)
    return out, notes


class ClaimMatcher:
    """A `ClaimIndex` over the store's fact-checks (duplicates folded into their first record)."""

    def __init__(self, index: ClaimIndex, encode: EncodeFn,
                 query_cache: VectorCache | None = None) -> None:
        self.index = index
        self.encode = encode
        self.query_cache = query_cache or NoCache()

    @classmethod
    def from_store(cls, store: object, encode: EncodeFn, *,
                   config: MatcherConfig | None = None,
                   progress: Callable[[int, int], None] | None = None) -> ClaimMatcher:
        facts = FactCheckStore(store)
        factchecks = facts.factchecks()
        if not factchecks:
            raise EmptyFactCheckStore(
                "the store holds no fact-checks to match against",
                "import some first: echolens factchecks import FILE [--format ...]")
        vectors = facts.vectors(factchecks, encode, progress=progress)
        return cls(ClaimIndex(factchecks, vectors, config or MatcherConfig()), encode)

    def match(self, queries: Sequence[Query], *, top_k: int = 10,
              explain: bool = False) -> list[list[Match]]:
        cut, notes = truncate_queries(queries)
        for note in notes:
            warnings.warn(note, stacklevel=2)
        texts = [q.text for q in cut]
        vectors = embed_cached(texts, "query", self.query_cache, self.encode) if texts else \
            np.zeros((0, self.index.vectors.shape[1]), np.float32)
        return self.index.match(texts, vectors, top_k=top_k, langs=[q.lang for q in cut],
                                explain=explain)


ITEM_MODEL_ID = "multilingual-e5-small-q4:query"  # the items' own embeddings (same model+prefix)


def match_items(store: object, matcher: ClaimMatcher, *, item_ids: Sequence[str] | None = None,
                top_k: int = 5, method: str = "hybrid-v1") -> list[tuple[str, Match]]:
    """Match stored items (all, or `item_ids`) against the fact-checks and store the matches.

    Items already embedded by `echolens process` reuse their `query:` vectors; the others are
    embedded now. Returns the new matches above the threshold: the events alerts use."""
    con = store.con  # type: ignore[attr-defined]
    from echolens.store.duckdb_store import EMBED_TEXT_SQL

    sql = (f"SELECT id, {EMBED_TEXT_SQL}, lang, content_hash FROM items "
           "WHERE duplicate_of IS NULL")
    params: list[object] = []
    if item_ids is not None:
        sql += " AND id IN (SELECT unnest(?))"
        params.append(list(item_ids))
    rows = con.execute(sql + " ORDER BY id", params).fetchall()
    if not rows:
        return []
    known: dict[str, np.ndarray] = store.embeddings(  # type: ignore[attr-defined]
        ITEM_MODEL_ID, [r[3] for r in rows])
    texts = [str(r[1])[:MAX_QUERY_CHARS] for r in rows]
    missing = [i for i, r in enumerate(rows) if r[3] not in known]
    vectors = np.zeros((len(rows), matcher.index.vectors.shape[1]), np.float32)
    if missing:
        vectors[missing] = embed_cached([texts[i] for i in missing], "query",
                                        matcher.query_cache, matcher.encode)
    for i, r in enumerate(rows):
        if r[3] in known:
            vectors[i] = known[r[3]]
    return match_subjects(store, matcher, "item", [str(r[0]) for r in rows], texts,
                          vectors=vectors, langs=[r[2] for r in rows], top_k=top_k,
                          method=method)


def match_subjects(store: object, matcher: ClaimMatcher, kind: str, ids: Sequence[str],
                   texts: Sequence[str], *, vectors: np.ndarray | None = None,
                   langs: Sequence[str | None] | None = None, top_k: int = 5,
                   method: str = "hybrid-v1") -> list[tuple[str, Match]]:
    """Match any subjects (`kind` = item, narrative, ...) given their text and, when known,
    their `query:` vectors (a narrative passes its centroid and label); store the matches;
    return the new ones above `MATCH_THRESHOLD`."""
    if vectors is None:
        vectors = embed_cached([t[:MAX_QUERY_CHARS] for t in texts], "query",
                               matcher.query_cache, matcher.encode)
    results = matcher.index.match([t[:MAX_QUERY_CHARS] for t in texts], vectors,
                                  top_k=top_k, langs=langs, explain=True)
    facts = FactCheckStore(store)
    events: list[tuple[str, Match]] = []
    for subject_id, found in zip(ids, results, strict=True):
        new = facts.save_matches(kind, subject_id, found, method=method,
                                 threshold=MATCH_THRESHOLD)
        events.extend((subject_id, m) for m in new)
    return events
