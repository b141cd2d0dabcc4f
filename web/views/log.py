"""Routes for the log pages (filled in by the log feature)."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
