"""`scrutin trustee …`: what a trustee runs on their own machine (docs/trustees.md).

    scrutin trustee init DIR
    scrutin trustee status  --url URL --primary SLUG --key DIR
    scrutin trustee keygen  --url URL --primary SLUG --key DIR [--wait SECONDS]
    scrutin trustee decrypt --url URL --primary SLUG --key DIR --round N [--min-ballots M]
                            [--log-key VKEY]

`init` makes the trustee's key file (an Ed25519 signing key and an X25519 box key) in DIR and
prints the two public keys for the organiser to register. `keygen` takes part in the key
ceremony: it posts the trustee's Feldman commitments, proof of knowledge and a share for each
other trustee sealed to that trustee's box key, waits for the others, opens and checks the
shares it received against their commitments, posts its acknowledgement (or complaints) and
keeps its secret share in DIR. `decrypt` downloads the primary's public log, has the
observers' own tool (`scrutin-audit`, a separate program sharing no code with this one) verify
it — the round's sums must be those of the counted ballots — refuses sums of fewer than
`--min-ballots` ballots, and only then posts decryption shares with their proofs. A trustee
thus never decrypts what is not the honest sum of many ballots: an operator cannot have one
voter's ballot decrypted by passing it off as a round's sums.

The secrets never leave DIR: the service receives public data and sealed shares only. Talks to
the service over its JSON API (`/api/primaries/{slug}/trustees…`), with the CSRF token of
`GET /api/session` like any API client.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import nacl.public
import nacl.signing

from crypto import canonical
from crypto import trustees as math
from crypto.encoding import b64decode, b64encode

KEY_FILE = "trustee-key.json"
PROG = "scrutin trustee"
# Below this many ballots, a round's decrypted profiles come close to showing single ballots
# (with one ballot, they are that ballot). A trustee may lower it, knowingly, per round.
MIN_BALLOTS = 10


class TrusteeCommandError(RuntimeError):
    """Reported as one line with a non-zero exit."""


class CeremonyRestarted(Exception):
    """The organiser restarted the key ceremony while this trustee waited for the others."""

    def __init__(self, attempt: int) -> None:
        super().__init__(f"the key ceremony restarted: attempt {attempt}")
        self.attempt = attempt


# --- the trustee's files ----------------------------------------------------------------------


def _write_secret(path: Path, data: Mapping[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class TrusteeKeys:
    """The trustee's long-term keys (KEY_FILE) and its per-primary state (`<origin>.json`)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        path = folder / KEY_FILE
        try:
            data = json.loads(path.read_text())
            self.signing = nacl.signing.SigningKey(b64decode(data["signing_seed"], length=32))
            self.box = nacl.public.PrivateKey(b64decode(data["box_secret"], length=32))
        except FileNotFoundError:
            raise TrusteeCommandError(
                f"no key file in {folder}: run `scrutin trustee init {folder}` first"
            ) from None
        except (ValueError, KeyError, TypeError):
            raise TrusteeCommandError(f"{path} is not a trustee key file") from None

    @classmethod
    def create(cls, folder: Path) -> TrusteeKeys:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / KEY_FILE
        if path.exists():
            raise TrusteeCommandError(f"{path} already exists: it is kept as it is")
        _write_secret(
            path,
            {
                "signing_seed": b64encode(bytes(nacl.signing.SigningKey.generate())),
                "box_secret": b64encode(bytes(nacl.public.PrivateKey.generate())),
            },
        )
        return cls(folder)

    @property
    def signing_key(self) -> str:
        return b64encode(bytes(self.signing.verify_key))

    @property
    def box_key(self) -> str:
        return b64encode(bytes(self.box.public_key))

    def _state_path(self, origin: str) -> Path:
        safe = "".join(c if c.isalnum() or c in "-." else "_" for c in origin)
        return self.folder / f"{safe}.json"

    def state(self, origin: str) -> dict[str, Any]:
        path = self._state_path(origin)
        return json.loads(path.read_text()) if path.exists() else {}

    def save_state(self, origin: str, state: Mapping[str, Any]) -> None:
        _write_secret(self._state_path(origin), state)

    def sign(self, kind: str, origin: str, body: dict[str, Any]) -> dict[str, Any]:
        message = (
            b"scrutin-" + kind.encode("ascii") + b"/v2\x00" + origin.encode("ascii") + b"\x00"
        ) + canonical.dumps(body)
        return {**body, "trustee_sig": b64encode(self.signing.sign(message).signature)}


