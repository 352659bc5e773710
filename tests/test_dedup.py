"""Exact duplicates add nothing; near-duplicate copies link to the earliest published copy."""

from __future__ import annotations

from pathlib import Path

from echolens.database import Database
from tests.conftest import write_jsonl


def _dups(db: Database) -> dict[str, str | None]:
    return {r["id"]: r["duplicate_of"] for r in db.items().to_dicts()}


def test_syndicated_copies_link_to_first_copy(tmp_path: Path, db: Database) -> None:
    rows = [
        {"id": "gt", "source": "globaltimes.cn", "published_at": "2022-03-09T08:00:00Z",
         "text": "Russian military says it found evidence of US-funded biological weapons "
                 "programs in Ukraine: RT"},
        {"id": "cd", "source": "chinadaily.com.cn", "published_at": "2022-03-09T10:00:00Z",
         "text": "Russian military says it found evidence of US-funded biological weapons "
                 "programs in Ukraine - RT"},
        {"id": "xh", "source": "news.cn", "published_at": "2022-03-09T09:00:00Z",
         "text": "俄国防部称在乌克兰发现美国资助的生物武器计划证据"},
        {"id": "xh2", "source": "people.com.cn", "published_at": "2022-03-09T11:00:00Z",
         "text": "俄国防部称在乌克兰发现美国资助的生物武器计划证据！"},
        {"id": "other", "source": "bbc.com", "published_at": "2022-03-09T12:00:00Z",
         "text": "Russia's claims about US biological weapons labs in Ukraine fact-checked"},
    ]
    report = db.ingest([str(write_jsonl(tmp_path / "a.jsonl", rows))])
    assert (report.new, report.near_duplicates) == (5, 2)
    assert _dups(db) == {"gt": None, "cd": "gt", "xh": None, "xh2": "xh", "other": None}
    # an earlier copy arriving later becomes the first copy; the group is re-linked
    earlier = [{"id": "rt", "source": "rt.com", "published_at": "2022-03-08T20:00:00Z",
                "text": "Russian military says it found evidence of US-funded biological "
                        "weapons programs in Ukraine"}]
    db.ingest([str(write_jsonl(tmp_path / "b.jsonl", earlier))])
    dups = _dups(db)
    assert dups["rt"] is None and dups["gt"] == "rt" and dups["cd"] == "rt"
    assert db.stats()["distinct_items"] == 3


def test_same_source_same_text_or_url_is_a_duplicate(tmp_path: Path, db: Database) -> None:
    rows = [
        {"source": "tass.ru", "text": "Текст новости", "published_at": "2022-03-01T10:00:00Z",
         "url": "https://tass.ru/a/1"},
        {"source": "tass.ru", "text": "Текст  новости!", "published_at": "2022-03-01T11:00:00Z"},
        {"source": "tass.ru", "text": "Обновлённый текст", "published_at": "2022-03-01T12:00:00Z",
         "url": "https://www.tass.ru/a/1?utm_medium=x#top"},
    ]
    report = db.ingest([str(write_jsonl(tmp_path / "a.jsonl", rows))])
    assert (report.new, report.duplicate) == (1, 2)


def test_short_texts_are_not_linked_by_accident(tmp_path: Path, db: Database) -> None:
    rows = [
        {"source": "bbc.com", "text": "Live: Ukraine war", "published_at": "2022-03-01"},
        {"source": "cnn.com", "text": "Live: Ukraine news", "published_at": "2022-03-01"},
    ]
    db.ingest([str(write_jsonl(tmp_path / "a.jsonl", rows))])
    assert set(_dups(db).values()) == {None}
