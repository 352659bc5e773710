"""The curated source table (``echolens/sources/curated.yaml``): load and validate it.

The YAML is a list of mappings, one per source; its header documents the keys. Loading
validates every entry and raises `CuratedSourceError` naming the entry (index and id) and the
problem. Besides the `Source` fields an entry may carry ``other_domains`` (further domains of
the same source, see `curated_domain_index`) and ``notes`` (free text for reviewers).
`load_curated` also appends ``other_domains`` to `Source.aliases`, so a resolver that indexes
aliases finds e.g. ``xinhuanet.com`` -> xinhua and ``tass.com`` -> tass.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any, cast, get_args

import yaml

from echolens.errors import UnknownFormat
from echolens.model import Source, SourceKind

__all__ = [
    "CURATED_RESOURCE",
    "ECOSYSTEMS",
    "CuratedEntry",
    "CuratedSourceError",
    "curated_domain_index",
    "load_curated",
    "load_curated_entries",
    "parse_curated",
]

CURATED_RESOURCE = "curated.yaml"
#: ecosystems allowed in the curated table (russia / china: domestic, not state media)
ECOSYSTEMS = frozenset({"russia-state", "china-state", "ukraine", "west", "russia", "china"})

_REQUIRED = ("id", "name", "domain", "ecosystem", "kind")
_OPTIONAL = (
    "other_domains",
    "platform",
    "country",
    "languages",
    "state_affiliated",
    "aliases",
    "notes",
)
_ID = re.compile(r"[a-z0-9][a-z0-9-]*")
_DOMAIN = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}")
_COUNTRY = re.compile(r"[A-Z]{2}")
_LANG = re.compile(r"[a-z]{2,3}")
_KINDS: tuple[str, ...] = get_args(SourceKind)


class CuratedSourceError(UnknownFormat):
    """The curated source table is malformed (the message names the entry)."""


@dataclass(frozen=True)
class CuratedEntry:
    """One validated entry: the `Source` plus the YAML-only fields."""

    source: Source  # aliases include other_domains
    other_domains: tuple[str, ...] = ()
    notes: str | None = None


def _fail(where: str, label: str, problem: str) -> CuratedSourceError:
    return CuratedSourceError(
        f"{where}: invalid curated source {label}: {problem}",
        fix=f"edit {where} (see the key list at the top of the file)",
    )


def _str_list(value: Any, key: str, fail: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise fail(f"{key} must be a list of non-empty strings")
    return tuple(v.strip() for v in value)


def _entry(raw: Any, index: int, where: str) -> CuratedEntry:
    label = f"entry {index}"
    if isinstance(raw, dict) and isinstance(raw.get("id"), str):
        label = f"entry {index} (id {raw['id']!r})"

    def fail(problem: str) -> CuratedSourceError:
        return _fail(where, label, problem)

    if not isinstance(raw, dict):
        raise fail("must be a mapping")
    unknown = sorted(set(raw) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        raise fail(f"unknown key(s) {unknown}")
    for key in _REQUIRED:
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise fail(f"{key} is required and must be a non-empty string")
    source_id = raw["id"].strip()
    if not _ID.fullmatch(source_id):
        raise fail("id must be a lower-case slug (a-z, 0-9, -)")
    domains = (raw["domain"].strip(), *_str_list(raw.get("other_domains"), "other_domains", fail))
    for domain in domains:
        if not _DOMAIN.fullmatch(domain) or domain.startswith("www."):
            raise fail(f"bad domain {domain!r} (lower-case host name without www.)")
    ecosystem = raw["ecosystem"].strip()
    if ecosystem not in ECOSYSTEMS:
        raise fail(f"ecosystem {ecosystem!r} is not one of {sorted(ECOSYSTEMS)}")
    kind = raw["kind"].strip()
    if kind not in _KINDS:
        raise fail(f"kind {kind!r} is not one of {list(_KINDS)}")
    platform = raw.get("platform", "web")
    if not isinstance(platform, str) or not platform.strip():
        raise fail("platform must be a non-empty string")
    country = raw.get("country")
    if country is not None and (not isinstance(country, str) or not _COUNTRY.fullmatch(country)):
        raise fail("country must be a two-letter upper-case code or null")
    languages = _str_list(raw.get("languages"), "languages", fail)
    bad_langs = [lang for lang in languages if not _LANG.fullmatch(lang)]
    if bad_langs:
        raise fail(f"languages must be ISO 639 codes, got {bad_langs}")
    state = raw.get("state_affiliated")
    if state is not None and not isinstance(state, bool):
        raise fail("state_affiliated must be true, false or null")
    aliases = _str_list(raw.get("aliases"), "aliases", fail)
    notes = raw.get("notes")
    if notes is not None and not isinstance(notes, str):
        raise fail("notes must be a string")
    source = Source(
        id=source_id,
        name=raw["name"].strip(),
        ecosystem=ecosystem,
        domain=domains[0],
        platform=platform.strip(),
        country=country,
        languages=languages,
        state_affiliated=state,
        kind=cast(SourceKind, kind),  # checked against SourceKind above
        aliases=aliases + tuple(d for d in domains[1:] if d not in aliases),
        origin="curated",
    )
    return CuratedEntry(source=source, other_domains=domains[1:], notes=notes)


def parse_curated(data: Any, where: str = CURATED_RESOURCE) -> list[CuratedEntry]:
    """Validate parsed YAML (`data`) as a curated table; `where` names it in errors.

    Checks each entry, then that ids are unique and that no domain (primary or other) is
    claimed by two entries.
    """
    if not isinstance(data, list):
        raise CuratedSourceError(
            f"{where}: the curated source table must be a YAML list of sources",
            fix=f"edit {where}",
        )
    entries = [_entry(raw, index, where) for index, raw in enumerate(data)]
    ids: dict[str, int] = {}
    owners: dict[str, str] = {}
    for index, entry in enumerate(entries):
        label = f"entry {index} (id {entry.source.id!r})"
        if entry.source.id in ids:
            raise _fail(where, label, f"duplicate id (also entry {ids[entry.source.id]})")
        ids[entry.source.id] = index
        for domain in (entry.source.domain or "", *entry.other_domains):
            if domain in owners:
                raise _fail(where, label, f"domain {domain!r} already used by {owners[domain]!r}")
            owners[domain] = entry.source.id
    return entries


@functools.cache
def _curated_entries() -> tuple[CuratedEntry, ...]:
    return tuple(load_curated_entries())


def load_curated_entries() -> list[CuratedEntry]:
    """Read and validate the packaged ``curated.yaml``."""
    resource = resources.files("echolens.sources").joinpath(CURATED_RESOURCE)
    text = resource.read_text(encoding="utf-8")
    try:
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise CuratedSourceError(
            f"{CURATED_RESOURCE}: not valid YAML: {exc}", fix=f"edit {CURATED_RESOURCE}"
        ) from exc
    return parse_curated(data, CURATED_RESOURCE)


def load_curated() -> list[Source]:
    """The curated sources (``origin="curated"``), in file order; read once per process."""
    return [entry.source for entry in _curated_entries()]


def curated_domain_index() -> dict[str, str]:
    """Every curated domain (primary and ``other_domains``) -> source id."""
    index: dict[str, str] = {}
    for entry in load_curated_entries():
        for domain in (entry.source.domain or "", *entry.other_domains):
            index[domain] = entry.source.id
    return index
