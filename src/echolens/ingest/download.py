"""Download the real data sets from their public origin, verified by sha256 and cached.

The data directory (see `echolens.ingest.datasets.data_dir`) is searched first:
``$ECHOLENS_DATA_DIR``, the mirror at ``../shared/datasets``, then
``~/.cache/echolens/datasets``. When a needed data set is in none of them, `ensure_data` (or the
command ``echolens datasets download``) fetches it from the origin GitHub repository named in
the mirror's ``SOURCE.txt`` into ``$ECHOLENS_DATA_DIR`` if set, else the cache folder.

`ORIGINS` lists every mirrored file with its origin URL(s) at a pinned commit and the sha256 of
the mirrored bytes. A file is written only after its hash matched (temp file, then an atomic
rename), and a file already present with the right hash is not fetched again.

Most files are plain copies (possibly renamed). One is a merge: the Chinese state media
headlines are rebuilt from the origin's five per-outlet zip files (see `merge_cn_headlines`,
which reproduces the mirror byte for byte; the zips themselves have no pinned hash, the merged
result does).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import httpx

from echolens.errors import DataNotFound, UsageError
from echolens.ingest.datasets import DATA_DIR_ENV, DATASETS, data_dir
from echolens.ingest.http import FetchError, fetch, new_client

__all__ = [
    "ORIGINS",
    "ORIGIN_HOST",
    "DownloadError",
    "Origin",
    "dataset_folders",
    "default_download_dir",
    "download_datasets",
    "ensure_data",
    "merge_cn_headlines",
    "origin_url",
]

ORIGIN_HOST = "https://raw.githubusercontent.com"
MAX_ZIP_BYTES = 100_000_000  # cap for a merge source (the origin zips are a few MB each)
SIZE_SLACK = 1_000_000  # a plain file may be this much larger than expected before we cut off
_DOWNLOAD_FIX = "run `echolens datasets download {names}`"


class DownloadError(DataNotFound):
    """A data set file could not be downloaded, rebuilt or verified (code E002)."""


Builder = Callable[[Sequence[tuple[str, bytes]]], bytes]


@dataclass(frozen=True)
class Origin:
    """One file of the data directory and where it comes from.

    `name` is the path inside `folder` (POSIX, may hold sub-folders). Without `build`, `urls`
    holds exactly one URL whose bytes are the file. With `build`, every URL is fetched and
    ``build([(url, body), ...])`` (in `urls` order) returns the file's bytes. `sha256` and
    `size` are those of the final file (the mirror's copy).
    """

    folder: str
    name: str
    urls: tuple[str, ...]
    sha256: str
    size: int
    build: Builder | None = field(default=None, compare=False)
    note: str = ""

    @property
    def relpath(self) -> str:
        return f"{self.folder}/{self.name}"


def origin_url(repo: str, commit: str, path: str) -> str:
    """The raw-file URL of `path` in GitHub `repo` ("owner/name") at `commit`."""
    return f"{ORIGIN_HOST}/{repo}/{commit}/{path}"


# --------------------------------------------------------------------------------------------
# the Chinese state media headlines merge

CN_HEADER = ("outlet", "section", "scrape_file", "raw_date", "title")


def _zip_members(archive: zipfile.ZipFile) -> list[tuple[str, zipfile.ZipInfo]]:
    """The scrape CSVs of a zip as (basename, info), sorted by basename (macOS junk skipped)."""
    members: list[tuple[str, zipfile.ZipInfo]] = []
    for info in archive.infolist():
        if info.is_dir():
            continue
        parts = PurePosixPath(info.filename.replace("\\", "/")).parts
        if not parts or any(part.startswith("__MACOSX") for part in parts):
            continue
        base = parts[-1]
        if base.startswith(".") or not base.lower().endswith(".csv"):
            continue
        members.append((base, info))
    members.sort(key=lambda item: (item[0], item[1].filename))
    return members


def merge_cn_headlines(sources: Sequence[tuple[str, bytes]]) -> bytes:
    """Rebuild ``headlines_cgtn_globaltimes_xinhua_chinadaily_bbc_2022.csv`` from the zips.

    `sources` are ``(url, zip bytes)`` in outlet order (cgtn, globaltimes, xinhuanet,
    chinadaily, bbc); the outlet label is the zip's file stem. Each zip holds per-scrape CSVs
    ``<Outlet>-<ctime with ' '->'-', ':'->'_'>-<SECTION>.csv`` written by the origin's scrapers:
    UTF-8 with a BOM, no header, rows ``[date, title]``. The mirror was made by reading the scrape
    files of each outlet sorted by file name, rows in file order, fields stripped, and keeping
    the first occurrence of each (outlet, title, raw_date). `section` is the last ``-`` part of
    the file name (CHINA / WORLD / UK). Output: header ``outlet,section,scrape_file,raw_date,
    title``, minimal quoting, ``\\n`` line ends, UTF-8 without BOM.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CN_HEADER)
    seen: set[tuple[str, str, str]] = set()
    for url, body in sources:
        outlet = PurePosixPath(urlsplit(url).path).stem
        try:
            archive = zipfile.ZipFile(io.BytesIO(body))
        except zipfile.BadZipFile as exc:
            raise DownloadError(
                f"{url} is not a valid zip file ({exc})",
                fix="retry the download; if it persists the origin changed (see SOURCE.txt)",
            ) from exc
        with archive:
            for base, info in _zip_members(archive):
                section = base[: -len(".csv")].rsplit("-", 1)[-1]
                try:
                    text = archive.read(info).decode("utf-8-sig")
                except (UnicodeDecodeError, zipfile.BadZipFile, OSError) as exc:
                    raise DownloadError(
                        f"cannot read {info.filename} in {url}: {exc}",
                        fix="retry the download; if it persists the origin changed",
                    ) from exc
                for row in csv.reader(io.StringIO(text, newline="")):
                    if not row:
                        continue
                    raw_date = row[0].strip()
                    title = row[1].strip() if len(row) > 1 else ""
                    key = (outlet, title, raw_date)
                    if key in seen:
                        continue
                    seen.add(key)
                    writer.writerow((outlet, section, base, raw_date, title))
    return out.getvalue().encode("utf-8")


