"""Loaders for the public research data sets echolens uses (demo corpus, tests, benchmarks).

Nothing here touches the disk at import time. Every loader takes the data root (see
`data_dir`) and yields `RawItem` or `Reject`, in file order, with a `Provenance` whose locator
is ``row {i}`` (0-based data row inside that file, header excluded).

Data location (`data_dir`): ``$ECHOLENS_DATA_DIR`` if set; else ``../shared/datasets``
relative to the working directory; else ``../shared/datasets`` beside the repository root
(the folder holding ``pyproject.toml``); else ``~/.cache/echolens/datasets``. No downloader is
provided: a missing data set raises `DataNotFound` naming the folder and the fix.

Dates and time zones
--------------------
Loaders return `published_at` as a timezone-aware UTC `datetime` (or ``None`` where the data
has no date at all). When a raw value carries an offset (``...Z``) it is used as is. When it
carries none, it is read as the *outlet's local time* and converted to UTC; a date without a
time is read as 00:00 local time (``payload["date_precision"] == "day"``). Zones assumed:

* Europe/Kyiv: pravda.com.ua, epravda.com.ua, stopfake.org
* Europe/Moscow: tass.ru, lenta.ru
* Asia/Shanghai: people.com.cn, news.cn / xinhuanet.com, cgtn.com, globaltimes.cn,
  chinadaily.com.cn, and the Chinese fact-checkers in RU22Fact (chinafactcheck.com,
  factpaper.cn, fact.qq.com)
* America/New_York: US outlets (politifact.com, snopes.com, cnn.com, ...)
* Asia/Almaty: factcheck.kz
* otherwise by top-level domain: ``.ru`` Moscow, ``.ua`` Kyiv, ``.cn`` Shanghai;
* UTC: everything else (e.g. factcheck.afp.com, whose page times carry no zone).

Chinese state media headlines (`load_cn_headlines`): CGTN, Global Times, Xinhua and China
Daily print Beijing time (UTC+8), BBC prints UTC (``...Z``). This was checked against the
scrape times in the file: each row's ``scrape_file`` names the scraper's local clock time. The
newest BBC items sit ~1 h before that clock (UTC timestamps vs. a UK clock on summer time),
while the newest items of the four Chinese outlets read up to 7.9 h *ahead* of it, never 8 h
or more: exactly what UTC+8 timestamps look like against a UTC+0/+1 clock. Read as UTC they
would put thousands of headlines hours after the scrape that saw them (tested). China
Daily prints only an ``Updated:`` time, used as `published_at`; Global Times prints
``Published: ...`` and sometimes ``Updated: ...``, and the ``Published`` time is used.

Xinhua: the outlet label ``xinhuanet`` maps to the domain ``news.cn`` (Xinhua's current main
domain, also used by RU22Fact URLs); ``xinhuanet.com`` is the same outlet.

RT sample (`load_rt_sample`): the file has no dates (article ids ~300864-314644 date the
articles to about late 2016); items carry ``published_at=None`` and ``payload["date_unknown"]``
unless the caller passes ``assume_date``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from echolens.errors import DataNotFound, UnknownFormat, UsageError
from echolens.ingest.dates import (
    ParsedDate,
    date_from_parts,
    month_number,
    parse_date,
    twelve_hour,
)
from echolens.model import Provenance, RawItem, Reject

__all__ = [
    "DATASETS",
    "DatasetSpec",
    "data_dir",
    "load_cn_headlines",
    "load_dataset",
    "load_domain_ecosystems",
    "load_rt_sample",
    "load_ru22fact",
    "url_domain",
    "zone_for_domain",
]

DATA_DIR_ENV = "ECHOLENS_DATA_DIR"
_FIX = f"set {DATA_DIR_ENV} to the folder holding the data sets (see DATASETS.md)"

Loaded = RawItem | Reject


# --------------------------------------------------------------------------------------------
# data location


def _repo_root() -> Path | None:
    for parent in Path(__file__).resolve().parents:
        if (parent / "pyproject.toml").is_file():
            return parent
    return None


def data_dir() -> Path:
    """The folder holding the data sets (see the module docstring for the search order).

    Returns the first candidate that exists; `$ECHOLENS_DATA_DIR` is returned as given even if
    absent (loaders then raise `DataNotFound`), and the cache folder is the last resort.
    """
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser()
    candidates = [Path.cwd() / ".." / "shared" / "datasets"]
    root = _repo_root()
    if root is not None:
        candidates.append(root.parent / "shared" / "datasets")
    for candidate in candidates:
        if candidate.is_dir():
            return candidate.resolve()
    return Path.home() / ".cache" / "echolens" / "datasets"


def _require_dir(root: Path, folder: str) -> Path:
    path = root / folder
    if not path.is_dir():
        raise DataNotFound(f"data set folder not found: {path}", fix=_FIX)
    return path


def _require_file(root: Path, folder: str, name: str) -> Path:
    path = _require_dir(root, folder) / name
    if not path.is_file():
        raise DataNotFound(f"data set file not found: {path}", fix=_FIX)
    return path


# --------------------------------------------------------------------------------------------
# domains and time zones

# Hosts whose subdomains are editions or sections of the same outlet: collapse to the parent.
_PARENT_DOMAINS = (
    "people.com.cn",
    "people.cn",
    "news.cn",
    "xinhuanet.com",
    "chinadaily.com.cn",
    "cgtn.com",
    "globaltimes.cn",
    "rt.com",
    "tass.ru",
    "tass.com",
    "ria.ru",
    "sputniknews.com",
    "lenta.ru",
    "bbc.com",
    "bbc.co.uk",
    "cnn.com",
    "pravda.com.ua",
    "fact.qq.com",
)
_STRIP_PREFIXES = ("www.", "m.", "amp.")


def url_domain(url: str | None) -> str | None:
    """Source domain of a URL: lower-cased host without ``www.``/``m.``/``amp.``, with
    subdomains of known outlets collapsed (``world.people.com.cn`` -> ``people.com.cn``,
    ``russian.rt.com`` -> ``rt.com``). Other subdomains are kept (``factcheck.afp.com``).
    ``None`` if `url` is not an http(s) URL."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower().rstrip(".")
    for prefix in _STRIP_PREFIXES:
        if host.startswith(prefix) and host.count(".") > 1:
            host = host[len(prefix) :]
    for parent in _PARENT_DOMAINS:
        if host.endswith("." + parent):
            return parent
    return host


