"""The booth of an encrypted round in Chromium (issue 14, docs/audit-log.md §10): the voter's
browser checks and reviews the choices itself, encrypts and proves the ballot with
ballot-crypto.js, signs it with the key on the device and posts the blob; the server never
receives the grades. After the round, neither the database's files nor its write-ahead log
hold the ballot in clear; two trustees' shares decrypt the sums to exactly the grades given,
and scrutin-audit verifies the log."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg
from playwright.sync_api import Browser, Page, expect

from audit.note import parse_verifier_key
from audit.sources import parse_export
from audit.verify import verify
from tests.browser.conftest import SECRET_KEY, LiveSite, fresh_email, new_context, sign_in
from tests.fixtures.rounds import RoundPrimary, make_round_primary
from voting.log import LogService

ENCRYPTED = {"ballots": "encrypted", "trustees": 3, "trustee_threshold": 2}


def _in_thread(make_coro: Any) -> Any:
    """Run a coroutine on a loop of its own (Playwright's sync API owns this thread's)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(make_coro())).result()


def _service(live_site: LiveSite) -> LogService:
    return LogService(secret_key=SECRET_KEY, public_host=live_site.settings.public_host)


async def _with_pool(live_site: LiveSite, work: Any) -> Any:
    from web.app import create_pool

    pool = await create_pool(live_site.settings.database_url, min_size=1, max_size=3)
    try:
        return await work(pool, _service(live_site))
    finally:
        await pool.close()


def _seed(live_site: LiveSite, folders: list[Path]) -> RoundPrimary:
    from web.trustee import local_ceremony

    async def seed(pool: asyncpg.Pool, log: LogService) -> RoundPrimary:
        async with pool.acquire() as conn:
            primary = await make_round_primary(
                conn, log, candidates=3, credentials="voter", extra=ENCRYPTED
            )
        await local_ceremony(pool, log, primary.id, folders, ["Ada", "Bob", "Cyd"])
        return primary

    return _in_thread(lambda: _with_pool(live_site, seed))


def _open(live_site: LiveSite, primary: RoundPrimary) -> None:
    from voting.rounds import open_round
    from voting.unit_of_work import UnitOfWork

    async def opening(pool: asyncpg.Pool, log: LogService) -> None:
        async with UnitOfWork(pool, log) as uow:
            await open_round(uow.conn, uow.log, primary_id=primary.id, opened_by=None)

    _in_thread(lambda: _with_pool(live_site, opening))


def _close_and_decrypt(live_site: LiveSite, primary: RoundPrimary, folders: list[Path]) -> dict:
    from voting.encrypted_rounds import publish_encrypted_result, publish_round_sums
    from voting.rounds import close_round
    from voting.unit_of_work import UnitOfWork
    from web.trustee import local_decryption

    async def tally(pool: asyncpg.Pool, log: LogService) -> dict:
        async with UnitOfWork(pool, log) as uow:
            await close_round(uow.conn, uow.log, primary_id=primary.id, number=1)
        await publish_round_sums(pool, log, primary_id=primary.id, number=1)
        await local_decryption(pool, log, primary.id, 1, folders[:2])
        return await publish_encrypted_result(pool, log, primary_id=primary.id, number=1)

    return _in_thread(lambda: _with_pool(live_site, tally))


def _make_key(page: Page, live_site: LiveSite, slug: str) -> None:
    sign_in(page, live_site, fresh_email("chiffre"), f"/primaries/{slug}/credential")
    page.get_by_role("button", name="Créer ma clé sur cet appareil").click()
    expect(page.locator("[data-key-status]")).to_contain_text("Clé créée sur cet appareil")


def _plaintext_patterns(primary: RoundPrimary, grades: dict[str, int]) -> list[re.Pattern]:
    """How a ballot in clear would look: a grade after a candidate id as a JSON member, or
    as the booth's form field."""
    pats = []
    for cid, grade in grades.items():
        pats.append(re.compile(re.escape(f'"{cid}":').encode() + rb"\s*" + str(grade).encode()))
        pats.append(re.compile(re.escape(f"grade-{cid}=").encode()))
    return pats


async def _checkpoint(live_site: LiveSite) -> None:
    """Every change on disk, the write-ahead log's included."""
    conn = await asyncpg.connect(live_site.settings.database_url)
    try:
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


def _data_directory_files(live_site: LiveSite) -> list[Path]:
    async def where() -> str:
        conn = await asyncpg.connect(live_site.settings.database_url)
        try:
            found: str = await conn.fetchval("SELECT current_setting('data_directory')")
            return found
        finally:
            await conn.close()

    folder = Path(_in_thread(where))
    return [p for p in folder.rglob("*") if p.is_file()]


