"""Voting in a real browser: with the keyboard only, with JavaScript off, and the error path."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Locator, Page, expect

from tests.browser.conftest import BOOTH, LiveSite, new_context, roll_voter, sign_in
from web.demo_rounds import VISITOR_ASSISTED_EMAIL

# The grade each row gets, counted from the first button ("À rejeter" = 0).
WANTED = [5, 2, 6, 3]


def focused(page: Page) -> Locator:
    # A CSS query rather than page.evaluate: it works with JavaScript disabled too.
    return page.locator(":focus")


def tab_to(page: Page, target: Locator, *, limit: int = 40) -> None:
    """Press Tab until `target` has the focus, as a keyboard user would."""
    wanted = target.get_attribute("id")
    for _ in range(limit):
        page.keyboard.press("Tab")
        if focused(page).count() and focused(page).get_attribute("id") == wanted:
            return
    raise AssertionError(f"Tab never reached #{wanted}")


def tab_to_button(page: Page, name: str, *, limit: int = 40) -> None:
    target = page.locator("button:focus", has_text=name)
    for _ in range(limit):
        page.keyboard.press("Tab")
        if target.count():
            return
    raise AssertionError(f"Tab never reached the button {name!r}")


def vote_with_the_keyboard(page: Page) -> dict[str, str]:
    """Fill every row of the booth with Tab, Space and the arrow keys; return name → grade."""
    rows = page.locator("fieldset.grade-row")
    expect(rows.first).to_be_visible()
    count = rows.count()
    assert count == 4, "round 2 of the demo has four candidates"
    tab_to(page, rows.first.locator("input[type=radio]").first)
    chosen: dict[str, str] = {}
    for index in range(count):
        row = rows.nth(index)
        radios = row.locator("input[type=radio]")
        expect(radios.first).to_be_focused()
        page.keyboard.press("Space")
        for _ in range(WANTED[index]):
            page.keyboard.press("ArrowRight")
        picked = radios.nth(WANTED[index])
        expect(picked).to_be_checked()
        expect(picked).to_be_focused()
        # The keyboard user sees where they are: the focused choice has a visible outline.
        label = row.locator(f"label[for='{picked.get_attribute('id')}']")
        expect(label).to_have_css("outline-style", "solid")
        name = (row.locator("legend").text_content() or "").strip()
        chosen[name] = (label.text_content() or "").strip()
        if index + 1 < count:
            page.keyboard.press("Tab")  # leaves this radio group for the next row
    page.keyboard.press("Tab")
    expect(focused(page)).to_have_text("Relire mon bulletin")
    page.keyboard.press("Enter")
    return chosen


def review_and_confirm(page: Page, chosen: dict[str, str]) -> None:
    expect(page.get_by_role("heading", level=1)).to_have_text("Relisez votre bulletin")
    table = page.get_by_role("table", name="Vos mentions")
    for name, grade in chosen.items():
        expect(table.get_by_role("row", name=name)).to_contain_text(grade)
    tab_to_button(page, "Confirmer mon vote")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("A voté !")
    expect(page.locator("code.tracker")).to_have_text(re.compile(r"^[0-9a-f]{12}$"))
    expect(page.get_by_role("status")).to_contain_text("scellé et inscrit au journal public")


def test_a_new_voter_votes_with_the_keyboard_only(page: Page, live_site: LiveSite) -> None:
    sign_in(page, live_site, roll_voter(page, live_site), BOOTH)
    chosen = vote_with_the_keyboard(page)
    review_and_confirm(page, chosen)
    # Coming back to the booth: under voter-held credentials the voter may vote again until
    # the close (only the last ballot counts), so the booth is offered again.
    page.goto(BOOTH)
    expect(page.locator("fieldset.grade-row")).to_have_count(4)


def test_voting_works_with_javascript_disabled(browser: Browser, live_site: LiveSite) -> None:
    context = new_context(browser, live_site, java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in(page, live_site, VISITOR_ASSISTED_EMAIL, BOOTH)  # no JS: assisted key
        chosen = vote_with_the_keyboard(page)
        review_and_confirm(page, chosen)
    finally:
        context.close()


def test_a_missing_row_is_announced_and_the_other_choices_are_kept(
    page: Page, live_site: LiveSite
) -> None:
    sign_in(page, live_site, roll_voter(page, live_site), BOOTH)
    rows = page.locator("fieldset.grade-row")
    expect(rows).to_have_count(4)
    skipped = (rows.nth(1).locator("legend").text_content() or "").strip()
    for index in (0, 2, 3):
        rows.nth(index).get_by_label("Assez bien", exact=True).check()
    page.get_by_role("button", name="Relire mon bulletin").click()

    summary = page.get_by_role("alert")
    expect(summary).to_be_visible()
    expect(summary).to_contain_text("Votre bulletin n’est pas complet")
    # Announced: a live alert that also takes the focus, so the keyboard starts from it.
    expect(summary).to_be_focused()
    expect(page).to_have_title(re.compile(r"^Erreur"))
    link = summary.get_by_role("link", name=re.compile(re.escape(skipped)))
    expect(link).to_be_visible()

    rows = page.locator("fieldset.grade-row")
    for index in (0, 2, 3):
        expect(rows.nth(index).get_by_label("Assez bien", exact=True)).to_be_checked()
    missing = rows.nth(1)
    expect(missing.locator("legend")).to_have_text(skipped)
    expect(missing.locator("input[type=radio]:checked")).to_have_count(0)
    expect(missing.locator("input[type=radio]").first).to_have_attribute("aria-invalid", "true")

    # The summary's link leads to the row; grading it then gets to the review.
    link.click()
    missing.get_by_label("Bien", exact=True).check()
    page.get_by_role("button", name="Relire mon bulletin").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Relisez votre bulletin")
    expect(page.get_by_role("row", name=skipped)).to_contain_text("Bien")


def test_signing_in_from_the_booth_comes_back_to_it(page: Page, live_site: LiveSite) -> None:
    page.goto(BOOTH)
    expect(page).to_have_url(re.compile(r"/signin\?next="))
    sign_in(page, live_site, roll_voter(page, live_site), BOOTH, go_there=False)
    expect(page).to_have_url(re.compile(re.escape(BOOTH) + "$"))
