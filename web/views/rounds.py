"""Routes for the rounds pages (filled in by the rounds feature)."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
