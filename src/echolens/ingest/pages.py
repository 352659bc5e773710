"""Single HTML article pages (by URL or local .html file) via trafilatura.

trafilatura finds the main text (dropping navigation, footers and other boilerplate), the
title, author, publication date and canonical URL. One page gives one `RawItem`, or one
`Reject` when the page cannot be fetched, is too large, is not HTML, or has no main text.
"""

from __future__ import annotations

import codecs
import json
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import trafilatura

from echolens.ingest.http import FetchError, fetch
from echolens.model import Provenance, RawItem, Reject

CONNECTOR = "page"

# htmldate output: keep the time and offset when the page states them.
_DATE_PARAMS: dict[str, Any] = {
    "original_date": True,
    "extensive_search": True,
    "outputformat": "%Y-%m-%dT%H:%M:%S%z",
}
_HTML_TYPES = ("text/html", "application/xhtml+xml", "text/plain", "application/xml", "text/xml")


def read_page(
    location: str,
    *,
    source: str | None = None,
    max_bytes: int = 5_000_000,
    timeout: float = 20.0,
    client: httpx.Client | None = None,
) -> list[RawItem | Reject]:
    """Read one article page from an http(s) URL or a local HTML file.

    Returns a one-element list: the `RawItem`, or a `Reject` with reason ``too-large``
    (over `max_bytes`), ``empty-text`` (no main text found), ``not-html``, ``not-found``
    (missing local file) or ``fetch-<reason>`` (``fetch-timeout``, ``fetch-http-error``...).
    `source` defaults to the page's host name without ``www.``.
    """
    prov = Provenance(CONNECTOR, location)
    final_url: str | None
    meta: dict[str, Any] = {}
    if _is_url(location):
        try:
            result = fetch(location, timeout=timeout, max_bytes=max_bytes, client=client)
        except FetchError as exc:
            reason = "too-large" if exc.reason == "too-large" else f"fetch-{exc.reason}"
            status = f" (HTTP {exc.status})" if exc.status is not None else ""
            return [Reject(prov, reason, f"{location}{status}: {exc.detail}", "")]
        final_url = result.final_url
        content_type = result.headers.get("content-type", "")
        meta = {"final_url": final_url, "status": result.status, "content_type": content_type}
        mime, charset = _parse_content_type(content_type)
        if mime and mime not in _HTML_TYPES:
            return [
                Reject(
                    prov,
                    "not-html",
                    f"{final_url} is {mime}, not an HTML page; use a connector for that format",
                    "",
                )
            ]
        markup: bytes | str = _decode(result.body, charset)
    else:
        final_url = None
        path = _local_path(location)
        read = _read_file(path, prov, max_bytes)
        if isinstance(read, Reject):
            return [read]
        markup = read

    tree = trafilatura.load_html(markup)
    doc = None
    lang: str | None = None
    if tree is not None:
        lang = tree.get("lang") or None
        doc = trafilatura.bare_extraction(
            tree,
            url=final_url,
            with_metadata=True,
            include_comments=False,
            include_tables=True,
            date_extraction_params=dict(_DATE_PARAMS),
        )
    text = _text_of(doc)
    if doc is None or not text:
        return [
            Reject(
                prov,
                "empty-text",
                f"{location}: no main text found; the page may be empty, rendered by "
                "JavaScript, behind a paywall or not an article",
                _snippet(markup),
            )
        ]

    canonical = _attr(doc, "url") or None
    title = _attr(doc, "title") or None
    author = _attr(doc, "author") or None
    date = _attr(doc, "date") or None
    host_source = _domain(final_url) or _domain(canonical)
    payload: dict[str, Any] = {
        "title": title,
        "author": author,
        "date": date,
        "canonical_url": canonical,
        "sitename": _attr(doc, "sitename") or None,
        "hostname": _attr(doc, "hostname") or None,
        "description": _attr(doc, "description") or None,
        "categories": list(getattr(doc, "categories", None) or []),
        "tags": list(getattr(doc, "tags", None) or []),
        "image": _attr(doc, "image") or None,
        "lang": lang,  # declared <html lang>, often a CMS default: a hint, not a fact
        **meta,
    }
    return [
        RawItem(
            provenance=prov,
            payload=json.loads(json.dumps(payload, default=str)),
            source=source or host_source,
            text=text,
            title=title,
            url=final_url or canonical,
            published_at=date,
            external_id=canonical or final_url or location,
            author=author,
            tz_hint="UTC",
        )
    ]


def _is_url(location: str) -> bool:
    return urlsplit(location).scheme.lower() in ("http", "https")


def _local_path(location: str) -> Path:
    """A plain path, or the path of a ``file://`` URL."""
    if location.startswith("file://"):
        return Path(unquote(urlsplit(location).path))
    return Path(location)


def _read_file(path: Path, prov: Provenance, max_bytes: int) -> bytes | Reject:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            return Reject(
                prov,
                "too-large",
                f"{prov.location} is {size} bytes, over the {max_bytes}-byte limit",
                "",
            )
        return path.read_bytes()
    except FileNotFoundError:
        return Reject(prov, "not-found", f"{prov.location}: no such file; check the path", "")
    except OSError as exc:
        return Reject(prov, "read-error", f"{prov.location}: {exc.strerror or exc}", "")


def _parse_content_type(value: str) -> tuple[str, str | None]:
    if not value:
        return "", None
    msg = Message()
    msg["content-type"] = value
    charset = msg.get_param("charset")
    return msg.get_content_type().lower(), charset if isinstance(charset, str) else None


def _decode(body: bytes, charset: str | None) -> bytes | str:
    """Decode with the HTTP charset when it names a real codec; else let trafilatura sniff."""
    if not charset:
        return body
    try:
        codecs.lookup(charset)
    except LookupError:
        return body
    return body.decode(charset, errors="replace")


def _text_of(doc: Any) -> str:
    if doc is None:
        return ""
    text = _attr(doc, "text") or _attr(doc, "raw_text")
    return text.strip()


def _attr(doc: Any, name: str) -> str:
    value = getattr(doc, name, None)
    return value if isinstance(value, str) else ""


def _domain(url: str | None) -> str | None:
    if not url or not _is_url(url):
        return None
    host = (urlsplit(url).hostname or "").lower()
    return host.removeprefix("www.") or None


def _snippet(markup: bytes | str, limit: int = 300) -> str:
    if isinstance(markup, bytes):
        return markup[:limit].decode("utf-8", errors="replace")
    return markup[:limit]
