"""Run for real: a browser signs in, supports a candidate and votes through nginx, an HTTPS
reverse proxy on loopback with a self-signed certificate made here, as docs/deployment.md
describes (SCRUTIN_PUBLIC_URL=https://…, SCRUTIN_SECURE_COOKIES=true,
SCRUTIN_FORWARDED_ALLOW_IPS=127.0.0.1).

Skipped, with the reason, when Debian's nginx or openssl is missing (.ci/run installs nginx).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import (
    BOOTH,
    SECRET_KEY,
    LiveSite,
    _serve,
    new_context,
    roll_voter,
    sign_in,
)
from tests.conftest import admin_execute, with_database
from tests.fixtures.primaries import make_account, make_candidacy, make_primary
from tests.fixtures.waiting import wait_until
from voting.log import LogService
from web.settings import Settings

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
OPENSSL = shutil.which("openssl")
CANDIDATE = "Camille Martin"

if not os.access(NGINX, os.X_OK):
    pytest.skip(
        "nginx not installed: apt-get install nginx (.ci/run does)", allow_module_level=True
    )
if OPENSSL is None:
    pytest.skip("openssl not installed: apt-get install openssl", allow_module_level=True)

NGINX_CONF = """
daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {dir}/cert.pem;
        ssl_certificate_key {dir}/key.pem;
        client_max_body_size 8m;
        location / {{
            proxy_pass http://127.0.0.1:{app_port};
            proxy_http_version 1.1;
            proxy_set_header Host $host:$server_port;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
        }}
    }}
}}
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _self_signed_certificate(folder: Path) -> None:
    subprocess.run(
        [OPENSSL or "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(folder / "key.pem"),
         "-out", str(folder / "cert.pem")],
        check=True, capture_output=True,
    )  # fmt: skip


async def _primary_open_for_supports(database_url: str, settings: Settings) -> str:
    """A second primary, in its support phase, with one published candidacy; its page path."""
    log = LogService(secret_key=SECRET_KEY, public_host=settings.public_host)
    conn = await asyncpg.connect(database_url)
    try:
        candidate = await make_account(conn, name=CANDIDATE)
        primary = await make_primary(conn, log, "soutiens")
        candidacy = await make_candidacy(conn, log, primary, candidate, name=CANDIDATE)
    finally:
        await conn.close()
    return f"/primaries/soutiens/candidates/{candidacy.id}"


@pytest.fixture(scope="module")
def live_site(
    pg_admin_url: str, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveSite]:
    """The demo site behind nginx: https://127.0.0.1:<port> → http://127.0.0.1:<app port>."""
    from web.app import create_app
    from web.demo import seed_demo

    name = f"scrutin_proxy_{uuid.uuid4().hex[:16]}"
    admin_execute(pg_admin_url, f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    database_url = with_database(pg_admin_url, name)
    proxy_dir = tmp_path_factory.mktemp("nginx")
    _self_signed_certificate(proxy_dir)
    https_port = _free_port()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    app_port = sock.getsockname()[1]
    data_dir = tmp_path_factory.mktemp("proxied-site")
    settings = Settings(
        data_dir=data_dir,
        host="127.0.0.1",
        port=app_port,
        database_url=database_url,
        secret_key=SECRET_KEY,
        demo=True,
        checkpoint_interval=0.2,
        public_url=f"https://127.0.0.1:{https_port}",
        secure_cookies=True,
        forwarded_allow_ips=("127.0.0.1",),
    )
    lines = asyncio.run(seed_demo(database_url, settings))
    passphrase = re.search(r"tally passphrase for round 2:\s*(\S+)", "\n".join(lines))
    password = re.search(r"password:\s*(\S+)", "\n".join(lines))
    assert passphrase and password, lines
    candidate_path = asyncio.run(_primary_open_for_supports(database_url, settings))
    app = create_app(settings)
    app.state.test_candidate_path = candidate_path
    server, thread = _serve(app, sock)
    conf = proxy_dir / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=proxy_dir, port=https_port, app_port=app_port))
    nginx = subprocess.Popen(
        [NGINX, "-p", str(proxy_dir), "-e", str(proxy_dir / "error.log"), "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: server.started or not thread.is_alive(), "the app server to start")
        wait_until(
            lambda: _accepts(https_port) or nginx.poll() is not None, "nginx to listen on https"
        )
        if nginx.poll() is not None:
            log_file = proxy_dir / "error.log"
            reason = log_file.read_text(errors="replace") if log_file.exists() else ""
            pytest.fail(f"nginx did not start: {reason}")
        yield LiveSite(
            base_url=settings.base_url,
            settings=settings,
            app=app,
            organiser_password=password.group(1),
            tally_passphrase=passphrase.group(1),
        )
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        admin_execute(pg_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(data_dir, ignore_errors=True)
        shutil.rmtree(proxy_dir, ignore_errors=True)


@pytest.fixture
def page(browser: Browser, live_site: LiveSite) -> Iterator[Page]:
    context = new_context(browser, live_site, ignore_https_errors=True)
    try:
        yield context.new_page()
    finally:
        context.close()


def test_a_voter_signs_in_supports_and_votes_through_the_https_proxy(
    page: Page, live_site: LiveSite
) -> None:
    assert live_site.base_url.startswith("https://")
    home = page.goto("/")
    assert home is not None and home.ok
    assert home.headers["strict-transport-security"] == "max-age=31536000"

    candidate_page = live_site.app.state.test_candidate_path
    sign_in(page, live_site, roll_voter(page, live_site), candidate_page)  # on the roll
    session = [c for c in page.context.cookies() if c["name"] == "scrutin_session"]
    assert session and session[0]["secure"], "the session cookie is Secure behind https"

    page.get_by_role("button", name=f"Soutenir {CANDIDATE}").click()
    expect(page.get_by_text("Vous soutenez ce candidat.")).to_be_visible()

    page.goto(BOOTH)
    rows = page.locator("fieldset.grade-row")
    expect(rows.first).to_be_visible()
    for index in range(rows.count()):
        rows.nth(index).locator("input[type=radio]").nth(index + 2).check()
    page.get_by_role("button", name="Relire mon bulletin").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Relisez votre bulletin")
    page.get_by_role("button", name="Confirmer mon vote").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("A voté !")
    expect(page.locator("code.tracker")).to_have_text(re.compile(r"^[0-9a-f]{12}$"))
