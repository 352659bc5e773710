"""The web layer: FastAPI JSON API (OpenAPI), the dashboard pages and the HTML reports.

    from echolens.api import create_app
    app = create_app("echolens.duckdb")      # then: uvicorn.run(app)
"""

from __future__ import annotations

from echolens.api.app import create_app

__all__ = ["create_app"]
