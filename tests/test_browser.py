"""The dashboard in a real headless Chromium (Debian's `chromium`, driven by Playwright; no
browser download) on demo-like data: a few hundred real items embedded with the real model
and grouped by the real narrative stage, served by uvicorn on 127.0.0.1."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="needs Debian's chromium at /usr/bin/chromium "
                              "(apt-get install chromium); no browser is downloaded"),
]


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import uvicorn

    from echolens.api import create_app
    from echolens.database import Database
    from echolens.errors import DataNotFound
    from echolens.ingest.datasets import data_dir
    from tests.api_stores import build_demo_like_store

    try:
        root = data_dir()
    except DataNotFound as exc:
        pytest.skip(f"the real data sets are not here: {exc}")
    path = build_demo_like_store(tmp_path_factory.mktemp("browser") / "demo.duckdb", root)
    database = Database(path, read_only=True)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(database), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
    database.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, base_url: str) -> Iterator[Any]:
    context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    dialogs: list[str] = []
    opened.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    outside: list[str] = []
    opened.on("request", lambda r: None if r.url.startswith(base_url) or
              r.url.startswith("data:") else outside.append(r.url))
    yield opened
    context.close()
    assert not dialogs, dialogs  # no script from item text ever ran
    assert not outside, outside  # every asset is local: works offline


def test_search_biolabs_then_open_its_narrative(page: Any) -> None:
    page.goto("/")
    page.get_by_role("searchbox", name="Search items").fill("biolabs")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/search\?q=biolabs"))
    hits = page.locator(".hit")
    assert hits.count() >= 10
    langs = set(page.locator(".hit .meta span[lang]").all_inner_texts())
    assert {"en", "ru", "zh"} <= langs, langs  # found across languages
    results = page.locator("#results").inner_text()
    assert "生物实验室" in results and "биолаборатор" in results.lower()
    links = page.locator("a.narrative-link")
    hrefs = list(dict.fromkeys(links.evaluate_all("els => els.map(e => e.getAttribute('href'))")))
    assert hrefs
    best: tuple[int, str] = (0, "")
    for href in hrefs[:10]:
        page.goto(href)
        shown = {t.strip() for t in page.locator("h3 [class^=lang-]").all_inner_texts()}
        best = max(best, (len(shown), href))
    assert best[0] >= 3, f"no narrative behind the biolabs results has three languages: {best}"
    page.goto(best[1])
    chart = page.locator("svg.chart[role=img]")
    assert chart.count() == 1
    assert page.locator("svg.chart rect[data-series]").count() >= 1  # the timeline has bars
    assert page.locator("svg.chart .marker").count() >= 1  # first-seen markers
    assert page.locator(".hit a[href^='http']").count() >= 1  # links to the original URLs
    page.locator("svg.chart a").first.click()
    page.wait_for_url(re.compile(r"/search\?narrative="))
    assert page.locator(".hit").count() >= 1  # a bar leads to its items


def test_ecosystem_cell_leads_to_its_narratives(page: Any) -> None:
    page.goto("/")
    page.get_by_role("link", name="Ecosystems").click()
    page.wait_for_url(re.compile(r"/ecosystems"))
    cells = page.locator("#matrix td a[data-pair]")
    assert cells.count() >= 2
    shared = [c for c in cells.all() if not c.inner_text().startswith("0%")
              or "0 shared" not in c.inner_text()]
    target = next(c for c in shared if re.search(r"\b[1-9]\d* shared", c.inner_text()))
    target.click()
    page.wait_for_url(re.compile(r"/narratives\?pair="))
    narratives = page.locator("table a[href^='/narratives/']")
    assert narratives.count() >= 1
    narratives.first.click()
    page.wait_for_url(re.compile(r"/narratives/[^?]+$"))
    assert page.locator("h1").inner_text().strip()


def test_keyboard_navigation_and_visible_focus(page: Any) -> None:
    page.goto("/")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent.trim()")
    assert focused == "Skip to content"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
    page.keyboard.press("Enter")
    assert page.evaluate("location.hash") == "#main"
    page.keyboard.press("Tab")  # the next stop is inside the content, past the navigation
    assert page.evaluate("document.activeElement.closest('main') !== null")
    page.goto("/")
    for _ in range(3):  # skip link, brand, then the first navigation link
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Overview"
    # the search box is reachable by keyboard and submits with Enter
    page.goto("/search")
    page.keyboard.type("biolabs")  # autofocus on the search field
    page.keyboard.press("Enter")
    page.wait_for_function("document.querySelectorAll('.hit').length > 0")


def _luminance(rgb: str) -> float:
    values = [int(v) / 255 for v in re.findall(r"\d+", rgb)[:3]]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in values]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def test_charts_have_text_alternatives_and_text_has_contrast(page: Any) -> None:
    page.goto("/")
    chart = page.locator("svg.chart[role=img]").first
    labelled = chart.get_attribute("aria-labelledby") or ""
    names = [page.locator(f"[id='{i}']").text_content() or "" for i in labelled.split()]
    assert len(names) == 2 and all(n.strip() for n in names)  # title and description
    for selector in ("body", "main a", "th", ".muted"):
        element = page.locator(selector).first
        colour = element.evaluate("e => getComputedStyle(e).color")
        ratio = (1.05) / (_luminance(colour) + 0.05)  # on the white page
        assert ratio >= 4.5, (selector, colour, ratio)
