"""Dataset loaders, checked against the REAL files of the data mirror (see DATASETS.md).

Tests that need data use the `root` fixture, which skips them (with the reason) when the data
directory is absent; the date-parser tests below need no data.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from echolens.errors import DataNotFound, UsageError
from echolens.ingest import datasets
from echolens.ingest.datasets import (
    DATASETS,
    data_dir,
    load_cn_headlines,
    load_dataset,
    load_domain_ecosystems,
    load_rt_sample,
    load_ru22fact,
    parse_date,
    url_domain,
)
from echolens.model import RawItem, Reject
from tests.conftest import Cli


def _utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, us, tzinfo=UTC)


@pytest.fixture(scope="module")
def root() -> Path:
    path = data_dir()
    if not (path / "ru22fact").is_dir():
        pytest.skip(f"real data sets not found at {path} (set ECHOLENS_DATA_DIR to the mirror)")
    return path


@pytest.fixture(scope="module")
def ru22(root: Path) -> list[RawItem | Reject]:
    return list(load_ru22fact(root))


@pytest.fixture(scope="module")
def headlines(root: Path) -> list[RawItem | Reject]:
    return list(load_cn_headlines(root))


def _items(records: list[RawItem | Reject]) -> list[RawItem]:
    return [r for r in records if isinstance(r, RawItem)]


def _rejects(records: list[RawItem | Reject]) -> list[Reject]:
    return [r for r in records if isinstance(r, Reject)]


def _by_raw_date(items: list[RawItem], key: str, raw: str) -> RawItem:
    return next(item for item in items if item.payload[key] == raw)


# -- date parser (no data needed) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "zone", "expected"),
    [
        ("17 Травня, 2023", "Europe/Kyiv", _utc(2023, 5, 16, 21)),  # uk genitive, capitalised
        ("8 червня, 2022", "Europe/Kyiv", _utc(2022, 6, 7, 21)),
        ("1 Листопада, 2022", "Europe/Kyiv", _utc(2022, 10, 31, 22)),  # EET after DST ended
        ("3 листопад 2022", "Europe/Kyiv", _utc(2022, 11, 2, 22)),  # uk nominative
        ("24 лютого 2022 року", "Europe/Kyiv", _utc(2022, 2, 23, 22)),
        ("12:13, 1 ноября 2022", "Europe/Moscow", _utc(2022, 11, 1, 9, 13)),  # Lenta
        ("24 февраля 2022", "Europe/Moscow", _utc(2022, 2, 23, 21)),
        ("5 Март 2022 г.", "Europe/Moscow", _utc(2022, 3, 4, 21)),  # ru nominative
        ("2022年3月14日", "Asia/Shanghai", _utc(2022, 3, 13, 16)),
        ("2022年3月14日 10:30", "Asia/Shanghai", _utc(2022, 3, 14, 2, 30)),
        ("2022/4/29 0:00", "Asia/Shanghai", _utc(2022, 4, 28, 16)),
        ("2022/7/15 11:13", "Europe/Moscow", _utc(2022, 7, 15, 8, 13)),
        ("2022-03-17", "Europe/Kyiv", _utc(2022, 3, 16, 22)),
        (" 2022-06-28", "Asia/Shanghai", _utc(2022, 6, 27, 16)),
        ("2022-02-28, 16:53", "Europe/Kyiv", _utc(2022, 2, 28, 14, 53)),
        ("2022-09-21T19:24:51.960Z", "America/New_York", _utc(2022, 9, 21, 19, 24, 51, 960000)),
        ("07.03.2023", "Asia/Almaty", _utc(2023, 3, 6, 18)),
        ("stated on April 30, 2022 in a post:", "America/New_York", _utc(2022, 4, 30, 4)),
        ("stated on Sept. 7, 2016 in the NBC forum :", "America/New_York", _utc(2016, 9, 7, 4)),
        ("March 3, 2022", "America/New_York", _utc(2022, 3, 3, 5)),
        ("Mar 24, 2022 06:46 PM", "UTC", _utc(2022, 3, 24, 18, 46)),
        ("7 June 2022 at 11:47", "UTC", _utc(2022, 6, 7, 11, 47)),
        ("6 April 2022 at 12:32 6 April 2022 at 18:34", "UTC", _utc(2022, 4, 6, 12, 32)),
    ],
)
def test_parse_date_formats(raw: str, zone: str, expected: datetime) -> None:
    parsed = parse_date(raw, zone)
    assert parsed is not None, raw
    assert parsed.at == expected
    assert parsed.at.tzinfo is UTC


@pytest.mark.parametrize("raw", [None, "", " ", "PT24S", "31 Травня 2022x", "2022-02-30", "soon"])
def test_parse_date_rejects_garbage(raw: str | None) -> None:
    assert parse_date(raw, "Europe/Kyiv") is None


def test_url_domain() -> None:
    assert url_domain("https://world.people.com.cn/n1/2022/x.html") == "people.com.cn"
    assert url_domain("https://www.pravda.com.ua/news/1/") == "pravda.com.ua"
    assert url_domain("https://russian.rt.com/article/314644-x") == "rt.com"
    assert url_domain("https://factcheck.afp.com/doc.afp.com.32") == "factcheck.afp.com"
    assert url_domain("en") is None


# -- data location and registry --------------------------------------------------------------


def test_data_dir_env_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ECHOLENS_DATA_DIR", str(tmp_path))
    assert data_dir() == tmp_path
    with pytest.raises(DataNotFound) as info:
        list(load_dataset("ru22fact"))
    assert "ru22fact" in str(info.value) and "ECHOLENS_DATA_DIR" in str(info.value)


def test_registry() -> None:
    assert set(DATASETS) == {"ru22fact", "cn-headlines", "rt-sample"}
    assert "Zeng & Gao" in DATASETS["ru22fact"].credit
    assert "pontyl/news-sentivis" in DATASETS["cn-headlines"].credit
    assert all(spec.description and spec.credit for spec in DATASETS.values())
    with pytest.raises(UsageError):
        load_dataset("nope")


# -- RU22Fact --------------------------------------------------------------------------------

RU22_FILES = {
    "english_fact_test.parquet": 1797,
    "english_fact_validate.parquet": 889,
    "other_languages_fact_test.parquet": 737,
    "other_languages_fact_validate.parquet": 370,
    "ukrainian_fact_test.parquet": 682,
    "ukrainian_fact_train.parquet": 2373,
    "ukrainian_fact_validate.parquet": 341,
}


def test_ru22fact_counts_and_rejects(ru22: list[RawItem | Reject]) -> None:
    assert len(ru22) == 7189
    assert Counter(r.provenance.location for r in ru22) == RU22_FILES
    rejects = _rejects(ru22)
    # 117 chinafactcheck.com rows have a blank date (" "), and one row of english_fact_test
    # (id 40) is corrupt (url "en", date missing). Everything else parses.
    assert Counter(r.reason for r in rejects) == {"bad-date": 118}
    blank = [r for r in rejects if "unparseable date ' '" in r.detail]
    assert len(blank) == 117
    assert all("chinafactcheck.com" in r.payload for r in blank)
    (missing,) = [r for r in rejects if "unparseable date None" in r.detail]
    assert missing.provenance.location == "english_fact_test.parquet"
    assert "(id 40)" in missing.detail


def test_ru22fact_items(ru22: list[RawItem | Reject]) -> None:
    items = _items(ru22)
    ids = [item.external_id for item in items]
    assert len(set(ids)) == len(ids) == 7071
    assert all(re.fullmatch(r"ru22fact:[a-z_]+:\d+", i or "") for i in ids)
    first = items[0]
    assert first.provenance.connector == "ru22fact"
    assert re.fullmatch(r"row \d+", first.provenance.locator)
    for item in items:
        assert item.text and item.text == item.text.strip()
        assert item.title is None and item.lang is None
        assert isinstance(item.published_at, datetime) and item.published_at.tzinfo is UTC
        assert _utc(1990, 1, 1) < item.published_at < _utc(2024, 1, 1)
        assert "evidence" not in item.payload and "referenced_explanation" not in item.payload
        assert {"label", "claimant", "dataset_language", "date"} <= set(item.payload)
    assert Counter(item.source for item in items) == {
        "pravda.com.ua": 2345,
        "stopfake.org": 1171,
        "cnn.com": 1167,
        "politifact.com": 834,
        "tass.ru": 600,
        "snopes.com": 242,
        "bbc.com": 222,
        "people.com.cn": 211,
        "lenta.ru": 78,
        "news.cn": 72,
        "factcheck.afp.com": 53,
        "factpaper.cn": 51,
        "factcheck.kz": 18,
        "fact.qq.com": 6,
        "epravda.com.ua": 1,
    }


@pytest.mark.parametrize(
    ("raw", "source", "expected"),
    [
        ("17 Травня, 2023", "stopfake.org", _utc(2023, 5, 16, 21)),
        ("13 Лютого, 2023", "stopfake.org", _utc(2023, 2, 12, 22)),
        ("2022-02-28, 16:53", "stopfake.org", _utc(2022, 2, 28, 14, 53)),
        ("12:13, 1 ноября 2022", "lenta.ru", _utc(2022, 11, 1, 9, 13)),
        ("2022/7/15 11:13", "tass.ru", _utc(2022, 7, 15, 8, 13)),
        ("2022/9/9 0:00", "news.cn", _utc(2022, 9, 8, 16)),
        ("2022-02-24", "people.com.cn", _utc(2022, 2, 23, 16)),
        ("stated on April 30, 2022 in a post:", "politifact.com", _utc(2022, 4, 30, 4)),
        ("2022-09-21T19:24:51.960Z", "cnn.com", _utc(2022, 9, 21, 19, 24, 51, 960000)),
        ("2023/4/24", "snopes.com", _utc(2023, 4, 24, 4)),
        (
            "6 April 2022 at 12:32 6 April 2022 at 18:34",
            "factcheck.afp.com",
            _utc(2022, 4, 6, 12, 32),
        ),
        ("07.03.2023", "factcheck.kz", _utc(2023, 3, 6, 18)),  # Almaty was UTC+6
    ],
)
def test_ru22fact_dates(
    ru22: list[RawItem | Reject], raw: str, source: str, expected: datetime
) -> None:
    item = _by_raw_date(_items(ru22), "date", raw)
    assert item.source == source
    assert item.published_at == expected


def test_ru22fact_splits(root: Path) -> None:
    records = list(load_ru22fact(root, splits=["english_fact_validate"]))
    assert len(records) == 889
    assert {r.provenance.location for r in records} == {"english_fact_validate.parquet"}
    with pytest.raises(UsageError):
        list(load_ru22fact(root, splits=["english_fact_train"]))


# -- Chinese state media headlines -----------------------------------------------------------


def test_cn_headlines_counts_and_rejects(headlines: list[RawItem | Reject]) -> None:
    assert len(headlines) == 39564
    rejects = _rejects(headlines)
    # One BBC row carries a video duration ("PT24S") instead of a date (its title is empty
    # too); 747 more rows have an empty headline (Xinhua 679, BBC 62, China Daily 6).
    assert Counter(r.reason for r in rejects) == {"bad-date": 1, "empty-text": 747}
    (bad,) = [r for r in rejects if r.reason == "bad-date"]
    assert "'PT24S'" in bad.detail
    empty = Counter(json.loads(r.payload)["outlet"] for r in rejects if r.reason == "empty-text")
    assert empty == {"xinhuanet": 679, "bbc": 62, "chinadaily": 6}


def test_cn_headlines_items(headlines: list[RawItem | Reject]) -> None:
    items = _items(headlines)
    assert len(items) == 39564 - 748
    ids = [item.external_id or "" for item in items]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"cnhead:[a-z]+:[0-9a-f]{16}", i) for i in ids)
    assert Counter(item.source for item in items) == {
        "cgtn.com": 13813,
        "news.cn": 11651 - 679,
        "globaltimes.cn": 5913,
        "chinadaily.com.cn": 4572 - 6,
        "bbc.com": 3615 - 63,
    }
    item = items[0]
    assert item.provenance.connector == "cn-headlines"
    assert item.provenance.location.endswith("_2022.csv")
    assert {"section", "scrape_file", "raw_date"} <= set(item.payload)
    assert all(i.text == i.title and i.lang is None for i in items)


def test_cn_headlines_dates(headlines: list[RawItem | Reject]) -> None:
    items = _items(headlines)
    gt = next(i for i in items if (i.title or "").startswith(
        "US owes the world a clear explanation on its biomilitary activities"
    ))
    assert gt.source == "globaltimes.cn"
    assert isinstance(gt.published_at, datetime)
    assert gt.published_at.date() == datetime(2022, 3, 24).date()
    assert gt.published_at == _utc(2022, 3, 24, 14, 22)  # "Mar 24, 2022 10:22 PM" Beijing
    cgtn = _by_raw_date(items, "raw_date", "15:45, 23-Mar-2022")
    assert cgtn.published_at == _utc(2022, 3, 23, 7, 45)
    xinhua = next(i for i in items if i.title == (
        "Russia creates working groups to probe U.S.-controlled biolabs in Ukraine"
    ))
    assert xinhua.published_at == _utc(2022, 3, 31, 19, 20, 16)  # 2022-04-01 03:20:16 CST
    daily = _by_raw_date(items, "raw_date", "Updated: 2022-03-07 17:49")
    assert daily.published_at == _utc(2022, 3, 7, 9, 49)
    midnight = _by_raw_date(items, "raw_date", "Published: Mar 25, 2022 12:31 AM")
    assert midnight.published_at == _utc(2022, 3, 24, 16, 31)
    updated = _by_raw_date(
        items, "raw_date", "Published: Jan 22, 2020 09:15 PM Updated: Mar 28, 2022 09:00 AM"
    )
    assert updated.published_at == _utc(2020, 1, 22, 13, 15)  # the Published time
    bbc = _by_raw_date(items, "raw_date", "2022-08-05T00:27:34.000Z")
    assert bbc.published_at == _utc(2022, 8, 5, 0, 27, 34)


_SCRAPE = re.compile(r"[A-Za-z]+-\w{3}-(\w{3})-+(\d+)-(\d\d)_(\d\d)_(\d\d)-(\d{4})")


def _scraped_at(scrape_file: str) -> datetime:
    match = _SCRAPE.match(scrape_file)
    assert match, scrape_file
    mon, day, hh, mm, ss, year = match.groups()
    local = datetime.strptime(f"{year} {mon} {day} {hh}:{mm}:{ss}", "%Y %b %d %H:%M:%S")
    return local.replace(tzinfo=ZoneInfo("Europe/London")).astimezone(UTC)


def test_cn_headlines_time_zone_assumption(headlines: list[RawItem | Reject]) -> None:
    """No headline is published after the scrape that saw it (scraper clock: UK time).

    Holds with Beijing time for the Chinese outlets (a 15-minute slack covers one Global
    Times item stamped a few minutes ahead); reading the same values as UTC would put
    thousands of headlines hours after their scrape.
    """
    slack = timedelta(minutes=15)
    late = 0
    late_if_utc = 0
    for item in _items(headlines):
        scraped = _scraped_at(item.payload["scrape_file"])
        assert isinstance(item.published_at, datetime)
        if item.published_at > scraped + slack:
            late += 1
        if item.source != "bbc.com" and item.published_at + timedelta(hours=8) > scraped + slack:
            late_if_utc += 1
    assert late == 0
    assert late_if_utc > 1000


# -- RT sample -------------------------------------------------------------------------------


def test_rt_sample(root: Path) -> None:
    records = list(load_rt_sample(root))
    assert len(records) == 90
    (reject,) = _rejects(records)  # the last row is a scrape of the RT home page
    assert reject.reason == "not-an-article" and reject.provenance.locator == "row 89"
    items = _items(records)
    ids = [item.external_id for item in items]
    assert len(set(ids)) == 89
    assert "rt-sample:314644" in ids
    for item in items:
        assert item.source == "rt.com"
        assert item.published_at is None and item.payload["date_unknown"] is True
        assert item.text and item.title and (item.url or "").startswith("https://russian.rt.com/")


def test_rt_sample_assume_date(root: Path) -> None:
    assumed = _utc(2016, 1, 1)
    items = _items(list(load_dataset("rt-sample", root, assume_date=assumed)))
    assert len(items) == 89
    assert all(i.published_at == assumed and i.payload["date_assumed"] for i in items)
    with pytest.raises(UsageError):
        list(load_rt_sample(root, assume_date=datetime(2016, 1, 1)))


def test_cli_loads_the_rt_sample_only_with_an_assumed_date(root: Path, cli: Cli) -> None:
    undated = cli.json("datasets", "load", "rt-sample", expect=1)  # nothing loaded
    assert undated["new"] == 0 and undated["reasons"]["missing-date"] == 89
    dated = cli.json("datasets", "load", "rt-sample", "--assume-date", "2016-01-01")
    assert dated["new"] == 89
    assert "is not a date" in cli("datasets", "load", "rt-sample", "--assume-date", "soon",
                                  expect=2).output
    assert "is for rt-sample" in cli("datasets", "load", "cn-headlines", "--assume-date",
                                     "2016-01-01", expect=2).output


# -- domain ecosystems -----------------------------------------------------------------------


def test_domain_ecosystems(root: Path) -> None:
    mapping = load_domain_ecosystems(root)
    assert len(mapping) == 10000
    assert Counter(mapping.values()) == {"us": 2500, "china": 2500, "russia": 2500, "ukraine": 2500}
    assert mapping["tass.ru"] == "russia"
    assert mapping["cgtn.com"] == "china"
    assert mapping["pravda.com.ua"] == "ukraine"
    assert mapping["cnn.com"] == "us"


def test_domain_ecosystems_overlap_is_mixed(tmp_path: Path) -> None:
    folder = tmp_path / datasets.HANLEY_DIR
    folder.mkdir()
    lists = {"american": "a.com\nboth.org\n", "chinese": "WWW.Both.org\nc.cn\n"}
    for prefix in datasets.HANLEY_ECOSYSTEMS:
        (folder / f"{prefix}_news_domains.txt").write_text(lists.get(prefix, ""))
    assert load_domain_ecosystems(tmp_path) == {"a.com": "us", "both.org": "mixed", "c.cn": "china"}


def test_cn_headlines_reads_rows_like_a_dict_reader(tmp_path: Path) -> None:
    """Columns are found by name in any order; blank lines are skipped without counting as
    rows; a row cut short reads its missing values as absent (here: an empty headline)."""
    folder = tmp_path / datasets.CN_HEADLINES_DIR
    folder.mkdir()
    (folder / datasets.CN_HEADLINES_FILE).write_text(
        "title,raw_date,outlet,extra,section,scrape_file\n"
        '"Xi meets Putin, talks on Ukraine",2022-03-01 10:00:00,xinhuanet,x,world,a.json\n'
        "\n"
        "Second headline,2022-03-02 11:00:00,xinhuanet,x,world,b.json\n"
        ",2022-03-03 12:00:00,xinhuanet\n",
        encoding="utf-8",
    )
    first, second, cut = load_cn_headlines(tmp_path)
    assert isinstance(first, RawItem) and isinstance(second, RawItem)
    assert first.text == "Xi meets Putin, talks on Ukraine"
    assert first.published_at == _utc(2022, 3, 1, 2)  # Beijing time
    assert second.provenance.locator == "row 1"
    assert second.payload["scrape_file"] == "b.json"
    assert isinstance(cut, Reject) and cut.reason == "empty-text"
    assert cut.provenance.locator == "row 2"
    assert json.loads(cut.payload)["section"] is None
