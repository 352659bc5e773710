"""The README's command tour cannot drift from the real commands."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from echolens.cli import app
from tests.conftest import REPO


def _documented_commands() -> list[list[str]]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = readme.split("```")[1::2]  # the fenced code blocks
    commands = []
    for line in "\n".join(blocks).splitlines():
        match = re.match(r"^echolens ((?:[a-z]+ ?)+)", line)
        if match:
            commands.append(match.group(1).split())
    return commands


def test_readme_opens_with_the_two_commands() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    first_block = readme.split("```")[1]
    assert "make demo" in first_block and "make test" in first_block


def test_every_documented_command_exists() -> None:
    runner = CliRunner()
    commands = _documented_commands()
    assert len(commands) >= 10
    for words in commands:
        # keep the command words, drop arguments such as file names
        path: list[str] = []
        for word in words:
            probe = runner.invoke(app, [*path, word, "--help"])
            if probe.exit_code != 0:
                break
            path.append(word)
        assert path, f"README documents an unknown command: echolens {' '.join(words)}"
        assert runner.invoke(app, [*path, "--help"]).exit_code == 0
