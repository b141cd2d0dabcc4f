"""What a visitor sees: the language switch, and the booth and results on a wide and a phone
screen. Screenshots go under pytest's tmp dir; with SCRUTIN_SCREENSHOTS=1 they replace the
ones in docs/screenshots/ that README shows (so that CI never rewrites them)."""

from __future__ import annotations

import os
import re
from pathlib import Path

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

RESULTS = f"{DEMO}/rounds/1/results"
WIDE = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.environ.get("SCRUTIN_SCREENSHOTS") == "1":
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return DOCS_SCREENSHOTS
    return tmp_path_factory.mktemp("screenshots")


def test_the_home_page_and_how_it_works_read_well(
    browser: Browser, live_site: LiveSite, screenshots: Path
) -> None:
    for name, viewport in (("1280", WIDE), ("390", PHONE)):
        context = new_context(browser, live_site, viewport=viewport)
        try:
            page = context.new_page()
            page.goto("/")
            card = page.locator(".primary-list li").first
            expect(card.locator(".card-phase")).to_be_visible()
            page.get_by_role("link", name=re.compile("Comment ça marche")).click()
            expect(page.get_by_role("heading", level=1)).to_have_text("Comment ça marche")
            no_horizontal_scroll(page)
            if name == "1280":
                page.goto("/")
                page.screenshot(path=screenshots / "home-1280.png", full_page=True)
                page.goto("/how-it-works")
                page.screenshot(path=screenshots / "how-it-works-1280.png", full_page=True)
        finally:
            context.close()


def test_the_english_link_turns_the_page_into_english_and_back(page: Page) -> None:
    page.goto(RESULTS)
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    nav = page.get_by_role("navigation", name="Navigation principale")
    expect(nav.get_by_role("link", name="Accueil")).to_be_visible()
    french_title = page.title()

    page.get_by_role("link", name="English").click()
    expect(page).to_have_url(re.compile(re.escape(RESULTS) + "$"))  # the same page
    expect(page.locator("html")).to_have_attribute("lang", "en")
    nav = page.get_by_role("navigation", name="Main navigation")
    expect(nav.get_by_role("link", name="Home")).to_be_visible()
    expect(page.get_by_role("link", name="Skip to content")).to_be_attached()
    assert page.title() != french_title
    # The choice sticks: another page is in English too.
    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Citizen primaries")

    page.get_by_role("link", name="Français").click()
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.get_by_role("heading", level=1)).to_have_text("Primaires citoyennes")
    expect(page.get_by_role("link", name="English")).to_have_attribute("lang", "en")


def no_horizontal_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.viewport_size
    assert viewport is not None
    assert width <= viewport["width"], f"the page scrolls sideways: {width}px wide"


def test_the_booth_reads_well_on_a_wide_screen_and_on_a_phone(
    browser: Browser, live_site: LiveSite, screenshots: Path
) -> None:
    context = new_context(browser, live_site, viewport=WIDE)
    try:
        page = context.new_page()
        sign_in(page, live_site, roll_voter(page, live_site), BOOTH)
        rows = page.locator("fieldset.grade-row")
        expect(rows).to_have_count(4)
        rows.first.get_by_label("Très bien", exact=True).check()
        no_horizontal_scroll(page)
        # Wide: each candidate is one line, name then the seven grades side by side.
        first = rows.first
        labels = first.locator("label")
        expect(labels).to_have_count(7)
        tops = {round(labels.nth(i).bounding_box()["y"]) for i in range(7)}  # type: ignore[index]
        assert len(tops) == 1, "the grades of a row should sit on one line at 1280px"
        page.screenshot(path=screenshots / "booth-1280.png", full_page=True)

        page.set_viewport_size(PHONE)
        no_horizontal_scroll(page)
        # Phone: the grades share two lines under the name (tests/browser/test_phone_booth.py
        # bounds a long ballot's height), each a target at least 44px high.
        boxes = [labels.nth(i).bounding_box() for i in range(7)]
        assert all(box is not None for box in boxes)
        assert len({round(box["y"]) for box in boxes}) == 2  # type: ignore[index]
        for box in boxes:
            assert box["height"] >= 44 and box["width"] >= 70, box  # type: ignore[index]
        expect(first.locator("legend")).to_be_in_viewport()
        page.screenshot(path=screenshots / "booth-390.png", full_page=True)
    finally:
        context.close()
    print(f"screenshots: {screenshots}")


def test_the_results_page_reads_well(
    browser: Browser, live_site: LiveSite, screenshots: Path
) -> None:
    for name, viewport in (("1280", WIDE), ("390", PHONE)):
        context = new_context(browser, live_site, viewport=viewport)
        try:
            page = context.new_page()
            page.goto(RESULTS)
            expect(page.get_by_role("heading", level=1)).to_have_text("Résultat du tour 1")
            charts = page.get_by_role("img", name=re.compile("Profil de mérite|mérite"))
            expect(charts.first).to_be_visible()
            no_horizontal_scroll(page)
            assert_bar_labels_are_legible(page)
            # The numbers stay readable: a wide profile table scrolls in its own labelled
            # box, which the keyboard can reach, instead of the whole page.
            table = page.get_by_role("region", name=re.compile("Profil de mérite de")).first
            expect(table).to_have_attribute("tabindex", "0")
            expect(table.get_by_role("table")).to_be_visible()
            page.screenshot(path=screenshots / f"results-{name}.png", full_page=True)
        finally:
            context.close()


def contrast(a: str, b: str) -> float:
    """WCAG 2 contrast ratio of two #rrggbb colours."""

    def luminance(colour: str) -> float:
        channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def assert_bar_labels_are_legible(page: Page) -> None:
    """The percentages printed on the merit bars contrast at least 4.5:1 with their bar."""
    # A percentage is a centred <text> right after its bar's <rect> (legend texts are not).
    pairs = page.evaluate(
        """() => [...document.querySelectorAll(
            'svg.merit-chart rect + text[text-anchor="middle"]')].map(t => [
            t.previousElementSibling.getAttribute('fill'), t.getAttribute('fill'),
            t.textContent])"""
    )
    assert pairs, "no percentage printed on the bars"
    for bar, text, label in pairs:
        ratio = contrast(bar, text)
        assert ratio >= 4.5, f"{label!r}: {text} on {bar} has a contrast of {ratio:.2f}:1"


PHONE_PAGES = ["/", DEMO, f"{DEMO}/candidates", "/signin", f"{DEMO}/rounds", f"{DEMO}/observers"]


def test_no_page_scrolls_sideways_on_a_phone(browser: Browser, live_site: LiveSite) -> None:
    context = new_context(browser, live_site, viewport=PHONE)
    try:
        page = context.new_page()
        for path in PHONE_PAGES:
            page.goto(path)
            expect(page.get_by_role("heading", level=1)).to_be_visible()
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], f"{path} scrolls sideways: {width}px wide"
    finally:
        context.close()
