"""Errors with a code and a fix, so the CLI can print something actionable."""

from __future__ import annotations


class EcholensError(Exception):
    """Base error: `code` is stable (E001...), `fix` tells the user what to do."""

    code = "E000"

    def __init__(self, message: str, fix: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        text = f"[{self.code}] {self.message}"
        return f"{text}; {self.fix}" if self.fix else text


class UsageError(EcholensError):
    code = "E001"


class DataNotFound(EcholensError):
    code = "E002"


class UnknownFormat(EcholensError):
    code = "E003"


class NotFound(EcholensError):
    code = "E004"


class NotInstalled(EcholensError):
    code = "E005"
