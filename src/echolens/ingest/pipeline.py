"""Ingestion: records from any connector -> normalized items with exactly one outcome each.

Outcomes: `new` (stored), `duplicate` (already stored: same id, or same text or URL from the
same source; nothing added) or `rejected:<reason>` (kept aside in `rejects` with the raw payload).
A new item whose text nearly matches an item of any source (syndicated copy, repost with other
punctuation, CJK or Cyrillic alike) is stored and linked to the earliest published copy through
`duplicate_of`, so it is not double counted.

Each batch is written in one transaction and every id is derived from the data, so a run killed
part-way and re-run ends with the same store as an uninterrupted run.
"""

from __future__ import annotations

import dataclasses
import gc
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from typing import Any

import numpy as np
import numpy.typing as npt

from echolens.ingest.normalize import (
    Cleaned,
    LanguageDetector,
    NormalizeConfig,
    clean_fields,
    language_text,
    normalize,
)
from echolens.ingest.rejects import make_reject, reject_id
from echolens.model import Item, Provenance, RawItem, Reject, Source
from echolens.sources.registry import SourceResolver
from echolens.store.base import KnownItem, Store, WriteBatch
from echolens.text.fingerprint import (
    BANDS,
    DEFAULT_THRESHOLD,
    NUM_PERM,
    lsh_band_key_array,
    minhash_signatures,
)
from echolens.text.langid_process import LanguageCodes, LanguageJobs
from echolens.text.urls import domain_of

NEAR_DUP_THRESHOLD = DEFAULT_THRESHOLD
FILE_CONNECTORS = frozenset({"jsonl", "csv", "parquet"})
DEFAULT_BATCH = 2000
# Texts to identify, among an input's first batches, from which language identification runs
# in a worker process beside the rest of the pipeline (smaller inputs do without the process
# start and the second copy of the lingua models; a few seconds of lingua work pays for them).
WORKER_MIN_TEXTS = 4000
_BATCHES_AHEAD = 2  # batches identified by the worker ahead of the one being written
# Read ahead (sources, cleaning, MinHash) while the worker is behind, up to this much.
_AHEAD_MAX_RECORDS = 40_000
_AHEAD_MAX_CHARS = 40_000_000


@dataclass
class _Prepared:
    """A batch between `Ingestor._prepare` and `Ingestor._finish`."""

    rejects: list[Reject]
    resolved: list[tuple[RawItem, str]]
    created: list[Source]
    cleaned: list[Cleaned]
    undetected: list[int]  # rows of `resolved` whose language is to be identified
    texts: list[str]  # what language identification reads, one per row of `undetected`
    signatures: npt.NDArray[np.uint32]
    band_keys: npt.NDArray[np.int64]
    has_keys: npt.NDArray[np.bool_]
    codes: LanguageCodes | None = None

    def ready(self) -> bool:
        return self.codes is None or self.codes.ready()

    def size(self) -> int:
        """Characters held (text and the payload it came from, about twice the text)."""
        return 2 * sum(len(text) for _, text in self.cleaned) + 100 * len(self.cleaned)


def _fits(ahead: deque[_Prepared]) -> bool:
    """Whether one more batch may be read ahead (a memory bound)."""
    return (sum(len(b.cleaned) + len(b.rejects) for b in ahead) < _AHEAD_MAX_RECORDS
            and sum(b.size() for b in ahead) < _AHEAD_MAX_CHARS)


@dataclass
class IngestReport:
    new: int = 0
    duplicate: int = 0
    rejected: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    near_duplicates: int = 0
    new_sources: list[str] = field(default_factory=list)
    examples: dict[str, str] = field(default_factory=dict)  # reason -> first detail
    reject_ids: set[str] = field(default_factory=set)

    def add(self, other: IngestReport) -> None:
        self.new += other.new
        self.duplicate += other.duplicate
        self.rejected += other.rejected
        self.reasons.update(other.reasons)
        self.near_duplicates += other.near_duplicates
        self.new_sources += [s for s in other.new_sources if s not in self.new_sources]
        self.reject_ids |= other.reject_ids
        for reason, detail in other.examples.items():
            self.examples.setdefault(reason, detail)

    def reject(self, record: Reject) -> None:
        self.rejected += 1
        self.reasons[record.reason] += 1
        self.examples.setdefault(record.reason, record.detail)
        self.reject_ids.add(reject_id(record))

    def to_json(self) -> dict[str, Any]:
        return {
            "new": self.new,
            "duplicate": self.duplicate,
            "rejected": self.rejected,
            "reasons": dict(sorted(self.reasons.items())),
            "near_duplicates": self.near_duplicates,
            "new_sources": self.new_sources,
        }


