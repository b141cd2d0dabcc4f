"""Crash drill: kill `scrutin serve` and its embedded PostgreSQL under load, restart, and
check that nothing acknowledged is lost.

    python bench/crash.py [--server-kills 10] [--database-kills 3] [--voters 400]

A fresh data folder gets a primary with an open round and pre-registered voters (signed
session cookies made from the service secret, so no mail is needed). Client threads cast
ballots over HTTP; a ballot is *acknowledged* when the server answers 303 with the receipt
in the session cookie. Meanwhile the script waits for more acknowledgements (a state, not a
delay: a random number of them), then sends SIGKILL to the server (then restarts it) or to
the embedded postmaster (which the running server restarts by itself), and waits for
/healthz. At the end it checks:

- every acknowledged tracker is a ballot entry of the log,
- voters marked as voted = ballots in the log (a crash between commit and answer leaves a
  voter marked with no receipt, never a mark without a ballot or the reverse),
- `scrutin-audit verify` passes.

Prints one line per kill and a final `RESULT acknowledged=<n> lost=<n> marked=<n>
ballots=<n> no_receipt=<n> audit=<ok|failed>` (no_receipt: casts that committed but whose
answer a kill cut off; their voters see the booth's lost-receipt notice); exit 0 when
nothing is lost.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PASSPHRASE = "crash drill passphrase"  # noqa: S105 - a test round's tally passphrase
PATIENCE = 300.0  # bounds a broken run only


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait(predicate, what: str, patience: float = PATIENCE):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + patience
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise SystemExit(f"crash drill: gave up waiting for {what}")
        time.sleep(0.05)


def _scrutin(*args: str, env: dict[str, str]) -> list[str]:
    return [sys.executable, "-c", "import sys; from web.cli import main; sys.exit(main())", *args]


async def _prepare(data_dir: Path, voters: int, candidates: int = 4) -> dict:
    """Primary, open round, voters with their session cookie and CSRF token."""
    import asyncpg
    from itsdangerous import TimestampSigner

    from tests.fixtures.rounds import make_round_primary, make_voters
    from voting.accounts import open_session
    from voting.log import LogService
    from voting.rounds import open_round
    from web.auth import SESSION_COOKIE, session_signing_key
    from web.database import EmbeddedPostgres, ensure_database
    from web.settings import Settings, resolve_secret_key

    settings = Settings(data_dir=data_dir)
    secret = resolve_secret_key(settings)
    server = EmbeddedPostgres(data_dir).start()
    try:
        await ensure_database(server.admin_url())
        conn = await asyncpg.connect(server.url())
        try:
            log = LogService(secret_key=secret, public_host=settings.public_host)
            primary = await make_round_primary(conn, log, candidates=candidates)
            async with conn.transaction():
                await open_round(
                    conn, log, primary_id=primary.id, opened_by=primary.organiser,
                    passphrase=PASSPHRASE,
                )  # fmt: skip
            ids = await make_voters(conn, voters)
            signer = TimestampSigner(session_signing_key(secret))
            people = []
            for account in ids:
                async with conn.transaction():
                    token = await open_session(conn, account)
                csrf_secret = os.urandom(32)
                session = {"sid": token, "csrf": base64.urlsafe_b64encode(csrf_secret).decode()}
                data = base64.b64encode(json.dumps(session).encode())
                cookie = signer.sign(data).decode()
                mask = os.urandom(32)
                masked = mask + bytes(a ^ b for a, b in zip(mask, csrf_secret, strict=True))
                people.append(
                    {
                        "cookie": f"{SESSION_COOKIE}={cookie}",
                        "csrf": base64.urlsafe_b64encode(masked).decode(),
                    }
                )
            return {"slug": primary.slug, "candidates": primary.candidates, "voters": people}
        finally:
            await conn.close()
    finally:
        server.stop()


def _tracker_of(set_cookie: str, signer_key: str, slug: str) -> str | None:
    from itsdangerous import BadSignature, TimestampSigner

    value = set_cookie.split(";", 1)[0].split("=", 1)[1]
    try:
        data = TimestampSigner(signer_key).unsign(value.encode())
    except BadSignature:
        return None
    session = json.loads(base64.b64decode(data))
    receipt = (session.get("receipts") or {}).get(f"{slug}/1") or {}
    return receipt.get("tracker")


class Drill:
    def __init__(self, folder: Path, voters: int, clients: int) -> None:
        self.folder = folder
        self.data = folder / "data"
        self.port = _free_port()
        self.env = {**os.environ, "XDG_RUNTIME_DIR": str(folder)}
        self.clients = clients
        self.voter_count = voters
        self.server: subprocess.Popen | None = None
        self.acked: dict[int, str] = {}
        self.no_receipt = 0  # committed, but the answer was lost in a crash (409 on retry)
        self.lock = threading.Lock()
        self.next_voter = 0
        self.stopping = threading.Event()
        self.log_path = folder / "serve.log"

    # -- server ------------------------------------------------------------------------

    def setup(self) -> None:
        done = subprocess.run(
            _scrutin("migrate", "--data-dir", str(self.data), env=self.env),
            cwd=REPO, env=self.env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(f"crash drill: migrate failed: {done.stderr.strip()}")
        self.plan = asyncio.run(_prepare(self.data, self.voter_count))
        from web.auth import session_signing_key

        secret = (self.data / "secret_key").read_text().strip()
        self.signer_key = session_signing_key(secret)

    def _healthy(self) -> bool:
        if self.server is not None and self.server.poll() is not None:
            raise SystemExit(f"crash drill: the server exited; see {self.log_path}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            conn.request("GET", "/healthz")
            return conn.getresponse().status == 200
        except OSError:
            return False

    def start(self) -> None:
        self.start_workers(1)

    def start_workers(self, workers: int) -> None:
        with open(self.log_path, "a") as log:
            self.server = subprocess.Popen(
                _scrutin("serve", "--data-dir", str(self.data), "--port", str(self.port),
                         "--workers", str(workers), env=self.env),
                cwd=REPO, env=self.env, stdout=log, stderr=log,
            )  # fmt: skip
        _wait(self._healthy, "the server to answer /healthz")

    def kill_server(self) -> None:
        assert self.server is not None
        self.server.send_signal(signal.SIGKILL)
        self.server.wait()

    def kill_database(self) -> None:
        pid = int((self.data / "postgres" / "postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGKILL)
        _wait(lambda: not _alive(pid), "the postmaster to die")

    def stop(self) -> None:
        if self.server is not None and self.server.poll() is None:
            self.server.send_signal(signal.SIGTERM)
            self.server.wait(timeout=120)

    # -- load --------------------------------------------------------------------------

    def _take(self) -> int | None:
        with self.lock:
            if self.next_voter >= len(self.plan["voters"]):
                return None
            self.next_voter += 1
            return self.next_voter - 1

    def _cast(self, number: int) -> None:
        voter = self.plan["voters"][number]
        form = {f"grade-{c}": str(random.randrange(7)) for c in self.plan["candidates"]}
        form["csrf_token"] = voter["csrf"]
        body = urllib.parse.urlencode(form)
        path = f"/primaries/{self.plan['slug']}/rounds/1/cast"
        origin = f"http://127.0.0.1:{self.port}"
        headers = {
            "Cookie": voter["cookie"], "Origin": origin,
            "Content-Type": "application/x-www-form-urlencoded",
        }  # fmt: skip
        while not self.stopping.is_set():
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                conn.request("POST", path, body, headers)
                answer = conn.getresponse()
                answer.read()
            except (OSError, http.client.HTTPException):
                time.sleep(0.05)  # the server is down or died mid-answer: try again
                continue
            if answer.status == 303:
                tracker = _tracker_of(answer.getheader("set-cookie", ""), self.signer_key,
                                      self.plan["slug"])  # fmt: skip
                with self.lock:
                    self.acked[number] = tracker or "?"
                return
            if answer.status == 409:  # already voted: its first cast committed, unanswered
                with self.lock:
                    self.no_receipt += 1
                return
            time.sleep(0.05)  # 503 while the database is away

    def _client(self) -> None:
        while not self.stopping.is_set():
            number = self._take()
            if number is None:
                return
            self._cast(number)

    def run(self, server_kills: int, database_kills: int) -> dict:
        self.start()
        threads = [threading.Thread(target=self._client, daemon=True) for _ in range(self.clients)]
        for thread in threads:
            thread.start()
        kills = ["server"] * server_kills + ["database"] * database_kills
        random.shuffle(kills)
        for n, what in enumerate(kills, 1):
            target = len(self.acked) + random.randint(1, 6)
            _wait(lambda t=target: len(self.acked) >= t or self.next_voter >= self.voter_count,
                  "acknowledged ballots")  # fmt: skip
            if what == "database":
                # `serve` supervises its embedded PostgreSQL: it starts it again by itself,
                # and the pages answer 503 meanwhile (the clients retry).
                self.kill_database()
                _wait(self._healthy, "serve to restart its database and answer /healthz")
            else:
                self.kill_server()
                self.start()
            print(f"kill {n}/{len(kills)}: {what} after {len(self.acked)} acknowledged",
                  flush=True)  # fmt: skip
        for thread in threads:
            thread.join()
        try:
            return self.check()
        finally:
            self.stop()

    # -- checks ------------------------------------------------------------------------

    def _get(self, path: str) -> bytes:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        conn.request("GET", path)
        answer = conn.getresponse()
        return answer.read()

    def check(self) -> dict:
        slug = self.plan["slug"]
        export = self.folder / "export.json"
        export.write_bytes(self._get(f"/primaries/{slug}/log/export"))
        vkey = self._get(f"/primaries/{slug}/log/vkey").decode().strip()
        doc = json.loads(export.read_bytes())
        trackers, ballots = set(), 0
        for text in doc["entries"]:
            raw = base64.b64decode(text)
            if json.loads(raw).get("kind") == "ballot":
                ballots += 1
                trackers.add(hashlib.sha256(b"\x00" + raw).hexdigest())
        lost = [n for n, t in self.acked.items() if t not in trackers]
        marked = asyncio.run(self._marked())
        audit = subprocess.run(
            [sys.executable, "-m", "audit", "verify", str(export), "--log-key", vkey,
             "--lang", "en"],
            cwd=REPO, capture_output=True, text=True, check=False,
        )  # fmt: skip
        return {
            "acknowledged": len(self.acked), "lost": len(lost), "marked": marked,
            "ballots": ballots, "audit": "ok" if audit.returncode == 0 else "failed",
            "no_receipt": self.no_receipt,
            "audit_output": audit.stdout + audit.stderr,
        }  # fmt: skip

    async def _marked(self) -> int:
        import asyncpg

        from web.database import EmbeddedPostgres

        server = EmbeddedPostgres(self.data).start()  # joins the running server
        try:
            conn = await asyncpg.connect(server.url())
            try:
                return await conn.fetchval("SELECT count(*) FROM voters_voted")
            finally:
                await conn.close()
        finally:
            server.stop()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def drill(server_kills: int, database_kills: int, voters: int, clients: int) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="scrutin-crash-"))
    folder.chmod(0o755)  # the embedded PostgreSQL's own user must reach its data folder
    try:
        run = Drill(folder, voters, clients)
        run.setup()
        return run.run(server_kills, database_kills)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server-kills", type=int, default=10)
    parser.add_argument("--database-kills", type=int, default=3)
    parser.add_argument("--voters", type=int, default=400)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args()
    result = drill(args.server_kills, args.database_kills, args.voters, args.clients)
    if result["audit"] != "ok":
        print(result["audit_output"])
    print(
        f"RESULT acknowledged={result['acknowledged']} lost={result['lost']} "
        f"marked={result['marked']} ballots={result['ballots']} "
        f"no_receipt={result['no_receipt']} audit={result['audit']}"
    )
    ok = result["lost"] == 0 and result["marked"] == result["ballots"] and result["audit"] == "ok"
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
