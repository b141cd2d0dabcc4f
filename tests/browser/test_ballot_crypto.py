"""The encrypted ballot built in Chromium by web/static/ballot-crypto.js, checked by Python.

The browser computes with the vendored @noble/curves, the service and the verifiers with
libsodium (PyNaCl): both must agree on every point accepted, every hash and every product, and
a ballot the JavaScript builds must pass crypto/encrypted_ballots.py's verification — and fail
it once altered. The page is web/static served on a loopback port (a secure context, like the
booth); no database is needed.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import random
import re
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from nacl import bindings
from nacl.signing import SigningKey

from crypto import elgamal, group
from crypto import encrypted_ballots as eb
from crypto.elgamal import Ciphertext
from crypto.encrypted_ballots import EncryptedBallot, RoundParams
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.fixtures.waiting import PATIENCE

STATIC = Path(__file__).resolve().parents[2] / "web" / "static"
P = 2**255 - 19


class _StaticHandler(http.server.SimpleHTTPRequestHandler):
    """web/static under /static/, an empty page everywhere else."""

    def log_message(self, *args: object) -> None:
        pass

    def translate_path(self, path: str) -> str:
        return str(STATIC / path.split("?")[0].removeprefix("/static/"))

    def send_head(self):  # type: ignore[no-untyped-def]
        if self.path.startswith("/static/"):
            return super().send_head()
        body = b"<!doctype html><title>ballot-crypto</title>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        return None


@pytest.fixture(scope="module")
def static_site() -> Iterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _StaticHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture(scope="module")
def js(static_site: str):  # type: ignore[no-untyped-def]
    """A page with ballot-crypto.js imported as window.bc."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page()
            page.set_default_timeout(PATIENCE * 1000)
            page.goto(static_site + "/")
            page.evaluate("async () => { window.bc = await import('/static/ballot-crypto.js'); }")
            yield page
        finally:
            browser.close()


# -- the group: the browser and libsodium agree ---------------------------------------------
# The points of small order (order 1, 2, 4, 8), canonical encodings.
SMALL_ORDER = [
    "0100000000000000000000000000000000000000000000000000000000000000",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
]


def test_the_browser_accepts_exactly_the_points_libsodium_accepts(js) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(14)
    valid = [group.base_mul(group.random_scalar()) for _ in range(20)]
    candidates: list[bytes] = list(valid)
    small = [bytes.fromhex(h) for h in SMALL_ORDER]
    candidates += small
    # A valid point plus a small-order one: on the curve, outside the prime-order subgroup.
    candidates += [
        bindings.crypto_core_ed25519_add(v, t) for v, t in zip(valid[:7], small[1:], strict=True)
    ]
    candidates += [rng.randbytes(32) for _ in range(60)]  # not on the curve, or mixed order
    # Non-canonical: every y ≥ p, and x = 0 with its sign bit set.
    candidates += [y.to_bytes(32, "little") for y in range(P, 2**255)]
    candidates.append((1 | 1 << 255).to_bytes(32, "little"))
    # A valid point's negation (sign bit flipped) is valid too.
    candidates += [v[:31] + bytes([v[31] ^ 0x80]) for v in valid[:5]]
    answers = js.evaluate(
        """(hexes) => hexes.map((h) => {
            try { bc.decodePoint(bc.fromHex(h)); return true; } catch (e) {
              if (!(e instanceof bc.BallotCryptoError)) throw e; return false; }
        })""",
        [c.hex() for c in candidates],
    )
    expected = [group.is_point(c) for c in candidates]
    assert answers == expected
    assert sum(expected) >= 25


def test_the_browser_hashes_and_multiplies_as_python_does(js) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(15)
    parts = [
        [rng.randbytes(rng.randrange(0, 80)) for _ in range(rng.randrange(0, 5))] for _ in range(10)
    ]
    scalars = [group.random_scalar() for _ in range(10)]
    key = group.base_mul(group.random_scalar())
    out = js.evaluate(
        """([parts, scalars, key]) => {
            const k = new bc.ElectionKey(bc.fromHex(key));
            return {
              hashes: parts.map((p) => bc.toHex(bc.encodeScalar(
                  bc.hashToScalar("test", p.map(bc.fromHex))))),
              challenges: parts.map((p) => bc.toHex(bc.encodeScalar(
                  bc.hashToChallenge128("test", p.map(bc.fromHex))))),
              base: scalars.map((s) => bc.toHex(bc.encodePoint(
                  bc.baseMul(bc.decodeScalar(bc.fromHex(s)))))),
              keyed: scalars.map((s) => bc.toHex(bc.encodePoint(
                  k.mul(bc.decodeScalar(bc.fromHex(s)))))),
              seeded: Array.from({ length: 3 }, ((rng) => () => bc.toHex(rng()))(
                  bc.seededRandom(bc.utf8("seed"), "example"))),
            };
        }""",
        [[[x.hex() for x in p] for p in parts], [s.hex() for s in scalars], key.hex()],
    )
    assert out["hashes"] == [group.hash_to_scalar("test", p).hex() for p in parts]
    assert out["challenges"] == [group.hash_to_challenge128("test", p).hex() for p in parts]
    assert out["base"] == [group.base_mul(s).hex() for s in scalars]
    assert out["keyed"] == [group.mul(s, key).hex() for s in scalars]
    draw = group.seeded_random(b"seed", "example")
    assert out["seeded"] == [draw().hex() for _ in range(3)]


