"""Output files are written whole or not at all, and never over their own input."""

from __future__ import annotations

from pathlib import Path

import pytest

from echolens.errors import UsageError
from echolens.output_files import check_not_input, written_whole


def test_a_failure_half_way_leaves_the_previous_file_and_no_partial(tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    target.write_text("previous\n", encoding="utf-8")
    with pytest.raises(RuntimeError, match="disk full"), written_whole(target) as handle:
        handle.write("half of the new ")
        raise RuntimeError("disk full")
    assert target.read_text(encoding="utf-8") == "previous\n"
    assert list(tmp_path.iterdir()) == [target]


def test_a_finished_block_replaces_the_file_in_a_new_folder(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "out.csv"
    with written_whole(target, newline="") as handle:
        handle.write("x\r\n生物实验室\r\n")
    assert target.read_bytes() == "x\r\n生物实验室\r\n".encode()
    assert list(target.parent.iterdir()) == [target]


def test_the_output_may_not_be_the_input(tmp_path: Path) -> None:
    source = tmp_path / "items.jsonl"
    source.write_text("{}\n", encoding="utf-8")
    with pytest.raises(UsageError, match="is the input file"):
        check_not_input(tmp_path / "." / "items.jsonl", source)
    check_not_input(tmp_path / "other.jsonl", source)  # another file is fine
