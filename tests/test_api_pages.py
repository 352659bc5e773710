"""The dashboard pages and the HTML reports on a small real store: content, links down to
the items, CSV links, escaping of untrusted text, accessible charts, and the CLI commands."""

from __future__ import annotations

import re
import threading
import warnings
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from echolens.api import create_app
from echolens.api.charts import Point, contrast, heat, ink, stacked_bars
from echolens.database import Database
from echolens.errors import UsageError
from tests.api_stores import build_small_store, hashing_encoder
from tests.conftest import Cli


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_small_store(tmp_path_factory.mktemp("pages") / "small.duckdb")


@pytest.fixture(scope="module")
def client(store_path: Path) -> Iterator[TestClient]:
    database = Database(store_path, read_only=True)
    with TestClient(create_app(database, encoder=hashing_encoder)) as test_client:
        yield test_client
    database.close()


def _page(client: TestClient, path: str, status: int = 200) -> str:
    response = client.get(path)
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
    return response.text


def _no_raw_markup_from_items(html: str) -> None:
    assert "<svg/onload" not in html and "javascript:alert" not in html
    assert 'href="javascript' not in html


PAGES = ["/", "/narratives", "/narratives/n-biolabs", "/ecosystems", "/sources",
         "/sources/rt", "/search?q=biolabs", "/search?narrative=n-biolabs", "/items/evil-1",
         "/factchecks", "/factchecks?claim=US+biolabs+in+Ukraine"]


@pytest.mark.parametrize("path", PAGES)
def test_pages_render_escaped_with_local_assets_only(client: TestClient, path: str) -> None:
    html = _page(client, path)
    _no_raw_markup_from_items(html)
    assert '<a class="skip" href="#main">' in html and 'id="main"' in html
    for ref in re.findall(r'(?:src|href)="([^"]+)"', html):
        if ref.startswith(("http://", "https://")):
            # only links out to items, outlets and fact-checks; no script or style from a CDN
            assert not ref.endswith((".js", ".css")), ref
    assert re.findall(r'<script src="([^"]+)"', html) == ["/static/htmx.min.js"]


def test_static_assets_are_served(client: TestClient) -> None:
    assert client.get("/static/htmx.min.js").status_code == 200
    assert "Zero-Clause BSD" in client.get("/static/htmx-LICENSE.txt").text
    assert "@media print" in client.get("/static/style.css").text


def test_untrusted_item_text_is_shown_escaped(client: TestClient) -> None:
    html = _page(client, "/items/evil-1")
    assert "&lt;svg/onload=alert(1)&gt;" in html
    assert "Tom &amp; Jerry &lt;3, a&lt;b" in html
    assert "original</a>" not in html  # its javascript: URL is not made a link


def test_narrative_page_has_timeline_markers_chain_items_and_exports(client: TestClient
                                                                     ) -> None:
    html = _page(client, "/narratives/n-biolabs")
    chart = re.search(r'<svg[^>]*role="img"[^>]*>.*?</svg>', html, re.S)
    assert chart is not None
    svg = chart.group(0)
    assert "<title" in svg and "<desc" in svg and 'aria-labelledby="timeline-title' in svg
    assert svg.count('class="marker"') == 4  # first seen in each of the four ecosystems
    assert "first seen in russia-state" in svg
    bar_links = re.findall(r'<a href="(/search\?[^"]+)"', svg)
    assert bar_links and all("narrative=n-biolabs" in link for link in bar_links)
    assert 'id="chain"' in html and "russia-state</b> carried it first" in html
    for lang in ("en", "ru", "zh"):
        assert f'class="lang-{lang}"' in html
    assert "https://tass.ru/politika/14000001" in html  # items link to their original URL
    for export in ("items.csv", "timeline.csv", "factchecks.csv"):
        assert f"/api/narratives/n-biolabs/{export}" in html
    assert "No, the US does not run bioweapons labs in Ukraine" in html


def test_chart_bars_lead_to_their_items(client: TestClient) -> None:
    html = _page(client, "/narratives/n-biolabs")
    link = re.search(r'<a href="(/search\?[^"]+ecosystem=china-state[^"]+)"', html)
    assert link is not None
    listed = client.get(link.group(1).replace("&amp;", "&").replace("/search", "/api/search"))
    assert {h["ecosystem"] for h in listed.json()["hits"]} == {"china-state"}
    assert listed.json()["hits"]


def test_ecosystem_cells_link_to_the_narratives_behind_them(client: TestClient) -> None:
    html = _page(client, "/ecosystems")
    cell = re.search(r'<a href="([^"]+)" data-pair="russia-state,ukraine"', html)
    assert cell is not None
    behind = _page(client, cell.group(1).replace("&amp;", "&"))
    assert "/narratives/n-biolabs" in behind and "/narratives/n-grain" not in behind
    assert "/api/ecosystems.csv" in html


def test_every_table_page_links_its_csv(client: TestClient) -> None:
    for path, csv in (("/", "/api/matches/recent.csv"), ("/narratives", "/api/narratives.csv"),
                      ("/sources", "/api/sources.csv"), ("/search?q=biolabs", "/api/search.csv"),
                      ("/factchecks", "/api/factchecks.csv"), ("/sources/rt", "/api/search.csv")):
        assert csv in _page(client, path), path


def test_search_page_finds_across_the_filters(client: TestClient) -> None:
    html = _page(client, "/search?q=biolabs&mode=keyword&lang=en&ecosystem=west")
    assert "Fact check: no evidence of US biolabs in Ukraine" in html
    assert "US owes world an explanation" not in html


