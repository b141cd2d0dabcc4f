"""Which mail a citizen receives (/account/mail) and the one-click unsubscribe (/unsubscribe).

The unsubscribe link in each notification names the account and the kind of mail, signed
(voting.notifications): opening it shows a page with one button (mail scanners that open
links must not unsubscribe anyone), and a mail client's RFC 8058 one-click POST
(`List-Unsubscribe=One-Click`) unsubscribes at once. Neither needs a session: the token is the
permission, so the CSRF check does not apply to that path (web/csrf.py).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from voting import notifications
from voting.refusals import _
from web.auth import flash, require_account
from web.i18n import request_language
from web.templating import render
from web.views.base import read_form, route_table

KIND_LABELS = {
    "candidacy": _(
        "Ma candidature : acceptée, refusée (avec le motif public), qualifiée (à confirmer "
        "avant le premier tour)"
    ),
    "rounds": _("L’ouverture d’un tour de vote"),
    "results": _("La publication des résultats d’un tour"),
    "withdrawals": _("Le retrait d’un candidat que je soutiens"),
}


async def preferences_page(request: Request) -> Response:
    user = await require_account(request)
    async with request.app.state.pool.acquire() as conn:
        chosen = await notifications.preferences(conn, user.id)
    return render(request, "accounts/mail.html", {"chosen": chosen, "kind_labels": KIND_LABELS})


async def preferences_update(request: Request) -> Response:
    user = await require_account(request)
    form = await read_form(request, max_files=0, max_fields=20)
    wanted = [k for k in form.getlist("kinds") if k in notifications.KINDS]
    lang = form.get("lang")
    if lang not in notifications.LANGS:
        lang = request_language(request)
    async with request.app.state.units() as uow:
        await notifications.set_preferences(uow.conn, user.id, wanted, str(lang))
    flash(request, _("Vos choix de courriels sont enregistrés."))
    return RedirectResponse("/account/mail", status_code=303)


async def unsubscribe(request: Request) -> Response:
    token = request.query_params.get("token", "")[:200]
    async with request.app.state.units() as uow:
        found = await notifications.read_token(uow.conn, token)
        if found is not None and request.method == "POST":
            await notifications.unsubscribe(uow.conn, *found)
    if found is None:
        return render(request, "accounts/unsubscribe.html", {"state": "invalid"}, 400)
    kind = found[1]
    state = "done" if request.method == "POST" else "ask"
    return render(
        request,
        "accounts/unsubscribe.html",
        {"state": state, "token": token, "what": KIND_LABELS[kind]},
    )


routes = route_table(
    {
        "/account/mail": {"GET": preferences_page, "POST": preferences_update},
        "/unsubscribe": {"GET": unsubscribe, "POST": unsubscribe},
    }
)
