"""The live dashboard: static HTML/JS/CSS served by the API app.

No build step and no CDN: plain files under ``static/``. The page holds no
data of its own; it calls the REST API and reads ``/events`` (SSE), sending
the bearer token when one is configured (see ``docs/doors.md``).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"


def mount_dashboard(app: FastAPI) -> None:
    """Serve the page at ``/`` and its assets under ``/dashboard/static/``."""

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/dashboard/static", StaticFiles(directory=STATIC_DIR), name="dashboard-static")


__all__ = ["STATIC_DIR", "mount_dashboard"]
