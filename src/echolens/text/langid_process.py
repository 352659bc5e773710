"""Language identification in a worker process, beside the rest of an import.

lingua holds the GIL, so threads cannot overlap it with cleaning, deduplication and writes;
a second process can. `LanguageJobs` takes batches of texts and hands back their codes in
order: in this process (small inputs: no process start), or from a worker started with
`start_worker` that identifies the next batches while this process stores the current one.

The worker is a plain subprocess running `langid_worker.py` (not `multiprocessing`, which
would re-run a user's script that lacks a ``__main__`` guard), fed JSON lines over a pipe. It
rebuilds the same `LanguageIdentifier`, so its codes are the ones this process would compute.
If it cannot start, identification stays here, with a warning; if it fails later, the error
is raised here as a `LanguageIdError`. It ends with the import, and with this process.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import warnings
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path
from queue import SimpleQueue
from typing import IO, Protocol

from echolens.errors import EcholensError
from echolens.text.langid import LanguageIdentifier

__all__ = ["DISABLE_ENV", "LanguageCodes", "LanguageIdError", "LanguageJobs", "LanguageWorker"]

WORKER_SCRIPT = Path(__file__).with_name("langid_worker.py")
DISABLE_ENV = "ECHOLENS_LANGID_WORKER"  # "0" keeps language identification in-process
_STDERR_KEEP = 4000  # characters of the worker's stderr quoted in errors
_CLOSE_WAIT_S = 5.0


class LanguageIdError(EcholensError):
    code = "E120"


class _NotStarted(Exception):
    """The worker ended before it was ready: identification falls back to this process."""


class _Detector(Protocol):
    def detect_many(self, texts: Sequence[str]) -> list[str]: ...


class LanguageWorker:
    """A worker process answering batches of texts with their language codes, in order."""

    def __init__(self, process: subprocess.Popen[bytes], settings: dict[str, list[str]]) -> None:
        self._process = process
        self._lock = threading.Lock()
        self._waiting: deque[Future[list[str]]] = deque()
        self._outbox: SimpleQueue[bytes | None] = SimpleQueue()
        self._ready = False
        self._failure: Exception | None = None
        self._stderr: deque[str] = deque(maxlen=64)
        assert process.stdin and process.stdout and process.stderr
        self._threads = [  # the stderr reader first: the stdout reader joins it
            threading.Thread(target=self._drain, args=(process.stderr,), daemon=True,
                             name="langid-stderr"),
            threading.Thread(target=self._write, args=(process.stdin,), daemon=True,
                             name="langid-writer"),
            threading.Thread(target=self._read, args=(process.stdout,), daemon=True,
                             name="langid-reader"),
        ]
        self._outbox.put(_line(settings))
        for thread in self._threads:
            thread.start()

    @classmethod
    def start(cls, identifier: LanguageIdentifier, *,
              executable: str | None = None) -> LanguageWorker:
        """Start a worker identifying as `identifier` does. Raises OSError if it cannot."""
        process = subprocess.Popen(
            [executable or sys.executable, str(WORKER_SCRIPT), str(os.getpid())],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            close_fds=True, env=_worker_environment(),
        )
        return cls(process, identifier.settings())

    @property
    def pid(self) -> int:
        return self._process.pid

    def submit(self, texts: Sequence[str]) -> Future[list[str]]:
        """The codes of `texts`, when the worker has identified them."""
        future: Future[list[str]] = Future()
        with self._lock:
            if self._failure is not None:
                future.set_exception(self._failure)
                return future
            self._waiting.append(future)
        self._outbox.put(_line(list(texts)))
        return future

    def close(self, *, wait: bool = True) -> None:
        """End the worker: let it finish (up to a few seconds) when `wait`, else kill it."""
        self._outbox.put(None)
        if wait:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=_CLOSE_WAIT_S)
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        for thread in self._threads:
            thread.join(timeout=_CLOSE_WAIT_S)
        self._fail(LanguageIdError("the language identification worker was closed"))

    # -- threads ---------------------------------------------------------------------------
    def _write(self, stdin: IO[bytes]) -> None:
        try:
            while (data := self._outbox.get()) is not None:
                stdin.write(data)
                stdin.flush()
        except OSError:
            pass  # the worker is gone; the reader reports why
        finally:
            with contextlib.suppress(OSError):
                stdin.close()

    def _read(self, stdout: IO[bytes]) -> None:
        failure: Exception = LanguageIdError("the language identification worker stopped")
        try:
            for line in stdout:
                self._answer(json.loads(line))
            failure = self._exit_failure()
        except Exception as exc:  # a garbled answer: nothing after it can be trusted
            self._process.kill()
            failure = LanguageIdError(
                f"unreadable answer from the language identification worker: {exc!r}",
                f"set {DISABLE_ENV}=0 to identify languages in-process")
        finally:  # every waiting batch gets an answer, whatever happened
            self._fail(failure)

    def _exit_failure(self) -> Exception:
        code = self._process.wait()
        self._threads[0].join(timeout=1.0)  # the rest of stderr
        stderr = "".join(self._stderr).strip()[-_STDERR_KEEP:]
        if not self._ready:
            return _NotStarted(f"exit code {code}" + (f": {stderr}" if stderr else ""))
        return LanguageIdError(
            f"the language identification worker (pid {self._process.pid}) stopped with "
            f"exit code {code}" + (f": {stderr}" if stderr else ""),
            "re-run the import (it resumes without duplicating anything); set "
            f"{DISABLE_ENV}=0 to identify languages in-process")

    def _answer(self, message: dict[str, object]) -> None:
        if "ready" in message:
            self._ready = True
            return
        with self._lock:
            future = self._waiting.popleft() if self._waiting else None
        if future is None:
            return
        codes = message.get("codes")
        if isinstance(codes, list):
            future.set_result([str(code) for code in codes])
        else:
            future.set_exception(LanguageIdError(
                f"language identification failed in the worker process: "
                f"{message.get('error')}\n{message.get('traceback', '')}".rstrip(),
                "report this with the input that caused it; set "
                f"{DISABLE_ENV}=0 to identify languages in-process"))

    def _drain(self, stderr: IO[bytes]) -> None:
        for line in stderr:
            self._stderr.append(line.decode("utf-8", "replace"))

    def _fail(self, error: Exception) -> None:
        with self._lock:
            if self._failure is None:
                self._failure = error
            waiting, self._waiting = self._waiting, deque()
        for future in waiting:
            if not future.done():
                future.set_exception(self._failure)


def _worker_environment() -> dict[str, str]:
    """This process's environment, with lingua's thread pool cut to one thread: the worker is
    there to use the core this process leaves idle, not to compete for this one."""
    environment = dict(os.environ)
    environment.setdefault("RAYON_NUM_THREADS", "1")
    return environment


def _line(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=True).encode("ascii") + b"\n"


class LanguageJobs:
    """Batches of texts to identify, answered in this process or by a `LanguageWorker`."""

    def __init__(self, detector: _Detector) -> None:
        self._detector = detector
        self._worker: LanguageWorker | None = None

    @property
    def worker(self) -> LanguageWorker | None:
        return self._worker

    def start_worker(self, *, executable: str | None = None) -> bool:
        """Move identification to a worker process; False (and a warning if it failed) when
        it stays here: the detector is not a `LanguageIdentifier`, or DISABLE_ENV is 0."""
        if self._worker is not None:
            return True
        if not isinstance(self._detector, LanguageIdentifier):
            return False
        if os.environ.get(DISABLE_ENV, "").strip().lower() in {"0", "false", "no", "off"}:
            return False
        try:
            self._worker = LanguageWorker.start(self._detector, executable=executable)
        except OSError as exc:
            _warn_fallback(str(exc))
            return False
        return True

    def submit(self, texts: list[str]) -> LanguageCodes:
        """Queue `texts`; `.result()` on the returned handle gives their codes."""
        if not texts:
            return LanguageCodes(self, texts, None)
        return LanguageCodes(self, texts, self._worker.submit(texts) if self._worker else None)

    def close(self, *, wait: bool = True) -> None:
        if self._worker is not None:
            self._worker.close(wait=wait)
            self._worker = None

    def _fallback(self, reason: str) -> None:
        if self._worker is not None:
            _warn_fallback(reason)
            self._worker.close(wait=False)
            self._worker = None


class LanguageCodes:
    """The codes of one submitted batch, computed by the worker or here on `result()`."""

    def __init__(self, jobs: LanguageJobs, texts: list[str],
                 future: Future[list[str]] | None) -> None:
        self._jobs = jobs
        self._texts = texts
        self._future = future

    def ready(self) -> bool:
        """Whether `result()` would return without waiting for the worker."""
        return self._future is None or self._future.done()

    def result(self) -> list[str]:
        if self._future is not None:
            try:
                return self._future.result()
            except _NotStarted as exc:
                self._jobs._fallback(str(exc))
        return self._jobs._detector.detect_many(self._texts)


def _warn_fallback(reason: str) -> None:
    warnings.warn(f"language identification worker could not start ({reason}); identifying "
                  "languages in this process instead (slower on large imports)",
                  RuntimeWarning, stacklevel=3)
