"""Normalization: a `RawItem` becomes an `Item` (clean text, UTC date, language, hashes) or a
`Reject` with its reason. Pure functions; the language identifier is passed in."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from dateutil import parser as dateparser

from echolens.ingest.dates import parse_date
from echolens.ingest.rejects import make_reject
from echolens.model import Item, RawItem, Reject
from echolens.text.clean import clean_text
from echolens.text.fingerprint import content_hash
from echolens.text.urls import canonical_url

MAX_TEXT_CHARS = 200_000
FUTURE_TOLERANCE = timedelta(days=1)
EARLIEST_DATE = datetime(1990, 1, 1, tzinfo=UTC)


class LanguageDetector(Protocol):
    def detect(self, text: str) -> str: ...
    def detect_many(self, texts: Sequence[str]) -> list[str]: ...


Cleaned = tuple[str | None, str]  # (title, text) after clean_text


def clean_fields(raw: RawItem) -> Cleaned:
    """Title and text cleaned once; the text falls back to the title when empty."""
    title = clean_text(raw.title) if raw.title else ""
    return title or None, clean_text(raw.text or "") or title


def language_text(cleaned: Cleaned) -> str:
    """The text language identification reads: title and text, at most 1,000 chars."""
    title, text = cleaned
    joined = f"{title}. {text}" if title and title not in text else text
    return joined[:1000]


@dataclass(frozen=True)
class NormalizeConfig:
    languages: tuple[str, ...] = ("zh", "ru", "uk", "en")
    max_text_chars: int = MAX_TEXT_CHARS


class DateError(ValueError):
    pass


def parse_datetime(
    value: str | datetime, *, tz_hint: str = "UTC", fmt: str | None = None
) -> datetime:
    """Parse an ISO 8601 (or common) date to an aware UTC datetime: ISO 8601, the dates of
    `ingest.dates` (English, Russian, Ukrainian and Chinese ways of writing them), Unix
    seconds, then whatever dateutil reads (RFC 822 dates of feeds) that names a year, a month
    and a day. A value without a zone is read in `tz_hint` (UTC unless the connector knows
    better)."""
    if isinstance(value, datetime):
        parsed = value
    else:
        text = value.strip()
        if not text:
            raise DateError("empty date")
        try:
            if fmt:
                parsed = datetime.strptime(text, fmt)
            else:
                parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            # the formats of the data sets and the web in en/ru/uk/zh ("3 марта 2022",
            # "17 травня 2023, 14:05", "2022年3月14日"), read in `tz_hint`; then the rest
            known = None if fmt else parse_date(text, tz_hint)
            parsed = known.at if known is not None else _parse_loose(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(tz_hint))
    return parsed.astimezone(UTC)


# Two defaults that differ in year, month and day: a part dateutil fills in from them was
# not in the text
_DEFAULTS = (datetime(2000, 1, 1), datetime(2001, 2, 2))


def _parse_loose(text: str) -> datetime:
    """Unix seconds, or whatever dateutil reads (RFC 822 dates of feeds, "March 3, 2022"),
    as long as it names the year, the month and the day. dateutil fills missing parts from
    today: "2022-03" was read as the 7th of March when run on a 7th, "Mar 3" as this year."""
    if text.lstrip("-").isdigit() and len(text) >= 9:
        return datetime.fromtimestamp(int(text), tz=UTC)
    try:
        first, second = (dateparser.parse(text, default=d) for d in _DEFAULTS)
    except (ValueError, OverflowError, TypeError) as exc:
        raise DateError(f"unreadable date {text!r}") from exc
    missing = [part for part in ("year", "month", "day")
               if getattr(first, part) != getattr(second, part)]
    if missing:
        raise DateError(f"incomplete date {text!r}: no {' and no '.join(missing)}")
    return first


# ISO 639-2/3 codes of the languages echolens calibrates for, as some exports give them
THREE_LETTER_LANGS = {"eng": "en", "rus": "ru", "ukr": "uk", "zho": "zh", "chi": "zh",
                      "cmn": "zh"}


def normalize_lang(code: str | None) -> str | None:
    """'zh-CN' -> 'zh', 'EN' -> 'en', 'rus' -> 'ru', '' -> None."""
    if not code:
        return None
    primary = code.strip().lower().replace("_", "-").split("-")[0]
    return THREE_LETTER_LANGS.get(primary, primary) or None


def item_id(source_id: str, raw: RawItem, digest: str, canonical: str | None) -> str:
    """The input's id when it gave one; otherwise a stable hash of what identifies the item."""
    if raw.external_id:
        return raw.external_id
    key = "\x1f".join((source_id, canonical or "", digest))
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:20]


