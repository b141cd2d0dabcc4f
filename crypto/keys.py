"""Secrets at rest, and the log's Ed25519 key.

Sealed blobs are self-describing and versioned::

    b"SCRS" | version 0x01 | kdf (0x01 service secret, 0x02 passphrase)
    | opslimit (uint32 BE) | memlimit (uint64 BE, bytes) | salt (16)
    | SecretBox output (nonce 24 + MAC 16 + ciphertext)

The box key is Argon2id(password, salt) where the password binds the purpose:
``b"scrutin-kdf/v1\\x00" + purpose + b"\\x00" + secret``. A blob sealed for one purpose does
not open for another, and every header field feeds the key, so tampering only yields
"wrong secret".
"""

from __future__ import annotations

import hashlib
import struct
import unicodedata
from collections import OrderedDict

import nacl.exceptions
import nacl.pwhash.argon2id as argon2id
import nacl.secret
import nacl.signing
import nacl.utils

from crypto.note import NoteKey, Verifier, check_key_name, format_signer_key

MAGIC = b"SCRS"
VERSION = 1
KDF_SERVICE_SECRET = 1
KDF_PASSPHRASE = 2
SALT_SIZE = argon2id.SALTBYTES  # 16
_HEADER = struct.Struct(">4sBBIQ")
HEADER_SIZE = _HEADER.size + SALT_SIZE

SERVICE_OPSLIMIT = argon2id.OPSLIMIT_INTERACTIVE
SERVICE_MEMLIMIT = argon2id.MEMLIMIT_INTERACTIVE
PASSPHRASE_OPSLIMIT = argon2id.OPSLIMIT_MODERATE
PASSPHRASE_MEMLIMIT = argon2id.MEMLIMIT_MODERATE


class SealError(ValueError):
    """A sealed blob is malformed or uses parameters we refuse."""


class WrongSecretError(SealError):
    """The blob did not open: wrong secret or passphrase, wrong purpose, or tampered data."""


def _password(secret: bytes, purpose: str) -> bytes:
    if not purpose or "\x00" in purpose:
        raise ValueError("purpose must be a non-empty string without NUL")
    return b"scrutin-kdf/v1\x00" + purpose.encode("utf-8") + b"\x00" + bytes(secret)


def derive_key(
    service_secret: bytes, salt: bytes, purpose: str, *, opslimit: int, memlimit: int
) -> bytes:
    """A 32-byte key from Argon2id(secret bound to purpose, salt). Deterministic: cacheable.
    The cost has no default here: the sealer chooses it and the blob's header carries it."""
    if len(salt) != SALT_SIZE:
        raise ValueError(f"salt must be {SALT_SIZE} bytes")
    if not service_secret:
        raise ValueError("the secret must not be empty")
    return argon2id.kdf(
        nacl.secret.SecretBox.KEY_SIZE,
        _password(service_secret, purpose),
        bytes(salt),
        opslimit=opslimit,
        memlimit=memlimit,
    )


class DerivedKeyCache:
    """Small LRU cache for derive_key, keyed by a hash of the secret (never the secret)."""

    def __init__(self, max_entries: int = 64) -> None:
        self._max = max_entries
        self._items: OrderedDict[tuple[bytes, bytes, str, int, int], bytes] = OrderedDict()

    def derive(
        self, secret: bytes, salt: bytes, purpose: str, *, opslimit: int, memlimit: int
    ) -> bytes:
        slot = (hashlib.sha256(secret).digest(), bytes(salt), purpose, opslimit, memlimit)
        if slot in self._items:
            self._items.move_to_end(slot)
            return self._items[slot]
        key = derive_key(secret, salt, purpose, opslimit=opslimit, memlimit=memlimit)
        self._items[slot] = key
        if len(self._items) > self._max:
            self._items.popitem(last=False)
        return key

    def __len__(self) -> int:
        return len(self._items)


def _derive(
    secret: bytes,
    salt: bytes,
    purpose: str,
    opslimit: int,
    memlimit: int,
    cache: DerivedKeyCache | None,
) -> bytes:
    if cache is not None:
        return cache.derive(secret, salt, purpose, opslimit=opslimit, memlimit=memlimit)
    return derive_key(secret, salt, purpose, opslimit=opslimit, memlimit=memlimit)


def _seal(
    kdf: int,
    plaintext: bytes,
    secret: bytes,
    purpose: str,
    opslimit: int,
    memlimit: int,
    cache: DerivedKeyCache | None,
) -> bytes:
    salt = nacl.utils.random(SALT_SIZE)
    key = _derive(secret, salt, purpose, opslimit, memlimit, cache)
    header = _HEADER.pack(MAGIC, VERSION, kdf, opslimit, memlimit) + salt
    return header + bytes(nacl.secret.SecretBox(key).encrypt(bytes(plaintext)))