def test_fact_check_lookup_page(client: TestClient) -> None:
    html = _page(client, "/factchecks?claim=The+US+runs+secret+biological+weapons+labs")
    assert "No, the US does not run bioweapons labs in Ukraine" in html
    assert "https://www.stopfake.org/en/fake-us-biolabs/" in html


def test_errors_are_pages_for_people(client: TestClient) -> None:
    assert "no narrative" in _page(client, "/narratives/nope", status=404)
    assert "Error 422" in _page(client, "/search?since=2022-02-31", status=422)
    assert "Error 404" in _page(client, "/no/such/page", status=404)


def test_chart_contrast_and_alt_text() -> None:
    for value in range(0, 101, 5):
        background = heat(value, 100)
        assert contrast(ink(background), background) >= 4.5
    assert contrast("#111111", "#ffffff") >= 7 and contrast("#0a4fa3", "#ffffff") >= 4.5
    svg = stacked_bars([Point(date(2022, 3, 1), "<x>", 2)], unit="day",
                       title='a "title" & <b>', description="d")
    assert "&lt;x&gt;" in svg and "<x>" not in svg and "&quot;title&quot;" in svg


def test_report_commands_write_self_contained_files(store_path: Path, tmp_path: Path) -> None:
    cli = Cli(store_path)
    out = tmp_path / "narrative.html"
    cli("report", "--narrative", "n-biolabs", "--out", str(out))
    html = out.read_text(encoding="utf-8")
    assert "<style>" in html and "<svg" in html and "<script" not in html
    assert not re.findall(r'(?:src|href)="/', html)  # nothing refers back to a server
    assert "@media print" in html and "Data sources" in html and "StopFake" in html
    _no_raw_markup_from_items(html)
    assert "https://tass.ru/politika/14000001" in html
    eco = tmp_path / "eco.html"
    cli("report", "--ecosystems", "russia-state,china-state", "--since", "2022-03-01",
        "--until", "2022-03-31", "--out", str(eco))
    text = eco.read_text(encoding="utf-8")
    assert "Convergence: russia-state, china-state" in text and "US biolabs in Ukraine" in text
    assert "Odesa grain deal" not in text  # July: outside the period
    bad = cli("report", "--narrative", "nope", "--out", str(tmp_path / "x.html"), expect=2)
    assert "no narrative" in bad.output
    both = cli("report", "--out", str(tmp_path / "y.html"), expect=2)
    assert "--narrative" in both.output


def test_serve_is_registered_and_write_tokens_must_be_long(store_path: Path) -> None:
    cli = Cli(store_path)
    assert "--write-token" in cli("serve", "--help").output
    assert "--no-serve" in cli("demo", "--help").output
    with pytest.raises(UsageError):
        create_app(store_path, write_token="short")


def test_demo_without_serving_writes_the_report(store_path: Path, tmp_path: Path) -> None:
    from echolens.demo import finish_demo

    said: list[str] = []
    finish_demo(str(store_path), serve=False, report=tmp_path / "demo.html", say=said.append)
    assert said and said[0].startswith("report: ") and said[0].endswith("demo.html")
    html = (tmp_path / "demo.html").read_text(encoding="utf-8")
    assert "Pairwise convergence" in html and "<script" not in html


def test_serve_binds_loopback_prints_its_url_and_is_read_only(store_path: Path,
                                                             tmp_path: Path) -> None:
    import shutil
    import socket
    import subprocess
    import sys
    import time

    import httpx

    copy = tmp_path / "serve.duckdb"
    shutil.copy(store_path, copy)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "echolens.cli", "--db", str(copy), "serve",
                               "--port", str(port)], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        warming = server.stdout.readline()
        assert warming.startswith("warming up: the search models, then narrative pages")
        ready = server.stdout.readline()
        assert re.match(r"ready in [0-9.]+ s: 2 of 2 narrative pages rendered", ready), ready
        line = server.stdout.readline()
        assert f"http://127.0.0.1:{port}/" in line and "read-only" in line
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert health.json()["ok"] is True
        refused = httpx.post(f"http://127.0.0.1:{port}/api/ingest", json={"items": [{}]},
                             headers={"Authorization": "Bearer whatever-token"})
        assert refused.status_code == 403
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_narrative_pages_are_rendered_in_the_background_like_on_demand(
        store_path: Path) -> None:
    import time

    from echolens.api.pages import warm_narrative_pages

    database = Database(store_path, read_only=True)
    try:
        app = create_app(database, encoder=hashing_encoder)
        board = app.state.dashboard
        with TestClient(app) as warmed:
            deadline = time.monotonic() + 60
            while not warmed.get("/healthz").json()["warm"]:
                assert time.monotonic() < deadline, "warm-up did not finish"
                time.sleep(0.1)
            with board.cursor() as cur:
                active = [r[0] for r in cur.execute(
                    "SELECT id FROM narratives WHERE status = 'active'").fetchall()]
            assert active and all(board.has_page(("narrative", n)) for n in active)
            served = {n: warmed.get(f"/narratives/{n}").text for n in active}
        # a server that renders each page on demand gives the same pages
        cold = create_app(database, encoder=hashing_encoder)
        with TestClient(cold) as on_demand:
            cold.state.dashboard.warm.wait(60)
            for narrative_id, html in served.items():
                cold.state.dashboard._pages.clear()
                assert on_demand.get(f"/narratives/{narrative_id}").text == html
        cold.state.dashboard._pages.clear()
        assert warm_narrative_pages(cold, threading.Event()) == len(active)
        assert warm_narrative_pages(cold, threading.Event()) == 0  # all kept
    finally:
        database.close()
