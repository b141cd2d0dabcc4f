"""Jinja2 set-up: autoescaping, per-request language, formatting helpers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from babel.dates import format_datetime
from babel.numbers import format_decimal
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from voting.grades import grade_labels
from web.csrf import csrf_input
from web.i18n import LANGUAGES, request_language, translator

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"


def _context(request: Request) -> dict[str, Any]:
    lang = request_language(request)
    return {
        "lang": lang,
        "other_languages": [code for code in LANGUAGES if code != lang],
        "_": translator(lang),
        "format_number": lambda n: format_decimal(n, locale=lang),
        "format_datetime": lambda dt: _format_datetime(dt, lang),
        "settings": getattr(request.app.state, "settings", None),
        "current_user": request.scope.get("user"),
        "csrf_input": lambda: csrf_input(request),
        # `grade_labels(definition)`: a definition's (or round's) grades, translated.
        "grade_labels": lambda d: grade_markup(d["grades"], lang, d.get("grade_labels")),
    }


def grade_markup(
    labels: Sequence[str], lang: str, translations: Mapping[str, Sequence[str]] | None = None
) -> list[Markup]:
    """Grade labels for a page in ``lang``: the organiser's translation (``translations``, the
    definition's `grade_labels`) or a preset word's, and a label in another language (a custom
    one left untranslated) wrapped in a span with its ``lang``."""
    return [
        Markup('<span lang="{}">{}</span>').format(g.lang, g.text)
        if g.lang != lang
        else escape(g.text)
        for g in grade_labels(labels, lang, translations)
    ]


def _format_datetime(value: datetime | str | None, lang: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return format_datetime(value, format="medium", locale=lang)


def make_templates() -> Jinja2Templates:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return Jinja2Templates(env=env, context_processors=[_context])


def render(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    """Render a page with the app's templates (one helper for every view module)."""
    return request.app.state.templates.TemplateResponse(
        request, template, context, status_code=status
    )
