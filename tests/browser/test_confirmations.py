"""Irreversible actions in a real browser: a link styled as destructive leads to a second page
(plain HTML, no script; no serious axe violation) whose "cancel" changes nothing."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, expect

from tests.browser.conftest import DEMO, LiveSite, new_context, reset_signin_limits
from tests.fixtures.accessibility import assert_accessible
from web.demo import ORGANISER_EMAIL


def test_closing_a_round_asks_first_and_cancel_changes_nothing(
    browser: Browser, live_site: LiveSite
) -> None:
    context = new_context(browser, live_site)
    try:
        page = context.new_page()
        round_page = f"{DEMO}/rounds/2"
        reset_signin_limits(live_site)
        page.goto(f"/signin?next={round_page}")
        page.locator("#organiser_email").fill(ORGANISER_EMAIL)
        page.locator("#password").fill(live_site.organiser_password)
        page.get_by_role("button", name="Se connecter avec le mot de passe").click()
        page.goto(round_page)
        close = page.get_by_role("link", name="Clore le tour…")
        # Told apart from the safe actions by shape and sign, not colour alone.
        border, sign = close.evaluate(
            "e => [getComputedStyle(e).borderTopWidth, getComputedStyle(e, '::before').content]"
        )
        assert border == "2px" and "⚠" in sign
        close.click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Clore le tour 2 maintenant ?")
        expect(page.get_by_role("button", name="Clore le tour définitivement")).to_be_visible()
        assert page.locator("script").count() == 0  # works without JavaScript
        assert_accessible(page, "close confirmation")
        page.get_by_role("link", name="Annuler et revenir").click()
        expect(page).to_have_url(re.compile(r"/rounds/2$"))
        expect(page.get_by_role("link", name="Clore le tour…")).to_be_visible()  # still open
    finally:
        context.close()