def _open(
    kdf: int, blob: bytes, secret: bytes, purpose: str, cache: DerivedKeyCache | None
) -> bytes:
    blob = bytes(blob)
    if len(blob) < HEADER_SIZE + nacl.secret.SecretBox.NONCE_SIZE + nacl.secret.SecretBox.MACBYTES:
        raise SealError("sealed blob is too short")
    magic, version, blob_kdf, opslimit, memlimit = _HEADER.unpack_from(blob)
    if magic != MAGIC:
        raise SealError("not a Scrutin sealed blob")
    if version != VERSION:
        raise SealError(f"unsupported sealed blob version {version}")
    if blob_kdf != kdf:
        kinds = {KDF_SERVICE_SECRET: "the service secret", KDF_PASSPHRASE: "a passphrase"}
        raise SealError(f"blob is sealed with {kinds.get(blob_kdf, 'an unknown method')}")
    if not argon2id.OPSLIMIT_MIN <= opslimit <= argon2id.OPSLIMIT_SENSITIVE:
        raise SealError(f"refusing Argon2id opslimit {opslimit}")
    if not argon2id.MEMLIMIT_MIN <= memlimit <= argon2id.MEMLIMIT_SENSITIVE:
        raise SealError(f"refusing Argon2id memlimit {memlimit}")
    salt = blob[_HEADER.size : HEADER_SIZE]
    key = _derive(secret, salt, purpose, opslimit, memlimit, cache)
    try:
        return bytes(nacl.secret.SecretBox(key).decrypt(blob[HEADER_SIZE:]))
    except nacl.exceptions.CryptoError:
        raise WrongSecretError(
            f"cannot open the sealed {purpose}: wrong secret, wrong purpose or altered blob"
        ) from None


def seal_secret(
    secret: bytes,
    service_secret: bytes,
    purpose: str,
    *,
    opslimit: int = SERVICE_OPSLIMIT,
    memlimit: int = SERVICE_MEMLIMIT,
    cache: DerivedKeyCache | None = None,
) -> bytes:
    """Encrypt `secret` under a key derived from the service secret for `purpose`."""
    return _seal(KDF_SERVICE_SECRET, secret, service_secret, purpose, opslimit, memlimit, cache)


def open_secret(
    blob: bytes, service_secret: bytes, purpose: str, *, cache: DerivedKeyCache | None = None
) -> bytes:
    """Inverse of seal_secret; WrongSecretError if the secret or purpose is wrong."""
    return _open(KDF_SERVICE_SECRET, blob, service_secret, purpose, cache)


def _passphrase_bytes(passphrase: str) -> bytes:
    if not isinstance(passphrase, str) or not passphrase:
        raise ValueError("passphrase must be a non-empty string")
    # The same passphrase typed on two systems may arrive composed or decomposed.
    return unicodedata.normalize("NFC", passphrase).encode("utf-8")


def seal_with_passphrase(
    secret: bytes,
    passphrase: str,
    purpose: str = "tally-key",
    *,
    opslimit: int = PASSPHRASE_OPSLIMIT,
    memlimit: int = PASSPHRASE_MEMLIMIT,
) -> bytes:
    """Encrypt `secret` under a passphrase (same blob format, kdf 0x02)."""
    pw = _passphrase_bytes(passphrase)
    return _seal(KDF_PASSPHRASE, secret, pw, purpose, opslimit, memlimit, None)


def open_with_passphrase(blob: bytes, passphrase: str, purpose: str = "tally-key") -> bytes:
    """Inverse of seal_with_passphrase; WrongSecretError on a wrong passphrase."""
    return _open(KDF_PASSPHRASE, blob, _passphrase_bytes(passphrase), purpose, None)


class LogKey(NoteKey):
    """A log's Ed25519 key; its note key name is the log's origin (docs/audit-log.md §5).
    `generate(origin)`, `public_key`, `key_id` and `vkey` are NoteKey's."""

    @property
    def origin(self) -> str:
        return self.name

    @classmethod
    def from_seed(cls, origin: str, seed: bytes) -> LogKey:
        key = cls(origin, nacl.signing.SigningKey(bytes(seed)))
        check_key_name(origin)
        return key

    @property
    def seed(self) -> bytes:
        return bytes(self.signing_key)

    @property
    def verify_key(self) -> nacl.signing.VerifyKey:
        return self.signing_key.verify_key

    @property
    def key_id_hex(self) -> str:
        return self.key_id.hex()

    @property
    def skey(self) -> str:
        return format_signer_key(self.origin, self.signing_key)

    @property
    def verifier(self) -> Verifier:
        return Verifier(self.origin, self.key_id, self.public_key)

    def purpose(self) -> str:
        return f"log-key {self.origin}"

    def seal(self, service_secret: bytes, *, cache: DerivedKeyCache | None = None) -> bytes:
        """The seed sealed under the service secret, bound to this origin."""
        return seal_secret(self.seed, service_secret, self.purpose(), cache=cache)

    @classmethod
    def unseal(
        cls,
        origin: str,
        blob: bytes,
        service_secret: bytes,
        *,
        cache: DerivedKeyCache | None = None,
    ) -> LogKey:
        seed = open_secret(blob, service_secret, f"log-key {origin}", cache=cache)
        return cls.from_seed(origin, seed)

    def __repr__(self) -> str:  # never print the seed
        return f"LogKey({self.vkey!r})"
