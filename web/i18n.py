"""French first, English complete.

Source strings in templates and code are French (`_("Accueil")`); English comes from
gettext catalogs under `web/locale/en/*.po` (one file per area, read with Babel at start-up,
no compilation step). Missing English strings are caught by tests/web/test_i18n.py.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path

from babel.messages.pofile import read_po
from starlette.requests import Request

LANGUAGES = ("fr", "en")
DEFAULT_LANGUAGE = "fr"
LANG_COOKIE = "lang"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"

Translator = Callable[[str], str]


@cache
def catalog(lang: str) -> dict[str, str]:
    """msgid → msgstr for a language (French is the identity)."""
    if lang == DEFAULT_LANGUAGE:
        return {}
    messages: dict[str, str] = {}
    for path in sorted((LOCALE_DIR / lang).glob("*.po")):
        with path.open("rb") as handle:
            for message in read_po(handle, locale=lang):
                if message.id and message.string and isinstance(message.id, str):
                    messages[message.id] = str(message.string)
    return messages


def translator(lang: str) -> Translator:
    messages = catalog(lang)

    def gettext(message: str) -> str:
        return messages.get(message, message)

    return gettext


def negotiate(accept_language: str) -> str:
    """The first supported language in an Accept-Language header, else French."""
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and quality > 0:
            weighted.append((-quality, position, primary))
    return min(weighted)[2] if weighted else DEFAULT_LANGUAGE


def request_language(request: Request) -> str:
    """?lang= wins, then the cookie set by the language switch, then the browser's wish."""
    for candidate in (request.query_params.get("lang"), request.cookies.get(LANG_COOKIE)):
        if candidate in LANGUAGES:
            return candidate
    return negotiate(request.headers.get("accept-language", ""))
