"""Dates as the data sets and the web write them, in English, Russian, Ukrainian and Chinese:
ISO 8601, `2022/4/29 0:00`, `07.03.2023`, `17 Травня, 2023`, `1 ноября 2022`, `12:13, 1 ноября
2022`, `March 3, 2022`, `2022年3月14日`... (`parse_date`). Used by the data-set loaders and,
after ISO 8601, by `ingest.normalize.parse_datetime` for every input."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo

__all__ = ["ParsedDate", "date_from_parts", "month_number", "parse_date", "twelve_hour"]

_EN_MONTHS = [
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
]  # fmt: skip
_RU_GEN = "января февраля марта апреля мая июня июля августа сентября октября ноября декабря"
_RU_NOM = "январь февраль март апрель май июнь июль август сентябрь октябрь ноябрь декабрь"
_UK_GEN = "січня лютого березня квітня травня червня липня серпня вересня жовтня листопада грудня"
_UK_NOM = "січень лютий березень квітень травень червень липень серпень вересень жовтень "
_UK_NOM += "листопад грудень"

_MONTHS: dict[str, int] = {}
for _names in (_EN_MONTHS, _RU_GEN.split(), _RU_NOM.split(), _UK_GEN.split(), _UK_NOM.split()):
    for _number, _name in enumerate(_names, start=1):
        _MONTHS[_name] = _number
for _number, _name in enumerate(_EN_MONTHS, start=1):
    _MONTHS.setdefault(_name[:3], _number)
_MONTHS["sept"] = 9


def month_number(word: str) -> int | None:
    """1-12 for an English, Russian or Ukrainian month name (genitive or nominative, any
    case; English also abbreviated), else None."""
    return _MONTHS.get(word.lower().rstrip("."))


@dataclass(frozen=True)
class ParsedDate:
    """A parsed timestamp: `at` is aware UTC; `precision` is ``day``, ``minute`` or ``second``;
    `zone` is the zone the local value was read in (``UTC`` if the value carried an offset)."""

    at: datetime
    precision: str
    zone: str


_ZONES: dict[str, tzinfo] = {"UTC": UTC}


def _zone(name: str) -> tzinfo:
    zone = _ZONES.get(name)
    if zone is None:
        zone = _ZONES[name] = ZoneInfo(name)
    return zone


def date_from_parts(
    zone: str,
    year: str | int,
    month: str | int | None,
    day: str | int,
    hour: str | int | None = None,
    minute: str | int | None = None,
    second: str | int | None = None,
) -> ParsedDate | None:
    if month is None:
        return None
    precision = "day" if hour is None else ("minute" if second is None else "second")
    try:
        local = datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0)
        )
    except ValueError:
        return None
    at = local.replace(tzinfo=_zone(zone)).astimezone(UTC)
    return ParsedDate(at=at, precision=precision, zone=zone)


_W = r"[^\W\d_]+"  # a word of letters in any script
_ISO_DT = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})")
_YMD = re.compile(
    r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:,?\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?", re.IGNORECASE
)
# day first, as everywhere dates are written with dots (ru, uk, de...); a two-digit year
# is in this century
_DMY_DOTS = re.compile(
    r"(\d{1,2})\.(\d{1,2})\.(\d{4}|\d{2})(?:,?\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?")


def _day_month_year(group: str) -> str:
    """``7 June 2022 at 11:47`` / ``17 Травня, 2023``; `group` is ``(`` or ``(?:``."""
    g = group
    return (
        rf"{g}\d{{1,2}})\s+{g}{_W})\.?,?\s+{g}\d{{4}})(?:\s*(?:г|року|р)\.?)?"
        rf"(?:,?\s*(?:at|в|о|об)?\s*{g}\d{{1,2}}):{g}\d{{2}}))?"
    )


_D_MONTH_Y = re.compile(
    _day_month_year("(") + r"(?:\s+" + _day_month_year("(?:") + ")?", re.IGNORECASE
)
_TIME_D_MONTH_Y = re.compile(
    rf"(\d{{1,2}}):(\d{{2}}),?\s+(\d{{1,2}})\s+({_W})\.?,?\s+(\d{{4}})(?:\s*(?:г|року|р)\.?)?",
    re.IGNORECASE,
)
_MONTH_D_Y = re.compile(
    rf"({_W})\.?\s+(\d{{1,2}}),?\s+(\d{{4}})"
    r"(?:,?\s+(?:at\s+)?(\d{1,2}):(\d{2})\s*([AaPp])?\.?[Mm]?\.?)?",
)
_POLITIFACT = re.compile(rf"stated on\s+({_W}\.?\s+\d{{1,2}},?\s+\d{{4}})\b", re.IGNORECASE)
_ZH = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日(?:\s*(\d{1,2})[:：](\d{2}))?")


def twelve_hour(hour: str, meridiem: str | None) -> int:
    value = int(hour)
    if meridiem is None:
        return value
    if value == 12:
        value = 0
    return value + 12 if meridiem.lower() == "p" else value


def parse_date(raw: str | None, zone: str = "UTC") -> ParsedDate | None:
    """Parse the mixed date formats found in the data sets; ``None`` if not recognised.

    `zone` is the IANA zone a value without offset is read in. Recognised (whole value):
    ISO 8601 with offset/``Z``; ``2022-03-17``, ``2022/4/29 0:00``, ``2022-02-28, 16:53``,
    ``2022-03-31 22:34:16``; ``07.03.2023`` / ``7.3.23 14:05:33`` (day first);
    ``17 Травня, 2023`` / ``1 ноября 2022`` /
    ``7 June 2022 at 11:47`` (English, Russian and Ukrainian month names, genitive or
    nominative, any case; a second trailing date, e.g. AFP's "updated" time, is ignored);
    ``12:13, 1 ноября 2022`` (Lenta); ``March 3, 2022`` / ``Mar 24, 2022 06:46 PM``;
    PolitiFact ``stated on April 30, 2022 in a post:`` (prefix); ``2022年3月14日 [10:00]``.
    """
    if raw is None:
        return None
    text = " ".join(raw.split())
    if not text:
        return None
    if _ISO_DT.fullmatch(text):
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            return None
        return ParsedDate(at=value.astimezone(UTC), precision="second", zone="UTC")
    if m := _YMD.fullmatch(text):
        return date_from_parts(zone, *m.groups())
    if m := _DMY_DOTS.fullmatch(text):
        d, mo, y, hh, mm, ss = m.groups()
        return date_from_parts(zone, y if len(y) == 4 else f"20{y}", mo, d, hh, mm, ss)
    if m := _D_MONTH_Y.fullmatch(text):
        d, word, y, hh, mm = m.groups()
        return date_from_parts(zone, y, month_number(word), d, hh, mm)
    if m := _TIME_D_MONTH_Y.fullmatch(text):
        hh, mm, d, word, y = m.groups()
        return date_from_parts(zone, y, month_number(word), d, hh, mm)
    if m := _MONTH_D_Y.fullmatch(text):
        word, d, y, hh, mm, meridiem = m.groups()
        hour = None if hh is None else twelve_hour(hh, meridiem)
        return date_from_parts(zone, y, month_number(word), d, hour, mm)
    if m := _POLITIFACT.match(text):
        return parse_date(m.group(1), zone)
    if m := _ZH.fullmatch(text):
        return date_from_parts(zone, *m.groups())
    return None
