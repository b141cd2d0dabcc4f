"""Encrypted ballot creation in headless Chromium, with the group's raw costs in the same page.

    python bench/ballot_browser.py [--runs 5]

Serves web/static on a loopback port (a secure context, as the booth is), opens it in Debian's
Chromium (/usr/bin/chromium or $CHROMIUM, driven by Playwright) and times, in the same page:
- the raw operations of @noble/curves (vendored) that a ballot is made of: a multiplication by
  the base point G, by an election key h with and without noble's precomputed table, a point
  addition, an encoding, a validated decoding, a SHA-512;
- web/static/ballot-crypto.js building whole ballots: 12 candidates × 7 grades (goal ≤ 1.2 s)
  and 5 of 12 candidates × 7 grades (goal ≤ 0.5 s), best and median of --runs, the first
  ballot (which builds h's table) apart; and the size of the `encrypted` blob and of its
  base64 text.
Each ballot built is checked with the Python verifier (crypto/encrypted_ballots.py) once, so
that the figures are those of valid ballots.
"""

from __future__ import annotations

import argparse
import http.server
import os
import socket
import statistics
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / "web" / "static"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]

RAW_JS = """
async () => {
  const noble = await import("/static/vendor/noble-curves-2.4.0.js");
  const bc = await import("/static/ballot-crypto.js");
  const P = noble.ed25519.Point;
  const scalars = Array.from({ length: 400 }, () => bc.randomScalar());
  const challenges = scalars.map((s) => s & ((1n << 128n) - 1n));
  function per(label, n, fn) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) fn(i);
    return [label, (performance.now() - t0) / n];
  }
  const h = bc.baseMul(bc.randomScalar());
  const hBytes = h.toBytes();
  const fresh = () => P.fromBytes(hBytes);
  const out = [];
  P.BASE.multiply(1n); // builds BASE's table (ballot-crypto.js asked for window 8) untimed
  out.push(per("G·r (noble's BASE: table, blinded)", 400, (i) => P.BASE.multiply(scalars[i])));
  const g8 = P.fromBytes(P.BASE.toBytes()).precompute(8, false);
  out.push(per("G·r (a copy of G, window 8 table)", 400, (i) => g8.multiply(scalars[i])));
  out.push(per("h·r, no table (constant time)", 100, (i) => fresh().multiply(scalars[i])));
  out.push(per("h·r, no table (multiplyUnsafe)", 100, (i) => fresh().multiplyUnsafe(scalars[i])));
  out.push(per("build h's table (window 8)", 5, () => fresh().precompute(8, false)));
  const hp = fresh().precompute(8, false);
  out.push(per("h·r with h's table (constant time)", 400, (i) => hp.multiply(scalars[i])));
  out.push(per("h·r with h's table (multiplyUnsafe)", 400, (i) => hp.multiplyUnsafe(scalars[i])));
  out.push(per("G·c, 128-bit c (constant time)", 400, (i) => P.BASE.multiply(challenges[i])));
  out.push(per("point addition (projective)", 4000, (i) => h.add(hp)));
  const sum = h.add(P.BASE);
  out.push(per("point encoding (one inversion)", 2000, () => sum.toBytes()));
  out.push(per("validated point decoding", 200, () => bc.decodePoint(hBytes)));
  const msg = new Uint8Array(400);
  out.push(per("SHA-512 of 400 bytes", 4000, () => noble.sha512(msg)));
  return out;
}
"""


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def translate_path(self, path: str) -> str:
        path = path.split("?")[0]
        if path.startswith("/static/"):
            return str(STATIC / path.removeprefix("/static/"))
        return str(STATIC / "__blank__")

    def send_head(self):  # type: ignore[no-untyped-def]
        if not self.path.startswith("/static/"):
            body = b"<!doctype html><title>bench</title>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return None
        return super().send_head()


def serve_static() -> tuple[http.server.ThreadingHTTPServer, str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{port}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    server, base = serve_static()
    try:
        with sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            page = browser.new_page()
            page.goto(base + "/")
            print(f"Chromium {browser.version}, {os.cpu_count()} cores")
            print("raw group operations (@noble/curves 2.4.0, same page):")
            for label, ms in page.evaluate(RAW_JS):
                print(f"  {label:<44} {ms * 1000:>9.1f} µs")
            for label, timings, size in ballots(page, args.runs):
                print(
                    f"{label}: first {timings[0] * 1000:.0f} ms, then best "
                    f"{min(timings[1:]) * 1000:.0f} ms, median "
                    f"{statistics.median(timings[1:]) * 1000:.0f} ms; {size}"
                )
            browser.close()
    finally:
        server.shutdown()


def ballots(page, runs: int):  # type: ignore[no-untyped-def]
    """Whole ballots: filled in once the ballot layout is in docs/audit-log.md."""
    return []


if __name__ == "__main__":
    main()
