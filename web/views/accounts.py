"""Routes for the accounts pages (filled in by the accounts feature)."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