_DOMAIN_ZONES: dict[str, str] = {
    "pravda.com.ua": "Europe/Kyiv",
    "epravda.com.ua": "Europe/Kyiv",
    "stopfake.org": "Europe/Kyiv",
    "tass.ru": "Europe/Moscow",
    "lenta.ru": "Europe/Moscow",
    "people.com.cn": "Asia/Shanghai",
    "people.cn": "Asia/Shanghai",
    "news.cn": "Asia/Shanghai",
    "xinhuanet.com": "Asia/Shanghai",
    "cgtn.com": "Asia/Shanghai",
    "globaltimes.cn": "Asia/Shanghai",
    "chinadaily.com.cn": "Asia/Shanghai",
    "chinafactcheck.com": "Asia/Shanghai",
    "factpaper.cn": "Asia/Shanghai",
    "fact.qq.com": "Asia/Shanghai",
    "politifact.com": "America/New_York",
    "snopes.com": "America/New_York",
    "cnn.com": "America/New_York",
    "factcheck.kz": "Asia/Almaty",
}
_TLD_ZONES: dict[str, str] = {".ru": "Europe/Moscow", ".ua": "Europe/Kyiv", ".cn": "Asia/Shanghai"}


def zone_for_domain(domain: str | None) -> str:
    """IANA zone assumed for times printed by `domain` without an offset (default UTC)."""
    if not domain:
        return "UTC"
    for key, zone in _DOMAIN_ZONES.items():
        if domain == key or domain.endswith("." + key):
            return zone
    for tld, zone in _TLD_ZONES.items():
        if domain.endswith(tld):
            return zone
    return "UTC"


