"""On a 390 px phone, a twelve-candidate ballot stays a few screens long (it used to stack
seven full-width buttons per candidate: about 7,000 px of scrolling), each candidate still one
labelled radio group; chart legends are drawn at a readable size (at least 12 px)."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

from playwright.sync_api import Browser, expect

from tests.browser.conftest import LiveSite, fresh_email, new_context, sign_in
from tests.fixtures.rounds import make_round_primary
from voting.definition import format_instant

PHONE = {"width": 390, "height": 844}
CANDIDATES = 12
# Two lines of four grades under the name: about 140 px a candidate, 2,800 px for the whole
# page with twelve (issue 16 measured about 7,000 px with one grade per line).
MAX_BALLOT_HEIGHT = 3_000


def _seed_twelve_candidate_round(live_site: LiveSite) -> str:
    """A primary with 12 confirmed candidates and its round 1 open, on the live site's base
    (seeded from a thread of its own: Playwright's loop owns this one)."""
    from voting.log import LogService
    from voting.rounds import open_round
    from web.app import create_pool
    from web.settings import resolve_secret_key

    async def seed() -> str:
        settings = live_site.settings
        pool = await create_pool(settings.database_url, min_size=1, max_size=2)
        log = LogService(secret_key=resolve_secret_key(settings), public_host=settings.public_host)
        now = datetime.now(UTC)
        phase = {
            "name": "round-1",
            "start": format_instant(now - timedelta(days=1)),
            "end": format_instant(now + timedelta(days=7)),
        }
        try:
            async with pool.acquire() as conn:
                primary = await make_round_primary(conn, log, candidates=CANDIDATES, phases=[phase])
                async with conn.transaction():
                    await open_round(
                        conn, log, primary_id=primary.id, opened_by=primary.organiser,
                        passphrase="correct horse battery staple",
                    )  # fmt: skip
            await log.publish_checkpoint(pool, primary.id)
        finally:
            await pool.close()
        return primary.slug

    found: list[str] = []
    thread = threading.Thread(target=lambda: found.append(asyncio.run(seed())))
    thread.start()
    thread.join()
    assert found, "seeding the twelve-candidate round failed"
    return found[0]


def test_a_twelve_candidate_ballot_fits_a_phone(browser: Browser, live_site: LiveSite) -> None:
    slug = _seed_twelve_candidate_round(live_site)
    booth = f"/primaries/{slug}/rounds/1/vote"
    context = new_context(browser, live_site, viewport=PHONE)
    try:
        page = context.new_page()
        sign_in(page, live_site, fresh_email("telephone"), booth)
        rows = page.locator("fieldset.grade-row")
        expect(rows).to_have_count(CANDIDATES)
        # Still one group per candidate, named by its legend, one radio per grade.
        first = rows.first
        expect(first.get_by_role("radio")).to_have_count(7)
        legend = (first.locator("legend").text_content() or "").strip()
        expect(page.get_by_role("group", name=legend, exact=True)).to_have_count(1)
        first.get_by_label("Très bien", exact=True).check()
        expect(first.get_by_label("Très bien", exact=True)).to_be_checked()
        # Compact: the grades share lines, each a finger-sized target with its whole label.
        labels = first.locator("label")
        boxes = [labels.nth(i).bounding_box() for i in range(7)]
        assert all(box is not None for box in boxes)
        assert len({round(box["y"]) for box in boxes}) == 2  # type: ignore[index]
        for box in boxes:
            assert box["height"] >= 44 and box["width"] >= 70, box  # type: ignore[index]
        for i in range(7):
            label = labels.nth(i)
            assert label.evaluate("e => e.scrollWidth <= e.clientWidth"), label.text_content()
        height = page.evaluate("document.documentElement.scrollHeight")
        assert height <= MAX_BALLOT_HEIGHT, f"the ballot is {height}px long on a phone"
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"the booth scrolls sideways: {width}px wide"
    finally:
        context.close()


def test_chart_legends_are_readable_on_a_phone(browser: Browser, live_site: LiveSite) -> None:
    context = new_context(browser, live_site, viewport=PHONE)
    try:
        page = context.new_page()
        for path in ("/primaries/demo/rounds/1/results", "/how-it-works"):
            page.goto(path)
            legend = page.locator(".chart-legend li").first
            expect(legend).to_be_visible()
            # HTML text: its computed size; SVG text: its size in units times the drawing's
            # scale on this screen.
            sizes = page.evaluate(
                """() => [...document.querySelectorAll(
                    '.chart-legend li, svg.merit-chart text')].map(e => {
                    if (e.tagName !== 'text')
                        return [e.textContent, parseFloat(getComputedStyle(e).fontSize)];
                    const svg = e.ownerSVGElement;
                    const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
                    return [e.textContent, parseFloat(e.getAttribute('font-size')) * scale];
                })"""
            )
            assert sizes, path
            small = [(text, round(size, 1)) for text, size in sizes if size < 12]
            assert small == [], f"{path}: text under 12 px on a phone: {small}"
    finally:
        context.close()
