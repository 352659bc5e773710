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
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from echolens.ingest.normalize import (
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
    DEFAULT_THRESHOLD,
    NUM_PERM,
    lsh_band_keys_many,
    minhash_signatures,
)
from echolens.text.urls import domain_of

NEAR_DUP_THRESHOLD = DEFAULT_THRESHOLD
FILE_CONNECTORS = frozenset({"jsonl", "csv", "parquet"})
DEFAULT_BATCH = 2000


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


@dataclass
class _Pending:
    item: Item
    signature: np.ndarray | None
    bands: list[int]


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
    ) -> None:
        self.store = store
        self.resolver = resolver
        self.detector = detector
        self.config = config or NormalizeConfig()
        self.batch_size = batch_size
        self.clock = clock

    def run(self, records: Iterable[RawItem | Reject]) -> IngestReport:
        report = IngestReport()
        for batch in _batches(records, self.batch_size):
            report.add(self._run_batch(batch))
        return report

    # -- one batch -------------------------------------------------------------------------
    def _run_batch(self, batch: list[RawItem | Reject]) -> IngestReport:
        report = IngestReport()
        fetched_at = self.clock()
        rejects: list[Reject] = []
        resolved: list[tuple[RawItem, str]] = []
        for record in batch:
            source = self._resolve(record)
            if isinstance(source, Reject):
                rejects.append(source)
            else:
                resolved.append((record, source))  # type: ignore[arg-type]  # a str means RawItem
        cleaned = [clean_fields(raw) for raw, _ in resolved]
        undetected = [i for i, (raw, _) in enumerate(resolved) if not raw.lang and cleaned[i][1]]
        verdicts = dict(zip(undetected, self.detector.detect_many(
            [language_text(cleaned[i]) for i in undetected]), strict=True))
        items: list[Item] = []
        for i, (raw, source_id) in enumerate(resolved):
            outcome = normalize(raw, source_id=source_id, detector=self.detector,
                                fetched_at=fetched_at, config=self.config,
                                detected_lang=verdicts.get(i), cleaned=cleaned[i])
            if isinstance(outcome, Reject):
                rejects.append(outcome)
            else:
                items.append(outcome)
        created = [s for s in self.resolver.created.values()]
        self.resolver.created.clear()
        new_items, relinks, bands, sigs, dedup = self._deduplicate(items, report)
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
        source: Source = self.resolver.resolve(reference)
        return source.id

    def _deduplicate(
        self, items: list[Item], report: IngestReport
    ) -> tuple[list[Item], list[tuple[str, str]], list[tuple[int, str]],
               list[tuple[str, np.ndarray]], list[Reject]]:
        store = self.store
        by_id = store.items_by_id([i.id for i in items])
        by_source_text = store.items_by_source_content([(i.source_id, i.content_hash)
                                                        for i in items])
        by_source_url = store.items_by_source_url(
            [(i.source_id, i.canonical_url) for i in items if i.canonical_url]
        )
        same_text = store.items_by_content([i.content_hash for i in items])
        signatures = list(minhash_signatures([i.text for i in items]))
        band_keys = lsh_band_keys_many(np.asarray(signatures).reshape(len(items), NUM_PERM))
        stored_bands = store.band_members(sorted({k for keys in band_keys for k in keys}))
        candidate_ids = {m for members in stored_bands.values() for m in members}
        stored_sigs = store.signatures(sorted(candidate_ids))
        known: dict[str, KnownItem] = store.known_items(sorted(candidate_ids))
        for group in same_text.values():
            for k in group:
                known[k.id] = k
        roots_needed = {k.duplicate_of for k in known.values() if k.duplicate_of} - set(known)
        known.update(store.known_items(sorted(roots_needed)))

        pending: dict[str, _Pending] = {}
        pending_text: dict[tuple[str, str], str] = {}
        pending_url: set[tuple[str, str]] = set()
        pending_bands: dict[int, list[str]] = defaultdict(list)
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
        for item, sig, keys in zip(items, signatures, band_keys, strict=True):
            previous = by_id.get(item.id)
            if previous is None and item.id in pending:
                prior = pending[item.id].item
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
            matches: set[str] = set()
            for other in same_text.get(item.content_hash, []):
                matches.add(other.id)
            matches.update(pending_hash.get(item.content_hash, []))
            for key in keys:
                stored_here = stored_bands.get(key)
                pending_here = pending_bands.get(key)
                if stored_here is None and pending_here is None:
                    continue
                for other_id in (*(stored_here or ()), *(pending_here or ())):
                    if other_id in matches:
                        continue
                    other_sig = (pending[other_id].signature if other_id in pending
                                 else stored_sigs.get(other_id))
                    if other_sig is not None and \
                            np.count_nonzero(sig == other_sig) >= min_equal:
                        matches.add(other_id)
            duplicate_of: str | None = None
            if matches:
                roots = {root_of.get(m) or m for m in matches}
                root = min(roots, key=lambda r: (published[r], r))
                if (item.published_at, item.id) < (published[root], root):
                    relinks.append((root, item.id))
                    moved = members.pop(root, set()) | {root}
                    for other_id in moved:
                        root_of[other_id] = item.id
                    members[item.id] = moved
                else:
                    duplicate_of = root
                    members[root].add(item.id)
                report.near_duplicates += 1
            pending[item.id] = _Pending(item, sig if keys else None, keys)
            root_of[item.id] = duplicate_of
            published[item.id] = item.published_at
            pending_text[text_key] = item.id
            if item.canonical_url:
                pending_url.add(url_key)
            pending_hash[item.content_hash].append(item.id)
            for key in keys:
                pending_bands[key].append(item.id)
            report.new += 1

        new_items = [
            dataclasses.replace(p.item, duplicate_of=root_of.get(p.item.id),
                                near_dup_key=str(p.bands[0]) if p.bands else None)
            for p in pending.values()
        ]
        bands = [(key, p.item.id) for p in pending.values() for key in p.bands]
        sigs = [(p.item.id, p.signature) for p in pending.values() if p.signature is not None]
        return new_items, relinks, bands, sigs, rejects


def _provenance(item: Item) -> Provenance:
    return Provenance(item.connector, item.location, item.locator)


def _batches(records: Iterable[RawItem | Reject], size: int) -> Iterator[list[RawItem | Reject]]:
    batch: list[RawItem | Reject] = []
    for record in records:
        batch.append(record)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
