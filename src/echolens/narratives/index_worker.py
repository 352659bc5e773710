"""The child process of `index.ProcessIndex`: one `USearchIndex`, driven over stdin/stdout.

Each request is one pickled tuple `(op, *args)` on stdin; each answer one pickled
`("ok", value)` or `("error", message)` on stdout. The process ends when its stdin closes
(the parent exited or closed the index), so it never outlives the run that started it.

Run as `python -m echolens.narratives.index_worker DIM`."""

from __future__ import annotations

import os
import pickle
import signal
import sys
from typing import Any, BinaryIO

from echolens.narratives.index import USearchIndex, answer_request


def serve(dim: int, requests: BinaryIO, answers: BinaryIO) -> None:
    index = USearchIndex(dim)
    while True:
        try:
            request = pickle.load(requests)
        except EOFError:
            return
        answer: tuple[str, Any]
        try:
            answer = ("ok", answer_request(index, request))
        except Exception as exc:  # reported to the parent, which raises it
            answer = ("error", f"{type(exc).__name__}: {exc}")
        pickle.dump(answer, answers, protocol=pickle.HIGHEST_PROTOCOL)
        answers.flush()


def main() -> None:
    # Ctrl-C reaches the whole process group: the parent handles it and closes the pipe,
    # which ends this process without a traceback of its own
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed goes to stderr, never into the answers
    serve(int(sys.argv[1]), sys.stdin.buffer, answers)


if __name__ == "__main__":
    main()
