"""RSS and Atom feeds (via feedparser) as `RawItem` records.

`read_feed` takes an http(s) URL or a local file path. For URLs it does a conditional GET
with the validators in `FeedState`; the caller persists the returned `FeedRead.state` and
passes it back next time, so an unchanged feed costs one 304 and yields no records.

Feed bytes are always fetched by echolens (`echolens.ingest.http.fetch`) and handed to
feedparser as bytes; feedparser never touches the network.
"""

from __future__ import annotations

import calendar
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import feedparser
import httpx
import lxml.html
from lxml import etree

from echolens.ingest.http import FetchError, fetch
from echolens.model import Provenance, RawItem, Reject

CONNECTOR = "rss"

# Elements after which a line break belongs in the plain text.
_BLOCK_TAGS = frozenset(
    {
        "address",
        "article",
        "aside",
        "blockquote",
        "dd",
        "div",
        "dl",
        "dt",
        "figcaption",
        "figure",
        "footer",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "ul",
    }
)
_DROP_TAGS = ("script", "style", "noscript", "template", "iframe", "object", "embed")
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")


@dataclass(frozen=True)
class FeedState:
    """HTTP validators from the last successful fetch; persist and pass back."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True)
class FeedRead:
    """The outcome of one `read_feed` call."""

    records: list[RawItem | Reject] = field(default_factory=list)
    state: FeedState = field(default_factory=FeedState)
    not_modified: bool = False


def read_feed(
    location: str,
    *,
    state: FeedState | None = None,
    source: str | None = None,
    timeout: float = 20.0,
    max_bytes: int = 10_000_000,
    client: httpx.Client | None = None,
) -> FeedRead:
    """Read an RSS/Atom feed from an http(s) URL or a local file into records.

    Never raises for a bad source: fetch failures become one `Reject` with reason
    ``fetch-<reason>`` (``fetch-timeout``, ``fetch-http-error``, ``fetch-too-large``...), an
    unparseable document becomes one ``bad-feed`` Reject, a missing file one ``not-found``.
    A feed that is malformed but still yields entries keeps its entries. Pass `client`
    (`echolens.ingest.http.new_client()`) to reuse one connection pool across many feeds.
    """
    old_state = state or FeedState()
    if _is_url(location):
        try:
            result = fetch(
                location,
                etag=old_state.etag,
                last_modified=old_state.last_modified,
                timeout=timeout,
                max_bytes=max_bytes,
                client=client,
            )
        except FetchError as exc:
            return FeedRead(records=[_fetch_reject(location, exc)], state=old_state)
        new_state = FeedState(etag=result.etag, last_modified=result.last_modified)
        if result.not_modified:
            return FeedRead(records=[], state=new_state, not_modified=True)
        body = result.body
        content_type = result.headers.get("content-type")
        base = result.final_url
    else:
        path = _local_path(location)
        read = _read_file(path, location, max_bytes)
        if isinstance(read, Reject):
            return FeedRead(records=[read], state=old_state)
        body, content_type, base, new_state = read, None, "", old_state

    parsed = _parse(body, content_type, base)
    entries: list[Any] = list(parsed.get("entries") or [])
    if not entries and (parsed.get("bozo") or not parsed.get("version")):
        return FeedRead(records=[_bad_feed(location, parsed, body)], state=new_state)

    feed_meta: Mapping[str, Any] = parsed.get("feed") or {}
    default_source = source or _feed_domain(feed_meta, location)
    feed_lang = _lang(feed_meta.get("language"))
    records: list[RawItem | Reject] = [
        _entry_item(entry, i, location, default_source, feed_meta, feed_lang)
        for i, entry in enumerate(entries)
    ]
    return FeedRead(records=records, state=new_state)


def html_to_text(markup: str) -> str:
    """Plain text of an HTML fragment: tags dropped, blocks on their own lines."""
    if "<" not in markup and "&" not in markup:
        return _tidy(markup)
    try:
        root = lxml.html.fragment_fromstring(markup, create_parent="div")
    except (etree.ParserError, ValueError):
        return _tidy(re.sub(r"<[^>]*>", " ", markup))
    for bad in list(root.iter(*_DROP_TAGS)):
        bad.drop_tree()
    parts: list[str] = []
    _collect_text(root, parts)
    return _tidy("".join(parts))


def _collect_text(node: Any, parts: list[str]) -> None:
    if not isinstance(node.tag, str):  # comments, processing instructions
        if node.tail:
            parts.append(node.tail)
        return
    tag = node.tag.lower()
    if tag == "br":
        parts.append("\n" + (node.tail or ""))
        return
    block = tag in _BLOCK_TAGS
    if block:
        parts.append("\n")
    if node.text:
        parts.append(node.text)
    for child in node:
        _collect_text(child, parts)
    if block:
        parts.append("\n")
    if node.tail:
        parts.append(node.tail)


def _tidy(text: str) -> str:
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def _is_url(location: str) -> bool:
    return urlsplit(location).scheme.lower() in ("http", "https")


def _local_path(location: str) -> Path:
    """A plain path, or the path of a ``file://`` URL."""
    if location.startswith("file://"):
        return Path(unquote(urlsplit(location).path))
    return Path(location)


