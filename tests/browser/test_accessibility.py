"""axe-core on the key pages: no violation of impact "serious" or "critical".

axe-core comes bundled with axe-playwright-python; it runs inside the page through
Playwright (the strict CSP does not apply to it). The failure message lists every violation
found on the page, with the offending elements, so that it can be fixed from the report.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import (
    BOOTH,
    DEMO,
    LiveSite,
    new_context,
    roll_voter,
    sign_in,
)
from tests.fixtures.accessibility import BLOCKING, assert_accessible, describe, violations


def candidate_page(page: Page) -> str:
    page.goto(f"{DEMO}/candidates")
    link = page.locator("main a[href^='/primaries/demo/candidates/']").first
    return link.get_attribute("href") or ""


PUBLIC_PAGES = {
    "home": "/",
    "primary": DEMO,
    "candidates": f"{DEMO}/candidates",
    "candidate": candidate_page,
    "signin": "/signin",
    "rounds": f"{DEMO}/rounds",
    "round-1 results": f"{DEMO}/rounds/1/results",
    "observers": f"{DEMO}/observers",
    "check my ballot": f"{DEMO}/check",
    "outbox": "/demo/outbox",
    "not found": "/primaries/no-such-primary",
    "how it works": "/how-it-works",
}


# Every page in French, and three representative ones in English too.
CASES = [(name, "fr") for name in PUBLIC_PAGES] + [
    (name, "en") for name in ("home", "candidate", "round-1 results", "how it works")
]


@pytest.mark.parametrize(("name", "lang"), CASES)
def test_public_page_has_no_serious_violation(
    browser: Browser, live_site: LiveSite, name: str, lang: str
) -> None:
    context = new_context(browser, live_site, locale="en-GB" if lang == "en" else "fr-FR")
    try:
        page = context.new_page()
        target = PUBLIC_PAGES[name]
        path = target(page) if callable(target) else target
        page.goto(path)
        expect(page.locator("html")).to_have_attribute("lang", lang)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        assert_accessible(page, f"{name} ({lang}) {path}")
    finally:
        context.close()


def test_voting_pages_have_no_serious_violation(page: Page, live_site: LiveSite) -> None:
    reports: list[str] = []

    def check(where: str) -> None:
        found = violations(page)
        if any(v["impact"] in BLOCKING for v in found):
            reports.append(describe(where, found))

    sign_in(page, live_site, roll_voter(page, live_site), BOOTH)
    rows = page.locator("fieldset.grade-row")
    expect(rows).to_have_count(4)
    check("booth")
    rows.first.get_by_label("Bien", exact=True).check()
    page.get_by_role("button", name="Relire mon bulletin").click()
    expect(page.get_by_role("alert")).to_be_visible()
    check("booth with errors")
    for index in range(4):
        rows.nth(index).get_by_label("Passable", exact=True).check()
    page.get_by_role("button", name="Relire mon bulletin").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Relisez votre bulletin")
    check("review")
    page.get_by_role("button", name="Confirmer mon vote").click()
    expect(page.locator("code.tracker")).to_have_text(re.compile(r"^[0-9a-f]{12}$"))
    check("receipt")
    page.goto("/account")
    check("my account")
    page.goto("/account/mail")
    check("my mail choices")
    assert not reports, "\n\n".join(reports)
