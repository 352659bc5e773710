"""The curated source table shipped in the package (echolens/sources/curated.yaml)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from echolens.model import Source
from echolens.sources.curated import (
    ECOSYSTEMS,
    CuratedSourceError,
    curated_domain_index,
    load_curated,
    load_curated_entries,
    parse_curated,
)


@pytest.fixture(scope="module")
def sources() -> dict[str, Source]:
    return {source.id: source for source in load_curated()}


def test_table_shape(sources: dict[str, Source]) -> None:
    entries = load_curated_entries()
    assert 40 <= len(entries) <= 65
    assert len(sources) == len(entries)  # unique ids
    domains = [d for e in entries for d in (e.source.domain or "", *e.other_domains)]
    assert all(domains) and len(set(domains)) == len(domains)
    assert len(curated_domain_index()) == len(domains)
    for source in sources.values():
        assert source.ecosystem in ECOSYSTEMS
        assert source.origin == "curated"
        assert source.kind in ("outlet", "factchecker", "official")
        assert source.aliases, source.id
    assert set(Counter(s.ecosystem for s in sources.values())) >= {
        "russia-state", "china-state", "ukraine", "west"
    }


@pytest.mark.parametrize(
    ("source_id", "aliases"),
    [
        ("rt", {"RT", "Russia Today", "Раша Тудэй", "今日俄罗斯"}),
        ("tass", {"TASS", "ТАСС", "塔斯社"}),
        ("sputnik", {"Sputnik", "Спутник", "俄罗斯卫星通讯社"}),
        ("ria-novosti", {"RIA Novosti", "РИА Новости", "俄新社"}),
        ("xinhua", {"Xinhua", "新华社", "Синьхуа", "Сіньхуа"}),
    ],
)
def test_key_aliases(sources: dict[str, Source], source_id: str, aliases: set[str]) -> None:
    assert aliases <= set(sources[source_id].aliases)


def test_dataset_domains_are_curated() -> None:
    index = curated_domain_index()
    for domain in (
        "tass.ru", "lenta.ru", "rt.com", "people.com.cn", "news.cn", "xinhuanet.com", "cgtn.com",
        "globaltimes.cn", "chinadaily.com.cn", "pravda.com.ua", "stopfake.org", "cnn.com",
        "bbc.com", "politifact.com", "snopes.com", "factcheck.afp.com",
    ):
        assert domain in index, domain
    assert index["xinhuanet.com"] == index["news.cn"] == "xinhua"
    assert index["tass.com"] == "tass"


def test_affiliation_and_kinds(sources: dict[str, Source]) -> None:
    assert sources["voa"].state_affiliated is True and sources["voa"].ecosystem == "west"
    assert sources["guancha"].state_affiliated is False
    assert sources["guancha"].ecosystem == "china"
    assert sources["stopfake"].kind == "factchecker"
    assert sources["politifact"].kind == "factchecker"
    assert sources["mid-ru"].kind == "official"
    assert sources["xinhua"].domain == "news.cn"
    assert "xinhuanet.com" in sources["xinhua"].aliases  # other domains are resolvable aliases


def _entry(**overrides: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": "x", "name": "X", "domain": "x.com", "ecosystem": "west", "kind": "outlet",
    }
    entry.update(overrides)
    return entry


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([_entry(), _entry(id="y", ecosystem="mars")], "entry 1 (id 'y')"),
        ([_entry(kind="blog")], "kind 'blog'"),
        ([_entry(colour="red")], "unknown key(s) ['colour']"),
        ([_entry(), _entry(id="y", other_domains=["x.com"])], "already used by 'x'"),
        ([_entry(), _entry()], "duplicate id"),
        ([_entry(domain="www.x.com")], "bad domain"),
        ([_entry(state_affiliated="yes")], "state_affiliated"),
        ([{"name": "no id"}], "entry 0"),
        ({"id": "x"}, "must be a YAML list"),
    ],
)
def test_validation_names_the_entry(data: Any, message: str) -> None:
    with pytest.raises(CuratedSourceError) as info:
        parse_curated(data, "test.yaml")
    assert message in str(info.value)
    assert "test.yaml" in str(info.value)