def test_a_scalar_not_below_the_order_is_refused(js) -> None:  # type: ignore[no-untyped-def]
    refused = js.evaluate(
        """(hexes) => hexes.map((h) => {
            try { bc.decodeScalar(bc.fromHex(h)); return false; } catch (e) { return true; }
        })""",
        [
            group.L.to_bytes(32, "little").hex(),
            (group.L - 1).to_bytes(32, "little").hex(),
            "00" * 31,
        ],
    )
    assert refused == [True, False, True]


# -- whole ballots: built by the JavaScript, verified by crypto/encrypted_ballots.py ---------
ORIGIN = "scrutin.localhost/primaries/demo"
X = group.scalar_reduce(hashlib.sha512(b"browser test election key").digest())
H = group.base_mul(X)
VOTER = SigningKey(bytes([7]) * 32)
CRED = bytes(VOTER.verify_key)
CANDS = tuple(str(uuid.UUID(int=i + 1)) for i in range(12))

BUILD_JS = """async ([round, ballot, grades, credential, seed]) => {
    const out = seed === null
      ? await bc.encryptBallot(round, ballot, grades, credential)
      : await bc.encryptBallotDeterministic(round, ballot, grades, credential, seed);
    return out.encrypted;
}"""


def js_round(params: RoundParams) -> dict[str, object]:
    return {
        "origin": params.origin,
        "round": params.round,
        "electionKey": base64.b64encode(params.election_key).decode(),
        "candidates": list(params.candidates),
        "grades": params.n_grades,
        "allowBlank": params.allow_blank,
        "subsetSize": params.subset_size,
    }


def build_in_browser(  # type: ignore[no-untyped-def]
    js,
    params: RoundParams,
    ballot: list[str],
    grades: dict[str, int] | None,
    credential: bytes = CRED,
    seed: str | None = None,
) -> bytes:
    encrypted = js.evaluate(
        BUILD_JS,
        [js_round(params), ballot, grades, base64.b64encode(credential).decode(), seed],
    )
    return base64.b64decode(encrypted)


def decrypted(ballot: EncryptedBallot, x: bytes = X) -> tuple[dict[str, int | None], int]:
    """Each row's grade (None when every cell is 0, as on a blank ballot) and the blank bit."""

    def m(ct: Ciphertext) -> int:
        value = elgamal.small_dlog(elgamal.decrypt_point(ct, x), 2)
        assert value in (0, 1), "a cell is not 0 or 1"
        return value

    rows = {}
    for row in ballot.rows:
        cells = [m(ct) for ct in ballot.all_cells(row)]
        assert sum(cells) <= 1
        rows[row.candidate] = cells.index(1) if 1 in cells else None
    return rows, (m(ballot.blank) if ballot.blank else 0)


def ballot_section() -> str:
    spec = (STATIC.parents[1] / "docs" / "audit-log.md").read_text(encoding="utf-8")
    match = re.search(r"^### The encrypted ballot\n.*?(?=^### |^## |\Z)", spec, re.M | re.S)
    assert match, "docs/audit-log.md has no '### The encrypted ballot'"
    return match.group(0)


def find(pattern: str, text: str) -> str:
    match = re.search(pattern, text, re.S)
    assert match, f"the spec no longer says {pattern!r}"
    return match.group(1)


