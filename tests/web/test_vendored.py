"""The third-party code served to voters is exactly what web/static/vendor/VENDORED.md records.

The encrypted ballot is built in the voter's browser by an audited library kept in the
repository as one built file; a changed byte (a hand edit, a careless upgrade, a tampered
checkout) must not reach voters without its record changing with it.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from tests.fixtures import vendored

VENDOR = Path(__file__).resolve().parents[2] / "web" / "static" / "vendor"
RECORD = VENDOR / "VENDORED.md"
BUNDLE = "noble-curves-2.4.0.js"


def recorded_files() -> dict[str, tuple[str, int]]:
    return vendored.recorded_files(RECORD)


def test_every_vendored_file_has_the_recorded_hash() -> None:
    files = recorded_files()
    assert BUNDLE in files
    vendored.assert_recorded_hashes(VENDOR, files)


def test_nothing_unrecorded_is_served_from_the_vendor_folder() -> None:
    present = {p.name for p in VENDOR.iterdir()} - {"VENDORED.md"}
    assert present == set(recorded_files())


def test_the_record_names_the_packages_and_their_registry_sources() -> None:
    text = RECORD.read_text(encoding="utf-8")
    for package, version in [("@noble/curves", "2.4.0"), ("@noble/hashes", "2.4.0")]:
        name = package.split("/")[1]
        assert f"| {package} | {version}" in text
        assert f"https://registry.npmjs.org/{package}/-/{name}-{version}.tgz" in text
    banner = (VENDOR / BUNDLE).read_text(encoding="utf-8").splitlines()[0]
    assert "@noble/curves 2.4.0" in banner and "@noble/hashes 2.4.0" in banner


def test_the_bundle_is_one_self_contained_module() -> None:
    source = (VENDOR / BUNDLE).read_text(encoding="utf-8")
    assert not re.search(r"^\s*import\b|\bimport\s*\(|\brequire\s*\(", source, re.M)
    assert re.search(r"^export \{\n  ed25519,\n  sha512\n\};$", source, re.M)


def test_ballot_crypto_loads_the_recorded_bundle() -> None:
    source = (VENDOR.parent / "ballot-crypto.js").read_text(encoding="utf-8")
    assert f'from "./vendor/{BUNDLE}"' in source


def test_the_site_serves_the_ballot_modules_as_javascript_under_its_policy(client) -> None:  # type: ignore[no-untyped-def]
    """A browser runs a module only when served as JavaScript, from the site itself (CSP)."""
    for path in ("/static/ballot-crypto.js", f"/static/vendor/{BUNDLE}"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith("text/javascript"), path
        assert "script-src 'self'" in response.headers["content-security-policy"], path
    bundle = client.get(f"/static/vendor/{BUNDLE}").content
    assert hashlib.sha256(bundle).hexdigest() == recorded_files()[BUNDLE][0]