# --------------------------------------------------------------------------------------------
# RU22Fact

RU22FACT_DIR = "ru22fact"
_RU22_COLUMNS = ["id", "claim", "label", "url", "date", "claimant", "language"]


def _dump(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False, default=str, sort_keys=True)


def _date_fields(parsed: ParsedDate) -> dict[str, Any]:
    return {"date_precision": parsed.precision, "date_tz": parsed.zone}


def load_ru22fact(root: Path, *, splits: Sequence[str] | None = None) -> Iterator[Loaded]:
    """RU22Fact claims (``ru22fact/*.parquet``), one `RawItem` per row.

    `splits` selects files by stem (e.g. ``"english_fact_test"``); default: all files.
    Rows whose ``date`` cannot be parsed become ``Reject(reason="bad-date")``; rows with an
    empty claim become ``Reject(reason="empty-text")``. The dataset's ``language`` column is
    unreliable and is kept only as ``payload["dataset_language"]`` (``lang`` is ``None``).
    """
    import pyarrow.parquet as pq

    folder = _require_dir(root, RU22FACT_DIR)
    files = sorted(folder.glob("*.parquet"))
    if not files:
        raise DataNotFound(f"no RU22Fact parquet files in {folder}", fix=_FIX)
    if splits is not None:
        known = {path.stem: path for path in files}
        unknown = [name for name in splits if name not in known]
        if unknown:
            raise UsageError(
                f"unknown RU22Fact split(s): {', '.join(unknown)}",
                fix=f"choose from {', '.join(sorted(known))}",
            )
        files = [known[name] for name in sorted(set(splits))]
    for path in files:
        try:
            rows: list[dict[str, Any]] = pq.read_table(path, columns=_RU22_COLUMNS).to_pylist()
        except (KeyError, ValueError) as exc:  # pyarrow raises these for missing columns
            raise UnknownFormat(
                f"{path} does not look like RU22Fact (columns {_RU22_COLUMNS}): {exc}"
            ) from exc
        for i, row in enumerate(rows):
            yield _ru22fact_row(path, i, row)


def _ru22fact_row(path: Path, i: int, row: dict[str, Any]) -> Loaded:
    provenance = Provenance(connector="ru22fact", location=path.name, locator=f"row {i}")
    raw_url = row.get("url")
    payload: dict[str, Any] = {
        "id": row.get("id"),
        "claim": row.get("claim"),
        "label": row.get("label"),
        "url": raw_url,
        "date": row.get("date"),
        "claimant": row.get("claimant"),
        "dataset_language": row.get("language"),
        "split": path.stem,
    }
    url = raw_url.strip() if isinstance(raw_url, str) else None
    domain = url_domain(url)
    zone = zone_for_domain(domain)
    raw_date = row.get("date")
    parsed = parse_date(raw_date if isinstance(raw_date, str) else None, zone)
    if parsed is None:
        detail = f"unparseable date {raw_date!r} in {path.name} row {i} (id {row.get('id')})"
        return Reject(provenance, reason="bad-date", detail=detail, payload=_dump(payload))
    claim = row.get("claim")
    text = claim.strip() if isinstance(claim, str) else ""
    if not text:
        detail = f"empty claim in {path.name} row {i} (id {row.get('id')})"
        return Reject(provenance, reason="empty-text", detail=detail, payload=_dump(payload))
    payload.update(_date_fields(parsed))
    return RawItem(
        provenance=provenance,
        payload=payload,
        source=domain,
        text=text,
        title=None,
        url=url if domain else None,
        published_at=parsed.at,
        lang=None,
        external_id=f"ru22fact:{path.stem}:{row.get('id')}",
        tz_hint=zone,
    )


# --------------------------------------------------------------------------------------------
# Chinese state media headlines 2022

CN_HEADLINES_DIR = "cn_state_media_headlines_2022"
CN_HEADLINES_FILE = "headlines_cgtn_globaltimes_xinhua_chinadaily_bbc_2022.csv"

