"""The claims stage as the rest of echolens uses it: fact-checks from the store, one index,
batch matching of texts (queries, items, narratives)."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np

from echolens.claims.dense import EncodeFn, NoCache, StoreCache, VectorCache, embed_cached
from echolens.claims.lexical import script_lang
from echolens.claims.matcher import MAX_QUERY_CHARS, ClaimIndex, MatcherConfig, clean_query
from echolens.claims.records import Match
from echolens.claims.storage import ApartCache, FactCheckStore
from echolens.errors import EcholensError

# Calibrated match probability at or above which a stored match is an event for alerts, for
# matches that carry no threshold of their own. `ClaimIndex.match` sets one per language
# pair (`MatcherConfig.threshold_same` / `threshold_cross`, chosen on tuning data: 0.5 for
# the same language, lower across languages where the evidence is weaker); see
# docs/claims.md.
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
        """The fact-checks of `store`, their vectors cached in it, and so are the vectors of
        the claims matched (under `<model>@claims`): a claim matched again, by `echolens
        match` or by the next `process`, is not embedded again."""
        facts = FactCheckStore(store)
        factchecks = facts.factchecks()
        if not factchecks:
            raise EmptyFactCheckStore(
                "the store holds no fact-checks to match against",
                "import some first: echolens factchecks import FILE [--format ...]")
        vectors = facts.vectors(factchecks, encode, progress=progress)
        reference = facts.query_reference(factchecks, encode)
        index = ClaimIndex(factchecks, vectors, config or MatcherConfig(), reference,
                           terms=facts.terms(factchecks))
        return cls(index, encode, query_cache=ApartCache(StoreCache(store), "@claims"))

    def match(self, queries: Sequence[Query], *, top_k: int = 10,
              explain: bool = False) -> list[list[Match]]:
        cut, notes = truncate_queries(queries)
        for note in notes:
            warnings.warn(note, stacklevel=2)
        texts = [clean_query(q.text) for q in cut]
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

    sql = (f"SELECT id, {EMBED_TEXT_SQL}, lang, content_hash, url, canonical_url FROM items "
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
                          method=method, exclude=_same_document(store, rows))


def _url_key(url: str) -> str:
    return url.rstrip("/").lower().split("://", 1)[-1]


def _same_document(store: object, rows: Sequence[tuple[object, ...]]) -> list[set[str]]:
    """Per item row (url and canonical_url last), the indexed fact-checks that are the item
    itself (same URL, e.g. a StopFake article loaded both as an item and as a fact-check):
    an item would otherwise find itself as its own debunk."""
    by_url: dict[str, set[str]] = {}
    for url, root in store.con.execute(  # type: ignore[attr-defined]
            "SELECT url, coalesce(duplicate_of, id) FROM factchecks WHERE url IS NOT NULL"
    ).fetchall():
        by_url.setdefault(_url_key(str(url)), set()).add(str(root))
    return [set().union(*(by_url.get(_url_key(str(u)), set()) for u in r[-2:] if u))
            for r in rows]


def match_subjects(store: object, matcher: ClaimMatcher, kind: str, ids: Sequence[str],
                   texts: Sequence[str], *, vectors: np.ndarray | None = None,
                   langs: Sequence[str | None] | None = None, top_k: int = 5,
                   method: str = "hybrid-v1",
                   exclude: Sequence[set[str]] | None = None) -> list[tuple[str, Match]]:
    """Match any subjects (`kind` = item, narrative, ...) given their text and, when known,
    their `query:` vectors (a narrative passes its centroid and label); store the matches;
    return the new ones above their language pair's threshold (`Match.threshold`, set by
    the index; `MATCH_THRESHOLD` for a match without one). `exclude` gives, per subject, fact-check
    ids it must not match (the subject itself); the others move up in rank."""
    if vectors is None:
        vectors = embed_cached([t[:MAX_QUERY_CHARS] for t in texts], "query",
                               matcher.query_cache, matcher.encode)
    extra = max((len(e) for e in exclude), default=0) if exclude else 0
    results = matcher.index.match([t[:MAX_QUERY_CHARS] for t in texts], vectors,
                                  top_k=top_k + extra, langs=langs, explain=True)
    if exclude:
        results = [[replace(m, rank=rank) for rank, m in enumerate(
            [m for m in found if m.factcheck_id not in skip][:top_k], start=1)]
            for found, skip in zip(results, exclude, strict=True)]
    return FactCheckStore(store).save_matches_many(
        kind, list(zip(ids, results, strict=True)), method=method, threshold=None)


NARRATIVE_MEMBERS = 50  # member vectors averaged into a narrative's query vector


def narratives_to_match(store: object, method: str = "hybrid-v1") -> list[str]:
    """Active narratives never matched, or changed since their matches were stored."""
    con = store.con  # type: ignore[attr-defined]
    return [str(r[0]) for r in con.execute(
        "SELECT n.id FROM narratives n WHERE n.status = 'active' AND NOT EXISTS ("
        "SELECT 1 FROM claim_matches m WHERE m.subject_kind = 'narrative' AND "
        "m.subject_id = n.id AND m.method = ? AND m.matched_at >= n.updated_at) ORDER BY n.id",
        [method]).fetchall()]


def match_narratives(store: object, matcher: ClaimMatcher, *,
                     narrative_ids: Sequence[str] | None = None, top_k: int = 5,
                     method: str = "hybrid-v1") -> list[tuple[str, Match]]:
    """Match active narratives (those changed since their last match, or `narrative_ids`)
    against the fact-checks and store the matches (`subject_kind` 'narrative', subject id the
    narrative id).

    A narrative is queried by its label and one representative text in its members' most
    common language (lexical side: as long as an item, so the calibration holds) and the mean
    `query:` vector of up to `NARRATIVE_MEMBERS` members (dense side, cached item vectors;
    members not embedded yet are embedded now). Returns the new matches above threshold."""
    from echolens.store.duckdb_store import EMBED_TEXT_SQL

    con = store.con  # type: ignore[attr-defined]
    if narrative_ids is None:
        narrative_ids = narratives_to_match(store, method)
    rows = con.execute(
        "SELECT n.model_id, n.id, n.label, n.representatives FROM narratives n "
        "WHERE n.status = 'active' AND n.id IN (SELECT unnest(?)) ORDER BY n.id",
        [list(narrative_ids)]).fetchall()
    if not rows:
        return []
    ids: list[str] = []
    texts: list[str] = []
    langs: list[str | None] = []
    vectors = np.zeros((len(rows), matcher.index.vectors.shape[1]), np.float32)
    # the first NARRATIVE_MEMBERS members of every narrative, and their cached vectors, in
    # one query each (not one per narrative)
    member_rows: dict[tuple[str, str], list[tuple[object, ...]]] = {}
    for r in con.execute(
            f"SELECT m.model_id, m.narrative_id, i.id, {EMBED_TEXT_SQL}, i.lang, "
            "i.content_hash FROM narrative_members m JOIN items i ON i.id = m.item_id "
            "JOIN (SELECT unnest(?) AS model_id, unnest(?) AS narrative_id) q "
            "ON q.model_id = m.model_id AND q.narrative_id = m.narrative_id "
            "QUALIFY row_number() OVER (PARTITION BY m.model_id, m.narrative_id "
            "ORDER BY m.position) <= ? ORDER BY m.model_id, m.narrative_id, m.position",
            [[r[0] for r in rows], [r[1] for r in rows], NARRATIVE_MEMBERS]).fetchall():
        member_rows.setdefault((str(r[0]), str(r[1])), []).append(r[2:])
    cached: dict[str, np.ndarray] = store.embeddings(  # type: ignore[attr-defined]
        ITEM_MODEL_ID, sorted({str(m[3]) for ms in member_rows.values() for m in ms}))
    for model_id, narrative_id, label, reps in rows:
        members = member_rows.get((str(model_id), str(narrative_id)), [])
        if not members:
            continue
        counts: dict[str, int] = {}
        for m in members:
            counts[str(m[2])] = counts.get(str(m[2]), 0) + 1
        lang = max(counts, key=lambda lg: counts[lg])
        # the lexical side reads one language (the members' most common), so that the
        # calibration of that language pair applies: a narrative mixing languages would
        # otherwise match by words of a minority representative at same-language confidence
        rep_ids = set(json.loads(reps).values()) if reps else set()
        in_lang = [m for m in members if str(m[2]) == lang]
        rep_texts = ([str(m[1]) for m in in_lang if m[0] in rep_ids] or [str(in_lang[0][1])])[:1]
        head = [label] if label and script_lang(label) == lang else []
        text = ". ".join([*head, *rep_texts])[:MAX_QUERY_CHARS]
        known = {str(m[3]): cached[str(m[3])] for m in members if str(m[3]) in cached}
        missing = [str(m[1])[:MAX_QUERY_CHARS] for m in members if str(m[3]) not in known]
        stack = [known[str(m[3])] for m in members if str(m[3]) in known]
        if missing:
            stack.extend(embed_cached(missing, "query", matcher.query_cache, matcher.encode))
        mean = np.mean(np.stack(stack), axis=0)
        vectors[len(ids)] = mean / max(float(np.linalg.norm(mean)), 1e-9)
        ids.append(str(narrative_id))
        texts.append(text)
        langs.append(lang)
    if not ids:
        return []
    return match_subjects(store, matcher, "narrative", ids, texts, vectors=vectors[:len(ids)],
                          langs=langs, top_k=top_k, method=method)


def match_events(store: object, since: datetime | None = None) -> list[dict[str, object]]:
    """Matches above threshold that first crossed it after `since` (all when None), oldest
    first: the events alerts read (`claim_matches.above_threshold` and `matched_at`)."""
    con = store.con  # type: ignore[attr-defined]
    sql = ("SELECT m.subject_kind, m.subject_id, m.factcheck_id, m.probability, m.matched_at, "
           "f.title, f.text, f.url, f.organization, f.verdict FROM claim_matches m "
           "JOIN factchecks f ON f.id = m.factcheck_id WHERE m.above_threshold")
    params: list[object] = []
    if since is not None:
        sql += " AND m.matched_at > ?"
        params.append(since)
    cur = con.execute(sql + " ORDER BY m.matched_at, m.subject_kind, m.subject_id, "
                      "m.probability DESC", params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def narrative_claim_matches(store: object, narrative_id: str) -> list[dict[str, object]]:
    """The fact-checks a narrative as a whole matched above threshold, best first."""
    con = store.con  # type: ignore[attr-defined]
    cur = con.execute(
        "SELECT m.factcheck_id, m.probability, m.score, m.shared_terms, m.closest_sentence, "
        "m.matched_at, f.title, f.text, f.url, f.organization, f.verdict FROM claim_matches m "
        "JOIN factchecks f ON f.id = m.factcheck_id WHERE m.subject_kind = 'narrative' AND "
        "m.subject_id = ? AND m.above_threshold ORDER BY m.probability DESC, m.factcheck_id",
        [narrative_id])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