class Ingestor:
    """Runs records through resolve -> normalize -> deduplicate -> store, batch by batch."""

    def __init__(
        self,
        store: Store,
        *,
        resolver: SourceResolver,
        detector: LanguageDetector,
        config: NormalizeConfig | None = None,
        batch_size: int = DEFAULT_BATCH,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        worker_min_texts: int = WORKER_MIN_TEXTS,
    ) -> None:
        self.store = store
        self.resolver = resolver
        self.detector = detector
        self.config = config or NormalizeConfig()
        self.batch_size = batch_size
        self.clock = clock
        self.worker_min_texts = worker_min_texts
        self.used_worker = False  # whether the last `run` identified languages in a worker
        self._source_ids: dict[str, str] = {}  # source reference -> resolved source id

    def run(self, records: Iterable[RawItem | Reject]) -> IngestReport:
        """Ingest `records` batch by batch, each batch written in one transaction.

        Language identification of large inputs runs in a worker process (see
        `echolens.text.langid_process`) a few batches ahead of the batch being deduplicated
        and written, so the two use both cores. Whether an input is large is decided on its
        first batches: a worker starts once `worker_min_texts` of them need identification.
        """
        report = IngestReport()
        pending = iter(records)
        ahead: deque[_Prepared] = deque()
        jobs = LanguageJobs(self.detector)
        done = False
        try:
            with _gc_paused():  # read ahead until the input is known to be large or small
                texts = read = 0
                while texts < self.worker_min_texts and read < 2 * self.worker_min_texts:
                    batch = list(islice(pending, self.batch_size))
                    if not batch:
                        break
                    ahead.append(self._prepare(batch))
                    texts += len(ahead[-1].texts)
                    read += len(batch)
                self.used_worker = texts >= self.worker_min_texts and jobs.start_worker()
                depth = _BATCHES_AHEAD if self.used_worker else 1
                for prepared in ahead:
                    prepared.codes = jobs.submit(prepared.texts)
            exhausted = False
            while ahead or not exhausted:
                with _gc_paused():
                    # keep `depth` batches with the worker, and more while the oldest is still
                    # being identified (at the start, while the worker loads its models)
                    while not exhausted and (len(ahead) < depth or (
                            depth > 1 and not ahead[0].ready() and _fits(ahead))):
                        batch = list(islice(pending, self.batch_size))
                        if not batch:
                            exhausted = True
                            break
                        ahead.append(self._prepare(batch))
                        ahead[-1].codes = jobs.submit(ahead[-1].texts)
                    if ahead:
                        report.add(self._finish(ahead.popleft()))
            done = True
        finally:
            jobs.close(wait=done)
        return report

    # -- one batch -------------------------------------------------------------------------
    def _prepare(self, batch: list[RawItem | Reject]) -> _Prepared:
        """What a batch needs before its languages are known: sources, clean text, MinHash."""
        rejects: list[Reject] = []
        resolved: list[tuple[RawItem, str]] = []
        for record in batch:
            source = self._resolve(record)
            if isinstance(source, Reject):
                rejects.append(source)
            else:
                resolved.append((record, source))  # type: ignore[arg-type]  # a str means RawItem
        created = list(self.resolver.created.values())
        self.resolver.created.clear()
        cleaned = [clean_fields(raw) for raw, _ in resolved]
        undetected = [i for i, (raw, _) in enumerate(resolved) if not raw.lang and cleaned[i][1]]
        # near-duplicate keys of every text at once (those rejected later are simply unused)
        signatures = minhash_signatures([text for _, text in cleaned])
        band_keys, has_keys = lsh_band_key_array(signatures)
        return _Prepared(rejects, resolved, created, cleaned, undetected,
                         [language_text(cleaned[i]) for i in undetected],
                         signatures, band_keys, has_keys)

    def _finish(self, batch: _Prepared) -> IngestReport:
        """Normalize, deduplicate and write a prepared batch, once its languages are known."""
        report = IngestReport()
        fetched_at = self.clock()
        rejects = batch.rejects
        resolved, cleaned = batch.resolved, batch.cleaned
        codes = batch.codes.result() if batch.codes else self.detector.detect_many(batch.texts)
        verdicts = dict(zip(batch.undetected, codes, strict=True))
        signatures, band_keys, has_keys = batch.signatures, batch.band_keys, batch.has_keys
        first_keys = band_keys[:, 0].tolist()
        items: list[Item] = []
        rows: list[int] = []  # row of each item in `signatures`
        for i, (raw, source_id) in enumerate(resolved):
            outcome = normalize(raw, source_id=source_id, detector=self.detector,
                                fetched_at=fetched_at, config=self.config,
                                detected_lang=verdicts.get(i), cleaned=cleaned[i],
                                near_dup_key=str(first_keys[i]) if has_keys[i] else None)
            if isinstance(outcome, Reject):
                rejects.append(outcome)
            else:
                items.append(outcome)
                rows.append(i)
        created = batch.created
        picked = np.asarray(rows, dtype=np.intp)
        new_items, relinks, bands, sigs, dedup = self._deduplicate(
            items, signatures[picked], band_keys[picked], has_keys[picked], report)
        rejects += dedup
        for record in rejects:
            report.reject(record)
        known = self.store.known_rejects([reject_id(r) for r in rejects])
        fresh_rejects = [r for r in rejects if reject_id(r) not in known]
        fresh_rejects = list({reject_id(r): r for r in fresh_rejects}.values())
        if created:
            self.store.upsert_sources(created)
            report.new_sources += [s.id for s in created]
        self.store.write(WriteBatch(new_items, fresh_rejects, bands, sigs, relinks))
        return report

    def _resolve(self, record: RawItem | Reject) -> str | Reject:
        """The source id of a record, or the reject that the record is or becomes."""
        if isinstance(record, Reject):
            return record
        reference = record.source or (domain_of(record.url) if record.url else None)
        if not reference:
            return make_reject(
                record.provenance, "missing-source",
                f"{record.provenance.describe()}: no source and no URL to take it from; add a "
                "`source` (a source id or a domain)",
                record.payload,
            )
        source_id = self._source_ids.get(reference)
        if source_id is None:
            source: Source = self.resolver.resolve(reference)
            source_id = self._source_ids[reference] = source.id
        return source_id

    def _deduplicate(
        self, items: list[Item], signatures: npt.NDArray[np.uint32],
        band_keys: npt.NDArray[np.int64], has_keys: npt.NDArray[np.bool_], report: IngestReport
    ) -> tuple[list[Item], list[tuple[str, str]], list[tuple[int, str]],
               list[tuple[str, np.ndarray]], list[Reject]]:
        """Outcomes of a batch of normalized items against the store and each other.

        `signatures`, `band_keys` and `has_keys` hold each item's MinHash signature, LSH
        band keys and whether it has any (see `lsh_band_key_array`), row by row."""
        store = self.store
        by_id = store.items_by_id([i.id for i in items])
        same_text = store.items_by_content([i.content_hash for i in items])
        by_source_text = {(k.source_id, k.content_hash)
                          for group in same_text.values() for k in group}
        by_source_url = store.items_by_source_url(
            [(i.source_id, i.canonical_url) for i in items if i.canonical_url]
        )
        # Only band keys that occur in the store or twice in the batch can link anything:
        # the loop below looks at those "shared" keys alone (most items have none).
        unique, counts = np.unique(band_keys[has_keys], return_counts=True)
        stored_bands = store.band_members(unique.tolist())
        shared = np.union1d(unique[counts > 1],
                            np.fromiter(stored_bands, dtype=np.int64, count=len(stored_bands)))
        shared_mask = np.isin(band_keys, shared) & has_keys[:, None]
        shared_rows = np.flatnonzero(shared_mask.any(axis=1)).tolist()
        shared_keys: dict[int, list[int]] = {
            row: band_keys[row][shared_mask[row]].tolist() for row in shared_rows}
        candidate_ids = {m for members in stored_bands.values() for m in members}
        stored_sigs = store.signatures(sorted(candidate_ids))
        # stored candidates by their row in one signature matrix, to compare many at once
        stored_ids = list(stored_sigs)
        stored_matrix = (np.stack(list(stored_sigs.values())) if stored_sigs
                         else np.empty((0, NUM_PERM), dtype=np.uint32))
        stored_row = {item_id: i for i, item_id in enumerate(stored_ids)}
        stored_band_rows = {key: [stored_row[m] for m in members if m in stored_row]
                            for key, members in stored_bands.items()}
        known: dict[str, KnownItem] = store.known_items(sorted(candidate_ids))
        for group in same_text.values():
            for k in group:
                known[k.id] = k
        roots_needed = {k.duplicate_of for k in known.values() if k.duplicate_of} - set(known)
        known.update(store.known_items(sorted(roots_needed)))

        pending: dict[str, int] = {}  # id -> row of the items stored by this batch
        pending_text: set[tuple[str, str]] = set()
        pending_url: set[tuple[str, str]] = set()
        pending_bands: dict[int, list[int]] = defaultdict(list)  # band key -> rows
        pending_hash: dict[str, list[str]] = defaultdict(list)
        root_of: dict[str, str | None] = {k.id: k.duplicate_of for k in known.values()}
        members: dict[str, set[str]] = defaultdict(set)  # root -> the copies linked to it
        for k in known.values():
            if k.duplicate_of:
                members[k.duplicate_of].add(k.id)
        published: dict[str, datetime] = {k.id: k.published_at for k in known.values()}
        relinks: list[tuple[str, str]] = []
        rejects: list[Reject] = []

        min_equal = NEAR_DUP_THRESHOLD * NUM_PERM  # estimated Jaccard, without re-checks
        for row, item in enumerate(items):
            previous = by_id.get(item.id)
            if previous is None and item.id in pending:
                prior = items[pending[item.id]]
                previous = KnownItem(prior.id, prior.source_id, prior.content_hash,
                                     prior.published_at, None)
            if previous is not None:
                same = (previous.source_id, previous.content_hash) == (item.source_id,
                                                                       item.content_hash)
                # a feed entry or channel post edited after publication keeps its id: the
                # first copy stays (re-checks of altered items are the watcher's job)
                edited = (previous.source_id == item.source_id
                          and item.connector not in FILE_CONNECTORS)
                if same or edited:
                    report.duplicate += 1
                else:
                    rejects.append(make_reject(
                        _provenance(item), "repeated-id",
                        f"{item.location} {item.locator}: id {item.id!r} is already used by a "
                        "different item; give each item its own id (or omit id)",
                        {"id": item.id, "source": item.source_id, "text": item.text[:500]},
                    ))
                continue
            text_key = (item.source_id, item.content_hash)
            url_key = (item.source_id, item.canonical_url or "")
            if (text_key in by_source_text or text_key in pending_text
                    or (item.canonical_url and (url_key in by_source_url
                                                or url_key in pending_url))):
                report.duplicate += 1
                continue

            # near-duplicate linking across sources
            matches: set[str] = {other.id for other in same_text.get(item.content_hash, ())}
            matches.update(pending_hash.get(item.content_hash, ()))
            keys = shared_keys.get(row, ())
            if keys:
                stored_rows: set[int] = set()
                batch_rows: set[int] = set()
                for key in keys:
                    stored_rows.update(stored_band_rows.get(key, ()))
                    batch_rows.update(pending_bands.get(key, ()))
                sig = signatures[row]
                if stored_rows:
                    found = np.fromiter(stored_rows, dtype=np.intp, count=len(stored_rows))
                    equal = np.count_nonzero(stored_matrix[found] == sig, axis=1)
                    matches.update(stored_ids[i] for i in found[equal >= min_equal].tolist())
                if batch_rows:
                    found = np.fromiter(batch_rows, dtype=np.intp, count=len(batch_rows))
                    equal = np.count_nonzero(signatures[found] == sig, axis=1)
                    matches.update(items[i].id for i in found[equal >= min_equal].tolist())
            if matches:
                roots = {root_of.get(m) or m for m in matches}
                root = min(roots, key=lambda r: (published[r], r))
                if (item.published_at, item.id) < (published[root], root):
                    relinks.append((root, item.id))
                    moved = members.pop(root, set()) | {root}
                    for other_id in moved:
                        root_of[other_id] = item.id
                    members[item.id] = moved
                    root_of[item.id] = None
                else:
                    root_of[item.id] = root
                    members[root].add(item.id)
                report.near_duplicates += 1
            else:
                root_of[item.id] = None
            pending[item.id] = row
            published[item.id] = item.published_at
            pending_text.add(text_key)
            if item.canonical_url:
                pending_url.add(url_key)
            pending_hash[item.content_hash].append(item.id)
            for key in keys:
                pending_bands[key].append(row)
            report.new += 1

        new_items = []
        for item_id, row in pending.items():
            first_copy = root_of.get(item_id)
            new_items.append(items[row] if first_copy is None
                             else dataclasses.replace(items[row], duplicate_of=first_copy))
        new_rows = np.fromiter(pending.values(), dtype=np.intp, count=len(pending))
        with_keys = new_rows[has_keys[new_rows]]
        owners = [items[row].id for row in with_keys.tolist()]
        bands = list(zip(band_keys[with_keys].ravel().tolist(),
                         np.repeat(np.asarray(owners, dtype=object), BANDS).tolist(),
                         strict=True))
        sigs = list(zip(owners, signatures[with_keys], strict=True))
        return new_items, relinks, bands, sigs, rejects


def _provenance(item: Item) -> Provenance:
    return Provenance(item.connector, item.location, item.locator)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off while one batch is read and processed.

    A batch allocates a few hundred thousand short-lived objects (records, items, band
    keys) and frees them by reference counting; left on, the collector runs every few
    hundred allocations and repeatedly walks every long-lived object of the process, which
    cost a sixth of the ingest time. It is back on between batches, so garbage in cycles
    is still collected then.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