#: outlet label in the file -> source domain (Xinhua: news.cn, see the module docstring)
CN_OUTLET_DOMAINS: dict[str, str] = {
    "cgtn": "cgtn.com",
    "globaltimes": "globaltimes.cn",
    "xinhuanet": "news.cn",
    "chinadaily": "chinadaily.com.cn",
    "bbc": "bbc.com",
}
_CN_OUTLET_ZONES: dict[str, str] = {
    "cgtn": "Asia/Shanghai",
    "globaltimes": "Asia/Shanghai",
    "xinhuanet": "Asia/Shanghai",
    "chinadaily": "Asia/Shanghai",
    "bbc": "UTC",
}
_EN_MON = r"([A-Za-z]{3,9})"
_CGTN = re.compile(r"(\d{1,2}):(\d{2}),\s*(\d{1,2})-" + _EN_MON + r"-(\d{4})")
_GT = re.compile(
    r"Published:\s*" + _EN_MON + r"\s+(\d{1,2}),\s*(\d{4})\s+(\d{1,2}):(\d{2})\s*([AP])M"
    r"(?:\s+Updated:.*)?",
    re.IGNORECASE,
)
_XINHUA = re.compile(r"(\d{4})-(\d{2})-(\d{2})\s+(\d{2}):(\d{2}):(\d{2})")
_CHINADAILY = re.compile(r"Updated:\s*(\d{4})-(\d{2})-(\d{2})\s+(\d{1,2}):(\d{2})")
_BBC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z")


def _parse_cn_date(outlet: str, raw: str) -> ParsedDate | None:
    """Parse `raw` strictly in `outlet`'s own format (see the module docstring)."""
    zone = _CN_OUTLET_ZONES.get(outlet, "UTC")
    text = " ".join(raw.split())
    if outlet == "cgtn" and (m := _CGTN.fullmatch(text)):
        hh, mm, d, mon, y = m.groups()
        return date_from_parts(zone, y, month_number(mon), d, hh, mm)
    if outlet == "globaltimes" and (m := _GT.fullmatch(text)):
        mon, d, y, hh, mm, meridiem = m.groups()
        return date_from_parts(zone, y, month_number(mon), d, twelve_hour(hh, meridiem), mm)
    if outlet == "xinhuanet" and (m := _XINHUA.fullmatch(text)):
        return date_from_parts(zone, *m.groups())
    if outlet == "chinadaily" and (m := _CHINADAILY.fullmatch(text)):
        return date_from_parts(zone, *m.groups())
    if outlet == "bbc" and _BBC.fullmatch(text):
        return parse_date(text)
    return None


def load_cn_headlines(root: Path) -> Iterator[Loaded]:
    """English headlines of CGTN, Global Times, Xinhua, China Daily and BBC (Feb-Sep 2022).

    text = title = the headline. Rows whose ``raw_date`` does not match the outlet's format
    become ``Reject(reason="bad-date")``; rows with an empty headline become
    ``Reject(reason="empty-text")`` (the date is checked first).
    """
    path = _require_file(root, CN_HEADLINES_DIR, CN_HEADLINES_FILE)
    expected = ("outlet", "section", "scrape_file", "raw_date", "title")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        missing = set(expected) - set(header)
        if missing:
            raise UnknownFormat(f"{path} lacks columns {sorted(missing)}")
        # plain rows and column positions (as csv.DictReader reads them: blank lines are
        # skipped, a missing trailing value is None; a dict per row costs a third more)
        column = {name: i for i, name in enumerate(header)}
        picks = [column[name] for name in expected]
        pick = itemgetter(*picks)
        width = max(picks) + 1
        name = path.name
        i = 0
        for values in reader:
            if not values:
                continue
            if len(values) < width:
                values = values + [None] * (width - len(values))  # type: ignore[list-item]
            yield _cn_row(name, i, *pick(values))
            i += 1


