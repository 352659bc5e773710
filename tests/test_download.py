"""The data set downloader, against a real HTTP server on 127.0.0.1 serving the mirror's files.

Nothing here reaches the real origin (GitHub): `base_url` points the downloader at the local
server, which answers under the same URL paths. Tests that need the mirror
(``../shared/datasets`` beside the checkout, or ``$ECHOLENS_DATA_DIR``) skip when it is
absent. Nothing is written
into the repository: every target folder is a pytest tmp_path.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import zipfile
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from echolens.errors import DataNotFound, UsageError
from echolens.ingest import datasets
from echolens.ingest.download import (
    ORIGIN_HOST,
    ORIGINS,
    DownloadError,
    Origin,
    dataset_folders,
    download_datasets,
    ensure_data,
    merge_cn_headlines,
)
from tests.httpserver import Route, Server


def _mirror() -> Path | None:
    root = datasets.data_dir()
    return root if (root / "hanley_narrative_influence").is_dir() else None


MIRROR = _mirror()
needs_mirror = pytest.mark.skipif(MIRROR is None, reason="data mirror not found (DATASETS.md)")


def _origin(folder: str, name: str) -> Origin:
    return next(o for o in ORIGINS if o.folder == folder and o.name == name)


def _serve(server: Server, origin: Origin, body: bytes | None = None) -> str:
    """Serve the mirror's copy of `origin` (or `body`) under its origin URL path."""
    path = urlsplit(origin.urls[0]).path
    assert MIRROR is not None
    data = (MIRROR / origin.folder / origin.name).read_bytes() if body is None else body
    server.routes[path] = Route(body=data)
    return path


HANLEY_CN = ("hanley_narrative_influence", "chinese_news_domains.txt")
RT = ("rt_russian_articles_sample", "Russia_Today_articles.csv")


# --------------------------------------------------------------------------------------------
# the table


def test_origins_table_is_well_formed() -> None:
    names = [o.relpath for o in ORIGINS]
    assert len(names) == len(set(names))
    url = re.compile(re.escape(ORIGIN_HOST) + r"/[\w.-]+/[\w.-]+/[0-9a-f]{40}/\S+$")
    for origin in ORIGINS:
        assert origin.urls and all(url.match(u) for u in origin.urls), origin
        assert re.fullmatch(r"[0-9a-f]{64}", origin.sha256)
        assert (origin.build is None) == (len(origin.urls) == 1)
    assert set(dataset_folders()) == {o.folder for o in ORIGINS}
    assert dataset_folders(["cn-headlines", "rt-sample"]) == [
        "cn_state_media_headlines_2022", "rt_russian_articles_sample"
    ]
    with pytest.raises(UsageError, match="unknown data set 'nope'"):
        dataset_folders(["nope"])


@needs_mirror
def test_origins_cover_the_mirror_and_match_its_hashes() -> None:
    assert MIRROR is not None
    mirrored = {
        p.relative_to(MIRROR).as_posix()
        for folder in dataset_folders()
        for p in (MIRROR / folder).rglob("*")
        if p.is_file() and p.name != "SOURCE.txt"
    }
    assert mirrored == {o.relpath for o in ORIGINS}
    for origin in ORIGINS:
        data = (MIRROR / origin.relpath).read_bytes()
        assert (hashlib.sha256(data).hexdigest(), len(data)) == (origin.sha256, origin.size)


# --------------------------------------------------------------------------------------------
# plain files over HTTP


@needs_mirror
def test_download_verifies_and_caches(server: Server, tmp_path: Path) -> None:
    hanley = [o for o in ORIGINS if o.folder == "hanley_narrative_influence"]
    rt = _origin(*RT)
    for origin in [*hanley, rt]:
        _serve(server, origin)
    events: list[tuple[str, str]] = []

    paths = download_datasets(
        tmp_path, ["hanley_narrative_influence", "rt-sample"], base_url=server.base,
        client=server.client, progress=lambda o, s: events.append((o.name, s)),
    )

    assert paths == [tmp_path / o.folder / o.name for o in [*hanley, rt]]
    for origin, path in zip([*hanley, rt], paths, strict=True):
        assert hashlib.sha256(path.read_bytes()).hexdigest() == origin.sha256
    assert {s for _, s in events} == {"downloaded"}
    assert sorted(seen.path for seen in server.seen) == sorted(
        urlsplit(o.urls[0]).path for o in [*hanley, rt]
    )
    assert not list(tmp_path.rglob("*.part"))
    # the downloaded folder is loadable as a data root
    assert len(datasets.load_domain_ecosystems(tmp_path)) == 10_000

    # second call: everything cached, no request at all
    before = len(server.seen)
    events.clear()
    again = download_datasets(
        tmp_path, ["hanley_narrative_influence", "rt-sample"], base_url=server.base,
        client=server.client, progress=lambda o, s: events.append((o.name, s)),
    )
    assert again == paths
    assert len(server.seen) == before
    assert {s for _, s in events} == {"cached"}


