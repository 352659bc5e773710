"""The weekly brief: sections built from a real store, HTML and text written, e-mailed to a
local SMTP server; and the deletion figures behind its last section."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import yaml

from echolens.watch.deletions import deletion_figures
from echolens.watch.digest import build_digest
from tests.conftest import Cli
from tests.test_alerts import NOW, Smtp, _store, smtp  # noqa: F401 - the smtp fixture


def test_digest_sections_link_to_evidence(tmp_path: Path) -> None:
    with _store(tmp_path) as db:
        con = db.store.con
        con.executemany("INSERT INTO narrative_members VALUES ('m', ?, 'n-bio', ?, 'joined', "
                        "NULL, 0.8, ?)", [(f"gt-{i}", 2 + i, NOW) for i in range(6)])
        digest = build_digest(con, since=NOW - timedelta(days=7), now=NOW)
    sections = {s.title: s for s in digest.sections}
    assert list(sections) == ["Narratives across ecosystems", "New matches with debunked claims",
                              "Most cited outlets", "Deleted, blocked or altered"]
    (narrative,) = sections["Narratives across ecosystems"].lines
    assert narrative.text.startswith("US biolabs in Ukraine: 6 items this period; "
                                     "russia-state (tass, 2022-03-06) -> china-state")
    assert narrative.links == ("https://tass.ru/1", "https://news.cn/1")
    (match,) = sections["New matches with debunked claims"].lines
    assert "debunked by EUvsDisinfo" in match.text
    assert match.links == ("https://news.cn/1", "https://euvsdisinfo.eu/report/biolabs")
    (cited,) = sections["Most cited outlets"].lines
    assert cited.text == "TASS (russia-state): cited 6 times by 1 sources"
    (deleted,) = sections["Deleted, blocked or altered"].lines
    assert deleted.text.startswith("deleted: tass (russia-state) 'Biolabs in Ukraine'")
    assert deleted.links[0] == "https://tass.ru/1"
    html = digest.to_html()
    assert '<a href="https://euvsdisinfo.eu/report/biolabs">' in html
    assert "<script" not in html
    text = digest.to_text()
    assert "    https://news.cn/1" in text and text.startswith("echolens brief ")
    # a week without events says so instead of showing empty headings
    with _store(tmp_path / "later") as db:
        quiet = build_digest(db.store.con, since=NOW + timedelta(days=1),
                             now=NOW + timedelta(days=8))
    assert all(not s.lines for s in quiet.sections)
    assert "(nothing this period)" in quiet.to_text()


def test_deletion_figures_by_source_narrative_and_week(tmp_path: Path) -> None:
    with _store(tmp_path) as db:
        figures = deletion_figures(db.store.con)
        assert figures.by_source.select("source", "watched", "deleted").to_dicts() == [
            {"source": "tass", "watched": 1, "deleted": 1}]
        assert figures.by_ecosystem["ecosystem"].to_list() == ["russia-state"]
        assert figures.by_narrative.select("narrative", "deleted").to_dicts() == [
            {"narrative": "US biolabs in Ukraine", "deleted": 1}]
        assert figures.over_time.select("result", "items").to_dicts() == [
            {"result": "deleted", "items": 1}]
        later = deletion_figures(db.store.con, since=NOW + timedelta(hours=1))
        assert later.by_source["deleted"].to_list() == [0]


def test_cli_digest_and_deletions(tmp_path: Path, smtp: Smtp, cli: Cli) -> None:  # noqa: F811
    _store(tmp_path).close()
    cli.db_path = tmp_path / "alerts.duckdb"
    config = tmp_path / "watch.yaml"
    config.write_text(yaml.safe_dump({"alerts": {"deliveries": [
        {"type": "email", "host": "127.0.0.1", "port": smtp.port,
         "from": "echolens@example.org", "to": ["desk@example.org"]}]}}), encoding="utf-8")
    out = tmp_path / "briefs"
    result = cli("digest", "--since", "7d", "--out", str(out), "--email", "--config",
                 str(config))
    assert "e-mail email-1: ok" in result.stdout
    files = sorted(p.suffix for p in out.iterdir())
    assert files == [".html", ".txt"]
    (mail,) = smtp.sink.messages
    assert mail["Subject"].startswith("echolens brief ")
    kinds = [part.get_content_type() for part in mail.walk()]
    assert "text/plain" in kinds and "text/html" in kinds

    figures = cli.json("deletions", "--since", "30d")
    assert figures["by_source"][0]["deleted"] == 1
    assert figures["items"][0]["url"] == "https://tass.ru/1"
    assert "bad --since" in cli("deletions", "--since", "yesterday", expect=2).stderr