def normalize(
    raw: RawItem,
    *,
    source_id: str,
    detector: LanguageDetector,
    fetched_at: datetime,
    config: NormalizeConfig | None = None,
    detected_lang: str | None = None,
    cleaned: Cleaned | None = None,
    near_dup_key: str | None = None,
) -> Item | Reject:
    """`cleaned`, `detected_lang` and `near_dup_key` (the first LSH band key of the text's
    MinHash signature) are passed when the caller computed them for a whole batch."""
    config = config or NormalizeConfig()
    cleaned = cleaned or clean_fields(raw)
    title, text = cleaned
    if not text:
        return make_reject(
            raw.provenance, "empty-text",
            f"{raw.provenance.describe()}: no text or title; give the item a non-empty `text`",
            raw.payload,
        )
    if len(text) > config.max_text_chars:
        return make_reject(
            raw.provenance, "too-large",
            f"{raw.provenance.describe()}: text of {len(text)} characters is over the "
            f"{config.max_text_chars} cap",
            raw.payload,
        )
    if raw.published_at is None or raw.published_at == "":
        return make_reject(
            raw.provenance, "missing-date",
            f"{raw.provenance.describe()}: no published_at; add an ISO 8601 date such as "
            "2022-03-08T10:00:00Z",
            raw.payload,
        )
    try:
        published = parse_datetime(raw.published_at, tz_hint=raw.tz_hint, fmt=raw.date_format)
    except DateError as exc:
        return make_reject(
            raw.provenance, "bad-date",
            f"{raw.provenance.describe()}: {exc}; use ISO 8601 such as 2022-03-08T10:00:00Z",
            raw.payload,
        )
    if published > fetched_at + FUTURE_TOLERANCE or published < EARLIEST_DATE:
        return make_reject(
            raw.provenance, "bad-date",
            f"{raw.provenance.describe()}: published_at {published.isoformat()} is outside "
            "1990..now; check the date and its time zone",
            raw.payload,
        )
    lang = normalize_lang(raw.lang) or detected_lang or detector.detect(language_text(cleaned))
    digest = content_hash(text)
    canonical = canonical_url(raw.url) if raw.url else None
    return Item(
        id=item_id(source_id, raw, digest, canonical),
        source_id=source_id,
        text=text,
        lang=lang,
        published_at=published,
        fetched_at=fetched_at,
        content_hash=digest,
        title=title or None,
        url=raw.url,
        canonical_url=canonical,
        author=raw.author,
        views=raw.views,
        likes=raw.likes,
        shares=raw.shares,
        comments=raw.comments,
        connector=raw.provenance.connector,
        location=raw.provenance.location,
        locator=raw.provenance.locator,
        near_dup_key=near_dup_key,
        extra={k: v for k, v in raw.payload.items()
               if k not in _ITEM_KEYS and (v is None or isinstance(v, _PLAIN))},
    )


_ITEM_KEYS = frozenset({"id", "source", "url", "title", "text", "published_at", "lang", "views",
                        "likes", "shares", "comments", "author"})
_PLAIN = (str, int, float, bool, list, dict)
