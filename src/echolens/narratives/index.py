"""Nearest-neighbour search over the items already grouped: exact (numpy) for small stores,
`usearch` HNSW for large ones. Both answer a block of queries at once.

A store keeps its index in a file beside the database (`index_path`) so that a run does
not rebuild the HNSW graph of every item it already holds. The file is a cache of the store,
never the truth: `load_index` checks it against the store's grouped items (count, dimension
and a digest of their ids in assignment order) and the caller rebuilds it from the store,
with a warning, when it is missing, unreadable or stale."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import pickle
import re
import subprocess
import sys
import threading
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any, Protocol

import numpy as np

log = logging.getLogger(__name__)

EXACT_LIMIT = 20_000  # above this many items, approximate search pays off
SELECT_ROWS = 16  # queries whose nearest items are selected together (exact search)


class VectorIndex(Protocol):
    # whether a query's answer is the same however the queries are split into calls (and
    # so a block's search may be split across calls and threads)
    splittable: bool
    file_kind: str  # the format `save` writes, named in the manifest for `load_index`

    def __len__(self) -> int: ...

    def add(self, vectors: np.ndarray) -> None: ...

    def search(self, queries: np.ndarray, k: int, threads: int = 1
               ) -> tuple[np.ndarray, np.ndarray]:
        """(indices, cosines), each (len(queries), <=k), best first; -1 pads missing.
        `threads`: at most this many threads (0: one per CPU)."""
        ...

    def save(self, path: Path) -> None: ...

    def close(self) -> None:
        """Free what the index holds outside this process (it cannot be used after)."""
        ...


class ExactIndex:
    """Brute force on a growing float32 matrix: exact and deterministic."""

    splittable = False  # a product's last bits may depend on its number of rows
    file_kind = "ExactIndex"

    def __init__(self, dim: int) -> None:
        self._data = np.zeros((1024, dim), dtype=np.float32)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def add(self, vectors: np.ndarray) -> None:
        need = self._n + len(vectors)
        if need > len(self._data):
            grown = np.zeros((max(need, 2 * len(self._data)), self._data.shape[1]), np.float32)
            grown[: self._n] = self._data[: self._n]
            self._data = grown
        self._data[self._n:need] = vectors
        self._n = need

    def search(self, queries: np.ndarray, k: int, threads: int = 1
               ) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, self._n)
        if k == 0:
            empty = np.zeros((len(queries), 0))
            return empty.astype(np.int64), empty.astype(np.float32)
        sims = queries @ self._data[: self._n].T
        if k < self._n:  # a few rows at a time: the full (queries x items) int64 selection
            top = np.empty((len(queries), k), dtype=np.int64)  # was 2x the product's size
            for lo in range(0, len(queries), SELECT_ROWS):
                top[lo:lo + SELECT_ROWS] = np.argpartition(
                    -sims[lo:lo + SELECT_ROWS], k - 1, axis=1)[:, :k]
        else:
            top = np.tile(np.arange(self._n), (len(queries), 1))
        top_sims = np.take_along_axis(sims, top, axis=1)
        order = np.lexsort((top, -top_sims), axis=1)
        return np.take_along_axis(top, order, axis=1), np.take_along_axis(top_sims, order, axis=1)

    def save(self, path: Path) -> None:
        with path.open("wb") as handle:
            np.save(handle, self._data[: self._n])

    def close(self) -> None:
        pass

    @classmethod
    def load(cls, path: Path, dim: int) -> ExactIndex:
        data = np.load(path, allow_pickle=False)
        if data.ndim != 2 or data.shape[1] != dim:
            raise ValueError(f"shape {data.shape} is not (n, {dim})")
        index = cls(dim)
        index.add(np.asarray(data, dtype=np.float32))
        return index


class USearchIndex:
    """HNSW in `usearch` with int8 storage (a quarter of float32), single-threaded adds so
    the graph, and so the result, is the same on every run. Each query is answered on its
    own, whatever the calls and threads of its search."""

    splittable = True
    file_kind = "USearchIndex"

    def __init__(self, dim: int) -> None:
        try:
            from usearch.index import Index
        except ImportError as exc:  # pragma: no cover - depends on the install
            from echolens.errors import NotInstalled

            raise NotInstalled("usearch is needed for large narrative indexes",
                               "pip install usearch==2.26.6") from exc
        # measured on 40k items (k=64): connectivity 16 / expansion 64 / 96 added 4.5k
        # vectors per CPU-second and answered 3.4k queries per CPU-second at 0.963 recall of
        # the exact 64 nearest; 12 / 32 / 80 adds 9.4k and answers 6.4k at 0.944
        self._index = Index(ndim=dim, metric="cos", dtype="i8", connectivity=12,
                            expansion_add=32, expansion_search=80)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def add(self, vectors: np.ndarray) -> None:
        keys = np.arange(self._n, self._n + len(vectors), dtype=np.uint64)
        self._index.add(keys, np.asarray(vectors, dtype=np.float32), threads=1)
        self._n += len(vectors)

    def search(self, queries: np.ndarray, k: int, threads: int = 1
               ) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, self._n)
        if k == 0:
            empty = np.zeros((len(queries), 0))
            return empty.astype(np.int64), empty.astype(np.float32)
        found: Any = self._index.search(np.asarray(queries, dtype=np.float32), k,
                                        threads=threads)
        keys = np.asarray(found.keys, dtype=np.int64).reshape(len(queries), -1)
        dist = np.asarray(found.distances, dtype=np.float32).reshape(len(queries), -1)
        counts = np.asarray(found.counts).reshape(-1, 1)
        keys[np.arange(keys.shape[1])[None, :] >= counts] = -1
        return keys, 1.0 - dist

    def save(self, path: Path) -> None:
        self._index.save(str(path))

    def close(self) -> None:
        pass

    @classmethod
    def load(cls, path: Path, dim: int) -> USearchIndex:
        index = cls(dim)
        index._index.load(str(path))
        if index._index.ndim != dim:
            raise ValueError(f"dimension {index._index.ndim} is not {dim}")
        index._n = len(index._index)
        return index


class ProcessIndex:
    """A `USearchIndex` run by a child process (`index_worker`), with the same answers.

    During `Grouper.add` the index adds and searches on one core while the caller decides
    items in Python on the other. In one process the two share the GIL: usearch takes it
    back many times per call, and on the 39k real headlines its calls spent ~4 s of their
    ~13 s waiting for it. A child process has a GIL of its own. Vectors go over a pipe
    (~0.4 MB per block of 256). If the child cannot be started, or ends before its first
    answer, the index runs in this process instead, with a warning."""

    splittable = True
    file_kind = "USearchIndex"  # the child saves its USearchIndex
    worker = ("-m", "echolens.narratives.index_worker")  # run by this Python, then DIM

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._n = 0
        self._answered = False
        self._local: USearchIndex | None = None
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._stop: Callable[[], Any] | None = None  # a weakref.finalize: ends the child once
        env = dict(os.environ)
        package_root = Path(__file__).resolve().parents[2]
        if package_root.name not in ("site-packages", "dist-packages"):
            # a source tree put on sys.path by hand (a notebook, a script): the child must
            # import this same echolens (an installed one is found without help, and
            # site-packages must not go before the standard library)
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(package_root), env.get("PYTHONPATH", "")) if p)
        try:
            self._proc = subprocess.Popen(
                [sys.executable, *self.worker, str(dim)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        except OSError as exc:
            self._fall_back(f"could not start it ({exc})")
            return
        self._stop = weakref.finalize(self, _stop_worker, self._proc)

    def _fall_back(self, why: str) -> None:
        log.warning("narrative index process: %s; the index runs in this process", why)
        self._local = USearchIndex(self.dim)

    def _call(self, *request: Any) -> Any:
        with self._lock:
            if self._local is None and self._proc is not None:
                stdin, stdout = self._proc.stdin, self._proc.stdout
                assert stdin is not None and stdout is not None
                try:
                    pickle.dump(request, stdin, protocol=pickle.HIGHEST_PROTOCOL)
                    stdin.flush()
                    status, value = pickle.load(stdout)
                except (OSError, EOFError, pickle.UnpicklingError) as exc:
                    self.close()
                    code = self._proc.returncode
                    if self._answered:
                        raise RuntimeError(
                            f"the narrative index process ended (exit code {code}) after "
                            f"{self._n} vectors; nothing was saved from this run, run it "
                            "again (the store is unchanged)") from exc
                    self._fall_back(f"it ended before answering (exit code {code})")
                else:
                    self._answered = True
                    if status != "ok":
                        raise RuntimeError(f"narrative index process: {value}")
                    return value
            assert self._local is not None
            return answer_request(self._local, request)

    def __len__(self) -> int:
        return self._n

    def add(self, vectors: np.ndarray) -> None:
        self._n = int(self._call("add", np.asarray(vectors, dtype=np.float32)))

    def search(self, queries: np.ndarray, k: int, threads: int = 1
               ) -> tuple[np.ndarray, np.ndarray]:
        found: tuple[np.ndarray, np.ndarray] = self._call(
            "search", np.asarray(queries, dtype=np.float32), k, threads)
        return found

    def save(self, path: Path) -> None:
        self._call("save", str(path))

    def close(self) -> None:
        """End the child process (also done when the index is garbage collected)."""
        if self._stop is not None:
            self._stop()


def answer_request(index: USearchIndex, request: tuple[Any, ...]) -> Any:
    """Carry out one `ProcessIndex` request, `(op, *args)`, on `index` (in the child
    process, or here when the child could not run)."""
    op, args = request[0], request[1:]
    if op == "add":
        index.add(args[0])
        return len(index)
    if op == "search":
        return index.search(*args)
    if op == "save":
        index.save(Path(args[0]))
        return None
    raise ValueError(f"unknown request {op!r}")


def _stop_worker(proc: subprocess.Popen[bytes]) -> None:
    stream: IO[bytes] | None
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def make_index(dim: int, expected: int) -> VectorIndex:
    return ExactIndex(dim) if expected <= EXACT_LIMIT else ProcessIndex(dim)


# -- the index file of a store ----------------------------------------------------------------
def index_path(store_path: str, model_id: str) -> Path | None:
    """Where a store keeps its narrative index for `model_id` (None for in-memory stores)."""
    if store_path in ("", ":memory:"):
        return None
    slug = re.sub(r"[^A-Za-z0-9.-]+", "_", model_id)
    return Path(f"{store_path}.narratives") / f"{slug}.index"


def ids_digest(item_ids: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for item_id in item_ids:
        digest.update(item_id.encode())
        digest.update(b"\n")
    return digest.hexdigest()


def save_index(index: VectorIndex, path: Path, item_ids: Sequence[str], dim: int) -> None:
    """Write the index and its manifest (written last: a crash leaves a stale file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    manifest = path.with_suffix(".json")
    manifest.unlink(missing_ok=True)
    index.save(path)
    manifest.write_text(json.dumps({
        "kind": index.file_kind, "dim": dim, "count": len(item_ids),
        "ids_sha256": ids_digest(item_ids)}))


def load_index(path: Path, item_ids: Sequence[str], dim: int) -> tuple[VectorIndex | None, str]:
    """The saved index when it matches `item_ids` (in order), else (None, why not)."""
    manifest = path.with_suffix(".json")
    if not path.exists() or not manifest.exists():
        return None, "missing"
    try:
        meta = json.loads(manifest.read_text())
        if meta.get("count") != len(item_ids) or meta.get("dim") != dim:
            return None, "stale (item count or dimension differs from the store)"
        if meta.get("ids_sha256") != ids_digest(item_ids):
            return None, "stale (items differ from the store)"
        kind = meta.get("kind")
        index: VectorIndex
        if kind == ExactIndex.file_kind:
            index = ExactIndex.load(path, dim)
        elif kind == USearchIndex.file_kind:
            index = USearchIndex.load(path, dim)
        else:
            return None, f"unknown index kind {kind!r}"
    except (OSError, EOFError, ValueError, RuntimeError) as exc:
        return None, f"unreadable ({exc})"
    if len(index) != len(item_ids):
        return None, "corrupted (holds a different number of vectors)"
    return index, "ok"
