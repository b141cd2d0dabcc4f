"""A visitor walking the demo's round 2 (voter-held credentials, roll frozen at the opening),
in a real browser: a fresh account is told at the booth that it cannot vote; the demo voter
the console names restores its key with the printed recovery code on the key page, votes
(the browser signs), and check-my-ballot, reading the key this browser keeps, shows it on
the roll with its ballot as the one counted."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import BOOTH, DEMO, LiveSite, fresh_email, sign_in
from web.demo import device_seed, recovery_code
from web.demo_rounds import VISITOR_KEY_EMAIL


def test_a_visitor_restores_the_demo_key_votes_and_checks_it(
    page: Page, live_site: LiveSite
) -> None:
    sign_in(page, live_site, fresh_email("nouveau"), BOOTH)
    expect(page.get_by_role("alert")).to_contain_text("pas de clé de vote sur la liste des votants")
    expect(page.locator("fieldset.grade-row")).to_have_count(0)

    # What the console prints for VISITOR_KEY_EMAIL.
    code = recovery_code(device_seed(live_site.settings.secret_key or "", VISITOR_KEY_EMAIL))
    page.context.clear_cookies()
    sign_in(page, live_site, VISITOR_KEY_EMAIL, f"{DEMO}/credential")
    expect(page.locator("[data-key-status]")).to_contain_text("pas sur cet appareil")
    page.get_by_label("Code de récupération").fill(code)
    page.get_by_role("button", name="Restaurer ma clé sur cet appareil").click()
    expect(page.locator("[data-key-status]")).to_have_text("Clé restaurée sur cet appareil.")

    page.goto(BOOTH)
    rows = page.locator("fieldset.grade-row")
    expect(rows).to_have_count(4)
    for index in range(4):
        rows.nth(index).get_by_label("Bien", exact=True).check()
    page.get_by_role("button", name="Relire mon bulletin").click()
    expect(page.locator("[data-sign-status]")).to_contain_text("signé sur cet appareil")
    page.get_by_role("button", name="Confirmer mon vote").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("A voté !")
    tracker = page.locator("code.tracker").text_content() or ""
    assert re.fullmatch(r"[0-9a-f]{12}", tracker)

    page.goto(f"{DEMO}/check")
    page.get_by_role("button", name="Utiliser la clé gardée par ce navigateur").click()
    expect(page.get_by_text("sur la liste figée du tour 1, 2")).to_be_visible()
    counted = page.locator("li", has_text="c’est lui qui compte")
    expect(counted).to_have_count(1)
    expect(counted).to_contain_text(tracker)
