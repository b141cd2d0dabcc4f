"""Two machines' worth of `scrutin serve` on one PostgreSQL keep one consistent log.

Two `serve` processes (each with its own data folder and port, the same
SCRUTIN_DATABASE_URL, SCRUTIN_SECRET_KEY and SCRUTIN_PUBLIC_URL, as behind a load balancer)
take supports and ballots at the same time, each voter's support through one process and
ballot through the other. Then each log passes `scrutin-audit verify`, holds exactly the
entries it held before plus one per acknowledged write, and both processes serve the same
checkpoint. A session opened on one process is honoured by the other, the sign-in rate
limit counts the attempts made on both (they live in PostgreSQL), and the mails they queue
are delivered once each through the shared job queue."""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import urllib.parse
from pathlib import Path
from typing import Any

import asyncpg

from tests.fixtures.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]
PUBLIC_URL = "http://primaire.example.test"
PASSPHRASE = "two servers one log"  # a test round's tally passphrase
VOTERS = 24
SUPPORT_CANDIDATES = 2


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _prepare(url: str, secret: str) -> dict[str, Any]:
    """A primary gathering supports, a primary with an open round, voters with sessions."""
    from itsdangerous import TimestampSigner

    from tests.fixtures.primaries import make_account, make_candidacy, make_primary
    from tests.fixtures.rounds import make_round_primary, make_voters
    from voting.accounts import open_session
    from voting.log import LogService
    from voting.rounds import open_round
    from web.auth import SESSION_COOKIE, session_signing_key

    # The log origin `serve` derives from SCRUTIN_PUBLIC_URL.
    log = LogService(secret_key=secret, public_host=PUBLIC_URL.split("://", 1)[1])
    conn = await asyncpg.connect(url)
    try:
        organiser = await make_account(conn, "orga@example.test", organiser=True)
        gathering = await make_primary(conn, log, "soutiens", created_by=organiser, threshold=1000)
        candidacies = []
        for n in range(SUPPORT_CANDIDATES):
            account = await make_account(conn, f"candidate-{n}@example.test")
            candidacy = await make_candidacy(conn, log, gathering, account, name=f"Camille {n}")
            candidacies.append(str(candidacy.id))
        voting = await make_round_primary(conn, log, candidates=4)
        async with conn.transaction():
            await open_round(
                conn, log, primary_id=voting.id, opened_by=voting.organiser, passphrase=PASSPHRASE
            )
        signer = TimestampSigner(session_signing_key(secret))
        people = []
        for account in await make_voters(conn, VOTERS):
            async with conn.transaction():
                token = await open_session(conn, account)
            csrf_secret = os.urandom(32)
            session = {"sid": token, "csrf": base64.urlsafe_b64encode(csrf_secret).decode()}
            cookie = signer.sign(base64.b64encode(json.dumps(session).encode())).decode()
            mask = os.urandom(32)
            masked = mask + bytes(a ^ b for a, b in zip(mask, csrf_secret, strict=True))
            people.append(
                {
                    "cookie": f"{SESSION_COOKIE}={cookie}",
                    "csrf": base64.urlsafe_b64encode(masked).decode(),
                }
            )
        return {
            "gathering": gathering.slug,
            "candidacies": candidacies,
            "voting": voting.slug,
            "candidates": voting.candidates,
            "voters": people,
        }
    finally:
        await conn.close()


class Server:
    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.port = _free_port()
        self.log_path = folder / f"serve-{self.port}.log"
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", "import sys; from web.cli import main; sys.exit(main())",
                 "serve", "--data-dir", str(folder / f"data-{self.port}"),
                 "--port", str(self.port)],
                cwd=REPO, env=env, stdout=log, stderr=log,
            )  # fmt: skip

    def request(
        self, method: str, path: str, body: str | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes, http.client.HTTPResponse]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, path, body, headers or {})
            answer = conn.getresponse()
            return answer.status, answer.read(), answer
        finally:
            conn.close()

    def healthy(self) -> bool:
        assert self.process.poll() is None, self.log_path.read_text()
        try:
            return self.request("GET", "/healthz")[0] == 200
        except OSError:
            return False

    def checkpoint(self, slug: str) -> list[str]:
        status, body, _ = self.request("GET", f"/primaries/{slug}/log/checkpoint")
        assert status == 200, body
        return body.decode().split("\n\n", 1)[0].splitlines()  # origin, size, root

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=120)


def _post(server: Server, voter: dict[str, str], path: str, form: dict[str, str]) -> int:
    body = urllib.parse.urlencode({**form, "csrf_token": voter["csrf"]})
    headers = {
        "Cookie": voter["cookie"], "Origin": PUBLIC_URL,
        "Content-Type": "application/x-www-form-urlencoded",
    }  # fmt: skip
    return server.request("POST", path, body, headers)[0]


async def _entry_counts(url: str) -> dict[str, int]:
    """Entries per primary, sequenced or still queued."""
    conn = await asyncpg.connect(url)
    try:
        # Appended entries wait in log_queue until a background round sequences them.
        rows = await conn.fetch(
            "SELECT p.slug, (SELECT count(*) FROM log_entries e WHERE e.primary_id = p.id)"
            " + (SELECT count(*) FROM log_queue q WHERE q.primary_id = p.id) AS n"
            " FROM primaries p"
        )
        return {row["slug"]: row["n"] for row in rows}
    finally:
        await conn.close()