def _cn_row(name: str, i: int, outlet_value: str | None, section: str | None,
            scrape_file: str | None, raw_value: str | None, raw_title: str | None) -> Loaded:
    """One row of the headlines file `name` (the values of the `expected` columns)."""
    provenance = Provenance(connector="cn-headlines", location=name, locator=f"row {i}")
    outlet = (outlet_value or "").strip()
    raw_date = raw_value or ""
    title = " ".join((raw_title or "").split())
    payload: dict[str, Any] = {
        "outlet": outlet,
        "section": section,
        "scrape_file": scrape_file,
        "raw_date": raw_date,
        "title": raw_title,
    }
    domain = CN_OUTLET_DOMAINS.get(outlet)
    if domain is None:
        detail = f"unknown outlet {outlet!r} in {name} row {i}"
        return Reject(provenance, reason="unknown-source", detail=detail, payload=_dump(payload))
    parsed = _parse_cn_date(outlet, raw_date)
    if parsed is None:
        detail = f"unparseable {outlet} date {raw_date!r} in {name} row {i}"
        return Reject(provenance, reason="bad-date", detail=detail, payload=_dump(payload))
    if not title:
        detail = f"empty headline in {name} row {i} ({outlet}, {raw_date!r})"
        return Reject(provenance, reason="empty-text", detail=detail, payload=_dump(payload))
    payload.update(_date_fields(parsed))
    key = f"{outlet}|{raw_title or ''}|{raw_date}"
    digest = hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]
    return RawItem(
        provenance=provenance,
        payload=payload,
        source=domain,
        text=title,
        title=title,
        url=None,
        published_at=parsed.at,
        lang=None,
        external_id=f"cnhead:{outlet}:{digest}",
        tz_hint=parsed.zone,
    )


# --------------------------------------------------------------------------------------------
# RT Russian articles sample

RT_SAMPLE_DIR = "rt_russian_articles_sample"
RT_SAMPLE_FILE = "Russia_Today_articles.csv"
_RT_ID = re.compile(r"/(?:article|opinion|news)/(\d+)(?:-|$)")


def load_rt_sample(root: Path, *, assume_date: datetime | None = None) -> Iterator[Loaded]:
    """90 Russian-language RT articles (``russian.rt.com``; source ``rt.com``), full text.

    The file has no dates: items get ``published_at=None`` and ``payload["date_unknown"]``.
    With `assume_date` (must be timezone-aware) every item gets that date instead and
    ``payload["date_assumed"] = True``. A row whose link has no article id (the sample holds
    one scrape of the RT home page) becomes ``Reject(reason="not-an-article")``.
    """
    if assume_date is not None and assume_date.utcoffset() is None:
        raise UsageError("assume_date must be timezone-aware", fix="pass e.g. tzinfo=UTC")
    assumed = assume_date.astimezone(UTC) if assume_date is not None else None
    path = _require_file(root, RT_SAMPLE_DIR, RT_SAMPLE_FILE)
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"links", "title", "text"} - set(reader.fieldnames or ())
        if missing:
            raise UnknownFormat(f"{path} lacks columns {sorted(missing)}")
        for i, row in enumerate(reader):
            yield _rt_row(path, i, row, assumed)


def _rt_row(path: Path, i: int, row: dict[str, str], assumed: datetime | None) -> Loaded:
    provenance = Provenance(connector="rt-sample", location=path.name, locator=f"row {i}")
    link = (row.get("links") or "").strip()
    title = " ".join((row.get("title") or "").split())
    text = (row.get("text") or "").strip()
    payload: dict[str, Any] = {"index": row.get(""), "links": link, "title": title}
    match = _RT_ID.search(urlsplit(link).path)
    if match is None:
        detail = f"link {link!r} has no article id (not an article) in {path.name} row {i}"
        payload["text"] = text[:500]
        return Reject(provenance, reason="not-an-article", detail=detail, payload=_dump(payload))
    if not text:
        detail = f"empty article text in {path.name} row {i}"
        return Reject(provenance, reason="empty-text", detail=detail, payload=_dump(payload))
    payload["article_id"] = match.group(1)
    if assumed is None:
        payload["date_unknown"] = True
    else:
        payload["date_assumed"] = True
    return RawItem(
        provenance=provenance,
        payload=payload,
        source=url_domain(link) or "rt.com",
        text=text,
        title=title or None,
        url=link,
        published_at=assumed,
        lang=None,
        external_id=f"rt-sample:{match.group(1)}",
        tz_hint="Europe/Moscow",
    )


