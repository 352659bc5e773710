"""Fact-checks and claim matches in the store (SQL on `DuckDBStore.con`)."""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from echolens.claims.dense import EncodeFn, StoreCache, VectorCache, embed_cached
from echolens.claims.lexical import tokenize, tokenizer_version
from echolens.claims.matcher import reference_sample
from echolens.claims.records import (
    FactCheck,
    FactCheckReject,
    ImportReport,
    Match,
    normalized_claim,
)
from echolens.store.duckdb_store import insert_rows

_COLUMNS = ("id", "text", "title", "lang", "url", "verdict", "verdict_label", "organization",
            "published_at", "disproof", "source_format", "location", "locator", "claim_key",
            "duplicate_of", "imported_at")
_MIN_PREFIX = 30  # a truncated title ("...…") links only on a prefix this long
_TERM_SEP = "\x1f"  # terms are runs of letters and digits, never a control character


def _keys(fc: FactCheck) -> list[str]:
    keys = []
    if fc.url:
        keys.append("u:" + fc.url.rstrip("/").lower().split("://", 1)[-1])
    for value in (fc.text, fc.title):
        if value:
            key = normalized_claim(value)
            if len(key) >= 12:
                keys.append("c:" + key)
    return keys


def _truncated(value: str | None) -> str | None:
    if value and value.rstrip().endswith(("…", "...")):
        key = normalized_claim(value)
        return key if len(key) >= _MIN_PREFIX else None
    return None


class ApartCache:
    """A vector cache under `<model><apart>` (`@factchecks`, `@claims`): `query:` vectors
    that are not the items' stay apart from the items' vectors of the same model, which the
    embed stage counts and whose keys are another hash (`content_hash`) of another text."""

    def __init__(self, inner: VectorCache, apart: str = "@factchecks") -> None:
        self.inner = inner
        self.apart = apart

    def get(self, model: str, keys: Sequence[str]) -> dict[str, np.ndarray]:
        return self.inner.get(model + self.apart, keys)

    def put(self, model: str, keys: Sequence[str], vectors: np.ndarray) -> None:
        self.inner.put(model + self.apart, keys, vectors)