def _read_file(path: Path, location: str, max_bytes: int) -> bytes | Reject:
    prov = Provenance(CONNECTOR, location)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            return Reject(
                prov,
                "too-large",
                f"{location} is {size} bytes, over the {max_bytes}-byte limit; "
                "raise max_bytes if the file is really a feed",
                "",
            )
        return path.read_bytes()
    except FileNotFoundError:
        return Reject(
            prov, "not-found", f"{location}: no such file; check the path or use an http(s) URL", ""
        )
    except OSError as exc:
        return Reject(prov, "read-error", f"{location}: {exc.strerror or exc}", "")


def _parse(body: bytes, content_type: str | None, base: str) -> Any:
    headers: dict[str, str] = {}
    if content_type:
        headers["content-type"] = content_type
    if base:
        headers["content-location"] = base
    # sanitize_html keeps feedparser from passing <script> etc. through; we strip tags anyway.
    return feedparser.parse(body, response_headers=headers, sanitize_html=True)


def _fetch_reject(location: str, exc: FetchError) -> Reject:
    status = f" (HTTP {exc.status})" if exc.status is not None else ""
    return Reject(
        Provenance(CONNECTOR, location),
        f"fetch-{exc.reason}",
        f"{location}{status}: {exc.detail}",
        "",
    )


def _bad_feed(location: str, parsed: Any, body: bytes) -> Reject:
    error = parsed.get("bozo_exception")
    error_text = f"{type(error).__name__}: {error}" if error is not None else ""
    if not parsed.get("version"):
        why = "the document is not RSS or Atom (no feed root element)"
        why += f"; the parser reported {error_text}" if error_text else ""
    else:
        why = f"the XML parser reported {error_text}"
    head = body[:200].decode("utf-8", errors="replace")
    return Reject(
        Provenance(CONNECTOR, location),
        "bad-feed",
        f"{location}: no entries could be read because {why}; check that the address points to "
        "the RSS/Atom feed itself (not an HTML page) and that the XML is well-formed",
        head,
    )


def _entry_item(
    entry: Any,
    index: int,
    location: str,
    source: str | None,
    feed_meta: Mapping[str, Any],
    feed_lang: str | None,
) -> RawItem:
    link = _str(entry.get("link"))
    url = link if link and _is_url(link) else None
    title = _detail_text(entry.get("title"), entry.get("title_detail"))
    contents = [
        _detail_text(c.get("value"), c) for c in entry.get("content") or [] if c.get("value")
    ]
    content_text = "\n\n".join(c for c in contents if c)
    summary_text = _detail_text(entry.get("summary"), entry.get("summary_detail"))
    # content:encoded / atom:content usually holds the full text, summary an excerpt.
    text = content_text or summary_text or title
    published_at = _entry_date(entry)
    author = _str((entry.get("author_detail") or {}).get("name")) or _str(entry.get("author"))
    payload: dict[str, Any] = {
        "id": _str(entry.get("id")),
        "link": link,
        "title": _str(entry.get("title")),
        "summary": _str(entry.get("summary")),
        "content": [_str(c.get("value")) for c in entry.get("content") or []],
        "published": _str(_raw(entry, "published")),
        "updated": _str(_raw(entry, "updated")),
        "author": _str(entry.get("author")),
        # Declared languages are kept as hints only: CMS defaults are often wrong.
        "language": _detail_lang(
            [*(entry.get("content") or []), entry.get("summary_detail"), entry.get("title_detail")]
        ),
        "tags": [t for t in (_str(tag.get("term")) for tag in entry.get("tags") or []) if t],
        "enclosures": [
            e for e in (_str(enc.get("href")) for enc in entry.get("enclosures") or []) if e
        ],
        "feed_title": _str(feed_meta.get("title")),
        "feed_link": _str(feed_meta.get("link")),
        "feed_language": feed_lang,
    }
    return RawItem(
        provenance=Provenance(CONNECTOR, location, f"entry {index}"),
        payload=json.loads(json.dumps(payload, default=str)),
        source=source,
        text=text or None,
        title=title or None,
        url=url,
        published_at=published_at,
        external_id=_str(entry.get("id")) or link or None,
        author=author or None,
        tz_hint="UTC",
    )


def _entry_date(entry: Any) -> str | None:
    for key in ("published", "updated", "created"):
        struct = _raw(entry, f"{key}_parsed")
        if struct is not None:
            # feedparser normalizes parsed dates to UTC struct_time.
            stamp = calendar.timegm(struct)
            return datetime.fromtimestamp(stamp, tz=UTC).isoformat()
    for key in ("published", "updated", "created"):
        raw = _str(_raw(entry, key))
        if raw:
            return raw  # unparsed by feedparser; normalization gets another try
    return None


def _detail_text(value: Any, detail: Any) -> str:
    text = _str(value)
    if not text:
        return ""
    kind = str((detail or {}).get("type") or "text/html").lower()
    return _tidy(text) if kind == "text/plain" else html_to_text(text)


def _detail_lang(details: Iterable[Any]) -> str | None:
    for detail in details:
        if detail and detail.get("language"):
            return _lang(detail.get("language"))
    return None


def _lang(value: Any) -> str | None:
    text = _str(value).strip().lower().replace("_", "-")
    return text or None


def _feed_domain(feed_meta: Mapping[str, Any], location: str) -> str | None:
    for candidate in (_str(feed_meta.get("link")), location):
        if candidate and _is_url(candidate):
            host = (urlsplit(candidate).hostname or "").lower()
            if host:
                return host.removeprefix("www.")
    return None


def _raw(entry: Any, key: str) -> Any:
    """Plain dict lookup, skipping feedparser's deprecated updated -> published fallback."""
    return dict.get(entry, key) if isinstance(entry, dict) else None


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))
