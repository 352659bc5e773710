"""Language identification in a worker process: same codes as in-process, on real text; the
worker ends with its parent; failures are clear errors; small imports stay in-process."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import time
from itertools import islice
from pathlib import Path

import duckdb
import polars as pl
import pytest

from echolens.errors import DataNotFound
from echolens.ingest.datasets import data_dir, load_dataset
from echolens.ingest.normalize import NormalizeConfig
from echolens.ingest.pipeline import Ingestor
from echolens.model import RawItem, Reject
from echolens.sources.curated import load_curated
from echolens.sources.registry import SourceResolver
from echolens.store.duckdb_store import DuckDBStore
from echolens.text.langid import LanguageIdentifier
from echolens.text.langid_process import DISABLE_ENV, LanguageIdError, LanguageJobs, LanguageWorker

HEADLINES = ("cn_state_media_headlines_2022/"
             "headlines_cgtn_globaltimes_xinhua_chinadaily_bbc_2022.csv")
RU22FACT = ("other_languages_fact_test", "ukrainian_fact_test", "english_fact_test")


@pytest.fixture(scope="module")
def root() -> Path:
    try:
        return data_dir()
    except DataNotFound as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def real_texts(root: Path) -> list[str]:
    """Every 60th real headline (five outlets, English and Chinese) and every 10th RU22Fact
    test claim (Russian, Ukrainian, Chinese, English and a few others): about 1,000 texts."""
    with open(root / HEADLINES, encoding="utf-8", newline="") as handle:
        titles = [row["title"] for row in islice(csv.DictReader(handle), 0, None, 60)]
    claims = [claim for name in RU22FACT for claim in pl.read_parquet(
        root / "ru22fact" / f"{name}.parquet")["claim"].drop_nulls().to_list()[::10]]
    return [t for t in titles if t] + [c[:1000] for c in claims]


def test_worker_codes_match_in_process_on_real_text(real_texts: list[str]) -> None:
    identifier = LanguageIdentifier()
    worker = LanguageWorker.start(identifier)
    try:
        batches = [real_texts[i:i + 300] for i in range(0, len(real_texts), 300)]
        futures = [worker.submit(batch) for batch in batches]  # several in flight at once
        from_worker = [code for future in futures for code in future.result(timeout=300)]
    finally:
        worker.close()
    in_process = identifier.detect_many(real_texts)
    assert from_worker == in_process
    assert {"en", "zh", "ru", "uk"} <= set(in_process)  # the sample exercises every language


def test_settings_rebuild_the_same_identifier() -> None:
    identifier = LanguageIdentifier(["en", "ar", "uk"], latin_candidates=("en", "de"),
                                    cyrillic_candidates=("ru", "bg"))
    rebuilt = LanguageIdentifier(**identifier.settings())
    assert rebuilt.settings() == identifier.settings()
    assert identifier.settings()["cyrillic_candidates"] == ["ru", "bg", "uk"]


def _ingest(db: Path, records: list[RawItem | Reject], *,
            worker_min_texts: int) -> Ingestor:
    store = DuckDBStore(str(db))
    try:
        ingestor = Ingestor(
            store, resolver=SourceResolver(store.list_sources(), load_curated(), {}),
            detector=LanguageIdentifier(), config=NormalizeConfig(), batch_size=150,
            worker_min_texts=worker_min_texts)
        ingestor.run(records)
    finally:
        store.close()
    return ingestor


def _items(db: Path) -> pl.DataFrame:
    con = duckdb.connect(str(db), read_only=True)
    try:
        items: pl.DataFrame = con.sql("SELECT * EXCLUDE (fetched_at) FROM items ORDER BY id").pl()
        return items
    finally:
        con.close()


def test_pipeline_with_worker_stores_what_in_process_stores(
        root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    records = list(islice(load_dataset("cn-headlines", root), 0, 900))
    with_worker = _ingest(tmp_path / "worker.duckdb", records, worker_min_texts=200)
    assert with_worker.used_worker
    monkeypatch.setenv(DISABLE_ENV, "0")
    in_process = _ingest(tmp_path / "here.duckdb", records, worker_min_texts=200)
    assert not in_process.used_worker
    worker_items = _items(tmp_path / "worker.duckdb")
    assert worker_items.height > 800
    assert worker_items.equals(_items(tmp_path / "here.duckdb"))


def test_small_imports_stay_in_process(tmp_path: Path) -> None:
    records = [{"source": "bbc.com", "text": f"Talks in Istanbul end without a deal, day {i}",
                "published_at": "2022-03-29T10:00:00Z"} for i in range(300)]
    from echolens.ingest.files import read_item_file
    from tests.conftest import write_jsonl

    path = write_jsonl(tmp_path / "small.jsonl", list(records))
    ingestor = _ingest(tmp_path / "small.duckdb", list(read_item_file(str(path), "jsonl")),
                       worker_min_texts=4000)
    assert not ingestor.used_worker
    assert set(_items(tmp_path / "small.duckdb")["lang"]) == {"en"}


def test_error_in_worker_is_raised_clearly() -> None:
    worker = LanguageWorker.start(LanguageIdentifier())
    try:
        bad = worker.submit([None])  # type: ignore[list-item]
        with pytest.raises(LanguageIdError, match="TypeError: argument of type") as info:
            bad.result(timeout=60)
        assert DISABLE_ENV in str(info.value)
        # the worker carries on with the next batch
        assert worker.submit(["Путин заявил о победе"]).result(timeout=60) == ["ru"]
    finally:
        worker.close()


def test_worker_killed_mid_import_is_an_error() -> None:
    jobs = LanguageJobs(LanguageIdentifier())
    assert jobs.start_worker()
    try:
        assert jobs.submit(["乌克兰说向乌提供战机谈判正加速进行"]).result() == ["zh"]
        assert jobs.worker is not None
        os.kill(jobs.worker.pid, signal.SIGKILL)
        with pytest.raises(LanguageIdError, match="stopped with exit code -9"):
            jobs.submit(["Зеленський поговорив з Байденом"]).result()
    finally:
        jobs.close()


def test_worker_that_cannot_start_falls_back_with_a_warning() -> None:
    texts = ["Зеленський поговорив з Байденом", "Russia says it will reduce activity"]
    missing = LanguageJobs(LanguageIdentifier())
    with pytest.warns(RuntimeWarning, match="could not start"):
        assert not missing.start_worker(executable="/nonexistent/python3")
    assert missing.submit(texts).result() == ["uk", "en"]

    false = shutil.which("false")
    assert false is not None
    exits = LanguageJobs(LanguageIdentifier())
    assert exits.start_worker(executable=false)  # starts, then exits before it is ready
    try:
        with pytest.warns(RuntimeWarning, match="exit code 1"):
            assert exits.submit(texts).result() == ["uk", "en"]
        assert exits.worker is None
        assert exits.submit(texts[:1]).result() == ["uk"]
    finally:
        exits.close()


_PARENT = """
import sys, time
from echolens.text.langid import LanguageIdentifier
from echolens.text.langid_process import LanguageWorker
worker = LanguageWorker.start(LanguageIdentifier())
worker.submit(["Путин заявил о победе"]).result(timeout=60)
print(worker.pid, flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in status


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_worker_dies_with_its_parent_on_kill_9() -> None:
    parent = subprocess.Popen([sys.executable, "-c", _PARENT], stdout=subprocess.PIPE)
    try:
        assert parent.stdout is not None
        worker_pid = int(parent.stdout.readline())
        assert _alive(worker_pid)
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 20
    while _alive(worker_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(worker_pid)
