"""Fact-check importers: every record gets exactly one outcome, with a reason when rejected."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from echolens.claims.importers import guess_format, read_factchecks
from echolens.claims.records import FactCheck, FactCheckReject, normalize_verdict
from echolens.errors import UsageError


def _split(records: list[FactCheck | FactCheckReject]) -> tuple[list[FactCheck],
                                                                list[FactCheckReject]]:
    return ([r for r in records if isinstance(r, FactCheck)],
            [r for r in records if isinstance(r, FactCheckReject)])


def test_jsonl_rejects_each_bad_record_and_keeps_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl"
    path.write_text("\n".join([
        json.dumps({"id": "a", "text": "US runs secret biolabs in Ukraine", "verdict": "False",
                    "published_at": "2022-03-10", "url": "https://x.org/a"}),
        json.dumps({"id": "b", "text": "  "}),
        json.dumps({"id": "c", "text": "Claim", "verdict": "glorious nonsense"}),
        "{broken",
        json.dumps({"id": "d", "text": "Зеленський втік з Києва"}),
        json.dumps({"id": "e", "text": "Kyiv fell in three days", "lang": "EN-us"}),
        json.dumps({"id": "f", "text": "Киев пал за три дня", "lang": "rus"}),
    ]) + "\n", encoding="utf-8")
    good, bad = _split(list(read_factchecks(path)))
    assert [f.id for f in good] == ["a", "d", "e", "f"]
    assert good[0].verdict == "false" and good[0].published_at is not None
    assert [f.lang for f in good[1:]] == ["uk", "en", "ru"]  # as ingestion reads codes
    assert [(r.locator, r.reason) for r in bad] == [
        ("line 2", "empty-text"), ("line 3", "unknown-verdict"), ("line 4", "bad-json")]


def test_claimreview_page_with_a_broken_block(tmp_path: Path) -> None:
    review = {"@context": "https://schema.org", "@type": "ClaimReview",
              "claimReviewed": "Pentagon biolabs in Ukraine develop bioweapons",
              "url": "https://factcheck.example/biolabs", "datePublished": "2022-03-12",
              "author": {"@type": "Organization", "name": "Example Check"},
              "reviewRating": {"@type": "Rating", "alternateName": "Pants on Fire!"},
              "inLanguage": "en-US"}
    page = (f'<html><head><script type="application/ld+json">{json.dumps(review)}</script>'
            '<script type="application/ld+json">{"@type": "ClaimReview", oops}</script>'
            "</head><body>x</body></html>")
    path = tmp_path / "page.html"
    path.write_text(page, encoding="utf-8")
    good, bad = _split(list(read_factchecks(path)))
    assert len(good) == 1 and good[0].verdict == "false" and good[0].lang == "en"
    assert good[0].organization == "Example Check"
    assert [r.reason for r in bad] == ["bad-jsonld"] and bad[0].locator == "block 2"


def test_claimreview_json_exports(tmp_path: Path) -> None:
    api = {"claims": [{"text": "Poland plans to annex western Ukraine", "claimant": "SVR",
                       "claimReview": [{"publisher": {"name": "StopFake"},
                                        "url": "https://stopfake.org/x", "textualRating":
                                        "Fake", "languageCode": "uk", "reviewDate":
                                        "2022-05-01T00:00:00Z"}]}]}
    (tmp_path / "api.json").write_text(json.dumps(api))
    graph = {"@graph": [{"@type": "WebPage"}, {"@type": ["ClaimReview"], "claimReviewed":
             "Numbers", "reviewRating": {"ratingValue": 1, "bestRating": 5,
                                         "worstRating": 1}}]}
    (tmp_path / "graph.json").write_text(json.dumps(graph))
    (good, bad) = _split(list(read_factchecks(tmp_path / "api.json")))
    assert not bad and good[0].verdict == "false" and good[0].organization == "StopFake"
    (good, bad) = _split(list(read_factchecks(tmp_path / "graph.json")))
    assert not bad and good[0].verdict == "false"


def test_euvsdisinfo_both_variants_and_wrong_file(tmp_path: Path) -> None:
    (tmp_path / "posts.csv").write_text(
        "date,id,title,countries,keywords,languages,outlets\n"
        "2021-02-18,https://euvsdisinfo.eu/report/us-biolabs/,US biolabs in Ukraine,,,,\n"
        "2021-02-18,https://euvsdisinfo.eu/report/empty/,,,,,\n", encoding="utf-8")
    (tmp_path / "cases.csv").write_text(
        '"issue","date","outlet","language","origin","reported by","keywords","source",'
        '"title","summary","disproof"\n'
        '82,10/03/17,"TV","Russian","UA","x","k","s","Vinnitsa blasts staged",'
        '"The explosions were organised by Ukrainian soldiers.","No evidence."\n',
        encoding="utf-8")
    (tmp_path / "pubs.csv").write_text("id,publication,archive\nx,y,z\n", encoding="utf-8")
    good, bad = _split(list(read_factchecks(tmp_path / "posts.csv")))
    assert [f.id for f in good] == ["euvs:us-biolabs"] and bad[0].reason == "empty-text"
    good, bad = _split(list(read_factchecks(tmp_path / "cases.csv")))
    assert good[0].id == "euvsk:0" and good[0].disproof == "No evidence."
    assert good[0].title == "Vinnitsa blasts staged" and good[0].published_at is not None
    good, bad = _split(list(read_factchecks(tmp_path / "pubs.csv", "euvsdisinfo")))
    assert not good and bad[0].reason == "wrong-format"


def test_clef_and_ru22fact_stopfake(tmp_path: Path) -> None:
    (tmp_path / "v.tsv").write_text(
        '\tvclaim\ttitle\n0\tA claim.\tA title\n1\n'
        '2\t"A ""law to separate families"" was enacted."\tWas the ‘Law’ Passed?\n',
        encoding="utf-8")
    good, bad = _split(list(read_factchecks(tmp_path / "v.tsv")))
    assert good[0].id == "clef:0" and good[0].match_text() == "A title. A claim."
    assert bad[0].reason == "bad-row"
    # CSV-style quoting of a field is read as the text it quotes
    assert good[1].text == 'A "law to separate families" was enacted.'
    pl.DataFrame({
        "id": [1, 2], "claim": [" Фейк: ЗСУ обстрілюють власні міста", "Other"],
        "evidence": ["", ""], "referenced_explanation": ["Спростування", ""],
        "label": ["Refuted", "Supported"],
        "url": ["https://www.stopfake.org/uk/x/", "https://cnn.com/y"],
        "date": ["17 Травня, 2023", None], "claimant": [None, None], "language": ["uk", "en"],
    }).write_parquet(tmp_path / "ukrainian_fact_test.parquet")
    good, bad = _split(list(read_factchecks(tmp_path, "ru22fact-stopfake")))
    assert [f.id for f in good] == ["stopfake:ukrainian_test:1"] and not bad
    assert good[0].verdict == "false" and good[0].lang == "uk"
    assert good[0].published_at is not None and good[0].published_at.year == 2023


def test_format_guessing_and_errors(tmp_path: Path) -> None:
    assert guess_format("a.jsonl") == "jsonl"
    assert guess_format("page.html") == "claimreview"
    (tmp_path / "x.bin").write_text("")
    with pytest.raises(UsageError):
        list(read_factchecks(tmp_path / "x.bin"))
    with pytest.raises(UsageError):
        list(read_factchecks(tmp_path / "missing.jsonl"))


def test_verdicts() -> None:
    assert normalize_verdict("Mostly False") == "misleading"
    assert normalize_verdict(None) is None
    with pytest.raises(ValueError):
        normalize_verdict("purple")