@needs_mirror
def test_wrong_local_copy_is_replaced(server: Server, tmp_path: Path) -> None:
    origin = _origin(*HANLEY_CN)
    for other in ORIGINS:
        if other.folder == origin.folder:
            _serve(server, other)
    stale = tmp_path / origin.relpath
    stale.parent.mkdir(parents=True)
    stale.write_text("old.example\n")
    download_datasets(tmp_path, ["hanley_narrative_influence"], base_url=server.base,
                      client=server.client)
    assert hashlib.sha256(stale.read_bytes()).hexdigest() == origin.sha256


@needs_mirror
def test_hash_mismatch_is_a_clear_error_and_writes_nothing(
    server: Server, tmp_path: Path
) -> None:
    origin = _origin(*RT)
    assert MIRROR is not None
    good = (MIRROR / origin.relpath).read_bytes()
    corrupt = good[:1000] + b"X" + good[1001:]
    _serve(server, origin, corrupt)
    actual = hashlib.sha256(corrupt).hexdigest()

    with pytest.raises(DownloadError) as info:
        download_datasets(tmp_path, ["rt-sample"], base_url=server.base, client=server.client)

    text = str(info.value)
    assert "sha256 mismatch for rt_russian_articles_sample/Russia_Today_articles.csv" in text
    assert f"expected {origin.sha256}" in text and f"got {actual}" in text
    assert origin.urls[0] in text
    assert "retry" in info.value.fix and "ECHOLENS_DATA_DIR" in info.value.fix
    assert isinstance(info.value, DataNotFound)
    assert not (tmp_path / origin.relpath).exists()
    assert not list(tmp_path.rglob("*.part"))


def test_http_404_names_the_file_url_and_fix(server: Server, tmp_path: Path) -> None:
    with pytest.raises(DownloadError) as info:
        download_datasets(tmp_path, ["rt-sample"], base_url=server.base, client=server.client)
    text = str(info.value)
    path = urlsplit(_origin(*RT).urls[0]).path
    assert "could not download rt_russian_articles_sample/Russia_Today_articles.csv" in text
    assert "HTTP 404" in text and server.base + path in text
    assert "ECHOLENS_DATA_DIR" in info.value.fix
    assert not (tmp_path / "rt_russian_articles_sample" / "Russia_Today_articles.csv").exists()


def test_oversized_body_is_cut_off(server: Server, tmp_path: Path) -> None:
    origin = _origin(*RT)
    server.routes[urlsplit(origin.urls[0]).path] = Route(body=b"x" * (origin.size + 2_000_000))
    with pytest.raises(DownloadError, match="limit"):
        download_datasets(tmp_path, ["rt-sample"], base_url=server.base, client=server.client)


# --------------------------------------------------------------------------------------------
# the Chinese headlines merge, rebuilt from zips made out of the mirror


def _fake_origin_zips(mirror_csv: bytes) -> dict[str, bytes]:
    """Per-outlet zips like the origin's: ``<outlet>/<scrape file>`` per scrape, each CSV in
    the scrapers' format (UTF-8 BOM, no header, ``[date,title]``, CRLF), members stored in
    reverse order (the merge must sort), plus a macOS junk entry, a folder entry, and a late
    scrape that only repeats rows already seen (the merge must drop them)."""
    rows = list(csv.reader(io.StringIO(mirror_csv.decode("utf-8"), newline="")))[1:]
    scrapes: dict[str, dict[str, list[list[str]]]] = defaultdict(lambda: defaultdict(list))
    for outlet, _section, scrape_file, raw_date, title in rows:
        scrapes[outlet][scrape_file].append([raw_date, title])
    zips: dict[str, bytes] = {}
    for outlet, files in scrapes.items():
        first = next(iter(files.values()))
        prefix = next(iter(files)).split("-", 1)[0]
        repeat = f"{prefix}-Wed-Sep-30-23_59_59-2022-WORLD.csv"
        members = [*files.items(), (repeat, first[:25])]
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
            archive.writestr(f"{outlet}/", b"")
            archive.writestr(f"__MACOSX/{outlet}/._{repeat}", b"\x00\x05\x16\x07junk")
            for name, scrape_rows in reversed(members):
                text = io.StringIO()
                csv.writer(text).writerows(scrape_rows)  # csv default line end: \r\n
                archive.writestr(f"{outlet}/{name}", text.getvalue().encode("utf-8-sig"))
        zips[outlet] = buffer.getvalue()
    return zips