def test_the_browser_reproduces_the_specs_worked_examples(js) -> None:  # type: ignore[no-untyped-def]
    text = ballot_section()
    h = base64.b64decode(find(r"election key h = x·G =\s*`([^`]+)`", text))
    first, second = re.findall(r"`([0-9a-f-]{36})`", find(r"`candidates` are(.{0,120})", text))
    seed = find(r'b"scrutin-example/v2\\x00" \+ b"([^"]+)"', text)
    blob_text = find(r"The blob \(713 bytes\) is\s*\n\n    (\S+)\n", text)
    voter = SigningKey(bytes([1]) * 32)
    params = RoundParams(ORIGIN, 1, h, (first, second), 3, True, 0)

    blob = build_in_browser(
        js, params, [second, first], {first: 2, second: 0}, bytes(voter.verify_key), seed
    )
    assert base64.b64encode(blob).decode() == blob_text

    cands = tuple(str(uuid.UUID(int=i)) for i in range(1, 13))
    params = RoundParams(ORIGIN, 1, h, cands, 7, True, 0)
    seed = find(r"draws seeded with `([^`]+)`", text)
    blob = build_in_browser(
        js,
        params,
        list(cands),
        {c: k % 7 for k, c in enumerate(cands)},
        bytes(voter.verify_key),
        seed,
    )
    size, prefix, digest = re.search(
        r"the blob\s+is ([\d,]+) bytes, begins `([^`]+)` and\s+has SHA-256 `([0-9a-f]{64})`", text
    ).groups()  # type: ignore[union-attr]
    assert len(blob) == int(size.replace(",", ""))
    assert base64.b64encode(blob).decode().startswith(prefix)
    assert hashlib.sha256(blob).hexdigest() == digest


ROUNDS = [
    RoundParams(ORIGIN, 1, H, CANDS, 7, True, 0),  # 12 × 7 with blank ballots
    RoundParams(ORIGIN, 2, H, CANDS, 7, False, 5),  # 5 of 12, no blank
    RoundParams("vote.example.org/primaries/p", 3, H, CANDS[:3], 2, True, 0),
    RoundParams(ORIGIN, 4, H, CANDS[:6], 4, True, 2),
]


@pytest.mark.parametrize("params", ROUNDS, ids=["12x7-blank", "5of12x7", "3x2-blank", "2of6x4"])
def test_ballots_built_in_the_browser_verify_and_hold_the_voters_grades(js, params) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(params.round)
    ballot = rng.sample(list(params.candidates), params.rows_per_ballot)
    grades = {c: rng.randrange(params.n_grades) for c in ballot}
    grades[ballot[0]] = params.n_grades - 1  # the implicit cell's grade at least once
    blob = build_in_browser(js, params, ballot, grades)
    assert len(blob) == eb.blob_size(params.n_grades, len(ballot), params.allow_blank)
    verified = eb.verify(params, CRED, blob)
    assert decrypted(verified) == (grades, 0)
    if params.allow_blank:
        blank = eb.verify(params, CRED, build_in_browser(js, params, ballot, None))
        assert decrypted(blank) == (dict.fromkeys(ballot), 1)


def test_two_ballots_with_the_same_grades_share_no_bytes_past_the_header(js) -> None:  # type: ignore[no-untyped-def]
    params = ROUNDS[1]
    ballot = list(CANDS[:5])
    grades = dict.fromkeys(ballot, 3)
    one, two = (build_in_browser(js, params, ballot, grades) for _ in range(2))
    header = 5 + 2 * len(ballot)
    assert one[:header] == two[:header]
    cells = [one[i : i + 32] for i in range(header, len(one) - 32, 32)]
    assert not any(cell in two for cell in cells)


def test_an_altered_ballot_from_the_browser_is_rejected(js) -> None:  # type: ignore[no-untyped-def]
    params = ROUNDS[3]
    ballot = [CANDS[1], CANDS[4]]
    blob = build_in_browser(js, params, ballot, {CANDS[1]: 0, CANDS[4]: 3})
    eb.verify(params, CRED, blob)
    rng = random.Random(41)
    row0 = 5 + 2 * 2 + 64  # after the header, indexes and blank cell
    row_size = 3 * 64 + 5 * 48
    spots = {
        "blank cell": 5 + 4 + rng.randrange(64),
        "a cell": row0 + rng.randrange(3 * 64),
        "a challenge": row0 + 3 * 64 + rng.randrange(16),
        "a response": row0 + 3 * 64 + 16 + rng.randrange(31),  # the top byte could break range
        "second row": row0 + row_size + rng.randrange(row_size - 1),
    }
    for where, at in spots.items():
        altered = bytearray(blob)
        altered[at] ^= 1 << rng.randrange(8)
        verdict = eb.check(params, CRED, bytes(altered))
        assert not verdict.valid, where
        assert verdict.reason in ("invalid-point", "invalid-scalar", "proof-failed"), where
    # The same bytes under another credential, round, log or election key prove nothing.
    other = bytes(SigningKey(bytes([8]) * 32).verify_key)
    assert eb.check(params, other, blob).reason == "proof-failed"
    for changed in (
        RoundParams(ORIGIN, 5, H, CANDS[:6], 4, True, 2),
        RoundParams("other.example/primaries/demo", 4, H, CANDS[:6], 4, True, 2),
        RoundParams(ORIGIN, 4, group.base_mul(group.random_scalar()), CANDS[:6], 4, True, 2),
    ):
        assert eb.check(changed, CRED, blob).reason == "proof-failed"
    # Rows swapped between two candidates: the candidate is bound too.
    swapped = RoundParams(
        ORIGIN, 4, H, (CANDS[0], CANDS[4], CANDS[2], CANDS[3], CANDS[1], CANDS[5]), 4, True, 2
    )
    assert eb.check(swapped, CRED, blob).reason == "proof-failed"


