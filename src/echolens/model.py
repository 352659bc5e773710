"""Typed records passed between the stages of echolens.

Connectors yield `RawItem` (or `Reject` when a record cannot even be read), normalization turns
a `RawItem` into an `Item`, and the store keeps `Item`, `Source` and `Reject` rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

UNKNOWN_ECOSYSTEM = "unknown"

SourceKind = Literal["outlet", "factchecker", "official", "social", "other"]


@dataclass(frozen=True)
class Source:
    """A publisher: media outlet, fact-checker, official account or channel."""

    id: str
    name: str
    ecosystem: str = UNKNOWN_ECOSYSTEM
    domain: str | None = None
    platform: str = "web"
    country: str | None = None
    languages: tuple[str, ...] = ()
    state_affiliated: bool | None = None
    kind: SourceKind = "outlet"
    followers: int | None = None
    followers_observed_at: datetime | None = None
    aliases: tuple[str, ...] = ()
    origin: str = "user"  # user | curated | domain-list | auto


@dataclass(frozen=True)
class Provenance:
    """Where a record came from: connector, file or URL, and the line/offset inside it."""

    connector: str
    location: str
    locator: str = ""  # "line 12", "row 40", "entry 3", "offset 1024"

    def describe(self) -> str:
        return f"{self.location} {self.locator}".strip()


@dataclass(frozen=True)
class RawItem:
    """One record as a connector read it, before any validation or normalization.

    `published_at` may be a string in any format the connector knows; `tz_hint` names the
    time zone to assume when the string carries none (IANA name, default UTC).
    """

    provenance: Provenance
    payload: dict[str, Any]
    source: str | None = None
    text: str | None = None
    title: str | None = None
    url: str | None = None
    published_at: str | datetime | None = None
    lang: str | None = None
    external_id: str | None = None
    author: str | None = None
    views: int | None = None
    likes: int | None = None
    shares: int | None = None
    comments: int | None = None
    tz_hint: str = "UTC"
    date_format: str | None = None  # strptime format the connector knows, if any


@dataclass(frozen=True)
class Reject:
    """A record that could not become an item, kept with its raw payload and reason."""

    provenance: Provenance
    reason: str  # short code: bad-json, bad-date, empty-text, ...
    detail: str
    payload: str


@dataclass(frozen=True)
class Item:
    """A normalized item, ready to store."""

    id: str
    source_id: str
    text: str
    lang: str
    published_at: datetime  # timezone-aware UTC
    fetched_at: datetime
    content_hash: str
    title: str | None = None
    url: str | None = None
    canonical_url: str | None = None
    author: str | None = None
    views: int | None = None
    likes: int | None = None
    shares: int | None = None
    comments: int | None = None
    near_dup_key: str | None = None
    duplicate_of: str | None = None
    status: str = "present"
    connector: str = ""
    location: str = ""
    locator: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


Outcome = Literal["new", "duplicate", "rejected"]
