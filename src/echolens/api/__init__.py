"""The web layer: FastAPI JSON API (OpenAPI), the dashboard pages and the HTML reports.

    from echolens.api import create_app
    app = create_app("echolens.duckdb")      # then: uvicorn.run(app)

`create_app` is imported on first use: every `echolens` command registers `serve` and
`report` from `echolens.api.commands`, and building FastAPI's routes took ~0.7 s of each
command's start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from echolens.api.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from echolens.api.app import create_app

        return create_app
    raise AttributeError(f"module 'echolens.api' has no attribute {name!r}")
