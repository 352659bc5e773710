"""Files in the echolens item format: JSON Lines, CSV and Parquet.

One record per line/row: ``{"id"?, "source", "url"?, "title"?, "text", "published_at", "lang"?,
"views"?, "likes"?, "shares"?, "comments"?}``. Columns can be renamed with a mapping
(``--map headline=title``). A line that cannot be read becomes a `Reject` naming the line; the
rest of the file still imports.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from echolens.errors import UnknownFormat
from echolens.ingest.rejects import make_reject
from echolens.model import Provenance, RawItem, Reject

ITEM_FIELDS = (
    "id", "source", "url", "title", "text", "published_at", "lang",
    "views", "likes", "shares", "comments", "author",
)
COUNT_FIELDS = ("views", "likes", "shares", "comments")
FILE_FORMATS = ("jsonl", "csv", "parquet")
_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv",
             ".parquet": "parquet", ".pq": "parquet"}


def guess_file_format(path: str | Path) -> str:
    """The item-file format from the file name, or an error naming the fix."""
    suffix = Path(str(path)).suffix.lower()
    if suffix in _SUFFIXES:
        return _SUFFIXES[suffix]
    raise UnknownFormat(
        f"cannot tell the format of {path}",
        "pass --format jsonl|csv|parquet|rss|html|telegram",
    )


def read_item_file(
    path: str | Path,
    fmt: str,
    *,
    mapping: Mapping[str, str] | None = None,
    default_source: str | None = None,
) -> Iterator[RawItem | Reject]:
    """Yield one `RawItem` or `Reject` per record of an item file."""
    location = str(Path(path).resolve())
    if fmt == "jsonl":
        records = _jsonl_records(Path(path), location)
    elif fmt == "csv":
        records = _csv_records(Path(path), location)
    elif fmt == "parquet":
        records = _parquet_records(Path(path), location)
    else:
        raise UnknownFormat(f"unknown item file format {fmt!r}", "use jsonl, csv or parquet")
    for record in records:
        if isinstance(record, Reject):
            yield record
            continue
        provenance, row = record
        yield record_to_raw(row, provenance, mapping=mapping, default_source=default_source)


def record_to_raw(
    row: Mapping[str, Any],
    provenance: Provenance,
    *,
    mapping: Mapping[str, str] | None = None,
    default_source: str | None = None,
) -> RawItem | Reject:
    """Map one record (already parsed) of the echolens item format to a `RawItem`."""
    if mapping:
        row = {mapping.get(k, k): v for k, v in row.items()}
    fields = {k: _blank_to_none(row.get(k)) for k in ITEM_FIELDS}
    counts: dict[str, int | None] = {}
    for name in COUNT_FIELDS:
        value = fields[name]
        try:
            counts[name] = _to_count(value)
        except ValueError:
            return make_reject(
                provenance, "bad-number",
                f"{provenance.describe()}: {name}={value!r} is not a non-negative integer; "
                "fix or empty that field",
                dict(row),
            )
    for name in ("id", "source", "url", "title", "text", "lang", "author"):
        value = fields[name]
        if value is not None and not isinstance(value, str):
            if isinstance(value, (int, float)) and name in ("id", "source"):
                fields[name] = str(value)
            else:
                return make_reject(
                    provenance, "bad-field",
                    f"{provenance.describe()}: {name} must be text, got {type(value).__name__}",
                    dict(row),
                )
    published = fields["published_at"]
    if published is not None and not isinstance(published, str):
        published = published.isoformat() if hasattr(published, "isoformat") else str(published)
    return RawItem(
        provenance=provenance,
        payload=dict(row),
        source=fields["source"] or default_source,
        text=fields["text"],
        title=fields["title"],
        url=fields["url"],
        published_at=published,
        lang=fields["lang"],
        external_id=fields["id"],
        author=fields["author"],
        views=counts["views"],
        likes=counts["likes"],
        shares=counts["shares"],
        comments=counts["comments"],
    )


def _blank_to_none(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _to_count(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("boolean")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        if value != value or not value.is_integer():  # NaN or fractional
            raise ValueError("not an integer")
        number = int(value)
    else:
        text = str(value).strip().replace(",", "").replace("_", "")
        number = int(float(text)) if "." in text else int(text)
    if number < 0:
        raise ValueError("negative")
    return number


def _jsonl_records(
    path: Path, location: str
) -> Iterator[tuple[Provenance, dict[str, Any]] | Reject]:
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            provenance = Provenance("jsonl", location, f"line {number}")
            if not raw.strip():
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield make_reject(
                    provenance, "bad-encoding",
                    f"{path.name} line {number}: not UTF-8 ({exc.reason} at byte {exc.start}); "
                    "re-encode the file as UTF-8",
                    raw,
                )
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                yield make_reject(
                    provenance, "bad-json",
                    f"{path.name} line {number}: {exc.msg} at column {exc.colno}; "
                    "each line must be one JSON object",
                    line.rstrip("\n"),
                )
                continue
            if not isinstance(record, dict):
                yield make_reject(
                    provenance, "bad-json",
                    f"{path.name} line {number}: a JSON {type(record).__name__}, not an object",
                    line.rstrip("\n"),
                )
                continue
            yield provenance, record


def _csv_records(
    path: Path, location: str
) -> Iterator[tuple[Provenance, dict[str, Any]] | Reject]:
    text = path.read_bytes().decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        return
    header = [h.strip() for h in header]
    while True:
        row_number = reader.line_num + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield make_reject(
                Provenance("csv", location, f"line {row_number}"), "bad-csv",
                f"{path.name} line {row_number}: {exc}; fix the quoting of that row", "",
            )
            continue
        provenance = Provenance("csv", location, f"line {row_number}")
        if not any(v.strip() for v in values):
            continue
        raw_line = ",".join(values)
        if any("\udc80" <= ch <= "\udcff" for ch in raw_line):
            yield make_reject(
                provenance, "bad-encoding",
                f"{path.name} line {row_number}: not UTF-8; re-encode the file as UTF-8",
                raw_line.encode("utf-8", errors="surrogateescape"),
            )
            continue
        if len(values) != len(header):
            yield make_reject(
                provenance, "bad-csv",
                f"{path.name} line {row_number}: {len(values)} fields, header has "
                f"{len(header)}; quote fields that contain commas",
                raw_line,
            )
            continue
        yield provenance, dict(zip(header, values, strict=True))


def _parquet_records(
    path: Path, location: str
) -> Iterator[tuple[Provenance, dict[str, Any]] | Reject]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several error types for a corrupt file
        yield make_reject(
            Provenance("parquet", location, ""), "bad-parquet",
            f"{path.name}: cannot read Parquet ({exc}); check the file", "",
        )
        return
    for number, row in enumerate(table.to_pylist(), start=1):
        yield Provenance("parquet", location, f"row {number}"), row