# --- the bodies a trustee posts (pure; the voting tests use them too) -------------------------


def attempt_member(attempt: int) -> dict[str, int]:
    """The `attempt` member of keygen and ack bodies: the ceremony's attempt from its second
    on (after a restart), absent in the first (docs/audit-log.md §10 item 5)."""
    return {"attempt": attempt} if attempt >= 2 else {}


def keygen_body(
    keys: TrusteeKeys, ceremony: Mapping[str, Any], index: int, dealing: math.Dealing
) -> dict[str, Any]:
    origin = ceremony["origin"]
    shares = [
        {
            "box": b64encode(
                math.seal_share(
                    origin,
                    index,
                    other["index"],
                    dealing.share_for(other["index"]),
                    bytes(keys.box),
                    b64decode(other["box_key"], length=32),
                )
            ),
            "to": other["index"],
        }
        for other in ceremony["trustees"]
        if other["index"] != index
    ]
    body = {
        "index": index,
        "commitments": [b64encode(c) for c in dealing.commitments],
        "pok": b64encode(dealing.pok),
        "shares": shares,
        **attempt_member(ceremony.get("attempt", 1)),
    }
    return keys.sign("trustee-keygen", origin, body)


def check_received(
    keys: TrusteeKeys, ceremony: Mapping[str, Any], index: int, own_share: int
) -> tuple[list[int], int]:
    """Open and check every share sent to `index`; (complaints, secret share x_j)."""
    origin = ceremony["origin"]
    complaints, shares = [], [own_share]
    for dealer in ceremony["trustees"]:
        if dealer["index"] == index:
            continue
        keygen = dealer["keygen"]
        try:
            box = next(s["box"] for s in keygen["shares"] if s["to"] == index)
            commitments = math.check_commitments(
                origin,
                dealer["index"],
                [b64decode(c, length=32) for c in keygen["commitments"]],
                b64decode(keygen["pok"], length=64),
                ceremony["threshold"],
            )
            share = math.open_share(
                origin,
                dealer["index"],
                index,
                b64decode(box),
                bytes(keys.box),
                b64decode(dealer["box_key"], length=32),
            )
            if not math.share_matches(commitments, index, share):
                raise math.TrusteeError("the share does not match the commitments")
        except (math.TrusteeError, StopIteration, ValueError, KeyError, TypeError):
            complaints.append(dealer["index"])
            continue
        shares.append(share)
    return complaints, math.secret_share(shares)


def ack_body(
    keys: TrusteeKeys, origin: str, index: int, complaints: list[int], attempt: int = 1
) -> dict[str, Any]:
    body = {"index": index, "complaints": sorted(complaints), **attempt_member(attempt)}
    return keys.sign("trustee-ack", origin, body)


def decryption_body(
    keys: TrusteeKeys,
    origin: str,
    public_key: bytes,
    index: int,
    secret: int,
    sums: Mapping[str, Any],
) -> dict[str, Any]:
    context = math.Context(origin, sums["round"], public_key)

    def share(position: str, text: str) -> str:
        alpha = math.point(b64decode(text, length=64)[:32], position)
        return b64encode(math.decryption_share(context, index, secret, position, alpha))

    body: dict[str, Any] = {
        "round": sums["round"],
        "index": index,
        "shares": {
            candidate: [share(f"{candidate}/{g}", text) for g, text in enumerate(texts)]
            for candidate, texts in sums["sums"].items()
        },
    }
    if "blank" in sums:
        body["blank"] = share("blank", sums["blank"])
    return keys.sign("trustee-decryption", origin, body)


def own_index(keys: TrusteeKeys, ceremony: Mapping[str, Any]) -> int:
    for trustee in ceremony["trustees"]:
        if trustee["signing_key"] == keys.signing_key:
            return int(trustee["index"])
    raise TrusteeCommandError(
        f"this key ({keys.signing_key}) is not a registered trustee of this primary: "
        "give the organiser the keys `scrutin trustee init` printed"
    )


# --- trustees played in-process (the demo; tests) ----------------------------------------------