# --------------------------------------------------------------------------------------------
# the table of origins

_CN_REPO = "pontyl/news-sentivis"
_CN_COMMIT = "733a0bea025171b969b1150fe4a7ab57da03697e"
_CN_OUTLETS = ("cgtn", "globaltimes", "xinhuanet", "chinadaily", "bbc")

_RU22_REPO = "strateg17/fake-news"
_RU22_COMMIT = "a1caf927869cd6a4b35322f72b304484ed915818"
_CKNABS_REPO = "cknabs/EUvsDisinfo"
_CKNABS_HEAD = "c4acb109041bdca2ecff7036b4865cf16eef52cf"
_CKNABS_PUBS = "d807e47048ae26257416e5336366a698e1053aad"
_KALKUN = ("kalkun/euvsdisinfo-scraper", "8f78469c1978e31209ef86b4777ae5959bce4f96")
_HANLEY = ("hanshanley/narrative-influence", "f82076dc0c94498dfa88f8d387412b6b424a1c66")
_RT = ("YaKsenia/scraper_russia_today_news", "02ae98d8ecd916fdafd14d97972ed6322e5bc3da")
_CLEF_REPO = "sshaar/clef2020-factchecking-task2"
_CLEF_SPLITS = "48bf72b48e5012e4043ab09dc7aefb8a710d063a"
_CLEF_CLAIMS = "f95fe0a99b666f8f9f09581c69aceda913ab24b7"
_CLEF_NOTE = (
    "no SOURCE.txt in the mirror; origin identified from the public repository (same name and "
    "same length as the mirrored file)"
)


def _copy(
    folder: str, name: str, repo: str, commit: str, path: str, sha256: str, size: int,
    note: str = "",
) -> Origin:
    return Origin(folder, name, (origin_url(repo, commit, path),), sha256, size, note=note)


def _ru22(name: str, sha256: str, size: int) -> Origin:
    path = f"data/parquets/{name}"
    return _copy("ru22fact", name, _RU22_REPO, _RU22_COMMIT, path, sha256, size)


def _hanley(name: str, path: str, sha256: str, size: int) -> Origin:
    return _copy("hanley_narrative_influence", name, *_HANLEY, path, sha256, size)


