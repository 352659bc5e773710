"""Evidence: the first good copy of every watched item, kept as a WARC response record.

Records are appended to one gzipped WARC file per day in the evidence folder (each record
its own gzip member, so it can be read back from its offset). The store keeps the file,
offset and length of each item's record in the `evidence` table. Appends happen before the
store commits the row; `recover` cuts every file back to the end of its last committed
record, so a crash between the two leaves neither an orphan record nor a missing one.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from echolens.errors import NotFound


@dataclass(frozen=True)
class Capture:
    """One HTTP response to keep."""

    url: str
    status: int
    headers: dict[str, str]
    body: bytes
    fetched_at: datetime


@dataclass(frozen=True)
class Stored:
    warc_file: str
    offset: int
    length: int


@dataclass(frozen=True)
class EvidenceCopy:
    """A capture read back from its WARC record."""

    url: str
    status: int
    headers: dict[str, str]
    body: bytes
    captured_at: str


class EvidenceArchive:
    """Append-only WARC files in `folder`."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def append(self, captures: list[Capture]) -> list[Stored]:
        """Write the captures and fsync; return where each record lies."""
        stored: list[Stored] = []
        if not captures:
            return stored
        by_file: dict[str, list[int]] = {}
        for i, capture in enumerate(captures):
            by_file.setdefault(f"evidence-{capture.fetched_at:%Y-%m-%d}.warc.gz", []).append(i)
        places: dict[int, Stored] = {}
        for name, indexes in by_file.items():
            with (self.folder / name).open("ab") as handle:
                writer = WARCWriter(handle, gzip=True)
                for i in indexes:
                    start = handle.tell()
                    writer.write_record(_record(writer, captures[i]))
                    handle.flush()
                    places[i] = Stored(name, start, handle.tell() - start)
                os.fsync(handle.fileno())
        return [places[i] for i in range(len(captures))]

    def recover(self, committed_ends: dict[str, int]) -> int:
        """Cut each WARC file back to the end of its last committed record (0: removed).
        Returns the bytes dropped."""
        dropped = 0
        for path in sorted(self.folder.glob("evidence-*.warc.gz")):
            end = committed_ends.get(path.name, 0)
            size = path.stat().st_size
            if size > end:
                dropped += size - end
                if end == 0:
                    path.unlink()
                else:
                    with path.open("r+b") as handle:
                        handle.truncate(end)
                        os.fsync(handle.fileno())
        return dropped

    def read(self, warc_file: str, offset: int) -> EvidenceCopy:
        path = self.folder / Path(warc_file).name
        if not path.exists():
            raise NotFound(f"evidence file {path} is missing",
                           "restore the evidence folder from a backup")
        with path.open("rb") as handle:
            handle.seek(offset)
            for record in ArchiveIterator(handle):
                http = record.http_headers
                status = int(http.get_statuscode()) if http is not None else 0
                headers = dict(http.headers) if http is not None else {}
                return EvidenceCopy(
                    url=str(record.rec_headers.get_header("WARC-Target-URI")),
                    status=status,
                    headers={k.lower(): v for k, v in headers.items()},
                    body=record.content_stream().read(),
                    captured_at=str(record.rec_headers.get_header("WARC-Date")),
                )
        raise NotFound(f"no WARC record at {warc_file}:{offset}",
                       "the evidence folder does not match the store")


def _record(writer: WARCWriter, capture: Capture) -> object:
    skip = {"content-encoding", "transfer-encoding", "content-length"}
    header_list = [(k, v) for k, v in capture.headers.items() if k.lower() not in skip]
    header_list.append(("Content-Length", str(len(capture.body))))
    http_headers = StatusAndHeaders(f"{capture.status} {_reason(capture.status)}", header_list,
                                    protocol="HTTP/1.1")
    return writer.create_warc_record(
        capture.url, "response", payload=io.BytesIO(capture.body), length=len(capture.body),
        http_headers=http_headers,
        warc_headers_dict={"WARC-Date": capture.fetched_at.strftime("%Y-%m-%dT%H:%M:%SZ")},
    )


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""