async def local_ceremony(
    pool: Any, log: Any, primary_id: Any, folders: list[Path], names: list[str]
) -> list[TrusteeKeys]:
    """Play a whole key ceremony through the services, one trustee per folder (made if
    missing): what n `scrutin trustee init` + `keygen` runs do, for the demo's trustees
    whose key files live in its data folder. Each step is its own unit of work, as over
    HTTP."""
    from voting import trustees as service
    from voting.unit_of_work import UnitOfWork

    keys = [TrusteeKeys(f) if (f / KEY_FILE).exists() else TrusteeKeys.create(f) for f in folders]
    for name, k in zip(names, keys, strict=True):
        async with UnitOfWork(pool, log) as uow:
            await service.register(
                uow.conn, uow.log, primary_id=primary_id, name=name,
                signing_key=k.signing_key, box_key=k.box_key,
            )  # fmt: skip
    async with pool.acquire() as conn:
        ceremony = (await service.ceremony(conn, primary_id)).public()
    origin, dealings = ceremony["origin"], {}
    for index, k in enumerate(keys, start=1):
        dealings[index] = math.deal(origin, index, ceremony["threshold"])
        async with UnitOfWork(pool, log) as uow:
            await service.post_keygen(
                uow.conn, uow.log, primary_id=primary_id,
                body=keygen_body(k, ceremony, index, dealings[index]),
            )  # fmt: skip
    async with pool.acquire() as conn:
        ceremony = (await service.ceremony(conn, primary_id)).public()
    for index, k in enumerate(keys, start=1):
        complaints, secret = check_received(k, ceremony, index, dealings[index].share_for(index))
        k.save_state(
            origin,
            {"origin": origin, "index": index, "secret_share": secret.to_bytes(32, "little").hex()},
        )
        async with UnitOfWork(pool, log) as uow:
            await service.post_ack(
                uow.conn,
                uow.log,
                primary_id=primary_id,
                body=ack_body(k, origin, index, complaints),
            )
    return keys


async def local_decryption(
    pool: Any, log: Any, primary_id: Any, round_number: int, folders: list[Path]
) -> None:
    """What `scrutin trustee decrypt` does, for the trustees of these folders, in-process
    (posting each share in its own unit of work; the result is published apart)."""
    from voting import trustees as service
    from voting.unit_of_work import UnitOfWork

    async with pool.acquire() as conn:
        ceremony = (await service.ceremony(conn, primary_id)).public()
        sums = await service.tally_sums(conn, primary_id, round_number)
    if sums is None or ceremony["election_key"] is None:
        raise TrusteeCommandError("no sums or no election key to decrypt with")
    origin, public_key = ceremony["origin"], b64decode(ceremony["election_key"], length=32)
    for folder in folders:
        keys = TrusteeKeys(folder)
        index = own_index(keys, ceremony)
        secret = int.from_bytes(bytes.fromhex(keys.state(origin)["secret_share"]), "little")
        body = decryption_body(keys, origin, public_key, index, secret, sums)
        async with UnitOfWork(pool, log) as uow:
            await service.post_decryption(uow.conn, uow.log, primary_id=primary_id, body=body)


# --- talking to the service -------------------------------------------------------------------


class Service:
    def __init__(self, url: str, slug: str) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise TrusteeCommandError(f"--url must be an http(s) address, got {url!r}")
        self.url = url.rstrip("/")
        self.slug = slug
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        self._csrf: str | None = None

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
            headers["X-CSRF-Token"] = self.csrf()
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked to be http(s)
            self.url + path, data=data, headers=headers, method=method
        )
        try:
            with self.opener.open(request, timeout=60) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            try:
                detail = json.loads(error.read())["error"]
                message = detail["message"]
                if detail.get("field"):
                    message = f"{detail['field']}: {message}"
            except (ValueError, AttributeError, KeyError, TypeError):
                message = error.reason
            raise TrusteeCommandError(f"{method} {path}: {error.code} {message}") from None
        except (urllib.error.URLError, OSError) as error:
            raise TrusteeCommandError(f"cannot reach {self.url}: {error}") from None

    def fetch(self, path: str, into: Any) -> None:
        """A public file of the primary (its log's export, its verifier key), copied to `into`."""
        try:
            with self.opener.open(self.url + path, timeout=600) as response:
                while chunk := response.read(1 << 20):
                    into.write(chunk)
        except urllib.error.HTTPError as error:
            raise TrusteeCommandError(f"GET {path}: {error.code} {error.reason}") from None
        except (urllib.error.URLError, OSError) as error:
            raise TrusteeCommandError(f"cannot reach {self.url}: {error}") from None

    def log_key(self) -> str:
        with tempfile.TemporaryFile() as answer:
            self.fetch(f"/primaries/{self.slug}/log/vkey", answer)
            answer.seek(0)
            return answer.read(4096).decode("utf-8", "replace").strip()

    def csrf(self) -> str:
        if self._csrf is None:
            self._csrf = self._call("GET", "/api/session")["csrf_token"]
        return self._csrf

    def ceremony(self) -> dict[str, Any]:
        return self._call("GET", f"/api/primaries/{self.slug}/trustees")

    def post(self, what: str, body: Mapping[str, Any]) -> Any:
        return self._call("POST", f"/api/primaries/{self.slug}/trustees/{what}", body)

    def sums(self, round_number: int) -> dict[str, Any]:
        return self._call("GET", f"/api/primaries/{self.slug}/rounds/{round_number}/sums")

    def post_decryption(self, round_number: int, body: Mapping[str, Any]) -> Any:
        return self._call(
            "POST", f"/api/primaries/{self.slug}/rounds/{round_number}/decryptions", body
        )