ORIGINS: tuple[Origin, ...] = (
    _ru22(
        "english_fact_test.parquet",
        "2c4436142fb6c0ef3aa86f77e73159bd533b2c64d3969882ef90a9ef3c26a4ed", 2794628,
    ),
    _ru22(
        "english_fact_validate.parquet",
        "a769b5ed08026b248e453f7ce1f2ad5064b2a53913dd3ca73aebfd85449f81c8", 1388376,
    ),
    _ru22(
        "other_languages_fact_test.parquet",
        "eb61fe27e4b546dfe9817a9b5453a1994dc2add35d6068e418256d6671493863", 1326667,
    ),
    _ru22(
        "other_languages_fact_validate.parquet",
        "ea223a3128da4f19abe782fc631e990471ad8fee8381ef4ead00aa8c25f98263", 670673,
    ),
    _ru22(
        "ukrainian_fact_test.parquet",
        "3795de3e7b9d579ba09ec0a94e34714d92cf0a27664d774062ea29fa313e3c46", 1071524,
    ),
    _ru22(
        "ukrainian_fact_train.parquet",
        "307bf58ffb505589d05c4b7af57fbd11da2dfaa297e75bc9448321f444ff7a09", 3735211,
    ),
    _ru22(
        "ukrainian_fact_validate.parquet",
        "698ca3c395dedd31ea202dc108e26253d072fc2009da74c22a61348f4bbbe59b", 557791,
    ),
    _copy(
        "ru22fact", "extra/data_russian_fakes_text.parquet", _RU22_REPO, _RU22_COMMIT,
        "data/parquets/data_russian_fakes_text.parquet",
        "abb37b1ba64bc3f775bf9d9735d29d393ae8d7771b13f3b3cf1ecded9c15a45c", 1616966,
        note="origin path not given in SOURCE.txt; the repository holds it beside the others",
    ),
    Origin(
        "cn_state_media_headlines_2022",
        "headlines_cgtn_globaltimes_xinhua_chinadaily_bbc_2022.csv",
        tuple(
            origin_url(_CN_REPO, _CN_COMMIT, f"Dataset/{outlet}.zip") for outlet in _CN_OUTLETS
        ),
        "cdb729797de578d58f70af281ffb9cd3b8cc0950ddbda068b19c22fb655bfcf1",
        5723366,
        build=merge_cn_headlines,
        note="merge of the origin's per-scrape CSVs (see merge_cn_headlines)",
    ),
    _copy(
        "euvsdisinfo_cknabs", "euvsdisinfo_posts_2015-2021.csv", _CKNABS_REPO, _CKNABS_HEAD,
        "data/posts.csv",
        "f75b1f66012eeceed6b9d1e7d7c7381375892b40a9d335f2c925d7200eb8a175", 2949875,
    ),
    _copy(
        "euvsdisinfo_cknabs", "datapackage.json", _CKNABS_REPO, _CKNABS_HEAD,
        "data/datapackage.json",
        "6b1c531a37286aa3c17a2142fbf2bd0288adf3e03055413f9c522b8268412c3b", 5512,
    ),
    _copy(
        "euvsdisinfo_cknabs", "euvsdisinfo_publications_2020-09.csv", _CKNABS_REPO,
        _CKNABS_PUBS, "data/publications.csv",
        "72860fd9e3b31759042c49eeaeb7585fc3ad8de8568af2c2178e2aeb5979d8df", 4166989,
    ),
    _copy(
        "euvsdisinfo_kalkun", "euvsdisinfo_cases_2015-2017_with_summary_disproof.csv",
        *_KALKUN, "full_dataset_formatted.csv",
        "44c0cbc1f3f53bfef62c4f10ec1c089f04bd173807c7a4b23d31bdf3da04915c", 2087570,
    ),
    _hanley(
        "american_news_domains.txt", "american_domains/domains.txt",
        "947d6787f6e443116405b6140788a3cd928d607b0c374e7c0ad0fdcc3f6ac85f", 40803,
    ),
    _hanley(
        "chinese_news_domains.txt", "chinese_domains/domains.txt",
        "77da2946a0d409169339825e3eee5dcddb3dfa2837f06320be084c28a1b10421", 32091,
    ),
    _hanley(
        "russian_news_domains.txt", "russian_domains/domains.txt",
        "614670357e73dd7853578cbb9e9ca09b92aa6a7d714b7d97870e30fb12ae8621", 32524,
    ),
    _hanley(
        "ukrainian_news_domains.txt", "ukrainian_domains/domains.txt",
        "b7b8a873333601bfb9bf55e06eee08c08a5c44f593bf3cd1055ca3b1bac75ae1", 36885,
    ),
    _hanley(
        "weibo_cluster_summaries.tsv",
        "weibo_clusters_statistics_summaries/weibo_cluster_summaries.tsv",
        "deb55e8f2f2302ce32371d85eaaa0511d0646d577aa722f726fe466fc066fe71", 343769,
    ),
    _copy(
        "clef2020_checkthat_task2", "v3.0/verified_claims.docs.tsv", _CLEF_REPO, _CLEF_CLAIMS,
        "data/v3.0/verified_claims.docs.tsv",
        "04b0e43170ca03916fa6c81b13fbfc5587483db860530b59dba9f2858f612611", 1625211,
        note=_CLEF_NOTE,
    ),
    _copy(
        "clef2020_checkthat_task2", "v3.0/train/tweets.queries.tsv", _CLEF_REPO, _CLEF_SPLITS,
        "data/train/tweets.queries.tsv",
        "2a110b8d59e5a654ca2dec4aa5cf35372604b9897f578817c6a1fdafa839fc1d", 185470,
        note=_CLEF_NOTE,
    ),
    _copy(
        "clef2020_checkthat_task2", "v3.0/train/tweet-vclaim-pairs.qrels", _CLEF_REPO,
        _CLEF_SPLITS, "data/train/tweet-vclaim-pairs.qrels",
        "ac55470b772c7d5cd48f35762762c2fc345154e780aa8680c06bc572e955818f", 9421,
        note=_CLEF_NOTE,
    ),
    _copy(
        "clef2020_checkthat_task2", "v3.0/dev/tweets.queries.tsv", _CLEF_REPO, _CLEF_SPLITS,
        "data/dev/tweets.queries.tsv",
        "f2c6c8f69a7c2d897300739842081503966878d4f0c28af7aca64127c5571b20", 46563,
        note=_CLEF_NOTE,
    ),
    _copy(
        "clef2020_checkthat_task2", "v3.0/dev/tweet-vclaim-pairs.qrels", _CLEF_REPO,
        _CLEF_SPLITS, "data/dev/tweet-vclaim-pairs.qrels",
        "5c2bb709a4f154a9c9c8891da8920aa004c997b506c3b137a4518d65bd9edc2e", 2331,
        note=_CLEF_NOTE,
    ),
    _copy(
        "rt_russian_articles_sample", "Russia_Today_articles.csv", *_RT,
        "output/Russia_Today_articles.csv",
        "b350d54611e6eeb0c59dc722c013984194caac8078542e2f416d9f5177ce9fd6", 655910,
    ),
)


