"""The Starlette service: app factory, settings, routes, templates, translations."""