# --- commands ---------------------------------------------------------------------------------


def _wait_for(
    service: Service, ready: Any, seconds: float, what: str, attempt: int | None = None
) -> dict[str, Any]:
    """Poll the ceremony until `ready`; CeremonyRestarted if it leaves `attempt` meanwhile."""
    deadline = time.monotonic() + seconds
    while True:
        state = service.ceremony()
        if attempt is not None and state.get("attempt", 1) != attempt:
            raise CeremonyRestarted(state.get("attempt", 1))
        if ready(state):
            return state
        if time.monotonic() >= deadline:
            raise TrusteeCommandError(
                f"still waiting for {what} after {seconds:g} s: run the same command again later"
            )
        time.sleep(1.0)


def keygen(args: argparse.Namespace) -> int:
    keys = TrusteeKeys(Path(args.key))
    service = Service(args.url, args.primary)
    while True:
        try:
            return _keygen(keys, service, args.wait)
        except CeremonyRestarted as restarted:
            print(
                f"the organiser restarted the key ceremony (attempt {restarted.attempt}): "
                "this trustee takes part again"
            )


def _keygen(keys: TrusteeKeys, service: Service, wait: float) -> int:
    """One attempt of the ceremony, as far as this trustee can take it."""
    ceremony = service.ceremony()
    origin, index = ceremony["origin"], own_index(keys, ceremony)
    if ceremony["state"] == "registering":
        print(f"waiting for the organiser to register all {ceremony['trustees_wanted']} trustees")
        ceremony = _wait_for(
            service, lambda c: c["state"] != "registering", wait, "the other trustees"
        )
    state, attempt = keys.state(origin), ceremony.get("attempt", 1)
    if state.get("attempt", 1) != attempt:  # the ceremony restarted: a new polynomial
        state = {k: v for k, v in state.items() if k in ("origin", "log_key")}
        print(f"attempt {attempt} of the key ceremony: a new polynomial is drawn")
    mine = next(t for t in ceremony["trustees"] if t["index"] == index)
    if mine["keygen"] is None:
        if "coefficients" not in state:
            dealing = math.deal(origin, index, ceremony["threshold"])
            state = {
                **state,
                "origin": origin,
                "index": index,
                "attempt": attempt,
                "coefficients": [math.scalar_bytes(a).hex() for a in dealing.coefficients],
            }
            keys.save_state(origin, state)  # kept before posting: a retry re-posts the same
        coefficients = tuple(
            int.from_bytes(bytes.fromhex(a), "little") for a in state["coefficients"]
        )
        commitments = tuple(math.base(a) for a in coefficients)
        dealing = math.Dealing(
            index,
            coefficients,
            commitments,
            math.prove_knowledge(origin, index, commitments, coefficients[0]),
        )
        service.post("keygen", keygen_body(keys, ceremony, index, dealing))
        print(f"trustee {index}: commitments and sealed shares posted")
    elif "coefficients" not in state and "secret_share" not in state:
        raise TrusteeCommandError(
            "the service has a key generation from this trustee but this folder lost its polynomial"
        )
    ceremony = _wait_for(
        service,
        lambda c: all(t["keygen"] for t in c["trustees"]),
        wait,
        "the other trustees' key generation",
        attempt,
    )
    mine = next(t for t in ceremony["trustees"] if t["index"] == index)
    if mine["ack"] is None:
        polynomial = [int.from_bytes(bytes.fromhex(a), "little") for a in state["coefficients"]]
        complaints, secret = check_received(keys, ceremony, index, math.evaluate(polynomial, index))
        if not complaints:  # kept before posting, the polynomial dropped once it is posted
            state = {**state, "secret_share": secret.to_bytes(32, "little").hex()}
            keys.save_state(origin, state)
        service.post("ack", ack_body(keys, origin, index, complaints, attempt))
        if not complaints:
            state.pop("coefficients", None)
            keys.save_state(origin, state)
        if complaints:
            print(f"trustee {index}: shares from trustees {complaints} are false: complaint posted")
            return 1
        print(f"trustee {index}: every share checks out: acknowledgement posted")
    ceremony = _wait_for(
        service,
        lambda c: c["state"] in ("done", "failed"),
        wait,
        "the other trustees' acknowledgements",
        attempt,
    )
    if ceremony["state"] == "failed":
        print("the ceremony failed: a trustee complained; no election key", file=sys.stderr)
        return 1
    secret = int.from_bytes(bytes.fromhex(keys.state(origin)["secret_share"]), "little")
    if math.base(secret) != b64decode(ceremony["verification_keys"][index - 1]):
        raise TrusteeCommandError("the published verification key does not match this share")
    pinned_log_key(keys, service, origin, None)  # kept now: `decrypt` checks the log with it
    print(f"election key {ceremony['election_key']}")
    return 0


