"""What the watcher knows about one item: its status, observations and kept first copy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from echolens.database import Database
from echolens.errors import NotFound
from echolens.watch.config import WatchConfig
from echolens.watch.evidence import EvidenceArchive, EvidenceCopy
from echolens.watch.watcher import evidence_dir


@dataclass(frozen=True)
class ItemHistory:
    item_id: str
    status: str
    observations: list[dict[str, Any]]
    copy: EvidenceCopy | None
    place: str  # warc file:offset, or ""

    def to_json(self) -> dict[str, Any]:
        copy = None
        if self.copy is not None:
            copy = {"url": self.copy.url, "status": self.copy.status,
                    "captured_at": self.copy.captured_at, "bytes": len(self.copy.body),
                    "content_type": self.copy.headers.get("content-type"), "place": self.place}
        return {"item_id": self.item_id, "status": self.status, "copy": copy,
                "observations": self.observations}


def item_history(database: Database, config: WatchConfig, item_id: str) -> ItemHistory:
    con = database.store.con
    row = con.execute("SELECT status FROM items WHERE id = ?", [item_id]).fetchone()
    if row is None:
        raise NotFound(f"no item {item_id!r}", "find ids with `echolens export items`")
    cur = con.execute("SELECT checked_at, via, http_status, result, detail, diff "
                      "FROM observations WHERE item_id = ? ORDER BY checked_at", [item_id])
    names = [d[0] for d in cur.description]
    observations = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    kept = con.execute("SELECT warc_file, warc_offset FROM evidence WHERE item_id = ?",
                       [item_id]).fetchone()
    copy = None
    place = ""
    if kept is not None:
        copy = EvidenceArchive(evidence_dir(database, config)).read(kept[0], int(kept[1]))
        place = f"{kept[0]}:{kept[1]}"
    return ItemHistory(item_id, str(row[0]), observations, copy, place)