@needs_mirror
def test_cn_headlines_merge_reproduces_the_mirror_bytes(server: Server, tmp_path: Path) -> None:
    origin = _origin("cn_state_media_headlines_2022",
                     "headlines_cgtn_globaltimes_xinhua_chinadaily_bbc_2022.csv")
    assert MIRROR is not None
    zips = _fake_origin_zips((MIRROR / origin.relpath).read_bytes())
    assert list(zips) == ["cgtn", "globaltimes", "xinhuanet", "chinadaily", "bbc"]
    for url in origin.urls:
        route = urlsplit(url).path
        server.routes[route] = Route(body=zips[Path(route).stem])

    [path] = download_datasets(tmp_path, ["cn-headlines"], base_url=server.base,
                               client=server.client)

    assert hashlib.sha256(path.read_bytes()).hexdigest() == origin.sha256
    assert path.stat().st_size == origin.size
    assert len(server.seen) == 5


def test_merge_rules_on_a_tiny_example() -> None:
    scrape_a = '\ufeff"23:00, 23-Mar-2022",  Padded title \r\n"23:00, 23-Mar-2022","X, ""y"""\r\n'
    scrape_b = '"23:00, 23-Mar-2022",Padded title\r\n"01:00, 24-Mar-2022",\r\n'
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("cgtn/CGTN-Thu-Mar-24-01_00_00-2022-WORLD.csv", scrape_b)
        archive.writestr("cgtn/CGTN-Fri-Mar-25-01_00_00-2022-CHINA.csv", scrape_a)
    data = merge_cn_headlines([("http://x/Dataset/cgtn.zip", buffer.getvalue())])
    assert data.decode("utf-8") == (
        "outlet,section,scrape_file,raw_date,title\n"
        'cgtn,CHINA,CGTN-Fri-Mar-25-01_00_00-2022-CHINA.csv,"23:00, 23-Mar-2022",Padded title\n'
        'cgtn,CHINA,CGTN-Fri-Mar-25-01_00_00-2022-CHINA.csv,"23:00, 23-Mar-2022","X, ""y"""\n'
        'cgtn,WORLD,CGTN-Thu-Mar-24-01_00_00-2022-WORLD.csv,"01:00, 24-Mar-2022",\n'
    )


def test_merge_rejects_a_non_zip() -> None:
    with pytest.raises(DownloadError, match="not a valid zip"):
        merge_cn_headlines([("http://x/Dataset/bbc.zip", b"<html>rate limited</html>")])


# --------------------------------------------------------------------------------------------
# ensure_data


@needs_mirror
def test_ensure_data_returns_the_data_dir_when_present(server: Server) -> None:
    assert ensure_data(["rt-sample", "hanley_narrative_influence"], download=False) == MIRROR
    assert server.seen == []


def test_ensure_data_without_download_names_folder_and_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ECHOLENS_DATA_DIR", str(tmp_path))
    with pytest.raises(DataNotFound) as info:
        ensure_data(["rt-sample"], download=False)
    assert str(tmp_path / "rt_russian_articles_sample") in str(info.value)
    assert "echolens datasets download rt_russian_articles_sample" in info.value.fix


@needs_mirror
def test_ensure_data_downloads_into_the_env_dir(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ECHOLENS_DATA_DIR", str(tmp_path / "data"))
    _serve(server, _origin(*RT))
    root = ensure_data(["rt-sample"], download=True, base_url=server.base, client=server.client)
    assert root == tmp_path / "data"
    assert len(list(datasets.load_rt_sample(root))) == 90


@needs_mirror
def test_ensure_data_downloads_into_the_cache_without_env(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ECHOLENS_DATA_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)  # no ../shared/datasets beside the working directory
    monkeypatch.setattr(datasets, "_repo_root", lambda: None)  # nor beside the repository
    for origin in ORIGINS:
        if origin.folder == "hanley_narrative_influence":
            _serve(server, origin)
    root = ensure_data(["hanley_narrative_influence"], download=True, base_url=server.base,
                       client=server.client)
    assert root == tmp_path / "home" / ".cache" / "echolens" / "datasets"
    assert datasets.data_dir() == root
    assert ensure_data(["hanley_narrative_influence"], download=False) == root
