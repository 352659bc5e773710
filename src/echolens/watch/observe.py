"""One re-check of an item: the HTTP outcome turned into an `Observation`.

Results: ``present`` (the main text is the first good copy's), ``altered`` (it differs; the
unified diff is kept), ``deleted`` (404/410, a "page not found" page, a redirect to the
site's front page, or gone from its feed), ``unavailable`` (5xx, timeout, connection error,
oversized body: try again later), ``blocked`` (451, or a platform's "content not
available" page, recognised by markers).
"""

from __future__ import annotations

import codecs
import difflib
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from email.message import Message
from urllib.parse import urlsplit

import trafilatura

from echolens.ingest.feeds import html_to_text
from echolens.ingest.http import FetchError, FetchResult
from echolens.watch.config import Markers, Recheck

RESULTS = ("present", "altered", "deleted", "unavailable", "blocked")
MAX_DIFF_CHARS = 20_000
SHORT_PAGE_CHARS = 1000  # markers count only on pages whose main text is shorter than this
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Observation:
    item_id: str
    checked_at: datetime
    via: str  # page | feed
    result: str
    http_status: int | None = None
    content_hash: str | None = None
    detail: str = ""
    diff: str | None = None


@dataclass(frozen=True)
class PageText:
    """What a re-check read from a page."""

    main_text: str
    content_hash: str


def classify(item_id: str, outcome: FetchResult | FetchError, *, baseline_hash: str | None,
             baseline_text: str | None, checked_at: datetime, recheck: Recheck,
             markers: Markers) -> tuple[Observation, PageText | None]:
    """The observation of one fetch, and the page's text when it was read."""
    if isinstance(outcome, FetchError):
        return _failed(item_id, outcome, checked_at, recheck), None
    status = outcome.status
    if _sent_home(outcome):
        return Observation(item_id, checked_at, "page", "deleted", status, None,
                           f"HTTP {status}, redirected to the front page "
                           f"{outcome.final_url}"), None
    markup = _decode(outcome.body, outcome.headers.get("content-type", ""))
    main = extract_main_text(markup)
    visible = main if len(main) >= SHORT_PAGE_CHARS else (main + "\n" + html_to_text(markup))
    lowered = visible.lower()
    page = PageText(main, text_hash(main))
    if len(main) < SHORT_PAGE_CHARS:
        blocked = next((m for m in markers.blocked if m and m in lowered), None)
        if blocked:
            return Observation(item_id, checked_at, "page", "blocked", status, page.content_hash,
                               f"HTTP {status}, the page says {blocked!r}"), page
        gone = next((m for m in markers.deleted if m and m in lowered), None)
        if gone:
            return Observation(item_id, checked_at, "page", "deleted", status, page.content_hash,
                               f"HTTP {status}, the page says {gone!r}"), page
    if not main:
        return Observation(item_id, checked_at, "page", "altered", status, page.content_hash,
                           f"HTTP {status}, but no main text is left on the page",
                           _diff(baseline_text, "")), page
    if baseline_hash is None or page.content_hash == baseline_hash:
        return Observation(item_id, checked_at, "page", "present", status,
                           page.content_hash, f"HTTP {status}"), page
    return Observation(item_id, checked_at, "page", "altered", status, page.content_hash,
                       f"HTTP {status}, the main text differs from the first copy",
                       _diff(baseline_text, main)), page


def _sent_home(outcome: FetchResult) -> bool:
    """A redirect from an article to the site's front page: the usual way a CMS hides a
    deleted article."""
    start, end = urlsplit(outcome.url), urlsplit(outcome.final_url)
    return (start.path.strip("/") != "" and end.path.strip("/") == "" and not end.query
            and start.hostname == end.hostname)


def _failed(item_id: str, error: FetchError, checked_at: datetime,
            recheck: Recheck) -> Observation:
    status = error.status
    if status is not None and status in recheck.deleted_statuses:
        result = "deleted"
    elif status is not None and status in recheck.blocked_statuses:
        result = "blocked"
    else:
        result = "unavailable"
    return Observation(item_id, checked_at, "page", result, status, None,
                       f"{error.reason}: {error.detail}")


def extract_main_text(markup: str | bytes) -> str:
    """The article text of a page (trafilatura), whitespace tidied; '' when none."""
    try:
        text = trafilatura.extract(markup, include_comments=False, include_tables=True,
                                   favor_recall=True)
    except (ValueError, TypeError):
        text = None
    return (text or "").strip()


def text_hash(text: str) -> str:
    return hashlib.sha1(_SPACE.sub(" ", text).strip().encode("utf-8")).hexdigest()


def _diff(before: str | None, after: str) -> str:
    lines = difflib.unified_diff((before or "").splitlines(), after.splitlines(),
                                 "first copy", "now", n=1, lineterm="")
    text = "\n".join(lines)
    return text if len(text) <= MAX_DIFF_CHARS else text[:MAX_DIFF_CHARS] + "\n[...]"


def _decode(body: bytes, content_type: str) -> str:
    msg = Message()
    msg["content-type"] = content_type or "text/html"
    charset = msg.get_param("charset")
    if isinstance(charset, str):
        try:
            codecs.lookup(charset)
            return body.decode(charset, errors="replace")
        except LookupError:
            pass
    return body.decode("utf-8", errors="replace")
