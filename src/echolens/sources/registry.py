"""The source registry: resolve the `source` of an item to a registered `Source`.

Resolution order, first hit wins:
1. a source already in the store, by id, then by domain (also parent domains:
   `world.people.com.cn` -> `people.com.cn`);
2. the curated table shipped with echolens (`sources/curated.yaml`), by id, domain or alias;
3. the "Across the firewall" domain lists (ecosystems china/russia/ukraine/us), when the data
   directory is available;
4. otherwise a new source with ecosystem `unknown`: kept, shown, never guessed.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from echolens.errors import UsageError
from echolens.model import UNKNOWN_ECOSYSTEM, Source
from echolens.text.urls import domain_of

SOURCE_FIELDS = ("id", "name", "ecosystem", "domain", "platform", "country", "languages",
                 "state_affiliated", "kind", "followers", "aliases")
KINDS = ("outlet", "factchecker", "official", "social", "other")


def normalize_key(value: str) -> str:
    """A source reference as a lookup key: lower case, no scheme, no `www.`."""
    key = value.strip().lower()
    if "://" in key:
        key = domain_of(key) or key
    return key.removeprefix("www.").rstrip("/")


def parent_domains(domain: str) -> list[str]:
    """`a.b.example.com` -> [`a.b.example.com`, `b.example.com`, `example.com`]."""
    parts = domain.split(".")
    return [".".join(parts[i:]) for i in range(len(parts) - 1)] or [domain]


def looks_like_domain(value: str) -> bool:
    return "." in value and " " not in value and not value.startswith("@")


class SourceResolver:
    """Resolves item `source` strings; remembers the sources it had to create."""

    def __init__(
        self,
        known: Iterable[Source],
        curated: Iterable[Source] = (),
        domain_ecosystems: Mapping[str, str] | None = None,
    ) -> None:
        self._by_key: dict[str, Source] = {}
        for source in known:
            self._index(source, self._by_key)
        self._curated: dict[str, Source] = {}
        for source in curated:
            self._index(source, self._curated, with_aliases=True)
        self._domains = dict(domain_ecosystems or {})
        self.created: dict[str, Source] = {}

    @staticmethod
    def _index(source: Source, index: dict[str, Source], with_aliases: bool = False) -> None:
        keys = [source.id, source.domain or ""]
        if with_aliases:
            keys += list(source.aliases) + [source.name]
        for key in keys:
            if key:
                index.setdefault(normalize_key(key), source)

    def resolve(self, reference: str) -> Source:
        key = normalize_key(reference)
        if key in self._by_key:
            return self._by_key[key]
        candidates = parent_domains(key) if looks_like_domain(key) else [key]
        for candidate in candidates:
            if candidate in self._by_key:
                return self._by_key[candidate]
        source = self._new_source(key, candidates)
        self.created[source.id] = source
        self._index(source, self._by_key)
        self._by_key[key] = source
        return source

    def _new_source(self, key: str, candidates: Sequence[str]) -> Source:
        for candidate in candidates:
            if candidate in self._curated:
                return self._curated[candidate]
        if key in self._curated:
            return self._curated[key]
        for candidate in candidates:
            if candidate in self._domains:
                return Source(
                    id=candidate, name=candidate, domain=candidate,
                    ecosystem=self._domains[candidate], origin="domain-list",
                )
        domain = key if looks_like_domain(key) else None
        return Source(id=key, name=key, domain=domain, ecosystem=UNKNOWN_ECOSYSTEM, origin="auto")


def source_from_mapping(entry: Mapping[str, Any], where: str) -> Source:
    """Validate one source record (from YAML, CSV or the CLI) with errors naming the entry."""
    unknown = set(entry) - set(SOURCE_FIELDS) - {"notes", "origin"}
    if unknown:
        raise UsageError(
            f"{where}: unknown field(s) {sorted(unknown)}", f"use only {', '.join(SOURCE_FIELDS)}"
        )
    source_id = str(entry.get("id") or "").strip()
    if not source_id:
        raise UsageError(f"{where}: source has no id", "give every source an `id`")
    ecosystem = str(entry.get("ecosystem") or "").strip()
    if not ecosystem:
        raise UsageError(
            f"{where}: source {source_id!r} has no ecosystem",
            "add one such as russia-state, china-state, ukraine, west (or your own label)",
        )
    kind = str(entry.get("kind") or "outlet").strip()
    if kind not in KINDS:
        raise UsageError(f"{where}: kind {kind!r} of {source_id!r}", f"use one of {KINDS}")
    state = entry.get("state_affiliated")
    if isinstance(state, str):
        lowered = state.strip().lower()
        if lowered in ("", "none", "unknown"):
            state = None
        elif lowered in ("true", "yes", "1"):
            state = True
        elif lowered in ("false", "no", "0"):
            state = False
        else:
            raise UsageError(f"{where}: state_affiliated={state!r}", "use true, false or empty")
    followers = entry.get("followers")
    if isinstance(followers, str):
        followers = int(followers) if followers.strip() else None
    domain = entry.get("domain")
    return Source(
        id=normalize_key(source_id) if looks_like_domain(source_id) else source_id,
        name=str(entry.get("name") or source_id),
        ecosystem=ecosystem,
        domain=normalize_key(str(domain)) if domain else None,
        platform=str(entry.get("platform") or "web"),
        country=(str(entry["country"]) if entry.get("country") else None),
        languages=_as_tuple(entry.get("languages")),
        state_affiliated=state if isinstance(state, bool) else None,
        kind=kind,  # type: ignore[arg-type]
        followers=followers if isinstance(followers, int) else None,
        aliases=_as_tuple(entry.get("aliases")),
        origin=str(entry.get("origin") or "user"),
    )


def _as_tuple(value: Any) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        return tuple(v.strip() for v in value.replace(";", "|").split("|") if v.strip())
    return tuple(str(v) for v in value)


def read_sources_file(path: str | Path) -> tuple[list[Source], list[str]]:
    """Sources from a YAML (list, or {sources: [...]}) or CSV file with SOURCE_FIELDS columns,
    and one error message per entry that could not be read (the others still import).

    Lists inside CSV cells (languages, aliases) are separated by `|`."""
    file = Path(path)
    if not file.exists():
        raise UsageError(f"no such file: {file}", "check the path")
    entries: list[tuple[str, Mapping[str, Any]]]
    if file.suffix.lower() in (".yaml", ".yml"):
        try:
            data = yaml.safe_load(file.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise UsageError(f"{file.name} is not valid YAML: {exc}", "fix the file") from exc
        listed = data.get("sources") if isinstance(data, dict) else data
        if not isinstance(listed, list):
            raise UsageError(f"{file}: expected a list of sources", "see README: sources import")
        entries = [(f"{file.name} entry {i + 1}", e if isinstance(e, dict) else {})
                   for i, e in enumerate(listed)]
    elif file.suffix.lower() == ".csv":
        with file.open(encoding="utf-8", newline="") as handle:
            entries = [(f"{file.name} line {i + 2}", {k: v for k, v in row.items() if v})
                       for i, row in enumerate(csv.DictReader(handle))]
    else:
        raise UsageError(f"cannot read sources from {file.name}", "use a .csv, .yaml or .yml file")
    sources: list[Source] = []
    errors: list[str] = []
    for where, entry in entries:
        try:
            sources.append(source_from_mapping(entry, where))
        except (UsageError, ValueError) as exc:
            errors.append(str(exc))
    return sources, errors
