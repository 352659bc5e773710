"""The source registry: import, add, list, resolution by domain, unknown stays unknown."""

from __future__ import annotations

from pathlib import Path

from echolens.model import Source
from echolens.sources.registry import SourceResolver
from tests.conftest import Cli, write_jsonl


def test_import_csv_and_yaml_add_and_list(tmp_path: Path, cli: Cli) -> None:
    csv_file = tmp_path / "sources.csv"
    csv_file.write_text(
        "id,name,ecosystem,domain,platform,state_affiliated,aliases\n"
        "rt,RT,russia-state,rt.com,web,true,Russia Today|Раша Тудэй|今日俄罗斯\n"
        "nobody,Nobody,,nobody.example,web,,\n", encoding="utf-8")
    result = cli("sources", "import", str(csv_file))
    assert "1 sources imported, 1 skipped" in result.output
    assert "has no ecosystem" in result.output
    yaml_file = tmp_path / "sources.yaml"
    yaml_file.write_text(
        "sources:\n  - id: weibo-gt\n    name: Global Times on Weibo\n"
        "    ecosystem: china-state\n    platform: weibo\n    followers: 30000000\n",
        encoding="utf-8")
    cli("sources", "import", str(yaml_file))
    cli("sources", "add", "mychannel", "--ecosystem", "z-bloggers", "--platform", "telegram",
        "--alias", "Мой канал")
    listed = {s["id"]: s for s in cli.json("sources", "list")}
    assert listed["rt"]["state_affiliated"] is True
    assert listed["weibo-gt"]["ecosystem"] == "china-state"
    assert listed["mychannel"]["ecosystem"] == "z-bloggers"
    only = cli.json("sources", "list", "--ecosystem", "russia-state")
    assert [s["id"] for s in only] == ["rt"]


def test_items_use_the_registered_source_by_domain(tmp_path: Path, cli: Cli) -> None:
    cli("sources", "add", "my-outlet", "--ecosystem", "west", "--domain", "example.org")
    path = write_jsonl(tmp_path / "x.jsonl", [
        {"source": "https://www.example.org/news", "text": "War news from Kyiv",
         "published_at": "2022-03-01"},
        {"source": "world.example.org", "text": "More war news from Kyiv today",
         "published_at": "2022-03-01"},
    ])
    cli.json("ingest", str(path))
    assert cli.json("stats")["by_source"] == {"my-outlet": 2}


def test_resolver_order_store_curated_domain_list_unknown() -> None:
    resolver = SourceResolver(
        known=[Source(id="mine", name="Mine", ecosystem="custom", domain="mine.org")],
        curated=[Source(id="tass", name="TASS", ecosystem="russia-state", domain="tass.ru",
                        aliases=("ТАСС",))],
        domain_ecosystems={"borbagazeta.ru": "russia"},
    )
    assert resolver.resolve("https://mine.org/x").id == "mine"
    assert resolver.resolve("TASS.ru").ecosystem == "russia-state"
    assert resolver.resolve("ТАСС").id == "tass"
    assert resolver.resolve("borbagazeta.ru").ecosystem == "russia"
    unknown = resolver.resolve("blog.example.net")
    assert (unknown.ecosystem, unknown.origin) == ("unknown", "auto")
    assert set(resolver.created) == {"tass", "borbagazeta.ru", "blog.example.net"}
