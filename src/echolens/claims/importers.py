"""Fact-check importers: schema.org ClaimReview (JSON-LD in pages, JSON exports), EUvsDisinfo
CSV (both scrapes), StopFake rows of RU22Fact, CLEF-2020 verified claims, generic JSONL.

Each reader yields `FactCheck` or `FactCheckReject` (with the reason and the place), one per
input record, so one bad record never stops an import.
"""

from __future__ import annotations

import csv
import hashlib
import html
import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from echolens.claims.lexical import script_lang
from echolens.claims.records import (
    FactCheck,
    FactCheckReject,
    UnknownVerdict,
    normalize_verdict,
    rating_verdict,
)
from echolens.errors import UsageError
from echolens.ingest.normalize import normalize_lang

FORMATS = ("claimreview", "euvsdisinfo", "clef", "ru22fact-stopfake", "jsonl")
Record = FactCheck | FactCheckReject
_LDJSON = re.compile(
    r"<script[^>]*type\s*=\s*[\"']application/ld\+json[\"'][^>]*>(.*?)</script>",
    re.IGNORECASE | re.DOTALL,
)
csv.field_size_limit(10_000_000)


def guess_format(path: str | Path) -> str:
    p = Path(path)
    name = p.name.lower()
    if p.is_dir() or name.endswith(".parquet"):
        return "ru22fact-stopfake"
    if name.endswith((".html", ".htm", ".json")):
        return "claimreview"
    if name.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if name.endswith(".tsv"):
        return "clef"
    if name.endswith(".csv"):
        return "euvsdisinfo"
    raise UsageError(f"cannot tell the format of {p.name}", f"pass --format {'|'.join(FORMATS)}")


def read_factchecks(path: str | Path, fmt: str | None = None) -> Iterator[Record]:
    """Records of a fact-check file in `fmt` (guessed from the name when None)."""
    p = Path(path)
    if not p.exists():
        raise UsageError(f"no such file: {p}", "check the path")
    chosen = fmt or guess_format(p)
    readers: dict[str, Callable[[Path], Iterator[Record]]] = {
        "claimreview": read_claimreview, "euvsdisinfo": read_euvsdisinfo, "clef": read_clef,
        "ru22fact-stopfake": read_ru22fact_stopfake, "jsonl": read_jsonl,
    }
    if chosen not in readers:
        raise UsageError(f"unknown fact-check format {chosen!r}",
                         f"use one of {', '.join(FORMATS)}")
    return readers[chosen](p)


