"""Browser tests: the real app served by uvicorn, driven by Debian's Chromium via Playwright.

Each test module gets its own database (a clone of the migrated template), seeded with the
demo (`web.demo.seed_demo`: round 1 published, round 2 open for voting) and served on a free
loopback port from a background thread, with settings.demo on so that sign-in mail can be
read at /demo/outbox. No browser is downloaded: Playwright drives /usr/bin/chromium (or the
path in CHROMIUM), and the whole folder is skipped when it is missing.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]


def _missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return "Chromium not installed: apt-get install chromium"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright not importable: pip install -e '.[test]'"
    return None


MISSING = _missing_browser()

if MISSING is None:
    from playwright.sync_api import (
        Browser,
        BrowserContext,
        Page,
        Playwright,
        expect,
        sync_playwright,
    )
else:

    class _BrowserMissing(pytest.Module):
        def collect(self) -> list[Any]:
            pytest.skip(MISSING)

    def pytest_pycollect_makemodule(module_path: Path, parent: Any) -> Any:
        # Every test module of this folder is reported as skipped, with the reason, before
        # it is imported (they import playwright).
        return _BrowserMissing.from_parent(parent, path=module_path)


from tests.conftest import admin_execute, with_database  # noqa: E402
from tests.fixtures.waiting import PATIENCE, wait_until  # noqa: E402
from web.settings import Settings  # noqa: E402

SECRET_KEY = "browser-test-secret-key-0123456789abcdefghij"
DEMO = "/primaries/demo"
BOOTH = f"{DEMO}/rounds/2/vote"


@dataclass
class LiveSite:
    """The running demo site."""

    base_url: str
    settings: Settings
    app: Any
    organiser_password: str
    tally_passphrase: str

    def url(self, path: str) -> str:
        return self.base_url + path


def _serve(app: Any, sock: socket.socket) -> tuple[Any, threading.Thread]:
    import uvicorn

    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=lambda: asyncio.run(server.serve(sockets=[sock])),
        name="scrutin-browser-test-server",
        daemon=True,
    )
    thread.start()
    return server, thread


@pytest.fixture(scope="module")
def live_site(
    pg_admin_url: str, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveSite]:
    """The demo site on http://127.0.0.1:<free port>, with a database of its own."""
    from web.app import create_app
    from web.demo import seed_demo

    name = f"scrutin_browser_{uuid.uuid4().hex[:16]}"
    admin_execute(pg_admin_url, f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    database_url = with_database(pg_admin_url, name)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    data_dir = tmp_path_factory.mktemp("browser-site")
    settings = Settings(
        data_dir=data_dir,
        host="127.0.0.1",
        port=port,
        database_url=database_url,
        secret_key=SECRET_KEY,
        demo=True,
        checkpoint_interval=0.2,
    )
    lines = asyncio.run(seed_demo(database_url, settings))
    text = "\n".join(lines)
    password = re.search(r"password:\s*(\S+)", text)
    passphrase = re.search(r"tally passphrase for round 2:\s*(\S+)", text)
    assert password and passphrase, text
    app = create_app(settings)
    server, thread = _serve(app, sock)
    try:
        wait_until(lambda: server.started or not thread.is_alive(), "the test server to start")
        assert server.started, "the test server did not start"
        yield LiveSite(
            base_url=settings.base_url,
            settings=settings,
            app=app,
            organiser_password=password.group(1),
            tally_passphrase=passphrase.group(1),
        )
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        admin_execute(pg_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def playwright_driver(live_site: LiveSite) -> Iterator[Playwright]:
    # The sync API keeps an event loop marked as running in this thread while started: start
    # it after the site (seeded with asyncio.run) and stop it before, and per module, so that
    # the rest of the suite (anyio tests) never finds it there.
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright_driver: Playwright) -> Iterator[Browser]:
    """Debian's Chromium; Playwright gives each launch a fresh temporary profile."""
    # Assertions wait for the state they expect; on a loaded machine that can take long.
    expect.set_options(timeout=PATIENCE * 1000)
    browser = playwright_driver.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
    )
    try:
        yield browser
    finally:
        browser.close()