def logged_sums(served: Mapping[str, Any]) -> dict[str, Any]:
    """The sums served must be the body of the log entry served with them: a `tally-sums`
    entry of the round, the one trustees decrypt (docs/audit-log.md §10)."""
    sums = served["sums"]
    entry = canonical.loads(b64decode(served["entry"]))
    if entry.get("kind") != "tally-sums" or entry.get("body") != sums:
        raise TrusteeCommandError("the sums served are not those of the public log's entry")
    return sums


def pinned_log_key(keys: TrusteeKeys, service: Service, origin: str, given: str | None) -> str:
    """The log's verifier key this trustee trusts: `--log-key` if given (and then kept), else
    the one kept at the trustee's first contact with this primary (trust on first use)."""
    state = keys.state(origin)
    key = given or state.get("log_key")
    if key is None:
        key = service.log_key()
        print(f"log key {key} (first use: kept in {keys.folder}; check it with the organiser)")
    if state.get("log_key") != key:
        keys.save_state(origin, {**state, "log_key": key})
    return key


def audited_sums(service: Service, log_key: str, round_number: int) -> dict[str, Any]:
    """The round's `tally-sums` body, from a copy of the public log that `scrutin-audit`
    verified in full: signed checkpoints, append-only tree, every ballot's proofs, and sums
    recomputed from the counted ballots (docs/audit-log.md §10)."""
    with tempfile.TemporaryDirectory(prefix="scrutin-trustee-") as folder:
        export = Path(folder) / "export.json"
        with export.open("wb") as into:
            service.fetch(f"/primaries/{service.slug}/log/export", into)
        audit = subprocess.run(  # noqa: S603 - our own interpreter and the observers' module
            [sys.executable, "-m", "audit", "verify", str(export), "--log-key", log_key,
             "--json", "--lang", "en"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        try:
            report = json.loads(audit.stdout)
        except ValueError:
            problem = (audit.stderr.strip().splitlines() or ["no report"])[-1]
            raise TrusteeCommandError(f"scrutin-audit could not run: {problem}") from None
        if not report.get("ok"):
            failed = [c for c in report["checks"] if not c["ok"]]
            first = failed[0]
            reason = first["failures"][0]["reason"] if first["failures"] else first["name"]
            raise TrusteeCommandError(
                f"the public log does not verify (scrutin-audit check {first['number']}, "
                f"{first['name']}: {reason}); no share posted"
            )
        entries = json.loads(export.read_bytes())["entries"]
    for text in entries:
        entry = canonical.loads(b64decode(text))
        if entry.get("kind") == "tally-sums" and entry["body"].get("round") == round_number:
            return dict(entry["body"])
    raise TrusteeCommandError(f"round {round_number} has no published sums in the log yet")


def decrypt(args: argparse.Namespace) -> int:
    keys = TrusteeKeys(Path(args.key))
    service = Service(args.url, args.primary)
    ceremony = service.ceremony()
    origin, index = ceremony["origin"], own_index(keys, ceremony)
    if ceremony["state"] != "done":
        raise TrusteeCommandError("the key ceremony is not finished: no election key yet")
    state = keys.state(origin)
    if "secret_share" not in state:
        raise TrusteeCommandError(f"no secret share for {origin} in {args.key}")
    secret = int.from_bytes(bytes.fromhex(state["secret_share"]), "little")
    log_key = pinned_log_key(keys, service, origin, args.log_key)
    sums = logged_sums(service.sums(args.round))
    if audited_sums(service, log_key, args.round) != sums:
        raise TrusteeCommandError("the sums served are not those of the verified public log")
    if sums["ballots"] < args.min_ballots:
        raise TrusteeCommandError(
            f"round {args.round}'s sums count {sums['ballots']} ballot(s), fewer than "
            f"{args.min_ballots}: decrypting them would come close to showing single ballots "
            "(--min-ballots to decide otherwise)"
        )
    started = time.perf_counter()
    body = decryption_body(
        keys, origin, b64decode(ceremony["election_key"], length=32), index, secret, sums
    )
    elapsed = time.perf_counter() - started
    answer = service.post_decryption(args.round, body)
    cells = sum(len(v) for v in sums["sums"].values()) + ("blank" in sums)
    print(
        f"trustee {index}: the log verifies and round {args.round}'s sums are those of its "
        f"{sums['ballots']} counted ballots; {cells} decryption shares with proofs posted "
        f"(computed in {elapsed:.2f} s); {answer['decryptions']} of the "
        f"{answer['threshold']} needed"
    )
    if answer.get("result_published"):
        print(
            f"the result of round {args.round} is published: "
            f"{service.url}/primaries/{service.slug}/rounds/{args.round}/results"
        )
    return 0


def status(args: argparse.Namespace) -> int:
    """Where the ceremony stands, and this trustee's place in it."""
    keys = TrusteeKeys(Path(args.key))
    ceremony = Service(args.url, args.primary).ceremony()
    print(
        f"{ceremony['origin']}: {len(ceremony['trustees'])} of {ceremony['trustees_wanted']} "
        f"trustees registered, threshold {ceremony['threshold']}, state {ceremony['state']}, "
        f"attempt {ceremony.get('attempt', 1)}"
    )
    for restart in ceremony.get("restarts", []):
        replaced = ", ".join(map(str, restart["replaced"])) or "none (same trustees, new draw)"
        print(
            f"  restart to attempt {restart['attempt']}: trustee(s) replaced {replaced}; "
            f"reason: {json.dumps(restart['reason'], ensure_ascii=False)}"
        )
    for t in ceremony["trustees"]:
        mine = " (you)" if t["signing_key"] == keys.signing_key else ""
        ack = "-" if t["ack"] is None else ",".join(map(str, t["ack"]["complaints"])) or "ok"
        print(
            f"  {t['index']}. {t['name']}{mine}: keygen {'posted' if t['keygen'] else '-'}, "
            f"ack {ack}"
        )
    if ceremony["election_key"]:
        print(f"election key {ceremony['election_key']}")
    return 0


def init(args: argparse.Namespace) -> int:
    keys = TrusteeKeys.create(Path(args.dir))
    print(f"signing key {keys.signing_key}")
    print(f"box key     {keys.box_key}")
    print("give both to the organiser; keep the folder secret and backed up")
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="trustee_command", required=True, metavar="STEP")
    first = commands.add_parser("init", help="make this trustee's keys in DIR")
    first.add_argument("dir", help="folder for the key file (kept secret)")
    first.set_defaults(trustee_run=init)
    for name, run, help_text in (
        ("status", status, "where the key ceremony stands"),
        ("keygen", keygen, "take part in the key ceremony"),
        ("decrypt", decrypt, "post decryption shares of a closed round's sums"),
    ):
        step = commands.add_parser(name, help=help_text)
        step.add_argument("--url", required=True, help="the service's address")
        step.add_argument("--primary", required=True, help="the primary's slug")
        step.add_argument("--key", required=True, help="the folder made by `init`")
        if name == "status":
            pass
        elif name == "keygen":
            step.add_argument(
                "--wait", type=float, default=600.0, help="seconds to wait for the others"
            )
        else:
            step.add_argument("--round", type=int, required=True, help="the round's number")
            step.add_argument(
                "--min-ballots",
                type=int,
                default=MIN_BALLOTS,
                help=f"refuse sums of fewer ballots (default {MIN_BALLOTS})",
            )
            step.add_argument(
                "--log-key",
                help="the log's verifier key, from the organiser (default: the one kept at "
                "first use)",
            )
        step.set_defaults(trustee_run=run)


def run(args: argparse.Namespace) -> int:
    try:
        return int(args.trustee_run(args))
    except TrusteeCommandError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 1
    except math.TrusteeError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 1