# -- helpers -------------------------------------------------------------------------------
def _date(raw: Any) -> datetime | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, datetime):
        return raw if raw.tzinfo else raw.replace(tzinfo=UTC)
    text = str(raw).strip()
    for fmt in ("%m/%d/%y", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            pass
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except ValueError:
        pass
    from echolens.ingest.dates import parse_date

    found = parse_date(text)
    return found.at if found else None


def _clean(value: Any) -> str | None:
    if value is None:
        return None
    text = html.unescape(" ".join(str(value).split()))
    return text or None


def _short_id(prefix: str, *parts: str | None) -> str:
    digest = hashlib.sha1("\x1f".join(p or "" for p in parts).encode("utf-8")).hexdigest()
    return f"{prefix}:{digest[:16]}"


def _verdict(label: str | None) -> str | None:
    """A label mapped onto VERDICTS; long labels ("False. The photo...") by their first part."""
    try:
        return normalize_verdict(label)
    except UnknownVerdict:
        head = re.split(r"[.:;!,(—–]| - ", label or "", maxsplit=1)[0]
        if head.strip() and head != label:
            return normalize_verdict(head)
        raise


def _build(record: dict[str, Any], *, fmt: str, location: str, locator: str,
           default_org: str | None = None) -> Record:
    text = _clean(record.get("text"))
    if not text:
        return FactCheckReject(location, locator, "empty-text", "the record has no claim text")
    label = _clean(record.get("verdict"))
    try:
        verdict = _verdict(label) if label else None
    except UnknownVerdict as exc:
        return FactCheckReject(location, locator, "unknown-verdict", str(exc))
    fc_id = _clean(record.get("id")) or _short_id(fmt, _clean(record.get("url")), text)
    raw_date = record.get("published_at")
    published = _date(raw_date)
    if raw_date and published is None:
        return FactCheckReject(location, locator, "bad-date", f"cannot read date {raw_date!r}")
    return FactCheck(
        id=fc_id, text=text, lang=normalize_lang(_clean(record.get("lang"))) or script_lang(text),
        title=_clean(record.get("title")), url=_clean(record.get("url")), verdict=verdict,
        verdict_label=label, organization=_clean(record.get("organization")) or default_org,
        published_at=published, disproof=_clean(record.get("disproof")), source_format=fmt,
        location=location, locator=locator,
    )


# -- generic JSONL -------------------------------------------------------------------------
def read_jsonl(path: Path) -> Iterator[Record]:
    with path.open(encoding="utf-8", errors="replace") as handle:
        for n, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            locator = f"line {n}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                yield FactCheckReject(str(path), locator, "bad-json", f"not JSON: {exc.msg}")
                continue
            if not isinstance(record, dict):
                yield FactCheckReject(str(path), locator, "bad-json", "a line must be an object")
                continue
            yield _build(record, fmt="jsonl", location=str(path), locator=locator)


# -- ClaimReview ---------------------------------------------------------------------------
def _name(node: Any) -> str | None:
    if isinstance(node, dict):
        return _clean(node.get("name") or node.get("alternateName") or node.get("url"))
    if isinstance(node, list) and node:
        return _name(node[0])
    return _clean(node) if isinstance(node, str) else None


def _types(node: dict[str, Any]) -> set[str]:
    kind = node.get("@type", [])
    return {str(k).rsplit("/", 1)[-1] for k in (kind if isinstance(kind, list) else [kind])}


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    """Every ClaimReview object inside a JSON-LD document (lists, @graph, DataFeed...)."""
    if isinstance(node, list):
        for child in node:
            yield from _walk(child)
    elif isinstance(node, dict):
        if "ClaimReview" in _types(node):
            yield node
            return
        for key in ("@graph", "dataFeedElement", "item", "mainEntity", "itemListElement"):
            if key in node:
                yield from _walk(node[key])


def _from_claimreview(node: dict[str, Any]) -> dict[str, Any]:
    rating = node.get("reviewRating") or {}
    if isinstance(rating, list):
        rating = rating[0] if rating else {}
    label = _clean(rating.get("alternateName") or rating.get("name")) if isinstance(
        rating, dict) else None
    verdict_from_number: str | None = None
    if not label and isinstance(rating, dict) and rating.get("ratingValue") is not None:
        try:
            verdict_from_number = rating_verdict(float(rating["ratingValue"]),
                                                 float(rating.get("bestRating", 5)),
                                                 float(rating.get("worstRating", 1)))
        except (TypeError, ValueError):
            verdict_from_number = None
    reviewed = node.get("itemReviewed") or {}
    lang = node.get("inLanguage")
    if isinstance(lang, dict):
        lang = lang.get("alternateName") or lang.get("name")
    return {
        "id": None, "text": node.get("claimReviewed"), "title": node.get("headline") or
        node.get("name"), "url": node.get("url"), "verdict": label or verdict_from_number,
        "organization": _name(node.get("author")) or _name(node.get("publisher")),
        "published_at": node.get("datePublished") or (
            reviewed.get("datePublished") if isinstance(reviewed, dict) else None),
        "lang": (str(lang).split("-")[0].lower() if lang else None),
    }


def _from_api_claim(claim: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Google Fact Check Tools API: {"text", "claimant", "claimReview": [...]}."""
    for review in claim.get("claimReview") or [{}]:
        lang = review.get("languageCode")
        yield {
            "id": None, "text": claim.get("text"), "title": review.get("title"),
            "url": review.get("url"), "verdict": review.get("textualRating"),
            "organization": _name(review.get("publisher")),
            "published_at": review.get("reviewDate") or claim.get("claimDate"),
            "lang": str(lang).split("-")[0].lower() if lang else None,
        }


def read_claimreview(path: Path) -> Iterator[Record]:
    raw = path.read_text(encoding="utf-8", errors="replace")
    location = str(path)
    if path.suffix.lower() in (".html", ".htm") or raw.lstrip().startswith("<"):
        blocks = [html.unescape(b) if "&quot;" in b else b for b in _LDJSON.findall(raw)]
        if not blocks:
            yield FactCheckReject(location, "page", "no-claimreview",
                                  "no application/ld+json block in the page")
            return
    else:
        blocks = [raw]
    found = 0
    for b, block in enumerate(blocks, start=1):
        where = f"block {b}" if len(blocks) > 1 or block is not raw else "document"
        try:
            doc = json.loads(block)
        except json.JSONDecodeError as exc:
            yield FactCheckReject(location, where, "bad-jsonld",
                                  f"JSON-LD does not parse: {exc.msg} at line {exc.lineno}")
            continue
        records: list[dict[str, Any]] = []
        if isinstance(doc, dict) and isinstance(doc.get("claims"), list):
            for claim in doc["claims"]:
                if isinstance(claim, dict):
                    records.extend(_from_api_claim(claim))
        records.extend(_from_claimreview(node) for node in _walk(doc))
        for i, record in enumerate(records, start=1):
            found += 1
            yield _build(record, fmt="claimreview", location=location,
                         locator=f"{where} review {i}")
    if found == 0 and blocks:
        yield FactCheckReject(location, "document", "no-claimreview",
                              "no ClaimReview object (or Fact Check Tools 'claims' list) found")


# -- EUvsDisinfo ---------------------------------------------------------------------------
_CKNABS = {"date", "id", "title"}
_KALKUN = {"date", "title", "summary"}


def read_euvsdisinfo(path: Path,
                     keep: Callable[[dict[str, str]], bool] | None = None) -> Iterator[Record]:
    """Both scrapes: cknabs posts (date,id=case URL,title,...) and kalkun cases
    (issue,date MM/DD/YY,outlet,...,title,summary,disproof).

    `keep`, given a raw CSV row (column -> value), selects a subset: rows it refuses are
    left out (not rejected), and the others keep the ids and locators of a full import."""
    location = str(path)
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        reader = csv.DictReader(handle)
        columns = set(reader.fieldnames or [])
        if columns >= _KALKUN:
            variant = "kalkun"
        elif columns >= _CKNABS:
            variant = "cknabs"
        else:
            yield FactCheckReject(location, "header", "wrong-format",
                                  f"not an EUvsDisinfo CSV: columns {sorted(columns)[:8]}; "
                                  "expected date,id,title,... or ...,title,summary,disproof")
            return
        for n, row in enumerate(reader):
            if keep is not None and not keep(row):
                continue
            locator = f"row {n + 2}"
            if variant == "kalkun":
                record = {
                    "id": f"euvsk:{n}", "text": row.get("summary") or row.get("title"),
                    "title": row.get("title"), "url": None, "lang": "en",
                    "verdict": "disinformation", "published_at": row.get("date"),
                    "disproof": row.get("disproof"),
                }
            else:
                url = (row.get("id") or "").strip()
                slug = url.rstrip("/").rsplit("/", 1)[-1] if url else None
                record = {
                    "id": f"euvs:{slug}" if slug else None, "text": row.get("title"),
                    "url": url or None, "lang": "en", "verdict": "disinformation",
                    "published_at": row.get("date"),
                }
            yield _build(record, fmt="euvsdisinfo", location=location, locator=locator,
                         default_org="EUvsDisinfo")


# -- CLEF-2020 verified claims -------------------------------------------------------------
def unquote_tsv(field: str) -> str:
    """A field quoted CSV-style (`"A ""law"" was..."`) as its text (`A "law" was...`)."""
    if len(field) >= 2 and field[0] == '"' and field[-1] == '"':
        return field[1:-1].replace('""', '"')
    return field


def read_clef(path: Path) -> Iterator[Record]:
    location = str(path)
    with path.open(encoding="utf-8", errors="replace") as handle:
        header = handle.readline().rstrip("\n").split("\t")
        if header[:2] != ["", "vclaim"] and "vclaim" not in header:
            yield FactCheckReject(location, "header", "wrong-format",
                                  "not a CLEF verified_claims TSV (id, vclaim, title)")
            return
        for n, line in enumerate(handle, start=2):
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 2:
                yield FactCheckReject(location, f"line {n}", "bad-row", "fewer than 2 columns")
                continue
            parts = [unquote_tsv(p) for p in parts]
            record = {"id": f"clef:{parts[0]}", "text": parts[1],
                      "title": parts[2] if len(parts) > 2 else None, "lang": "en"}
            yield _build(record, fmt="clef", location=location, locator=f"line {n}",
                         default_org="Snopes (CLEF-2020)")


# -- RU22Fact StopFake ---------------------------------------------------------------------
def read_ru22fact_stopfake(path: Path) -> Iterator[Record]:
    """StopFake rows (url on stopfake.org) of RU22Fact parquet files (a file or a folder).

    Other rows are not fact-check records of StopFake and are left out (not rejected)."""
    import polars as pl

    files = sorted(path.glob("*_fact_*.parquet")) if path.is_dir() else [path]
    for file in files:
        split = file.stem.replace("_fact", "")
        try:
            frame = pl.read_parquet(file)
        except Exception as exc:  # noqa: BLE001 - polars raises several error types
            yield FactCheckReject(str(file), "file", "wrong-format", f"not parquet: {exc}")
            continue
        if not {"id", "claim", "url"} <= set(frame.columns):
            yield FactCheckReject(str(file), "file", "wrong-format",
                                  "not RU22Fact: needs columns id, claim, url")
            continue
        for row in frame.iter_rows(named=True):
            url = row.get("url") or ""
            if "stopfake.org" not in url:
                continue
            label = row.get("label")
            record = {
                "id": f"stopfake:{split}:{row['id']}", "text": row.get("claim"), "url": url,
                "verdict": "false" if label == "Refuted" else label,
                "published_at": None, "disproof": row.get("referenced_explanation"),
            }
            fact = _build(record, fmt="ru22fact-stopfake", location=str(file),
                          locator=f"id {row['id']}", default_org="StopFake")
            if isinstance(fact, FactCheck) and row.get("date"):
                from dataclasses import replace

                fact = replace(fact, published_at=_date(row["date"]))
            yield fact