# --------------------------------------------------------------------------------------------
# Hanley et al. domain lists

HANLEY_DIR = "hanley_narrative_influence"
#: file prefix -> ecosystem label
HANLEY_ECOSYSTEMS: dict[str, str] = {
    "american": "us",
    "chinese": "china",
    "russian": "russia",
    "ukrainian": "ukraine",
}
MIXED_ECOSYSTEM = "mixed"


def load_domain_ecosystems(root: Path) -> dict[str, str]:
    """Domain -> ecosystem (``us``, ``china``, ``russia``, ``ukraine``) from the news-domain
    lists of Hanley, Lu & Pan (PNAS 2025).

    Domains are lower-cased, stripped of ``www.``; blank lines and ``#`` comments are skipped.
    A domain listed in more than one ecosystem maps to ``"mixed"`` (no ecosystem is guessed);
    the published lists have no such overlap (10,000 distinct domains).
    """
    folder = _require_dir(root, HANLEY_DIR)
    seen: dict[str, set[str]] = {}
    for prefix, label in HANLEY_ECOSYSTEMS.items():
        path = folder / f"{prefix}_news_domains.txt"
        if not path.is_file():
            raise DataNotFound(f"data set file not found: {path}", fix=_FIX)
        for line in path.read_text(encoding="utf-8").splitlines():
            domain = line.strip().lower()
            if not domain or domain.startswith("#"):
                continue
            if domain.startswith("www."):
                domain = domain[4:]
            seen.setdefault(domain, set()).add(label)
    return {
        domain: next(iter(labels)) if len(labels) == 1 else MIXED_ECOSYSTEM
        for domain, labels in seen.items()
    }


# --------------------------------------------------------------------------------------------
# registry


@dataclass(frozen=True)
class DatasetSpec:
    """A loadable data set: folder under the data root, loader, description and credit."""

    name: str
    folder: str
    loader: Callable[..., Iterator[Loaded]]
    description: str
    credit: str


DATASETS: dict[str, DatasetSpec] = {
    "ru22fact": DatasetSpec(
        name="ru22fact",
        folder=RU22FACT_DIR,
        loader=load_ru22fact,
        description=(
            "Russia-Ukraine war claims with fact-check labels from Ukrainian, Russian, Chinese "
            "and Western outlets and fact-checkers, 2022-2023 (7,189 rows)"
        ),
        credit="RU22Fact (Zeng & Gao 2024), via github.com/strateg17/fake-news",
    ),
    "cn-headlines": DatasetSpec(
        name="cn-headlines",
        folder=CN_HEADLINES_DIR,
        loader=load_cn_headlines,
        description=(
            "English headlines of CGTN, Xinhua, Global Times, China Daily and BBC, "
            "Feb-Sep 2022 (39,564 rows)"
        ),
        credit="Chinese state media headlines 2022 (pontyl/news-sentivis)",
    ),
    "rt-sample": DatasetSpec(
        name="rt-sample",
        folder=RT_SAMPLE_DIR,
        loader=load_rt_sample,
        description="90 Russian-language RT articles (~2016), full text, no dates",
        credit="RT Russian articles sample (YaKsenia/scraper_russia_today_news)",
    ),
}


def load_dataset(name: str, root: Path | None = None, **kw: Any) -> Iterator[Loaded]:
    """Load a registered data set by name; `root` defaults to `data_dir()`."""
    spec = DATASETS.get(name)
    if spec is None:
        raise UsageError(f"unknown data set {name!r}", fix=f"choose from {', '.join(DATASETS)}")
    base = data_dir() if root is None else root
    _require_dir(base, spec.folder)
    return spec.loader(base, **kw)