class FactCheckStore:
    """Fact-check rows, duplicate links, rejects and matches on a `DuckDBStore`."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.con = store.con

    # -- import ----------------------------------------------------------------------------
    def add(self, records: Iterable[FactCheck | FactCheckReject]) -> ImportReport:
        """Store new fact-checks; an id already stored is a duplicate; the same claim from
        another source (same URL, same normalised text or title, or a truncated title that
        prefixes another) is stored linked to the first one (`duplicate_of`)."""
        report = ImportReport()
        existing_ids: set[str] = set()
        owner: dict[str, str] = {}
        claim_keys: list[tuple[str, str]] = []
        truncated: dict[str, list[tuple[str, str]]] = {}
        for row in self.con.execute(
            "SELECT id, url, text, title, coalesce(duplicate_of, id) FROM factchecks"
        ).fetchall():
            fc = FactCheck(id=row[0], url=row[1], text=row[2], title=row[3], lang="")
            existing_ids.add(row[0])
            for key in _keys(fc):
                owner.setdefault(key, row[4])
            claim_keys.extend((k[2:], row[4]) for k in _keys(fc) if k.startswith("c:"))
            for t in (_truncated(fc.title), _truncated(fc.text)):
                if t:
                    truncated.setdefault(t[:_MIN_PREFIX], []).append((t, row[4]))
        claim_keys.sort()
        now = datetime.now(UTC)
        rows: list[tuple[Any, ...]] = []
        rejects: list[tuple[Any, ...]] = []
        for record in records:
            if isinstance(record, FactCheckReject):
                report.rejected.append(record)
                rejects.append((record.location, record.locator, record.reason, record.detail,
                                now))
                continue
            if record.id in existing_ids:
                report.duplicate += 1
                continue
            keys = _keys(record)
            root = next((owner[k] for k in keys if k in owner), None)
            if root is None:
                prefix = _truncated(record.title) or _truncated(record.text)
                if prefix:
                    at = bisect.bisect_left(claim_keys, (prefix, ""))
                    if at < len(claim_keys) and claim_keys[at][0].startswith(prefix):
                        root = claim_keys[at][1]
            if root is None:
                for value in (record.text, record.title):
                    full = normalized_claim(value) if value else ""
                    for prefix, r in truncated.get(full[:_MIN_PREFIX], ()):
                        if full.startswith(prefix):
                            root = r
            existing_ids.add(record.id)
            if root is None:
                report.new += 1
                root_id = record.id
            else:
                report.linked += 1
                root_id = root
            for key in keys:
                owner.setdefault(key, root_id)
            for k in keys:
                if k.startswith("c:"):
                    bisect.insort(claim_keys, (k[2:], root_id))
            for t in (_truncated(record.title), _truncated(record.text)):
                if t:
                    truncated.setdefault(t[:_MIN_PREFIX], []).append((t, root_id))
            rows.append((
                record.id, record.text, record.title, record.lang, record.url, record.verdict,
                record.verdict_label, record.organization, record.published_at,
                record.disproof, record.source_format, record.location, record.locator,
                normalized_claim(record.title or record.text)[:200],
                None if root is None else root, now,
            ))
        self.con.execute("BEGIN")
        try:
            if rows:
                self._insert_rows(rows)
            if rejects:
                self.con.executemany(
                    "INSERT OR REPLACE INTO factcheck_rejects VALUES (?,?,?,?,?)", rejects)
            self.con.execute("COMMIT")
        except Exception:
            self.con.execute("ROLLBACK")
            raise
        return report

    def clear(self) -> None:
        """Empty the fact-checks, their rejects and every claim match (a rebuilt store, as
        in `echolens demo`); the cached vectors stay in `embeddings`, keyed by content."""
        self.con.execute("BEGIN")
        try:
            for table in ("claim_matches", "factcheck_rejects", "factchecks"):
                self.con.execute(f"DELETE FROM {table}")
            self.con.execute("COMMIT")
        except Exception:
            self.con.execute("ROLLBACK")
            raise

    def _insert_rows(self, rows: list[tuple[Any, ...]]) -> None:
        import pyarrow as pa

        columns = list(zip(*rows, strict=True))
        types = {"published_at": pa.timestamp("us", tz="UTC"),
                 "imported_at": pa.timestamp("us", tz="UTC")}
        table = pa.table({name: pa.array(list(values), types.get(name, pa.string()))
                          for name, values in zip(_COLUMNS, columns, strict=True)})
        self.con.register("_incoming_factchecks", table)
        try:
            names = ", ".join(_COLUMNS)
            self.con.execute(f"INSERT INTO factchecks ({names}) SELECT {names} "
                             "FROM _incoming_factchecks")
        finally:
            self.con.unregister("_incoming_factchecks")

    # -- read ------------------------------------------------------------------------------
    def count(self, *, include_duplicates: bool = False) -> int:
        where = "" if include_duplicates else " WHERE duplicate_of IS NULL"
        row = self.con.execute(f"SELECT count(*) FROM factchecks{where}").fetchone()
        return int(row[0]) if row else 0

    def factchecks(self, *, include_duplicates: bool = False,
                   limit: int | None = None) -> list[FactCheck]:
        sql = ("SELECT id, text, lang, title, url, verdict, verdict_label, organization, "
               "published_at, disproof, source_format, location, locator, duplicate_of "
               "FROM factchecks")
        if not include_duplicates:
            sql += " WHERE duplicate_of IS NULL"
        sql += " ORDER BY id"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [
            FactCheck(id=r[0], text=r[1], lang=r[2], title=r[3], url=r[4], verdict=r[5],
                      verdict_label=r[6], organization=r[7], published_at=r[8], disproof=r[9],
                      source_format=r[10], location=r[11], locator=r[12], duplicate_of=r[13])
            for r in self.con.execute(sql).fetchall()
        ]

    def linked(self, factcheck_id: str) -> list[str]:
        """Ids of the records linked to the same claim as `factcheck_id` (itself excluded)."""
        rows = self.con.execute(
            "SELECT id FROM factchecks WHERE coalesce(duplicate_of, id) = "
            "(SELECT coalesce(duplicate_of, id) FROM factchecks WHERE id = ?) AND id <> ? "
            "ORDER BY id", [factcheck_id, factcheck_id]).fetchall()
        return [r[0] for r in rows]

    def rejects(self) -> list[dict[str, Any]]:
        cur = self.con.execute("SELECT * FROM factcheck_rejects ORDER BY location, locator")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def vectors(self, factchecks: Sequence[FactCheck], encode: EncodeFn,
                progress: Callable[[int, int], None] | None = None,
                cache: VectorCache | None = None) -> np.ndarray:
        """Passage vectors, embedded once and cached (by default in the store's `embeddings`
        table; a read-only server passes a cache of its own)."""
        return embed_cached([f.match_text() for f in factchecks], "passage",
                            cache or StoreCache(self.store), encode, progress=progress)

    def terms(self, factchecks: Sequence[FactCheck], *, write: bool = True
              ) -> list[list[str]]:
        """`tokenize` of each fact-check's `match_text()`, read from `factcheck_terms` under
        the current `tokenizer_version`; the missing ones are tokenized and, with `write`,
        stored (in one transaction: all of them or none). A read-only server passes
        `write=False` (and reads nothing from a store whose schema predates the table)."""
        version = tokenizer_version()
        texts = [f.match_text() for f in factchecks]
        keys = [hashlib.sha1(f"{version}\x1f{t}".encode()).hexdigest() for t in texts]
        try:  # the terms joined by a separator no term holds: twice as fast to read as lists
            found: dict[str, list[str]] = {key: joined.split(_TERM_SEP) if joined else []
                                           for key, joined in self.con.execute(
                "SELECT key, array_to_string(terms, chr(31)) FROM factcheck_terms"
                " WHERE key IN (SELECT unnest(?))", [sorted(set(keys))]).fetchall()}
        except duckdb.CatalogException:  # a store of an older schema opened read-only
            found, write = {}, False
        missing = {k: t for k, t in zip(keys, texts, strict=True) if k not in found}
        fresh = {k: tokenize(t) for k, t in missing.items()}
        if fresh and write:
            table = pa.table({"key": list(fresh), "terms": pa.array(
                list(fresh.values()), pa.list_(pa.string()))})
            self.con.execute("BEGIN")
            try:
                insert_rows(self.con, "factcheck_terms", table, or_ignore=True)
                self.con.execute("COMMIT")
            except BaseException:
                self.con.execute("ROLLBACK")
                raise
        found.update(fresh)
        return [found[k] for k in keys]

    def query_reference(self, factchecks: Sequence[FactCheck], encode: EncodeFn,
                        cache: VectorCache | None = None) -> np.ndarray:
        """Mean `query:` vector of a stable sample of the pool: the hubness reference of
        `ClaimIndex` (embedded once and cached like the passages)."""
        sample = reference_sample(factchecks)
        vectors = embed_cached(sample, "query", ApartCache(cache or StoreCache(self.store)),
                               encode)
        mean: np.ndarray = vectors.mean(axis=0).astype(np.float32)
        return mean

    # -- matches ---------------------------------------------------------------------------
    def save_matches(self, subject_kind: str, subject_id: str, matches: Sequence[Match],
                     *, method: str, threshold: float | None) -> list[Match]:
        """Store matches (replacing earlier ones of the same method); return those that are
        new above the threshold: the events alerts can use.

        `matched_at` of a match that stays above the threshold keeps the time it first
        crossed it, so "above threshold and matched after T" lists each event once."""
        return [m for _, m in self.save_matches_many(
            subject_kind, [(subject_id, matches)], method=method, threshold=threshold)]

    def save_matches_many(self, subject_kind: str,
                          found: Sequence[tuple[str, Sequence[Match]]], *, method: str,
                          threshold: float | None) -> list[tuple[str, Match]]:
        """`save_matches` for many subjects in one transaction (one DELETE, one INSERT):
        returns (subject id, match) for the matches new above the threshold. `threshold`
        None: each match's own (`Match.threshold`, per language pair), 0.5 without one."""
        import pyarrow as pa

        if not found:
            return []
        now = datetime.now(UTC)
        ids = list(dict.fromkeys(subject_id for subject_id, _ in found))
        before: dict[tuple[str, str], datetime] = {(r[0], r[1]): r[2] for r in self.con.execute(
            "SELECT subject_id, factcheck_id, matched_at FROM claim_matches WHERE "
            "subject_kind = ? AND method = ? AND above_threshold AND subject_id IN "
            "(SELECT unnest(?))", [subject_kind, method, ids]).fetchall()}
        rows = [(subject_id, m) for subject_id, matches in found for m in matches]
        above = [m.probability >= (threshold if threshold is not None
                                   else m.threshold if m.threshold is not None else 0.5)
                 for _, m in rows]
        table = pa.table({
            "subject_kind": pa.array([subject_kind] * len(rows), pa.string()),
            "subject_id": pa.array([s for s, _ in rows], pa.string()),
            "factcheck_id": pa.array([m.factcheck_id for _, m in rows], pa.string()),
            "score": pa.array([m.score for _, m in rows], pa.float64()),
            "probability": pa.array([m.probability for _, m in rows], pa.float64()),
            "rank": pa.array([m.rank for _, m in rows], pa.int32()),
            "method": pa.array([method] * len(rows), pa.string()),
            "shared_terms": pa.array([list(m.shared_terms) for _, m in rows],
                                     pa.list_(pa.string())),
            "closest_sentence": pa.array([m.closest_sentence for _, m in rows], pa.string()),
            "above_threshold": pa.array(above, pa.bool_()),
            "matched_at": pa.array(
                [before.get((s, m.factcheck_id), now) if a else now
                 for (s, m), a in zip(rows, above, strict=True)], pa.timestamp("us", tz="UTC")),
        })
        self.con.execute("BEGIN")
        try:
            self.con.execute("DELETE FROM claim_matches WHERE subject_kind = ? AND method = ? "
                             "AND subject_id IN (SELECT unnest(?))", [subject_kind, method, ids])
            self.con.register("_incoming_matches", table)
            try:
                self.con.execute("INSERT INTO claim_matches SELECT * FROM _incoming_matches")
            finally:
                self.con.unregister("_incoming_matches")
            self.con.execute("COMMIT")
        except Exception:
            self.con.execute("ROLLBACK")
            raise
        return [(s, m) for (s, m), a in zip(rows, above, strict=True)
                if a and (s, m.factcheck_id) not in before]

    def matches(self, subject_kind: str, subject_id: str) -> list[dict[str, Any]]:
        cur = self.con.execute(
            "SELECT m.factcheck_id, m.score, m.probability, m.rank, m.method, m.shared_terms, "
            "m.closest_sentence, m.above_threshold, f.text, f.url, f.organization, f.verdict "
            "FROM claim_matches m JOIN factchecks f ON f.id = m.factcheck_id "
            "WHERE m.subject_kind = ? AND m.subject_id = ? ORDER BY m.rank",
            [subject_kind, subject_id])
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