def test_the_browser_encrypts_and_the_server_never_sees_the_grades(
    browser: Browser, live_site: LiveSite, tmp_path: Path
) -> None:
    folders = [tmp_path / f"garant-{i}" for i in (1, 2, 3)]
    primary = _seed(live_site, folders)
    slug = primary.slug
    context = new_context(browser, live_site)
    posted: list[str] = []
    try:
        page = context.new_page()
        _make_key(page, live_site, slug)
        _open(live_site, primary)
        page.on("request", lambda r: posted.append(r.post_data or "") if r.method == "POST" else 0)
        page.on("console", lambda m: print(m.text) if m.text.startswith("scrutin:") else None)
        page.goto(f"/primaries/{slug}/rounds/1/vote")
        rows = page.locator("fieldset.grade-row")
        expect(rows).to_have_count(3)
        # An incomplete ballot: the same error summary, shown by the page itself.
        rows.nth(0).get_by_label("Bien", exact=True).check()
        page.get_by_role("button", name="Relire mon bulletin").click()
        expect(page.get_by_role("alert")).to_contain_text("Votre bulletin n’est pas complet")
        expect(page.locator(".field-error")).to_have_count(2)
        chosen: dict[str, int] = {}
        labels = ["Excellent", "À rejeter", "Assez bien"]
        for index, label in enumerate(labels):
            rows.nth(index).get_by_label(label, exact=True).check()
        page.get_by_role("button", name="Relire mon bulletin").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Relisez votre bulletin")
        expect(page.locator(".error-summary")).to_have_count(0)
        for index in range(3):
            cid = rows.nth(index).locator("input").first.get_attribute("name") or ""
            grade = rows.nth(index).locator("input:checked").get_attribute("value") or ""
            chosen[cid.removeprefix("grade-")] = int(grade)
        expect(page.locator("table.review tbody tr")).to_have_count(3)
        page.get_by_role("button", name="Confirmer mon vote").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("A voté !")
        export = page.request.get(f"/primaries/{slug}/log/export").body()
        vkey = page.request.get(f"/primaries/{slug}/log/vkey").text().strip()
    finally:
        context.close()

    # What the browser sent: the encrypted blob and its signature, never a grade.
    assert posted and not any("grade-" in body for body in posted), posted
    doc = json.loads(export)
    ballots = [
        json.loads(base64.b64decode(e))["body"]
        for e in doc["entries"]
        if json.loads(base64.b64decode(e))["kind"] == "ballot"
    ]
    assert len(ballots) == 1 and set(ballots[0]) == {
        "round", "encrypted", "credential", "credential_sig",
    }  # fmt: skip

    result = _close_and_decrypt(live_site, primary, folders)
    grades7 = 7
    for cid, grade in chosen.items():
        expected = [0] * grades7
        expected[grade] = 1
        assert result["candidates"][cid]["profile"] == expected

    # The database's files, its write-ahead log included, hold no plaintext of the ballot;
    # the same search finds the round's candidate list there (it does read those files).
    _in_thread(lambda: _checkpoint(live_site))
    files = _data_directory_files(live_site)
    assert any(p.parent.name == "pg_wal" for p in files)
    patterns = _plaintext_patterns(primary, chosen)
    control = re.escape(f'"candidate":"{primary.candidates[0]}"').encode()
    seen_control = False
    for path in files:
        try:
            data = path.read_bytes()
        except OSError:
            continue
        seen_control = seen_control or re.search(control, data) is not None
        for pattern in patterns:
            assert pattern.search(data) is None, (path, pattern.pattern)
    assert seen_control

    report = verify(parse_export(export, "export"), parse_verifier_key(vkey), workers=1)
    assert report.ok, report.render("en")


def test_once_confirmed_the_choices_cannot_be_edited_while_the_ballot_goes(
    browser: Browser, live_site: LiveSite, tmp_path: Path
) -> None:
    """Going back to the choices after "Confirmer" would not change the ballot being
    encrypted and sent: both buttons wait, the live status says what happens. On another
    device, the booth says before the ballot is filled in that the key is not there."""
    primary = _seed(live_site, [tmp_path / f"garant-{i}" for i in (1, 2, 3)])
    slug = primary.slug
    context = new_context(browser, live_site)
    elsewhere = new_context(browser, live_site)
    email = fresh_email("chiffre")
    try:
        page = context.new_page()
        sign_in(page, live_site, email, f"/primaries/{slug}/credential")
        page.get_by_role("button", name="Créer ma clé sur cet appareil").click()
        expect(page.locator("[data-key-status]")).to_contain_text("Clé créée sur cet appareil")
        _open(live_site, primary)
        other = elsewhere.new_page()
        sign_in(other, live_site, email, f"/primaries/{slug}/rounds/1/vote")
        missing = other.get_by_role("status").filter(has_text="ne détient pas votre clé")
        expect(missing).to_be_visible()
        expect(missing.get_by_role("link", name="Ma clé de vote")).to_have_attribute(
            "href", f"/primaries/{slug}/credential"
        )
        # Hold the post of the encrypted ballot, as a slow network would.
        page.add_init_script(
            "HTMLFormElement.prototype.realSubmit = HTMLFormElement.prototype.submit;"
            "HTMLFormElement.prototype.submit = function () { window.heldForm = this; };"
        )
        page.goto(f"/primaries/{slug}/rounds/1/vote")
        rows = page.locator("fieldset.grade-row")
        expect(rows).to_have_count(3)
        expect(page.locator("[data-key-missing]")).to_have_count(0)
        for index in range(3):
            rows.nth(index).get_by_label("Bien", exact=True).check()
        page.get_by_role("button", name="Relire mon bulletin").click()
        expect(page).to_have_title(re.compile(r"^Relecture — Tour 1 — "))  # as without JS
        page.get_by_role("button", name="Confirmer mon vote").click()
        status = page.get_by_role("status").filter(has_text="envoi")
        expect(status).to_contain_text("Bulletin chiffré et signé par votre clé ; envoi…")
        expect(page.get_by_role("button", name="Modifier mes choix")).to_be_disabled()
        expect(page.get_by_role("button", name="Confirmer mon vote")).to_be_disabled()
        page.evaluate("window.heldForm.realSubmit()")
        expect(page.get_by_role("heading", level=1)).to_have_text("A voté !")
    finally:
        context.close()
        elsewhere.close()
