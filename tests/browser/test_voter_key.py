"""A voter's own key in a real browser (docs/audit-log.md §8 "Voter-held credentials"): the
key page makes an Ed25519 key with WebCrypto and registers its public half, the round freezes
the roll, the booth signs the sealed ballot on the device, the voter votes again, and
scrutin-audit passes with the revote counted once; without JavaScript the page offers the
assisted key and says what it trades."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import asyncpg
from playwright.sync_api import Browser, Page, expect

from audit.note import parse_verifier_key
from audit.sources import parse_export
from audit.verify import verify
from tests.browser.conftest import SECRET_KEY, LiveSite, fresh_email, new_context, sign_in
from tests.fixtures.rounds import PASSPHRASE, RoundPrimary, make_round_primary
from voting.log import LogService


def _in_thread(make_coro: Any) -> Any:
    """Run a coroutine on a loop of its own (Playwright's sync API owns this thread's)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(make_coro())).result()


def _service(live_site: LiveSite) -> LogService:
    return LogService(secret_key=SECRET_KEY, public_host=live_site.settings.public_host)


def _seed(live_site: LiveSite) -> RoundPrimary:
    async def seed() -> RoundPrimary:
        conn = await asyncpg.connect(live_site.settings.database_url)
        try:
            return await make_round_primary(
                conn, _service(live_site), candidates=2, credentials="voter"
            )
        finally:
            await conn.close()

    return _in_thread(seed)


def _open_round(live_site: LiveSite, primary: RoundPrimary) -> None:
    from voting.rounds import open_round

    async def opening() -> None:
        conn = await asyncpg.connect(live_site.settings.database_url)
        try:
            async with conn.transaction():
                await open_round(
                    conn, _service(live_site), primary_id=primary.id, opened_by=None,
                    passphrase=PASSPHRASE,
                )  # fmt: skip
        finally:
            await conn.close()

    _in_thread(opening)


def _vote(page: Page, slug: str, grade: str, note: str = "signé sur cet appareil") -> None:
    page.goto(f"/primaries/{slug}/rounds/1/vote")
    rows = page.locator("fieldset.grade-row")
    expect(rows).to_have_count(2)
    for index in range(2):
        rows.nth(index).get_by_label(grade, exact=True).check()
    page.get_by_role("button", name="Relire mon bulletin").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Relisez votre bulletin")
    expect(page.locator("[data-sign-status]")).to_contain_text(note)
    page.get_by_role("button", name="Confirmer mon vote").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("A voté !")


def test_the_booth_makes_a_key_registers_it_signs_and_casts(
    browser: Browser, live_site: LiveSite
) -> None:
    primary = _seed(live_site)
    slug = primary.slug
    email = fresh_email("cle")
    context = new_context(browser, live_site)
    try:
        page = context.new_page()
        sign_in(page, live_site, email, f"/primaries/{slug}/credential")
        expect(page.get_by_role("heading", level=1)).to_have_text("Ma clé de vote")
        # With WebCrypto the assisted form gives way to a key made on this device.
        expect(page.get_by_role("button", name="Obtenir une clé assistée")).to_be_hidden()
        page.get_by_role("button", name="Créer ma clé sur cet appareil").click()
        expect(page.locator("[data-key-status]")).to_contain_text("Clé créée sur cet appareil")
        code = page.locator("[data-recovery-code]")
        expect(code).to_have_text(re.compile(r"^[A-Za-z0-9_-]{43}$"))
        recovery = code.text_content() or ""
        seed = base64.urlsafe_b64decode(recovery + "=")
        page.reload()
        expect(page.locator("[data-key-status]")).to_have_text(
            "Votre clé de vote est sur cet appareil."
        )
        registered = page.locator("code").first.text_content()

        _open_round(live_site, primary)
        _vote(page, slug, "Très bien")
        _vote(page, slug, "Passable")  # a revote: the last ballot counts

        # A second device: the recovery code brings the key there, and it votes again.
        other = new_context(browser, live_site)
        try:
            second = other.new_page()
            sign_in(second, live_site, email, f"/primaries/{slug}/credential")
            expect(second.locator("[data-key-status]")).to_contain_text("pas sur cet appareil")
            second.get_by_label("Code de récupération").fill("not-the-code")
            second.get_by_role("button", name="Restaurer ma clé sur cet appareil").click()
            expect(second.locator("[data-key-status]")).to_contain_text("ne correspond pas")
            second.get_by_label("Code de récupération").fill(recovery)
            second.get_by_role("button", name="Restaurer ma clé sur cet appareil").click()
            expect(second.locator("[data-key-status]")).to_have_text(
                "Clé restaurée sur cet appareil."
            )
            _vote(second, slug, "Bien")
        finally:
            other.close()

        export = page.request.get(f"/primaries/{slug}/log/export").body()
        vkey = page.request.get(f"/primaries/{slug}/log/vkey").text().strip()
    finally:
        context.close()

    from nacl.signing import SigningKey

    assert base64.b64encode(bytes(SigningKey(seed).verify_key)).decode() == registered
    doc = json.loads(export)
    ballots = [
        json.loads(base64.b64decode(e))["body"]
        for e in doc["entries"]
        if json.loads(base64.b64decode(e))["kind"] == "ballot"
    ]
    assert [b["credential"] for b in ballots] == [registered] * 3
    report = verify(parse_export(export, "export"), parse_verifier_key(vkey), workers=1)
    assert report.ok, report.render("en")
    summary = report.summary["credentials"]
    assert (summary["counted"], summary["revotes"], summary["assisted_ballots"]) == (1, 2, 0)


