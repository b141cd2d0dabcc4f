"""The encrypted ballot built in Chromium by web/static/ballot-crypto.js, checked by Python.

The browser computes with the vendored @noble/curves, the service and the verifiers with
libsodium (PyNaCl): both must agree on every point accepted, every hash and every product, and
a ballot the JavaScript builds must pass crypto/encrypted_ballots.py's verification — and fail
it once altered. The page is web/static served on a loopback port (a secure context, like the
booth); no database is needed.
"""

from __future__ import annotations

import http.server
import random
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from nacl import bindings

from crypto import group
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