def new_context(browser: Browser, live_site: LiveSite, **options: Any) -> BrowserContext:
    """A fresh browser profile (own cookies) on the live site, French by default."""
    options.setdefault("locale", "fr-FR")
    options.setdefault("viewport", {"width": 1280, "height": 900})
    context = browser.new_context(base_url=live_site.base_url, **options)
    context.set_default_timeout(PATIENCE * 1000)
    return context


@pytest.fixture
def context(browser: Browser, live_site: LiveSite) -> Iterator[BrowserContext]:
    context = new_context(browser, live_site)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def fresh_email(prefix: str = "votant") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.org"


def reset_signin_limits(live_site: LiveSite) -> None:
    """All sign-ins come from 127.0.0.1: lift the per-address limit between people."""
    from web.ratelimit import limiter_for

    limiter_for(live_site.app).reset("signin")


def sign_in(
    page: Page, live_site: LiveSite, email: str, next_path: str = "/", *, go_there: bool = True
) -> None:
    """Sign in through the real flow: ask for a link, open it from the demo outbox, confirm.

    Types and presses Enter (no mouse); ends on `next_path`.
    """
    from playwright.sync_api import expect

    reset_signin_limits(live_site)
    # Sign-in links already in the outbox for this address (the demo also mails its voters
    # notifications, which carry no sign-in link): the one to follow is the new one.
    links = page.locator("article.mail", has_text=email).locator("a[href*='/signin/link?token=']")

    def outbox_links() -> list[str]:
        page.goto("/demo/outbox")
        return [href for href in (a.get_attribute("href") for a in links.all()) if href]

    before = set(outbox_links())
    page.goto(next_path)
    if not page.url.split("?")[0].endswith("/signin"):
        page.goto(f"/signin?next={next_path}")
    page.get_by_label("Adresse électronique").first.fill(email)
    page.get_by_label("Adresse électronique").first.press("Enter")
    page.wait_for_url(re.compile(r"/signin/code"))
    # The mail goes out from the job queue right after the request: reload the outbox until
    # it shows this person's new sign-in link (newest first).
    fresh: list[str] = []

    def mail_arrived() -> bool:
        fresh[:] = [href for href in outbox_links() if href not in before]
        return bool(fresh)

    wait_until(mail_arrived, f"the sign-in mail to {email} in the outbox")
    page.goto(fresh[0])
    page.get_by_role("button", name="Me connecter").press("Enter")
    header = page.get_by_role("navigation", name="Navigation principale")
    expect(header.get_by_role("button", name="Se déconnecter")).to_be_visible()
    if go_there and not page.url.endswith(next_path):
        # Signing in by link currently forgets where the person came from (see
        # test_signing_in_from_the_booth_comes_back_to_it): go there directly.
        page.goto(next_path)


_ROLL_VOTERS = iter(range(100))


def roll_voter(page: Page, live_site: LiveSite) -> str:
    """A demo voter on round 2's roll (the demo runs under voter-held credentials, whose roll
    froze when round 2 opened: a fresh account has no key on it and cannot vote), one not
    used before in this run, with its key put in this browser's storage as the key page's
    recovery code would. Returns its e-mail, to sign in with."""
    from crypto.encoding import b64encode
    from web.demo import device_seed
    from web.demo_rounds import ASSISTED_VOTER, DEMO_VOTERS, REPLACED_VOTER, VOTER_EMAIL

    index = next(i for i in _ROLL_VOTERS if i not in (ASSISTED_VOTER, REPLACED_VOTER))
    assert index < DEMO_VOTERS, "no demo voter left on the roll"
    email = VOTER_EMAIL.format(index + 1)
    seed = b64encode(device_seed(live_site.settings.secret_key or "", email))
    page.context.add_init_script(
        "try { localStorage.setItem('scrutin-credential:' + location.host + '/demo', "
        f"'{seed}'); }} catch (e) {{}}"
    )
    return email
