"""Secrets at rest and the log key."""

from __future__ import annotations

import nacl.pwhash.argon2id as argon2id
import pytest

from crypto import keys, note
from crypto.keys import DerivedKeyCache, LogKey, SealError, WrongSecretError

SERVICE = b"service secret of 32+ bytes......"
FAST = {"opslimit": argon2id.OPSLIMIT_MIN, "memlimit": argon2id.MEMLIMIT_MIN}
ORIGIN = "scrutin.localhost/primaries/demo"


def test_derive_key_is_deterministic_and_purpose_bound() -> None:
    salt = bytes(16)
    a = keys.derive_key(SERVICE, salt, "log-key", **FAST)
    assert len(a) == 32
    assert keys.derive_key(SERVICE, salt, "log-key", **FAST) == a
    assert keys.derive_key(SERVICE, salt, "tally-key", **FAST) != a
    assert keys.derive_key(SERVICE, bytes(15) + b"\x01", "log-key", **FAST) != a
    assert keys.derive_key(SERVICE + b"!", salt, "log-key", **FAST) != a
    # Matches a direct Argon2id call over the documented password layout.
    password = b"scrutin-kdf/v1\x00log-key\x00" + SERVICE
    assert a == argon2id.kdf(32, password, salt, **FAST)
    with pytest.raises(ValueError):
        keys.derive_key(SERVICE, bytes(8), "log-key", **FAST)
    with pytest.raises(ValueError):
        keys.derive_key(SERVICE, salt, "a\x00b", **FAST)


def test_seal_and_open_secret() -> None:
    blob = keys.seal_secret(b"top secret", SERVICE, "log-key", **FAST)
    assert blob[:4] == b"SCRS" and blob[4] == 1 and blob[5] == keys.KDF_SERVICE_SECRET
    assert keys.open_secret(blob, SERVICE, "log-key") == b"top secret"
    # Fresh salt and nonce each time.
    assert keys.seal_secret(b"top secret", SERVICE, "log-key", **FAST) != blob
    with pytest.raises(WrongSecretError, match="wrong secret"):
        keys.open_secret(blob, b"another secret", "log-key")
    with pytest.raises(WrongSecretError):
        keys.open_secret(blob, SERVICE, "tally-key")
    tampered = bytearray(blob)
    tampered[20] ^= 1  # inside the salt
    with pytest.raises(WrongSecretError):
        keys.open_secret(bytes(tampered), SERVICE, "log-key")
    tampered = bytearray(blob)
    tampered[-1] ^= 1
    with pytest.raises(WrongSecretError):
        keys.open_secret(bytes(tampered), SERVICE, "log-key")


def test_malformed_blobs() -> None:
    blob = keys.seal_secret(b"x", SERVICE, "p", **FAST)
    for bad in [b"", blob[:30], b"XXXX" + blob[4:], blob[:4] + b"\x02" + blob[5:]]:
        with pytest.raises(SealError):
            keys.open_secret(bad, SERVICE, "p")
    # Absurd memory limit in the header is refused before any work.
    huge = blob[:10] + (2**40).to_bytes(8, "big") + blob[18:]
    with pytest.raises(SealError, match="memlimit"):
        keys.open_secret(huge, SERVICE, "p")
    # A passphrase blob is not a service-secret blob.
    pblob = keys.seal_with_passphrase(b"x", "pass", "p", **FAST)
    with pytest.raises(SealError, match="passphrase"):
        keys.open_secret(pblob, SERVICE, "p")


def test_passphrase_round_trip_and_nfc() -> None:
    blob = keys.seal_with_passphrase(b"tally secret", "caf\u00e9 cr\u00e8me", **FAST)
    assert blob[5] == keys.KDF_PASSPHRASE
    # Same passphrase typed decomposed still opens it.
    assert keys.open_with_passphrase(blob, "cafe\u0301 cre\u0300me") == b"tally secret"
    with pytest.raises(WrongSecretError):
        keys.open_with_passphrase(blob, "cafe creme")


def test_cache_avoids_rederiving() -> None:
    cache = DerivedKeyCache(max_entries=2)
    blob = keys.seal_secret(b"s", SERVICE, "p", cache=cache, **FAST)
    assert len(cache) == 1
    assert keys.open_secret(blob, SERVICE, "p", cache=cache) == b"s"
    assert len(cache) == 1  # same salt and purpose: served from the cache
    for i in range(3):
        keys.seal_secret(b"s", SERVICE, f"p{i}", cache=cache, **FAST)
    assert len(cache) == 2


def test_log_key() -> None:
    # RFC 8032 TEST 1 seed; key ID and vkey as in the docs/audit-log.md examples.
    seed = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    lk = LogKey.from_seed(ORIGIN, seed)
    assert lk.key_id_hex == "3d90ae7e"
    assert (
        lk.vkey
        == "scrutin.localhost/primaries/demo+3d90ae7e+AddamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea"
    )
    assert note.parse_verifier_key(lk.vkey) == lk.verifier
    assert note.parse_signer_key(lk.skey)[1].verify_key == lk.verify_key
    assert "PRIVATE" not in repr(lk) and seed.hex() not in repr(lk)
    blob = lk.seal(SERVICE)
    assert LogKey.unseal(ORIGIN, blob, SERVICE).public_key == lk.public_key
    # Bound to the origin: another primary's key blob does not open as this one.
    with pytest.raises(WrongSecretError):
        LogKey.unseal("scrutin.localhost/primaries/other", blob, SERVICE)
    fresh = LogKey.generate(ORIGIN)
    assert fresh.public_key != lk.public_key
    with pytest.raises(note.MalformedKeyError):
        LogKey.generate("bad origin")