def test_the_browser_signs_the_message_the_service_checks(js) -> None:  # type: ignore[no-untyped-def]
    params = ROUNDS[2]
    seed = bytes(range(32))
    body = js.evaluate(
        """async ([round, seed]) => {
            const pkcs8 = new Uint8Array([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03,
              0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20, ...bc.fromHex(seed)]);
            const key = await crypto.subtle.importKey("pkcs8", pkcs8, { name: "Ed25519" }, true,
              ["sign"]);
            const jwk = await crypto.subtle.exportKey("jwk", key);
            const credential = bc.fromBase64(jwk.x.replace(/-/g, "+").replace(/_/g, "/") + "=");
            const out = await bc.encryptBallot(round, round.candidates,
              Object.fromEntries(round.candidates.map((c) => [c, 1])), credential);
            const sig = await crypto.subtle.sign({ name: "Ed25519" }, key,
              bc.signedMessage(round.origin, round.round, out.blob));
            return { round: round.round, encrypted: out.encrypted,
                     credential: bc.toBase64(credential),
                     credential_sig: bc.toBase64(new Uint8Array(sig)) };
        }""",
        [js_round(params), seed.hex()],
    )
    assert base64.b64decode(body["credential"]) == bytes(SigningKey(seed).verify_key)
    assert eb.check_signature(params.origin, body)
    eb.verify(params, base64.b64decode(body["credential"]), base64.b64decode(body["encrypted"]))


def test_the_browser_refuses_a_bad_key_or_a_ballot_the_round_does_not_allow(js) -> None:  # type: ignore[no-untyped-def]
    good = js_round(ROUNDS[1])
    ballot = list(CANDS[:5])
    grades = dict.fromkeys(ballot, 2)
    torsioned = bindings.crypto_core_ed25519_add(H, bytes.fromhex(SMALL_ORDER[4]))
    cases = [
        (
            {**good, "electionKey": base64.b64encode(bytes.fromhex(SMALL_ORDER[1])).decode()},
            ballot,
            grades,
        ),
        ({**good, "electionKey": base64.b64encode(torsioned).decode()}, ballot, grades),
        ({**good, "electionKey": base64.b64encode(H[:31]).decode()}, ballot, grades),
        (good, ballot, None),  # blank, not allowed in this round
        (good, ballot[:4], {c: 2 for c in ballot[:4]}),  # 4 candidates where the round has 5
        (good, ballot, {**grades, ballot[0]: 7}),  # a grade past the scale
        (good, ballot, {c: 2 for c in ballot[1:]}),  # a candidate without a grade
        (good, [*ballot[:4], "someone-else"], grades),
        (good, [ballot[0], *ballot[:4]], grades),  # a candidate twice
        ({**good, "electionKey": "not base64!"}, ballot, grades),
        ({**good, "origin": ""}, ballot, grades),
        ({**good, "round": 0}, ballot, grades),
    ]
    errors = js.evaluate(
        """async (cases) => {
            const out = [];
            for (const [round, ballot, grades] of cases) {
              try {
                await bc.encryptBallot(round, ballot, grades, new Uint8Array(32).fill(7));
                out.push(null);
              } catch (e) {
                out.push(e instanceof bc.BallotCryptoError ? e.message : "other: " + e);
              }
            }
            return out;
        }""",
        [[r, b, g] for r, b, g in cases],
    )
    assert all(e and not e.startswith("other") for e in errors), errors


def test_the_booth_hears_of_each_step_while_the_ballot_is_built(js) -> None:  # type: ignore[no-untyped-def]
    """The booth shows a progress message: each row encrypted, then each row proved."""
    params = ROUNDS[3]
    steps = js.evaluate(
        """async (round) => {
            const steps = [];
            await bc.encryptBallot(round, round.candidates.slice(0, 2),
              Object.fromEntries(round.candidates.slice(0, 2).map((c) => [c, 1])),
              new Uint8Array(32).fill(7),
              { onProgress: (done, total) => steps.push([done, total]) });
            return steps;
        }""",
        js_round(params),
    )
    assert steps == [[0, 4], [1, 4], [2, 4], [3, 4], [4, 4]]