# --------------------------------------------------------------------------------------------
# names and folders


def _folders() -> list[str]:
    return list(dict.fromkeys(origin.folder for origin in ORIGINS))


def dataset_folders(names: Iterable[str] | None = None) -> list[str]:
    """Data set folders for `names` (folder names or `DATASETS` keys); all when None.

    Raises `UsageError` for an unknown name.
    """
    known = _folders()
    if names is None:
        return known
    folders: list[str] = []
    for name in names:
        spec = DATASETS.get(name)
        folder = spec.folder if spec is not None else name.strip().strip("/")
        if folder not in known:
            choices = ", ".join(dict.fromkeys([*DATASETS, *known]))
            raise UsageError(f"unknown data set {name!r}", fix=f"choose from {choices}")
        if folder not in folders:
            folders.append(folder)
    return folders


def default_download_dir() -> Path:
    """Where downloads go: ``$ECHOLENS_DATA_DIR`` if set, else ``~/.cache/echolens/datasets``."""
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "echolens" / "datasets"


# --------------------------------------------------------------------------------------------
# downloading


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _is_cached(path: Path, origin: Origin) -> bool:
    try:
        if not path.is_file() or path.stat().st_size != origin.size:
            return False
    except OSError:
        return False
    return _sha256_file(path) == origin.sha256


def _rebase(url: str, base_url: str | None) -> str:
    if base_url is None:
        return url
    parts = urlsplit(url)
    query = f"?{parts.query}" if parts.query else ""
    return base_url.rstrip("/") + parts.path + query


