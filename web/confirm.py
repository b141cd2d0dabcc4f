"""A second page before an action that cannot be undone, working without JavaScript.

The page that offers the action links to it (GET): this page spells out what will happen and
holds the POST form, the only way the interface sends the action. The action itself is the
same POST as before, so the API and scripts are unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from voting.refusals import _
from web.i18n import request_language, translator
from web.templating import render

DEFINITIVE = _("Cette action est définitive : elle ne peut pas être annulée.")
CANCEL = _("Annuler et revenir")


@dataclass
class Confirmation:
    """What the second page says. Messages are French sources, translated and filled with
    ``params`` (names, dates) when the page is shown."""

    title: str
    consequences: list[str]
    button: str
    action: str = ""  # where the POST goes (set when the page is shown)
    back: str = ""  # where "cancel" leads (set when the page is shown)
    params: dict[str, Any] = field(default_factory=dict)
    reason_label: str | None = None  # a text field named "reason", when the action takes one
    reason: str = ""
    reason_required: bool = False


def confirmation_page(request: Request, page: Confirmation, status: int = 200) -> Response:
    tr = translator(request_language(request))

    def text(message: str) -> str:
        return tr(message).format(**page.params)

    return render(
        request,
        "confirm.html",
        {
            "title": text(page.title),
            "consequences": [text(line) for line in page.consequences],
            "definitive": tr(DEFINITIVE),
            "button": text(page.button),
            "cancel": tr(CANCEL),
            "action": page.action,
            "back": page.back,
            "reason_label": text(page.reason_label) if page.reason_label else None,
            "reason": page.reason,
            "reason_required": page.reason_required,
        },
        status,
    )
