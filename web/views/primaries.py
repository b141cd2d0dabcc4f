"""Routes for the primaries pages (filled in by the primaries feature)."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