def _get(
    url: str, origin: Origin, client: httpx.Client, max_bytes: int, timeout: float
) -> bytes:
    try:
        return fetch(url, client=client, max_bytes=max_bytes, timeout=timeout).body
    except FetchError as exc:
        detail = exc.detail.removeprefix(f"{url}: ")
        raise DownloadError(
            f"could not download {origin.relpath} from {url}: {detail}",
            fix=(
                "check the network access to the origin and retry; or set "
                f"{DATA_DIR_ENV} to a folder holding the data sets (see DATASETS.md)"
            ),
        ) from exc


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _fetch_origin(
    origin: Origin, client: httpx.Client, base_url: str | None, timeout: float
) -> bytes:
    if origin.build is None:
        url = _rebase(origin.urls[0], base_url)
        return _get(url, origin, client, origin.size + SIZE_SLACK, timeout)
    sources: list[tuple[str, bytes]] = []
    for original in origin.urls:
        url = _rebase(original, base_url)
        sources.append((url, _get(url, origin, client, MAX_ZIP_BYTES, timeout)))
    return origin.build(sources)


def download_datasets(
    target: Path,
    names: Sequence[str] | None = None,
    *,
    base_url: str | None = None,
    client: httpx.Client | None = None,
    timeout: float = 120.0,
    progress: Callable[[Origin, str], None] | None = None,
) -> list[Path]:
    """Make sure every file of the data sets `names` (all when None) is in `target`.

    Files already present with the right sha256 are kept (no request). Others are fetched from
    their origin (`base_url`, e.g. ``http://127.0.0.1:8000``, replaces the origin host and keeps
    the URL path), rebuilt where the file is a merge, checked against the recorded sha256 and
    written atomically to ``target/<folder>/<name>`` (a wrong copy is replaced). Returns the
    paths of all those files in `ORIGINS` order. `progress(origin, status)` is called with
    status ``"cached"`` or ``"downloaded"``.

    Raises `UsageError` for an unknown name and `DownloadError` (a `DataNotFound`) when a file
    cannot be fetched or its hash differs; nothing is written for that file.
    """
    folders = dataset_folders(names)
    wanted = [origin for origin in ORIGINS if origin.folder in folders]
    own = client is None
    http = new_client(timeout=timeout) if client is None else client
    paths: list[Path] = []
    try:
        for origin in wanted:
            path = target / origin.folder / origin.name
            if _is_cached(path, origin):
                paths.append(path)
                if progress is not None:
                    progress(origin, "cached")
                continue
            data = _fetch_origin(origin, http, base_url, timeout)
            actual = hashlib.sha256(data).hexdigest()
            if actual != origin.sha256:
                what = "rebuilt from " + ", ".join(origin.urls) if origin.build else origin.urls[0]
                raise DownloadError(
                    f"sha256 mismatch for {origin.relpath} ({what}): expected {origin.sha256}, "
                    f"got {actual} ({len(data)} bytes, expected {origin.size})",
                    fix=(
                        "nothing was written; retry (the download may be corrupt). If it "
                        "persists the origin file changed: get the data sets from the mirror "
                        f"and set {DATA_DIR_ENV} to it (see DATASETS.md)"
                    ),
                )
            _write_atomic(path, data)
            paths.append(path)
            if progress is not None:
                progress(origin, "downloaded")
    finally:
        if own:
            http.close()
    return paths


def ensure_data(
    names: Sequence[str],
    *,
    download: bool,
    base_url: str | None = None,
    client: httpx.Client | None = None,
) -> Path:
    """The data root holding the data sets `names` (folder names or `DATASETS` keys).

    Returns `data_dir()` when every needed folder exists there. Otherwise, with `download`,
    fetches them (see `download_datasets`) into `default_download_dir()` and returns that
    folder; without it raises `DataNotFound` naming the missing folder and the fix.
    """
    folders = dataset_folders(names)
    root = data_dir()
    missing = [folder for folder in folders if not (root / folder).is_dir()]
    if not missing:
        return root
    if not download:
        listed = ", ".join(str(root / folder) for folder in missing)
        raise DataNotFound(
            f"data set folder not found: {listed}",
            fix=(
                _DOWNLOAD_FIX.format(names=" ".join(missing))
                + f", or set {DATA_DIR_ENV} to the folder holding the data sets (see DATASETS.md)"
            ),
        )
    target = default_download_dir()
    download_datasets(target, folders, base_url=base_url, client=client)
    return target
