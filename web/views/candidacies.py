"""Routes for the candidacies pages (filled in by the candidacies feature)."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