async def _mail_ids(url: str) -> list[int]:
    conn = await asyncpg.connect(url)
    try:
        return [row["id"] for row in await conn.fetch("SELECT id FROM mail_queue")]
    finally:
        await conn.close()


def _audit(server: Server, slug: str, folder: Path) -> tuple[int, int, str]:
    """(exit code of scrutin-audit verify, entries in the export, its output)."""
    status, export, _ = server.request("GET", f"/primaries/{slug}/log/export")
    assert status == 200
    vkey = server.request("GET", f"/primaries/{slug}/log/vkey")[1].decode().strip()
    path = folder / f"{slug}.json"
    path.write_bytes(export)
    done = subprocess.run(
        [sys.executable, "-m", "audit", "verify", str(path), "--log-key", vkey, "--lang", "en"],
        cwd=REPO, capture_output=True, text=True, check=False,
    )  # fmt: skip
    return done.returncode, len(json.loads(export)["entries"]), done.stdout + done.stderr


def test_two_serve_processes_on_one_database_keep_one_log(
    database_url: str, public_tmp_path: Path
) -> None:
    secret = secrets.token_urlsafe(48)
    plan = asyncio.run(_prepare(database_url, secret))
    before = asyncio.run(_entry_counts(database_url))
    env = {
        **os.environ,
        "XDG_RUNTIME_DIR": str(public_tmp_path),
        "SCRUTIN_DATABASE_URL": database_url,
        "SCRUTIN_SECRET_KEY": secret,
        "SCRUTIN_PUBLIC_URL": PUBLIC_URL,
        "SCRUTIN_SHARED_RATE_LIMITS": "true",
    }
    servers = [Server(public_tmp_path, env), Server(public_tmp_path, env)]
    try:
        for server in servers:
            wait_until(server.healthy, f"serve on port {server.port} to answer /healthz")

        supported: list[int] = []
        cast: list[int] = []
        refused: list[tuple[str, int]] = []
        lock = threading.Lock()
        queue = list(enumerate(plan["voters"]))

        def client() -> None:
            while True:
                with lock:
                    if not queue:
                        return
                    number, voter = queue.pop()
                first, second = servers[number % 2], servers[1 - number % 2]
                candidacy = plan["candidacies"][number % SUPPORT_CANDIDATES]
                path = f"/primaries/{plan['gathering']}/candidates/{candidacy}/support"
                status = _post(first, voter, path, {})
                with lock:
                    (supported.append(number) if status == 303 else refused.append(("s", status)))
                grades = {f"grade-{c}": str((number + i) % 7) for i, c in
                          enumerate(plan["candidates"])}  # fmt: skip
                status = _post(second, voter, f"/primaries/{plan['voting']}/rounds/1/cast", grades)
                with lock:
                    (cast.append(number) if status == 303 else refused.append(("c", status)))

        threads = [threading.Thread(target=client) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert refused == []
        assert len(supported) == len(cast) == VOTERS

        expected = {
            plan["gathering"]: before[plan["gathering"]] + len(supported),
            plan["voting"]: before[plan["voting"]] + len(cast),
        }
        for slug, size in expected.items():
            # Each process's background round checkpoints what the other appended.
            for server in servers:
                wait_until(
                    lambda s=server, slug=slug, size=size: s.checkpoint(slug)[1] == str(size),
                    f"port {server.port} to serve the checkpoint of {slug} at {size} entries",
                )
            assert servers[0].checkpoint(slug) == servers[1].checkpoint(slug)
            code, entries, output = _audit(servers[0], slug, public_tmp_path)
            assert code == 0, output
            assert entries == size
        assert asyncio.run(_entry_counts(database_url)) == expected

        # A session is honoured by either process, and a vote cast through one is known to
        # the other: voter 0 cast through the second process, tries again through the first.
        voter = plan["voters"][0]
        again = _post(servers[0], voter, f"/primaries/{plan['voting']}/rounds/1/cast",
                      {f"grade-{c}": "3" for c in plan["candidates"]})  # fmt: skip
        assert again == 409
        assert asyncio.run(_entry_counts(database_url)) == expected

        # The sign-in limit per address (20 per 10 minutes) counts the requests made on
        # both processes: the 21st is refused, whichever process it reaches.
        def signin(server: Server, n: int) -> int:
            body = json.dumps({"email": f"limit-{n}@example.test"})
            voter = plan["voters"][1]  # any browser session: the API checks its CSRF token
            headers = {
                "Content-Type": "application/json", "Origin": PUBLIC_URL,
                "Cookie": voter["cookie"], "X-CSRF-Token": voter["csrf"],
            }  # fmt: skip
            return server.request("POST", "/api/signin", body, headers)[0]

        assert [signin(servers[n % 2], n) for n in range(20)] == [202] * 20
        assert signin(servers[0], 20) == 429
        assert signin(servers[1], 21) == 429

        # Every queued mail (the 20 sign-ins, the notifications of the supports) goes
        # through one job queue: each is delivered exactly once, by whichever process's
        # worker took its job (each process writes into its own outbox).
        def delivered() -> list[str]:
            return [path.name for path in public_tmp_path.glob("data-*/outbox/*.eml")]

        queued = asyncio.run(_mail_ids(database_url))
        assert len(queued) >= 20
        wait_until(lambda: len(delivered()) >= len(queued), "every queued mail to be delivered")
        assert sorted(delivered()) == sorted(f"{mail_id:010d}.eml" for mail_id in queued)
    finally:
        for server in servers:
            server.stop()