def test_without_javascript_the_key_page_offers_an_assisted_key_and_says_what_it_trades(
    browser: Browser, live_site: LiveSite
) -> None:
    primary = _seed(live_site)
    context = new_context(browser, live_site, java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in(page, live_site, fresh_email("aide"), f"/primaries/{primary.slug}/credential")
        expect(page.get_by_text("il pourrait voter à votre place")).to_be_visible()
        page.get_by_role("button", name="Obtenir une clé assistée").click()
        expect(page.get_by_text("clé assistée, détenue par le service")).to_be_visible()
        _open_round(live_site, primary)
        # The booth says what the assisted key trades, and the vote goes through without JS.
        _vote(page, primary.slug, "Bien", note="pourrait voter à votre place")
        export = page.request.get(f"/primaries/{primary.slug}/log/export").body()
        vkey = page.request.get(f"/primaries/{primary.slug}/log/vkey").text().strip()
    finally:
        context.close()
    report = verify(parse_export(export, "export"), parse_verifier_key(vkey), workers=1)
    assert report.ok, report.render("en")
    assert report.summary["credentials"]["assisted_ballots"] == 1


def test_a_support_is_signed_by_the_key_on_the_device(
    browser: Browser, live_site: LiveSite
) -> None:
    import uuid as uuid_module

    from tests.fixtures.primaries import make_account, make_candidacy, make_primary

    slug = f"s-{uuid_module.uuid4().hex[:10]}"

    async def seed() -> str:
        conn = await asyncpg.connect(live_site.settings.database_url)
        try:
            log = _service(live_site)
            primary = await make_primary(conn, log, slug, credentials="voter")
            candidate = await make_account(conn)
            return str((await make_candidacy(conn, log, primary, candidate)).id)
        finally:
            await conn.close()

    candidacy = _in_thread(seed)
    context = new_context(browser, live_site)
    try:
        page = context.new_page()
        sign_in(page, live_site, fresh_email("soutien"), f"/primaries/{slug}/credential")
        page.get_by_role("button", name="Créer ma clé sur cet appareil").click()
        expect(page.locator("[data-recovery-code]")).to_be_visible()
        page.goto(f"/primaries/{slug}/candidates/{candidacy}")
        expect(page.locator("[data-sign-status]")).to_contain_text("signé par votre clé")
        page.get_by_role("button", name=re.compile("^Soutenir")).click()
        expect(page.get_by_role("button", name="Retirer mon soutien")).to_be_visible()
        export = page.request.get(f"/primaries/{slug}/log/export").body()
        vkey = page.request.get(f"/primaries/{slug}/log/vkey").text().strip()
    finally:
        context.close()
    report = verify(parse_export(export, "export"), parse_verifier_key(vkey), workers=1)
    assert report.checks[13].ok, report.render("en")
    supports = [
        json.loads(base64.b64decode(e))["body"]
        for e in json.loads(export)["entries"]
        if json.loads(base64.b64decode(e))["kind"] == "support"
    ]
    assert len(supports) == 1 and "credential_sig" in supports[0]
