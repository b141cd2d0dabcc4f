"""Signed log entries (docs/audit-log.md §3).

An entry is the canonical JSON of an envelope {v, origin, primary, kind, time, body, key, sig};
`sig` is Ed25519 over b"scrutin-entry/v1\\x00" + kind + b"\\x00" + JCS(envelope without sig).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass

import nacl.exceptions
import nacl.signing

from crypto import canonical
from crypto.encoding import Base64Error, b64decode, b64encode
from crypto.json_types import JSONObject
from crypto.merkle import leaf_hash
from crypto.note import MalformedKeyError, check_key_name, key_id

VERSION = 1
SIGNATURE_DOMAIN = b"scrutin-entry/v1\x00"
MEMBERS = frozenset({"v", "origin", "primary", "kind", "time", "body", "key", "sig"})
KIND_RE = re.compile(r"[a-z][a-z0-9-]{0,63}")
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
KEY_ID_RE = re.compile(r"[0-9a-f]{8}")
ORIGIN_RE = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no space; '+' refused separately


class EntryError(ValueError):
    """An entry is malformed, not canonical, or not signed by a trusted key."""


class Tracked:
    """A log leaf's `tracker`, for the records that carry its `leaf_hash` (an opened entry,
    the log service's queued, integrated and read entries)."""

    leaf_hash: bytes

    @property
    def tracker(self) -> str:
        """The leaf hash in lowercase hex (§4)."""
        return self.leaf_hash.hex()


@dataclass(frozen=True)
class Entry(Tracked):
    """An opened, verified entry. `raw` are the exact bytes that were hashed into the log."""

    v: int
    origin: str
    primary: str
    kind: str
    time: int
    body: JSONObject
    key: str
    sig: bytes
    raw: bytes
    leaf_hash: bytes


def signing_message(kind: str, unsigned: Mapping[str, object]) -> bytes:
    """The bytes the entry signature covers."""
    return _signed_bytes(kind, canonical.dumps(unsigned))


def _signed_bytes(kind: str, unsigned_json: bytes) -> bytes:
    return SIGNATURE_DOMAIN + kind.encode("ascii") + b"\x00" + unsigned_json


def _check_origin(origin: object) -> None:
    if not isinstance(origin, str) or not ORIGIN_RE.fullmatch(origin):
        raise EntryError(f"origin must be non-empty printable ASCII without spaces: {origin!r}")
    try:
        check_key_name(origin)
    except MalformedKeyError as exc:
        raise EntryError(f"origin is not a valid key name: {exc}") from None


def _check_fields(
    origin: object, primary: object, kind: object, time: object, body: object
) -> None:
    _check_origin(origin)
    if not isinstance(primary, str) or not UUID_RE.fullmatch(primary):
        raise EntryError(f"primary must be a lowercase UUID: {primary!r}")
    if not isinstance(kind, str) or not KIND_RE.fullmatch(kind):
        raise EntryError(f"kind must match [a-z][a-z0-9-]*: {kind!r}")
    if isinstance(time, bool) or not isinstance(time, int) or time < 0:
        raise EntryError(f"time must be a non-negative int: {time!r}")
    if not isinstance(body, dict):
        raise EntryError(f"body must be an object, got {type(body).__name__}")


@functools.lru_cache(maxsize=256)
def _key_id_hex(origin: str, public_key: bytes) -> str:
    # A log signs every entry with the same key: hash its ID once, not once per entry.
    return key_id(origin, public_key).hex()


def make_entry(
    *,
    origin: str,
    primary: str,
    kind: str,
    time: int,
    body: Mapping[str, object],
    signing_key: nacl.signing.SigningKey,
) -> bytes:
    """The canonical bytes of a signed entry (the leaf that goes into the log)."""
    _check_fields(origin, primary, kind, time, body)
    # Members in canonical order: body, key, kind, origin, primary | sig | time, v. The body is
    # encoded once, for both the signed message and the entry: the entry is the unsigned
    # serialisation with the "sig" member spliced in at its sorted place.
    try:
        head = canonical.dumps(
            {
                "body": body,
                "key": _key_id_hex(origin, bytes(signing_key.verify_key)),
                "kind": kind,
                "origin": origin,
                "primary": primary,
            }
        )[:-1]
        tail = canonical.dumps({"time": time, "v": VERSION})[1:]
    except canonical.CanonicalError as exc:
        raise EntryError(f"entry is not canonical JSON: {exc}") from None
    signature = signing_key.sign(_signed_bytes(kind, head + b"," + tail)).signature
    return head + b',"sig":"' + b64encode(signature).encode("ascii") + b'",' + tail


def open_entry(
    data: bytes,
    keys: nacl.signing.VerifyKey | Mapping[str, nacl.signing.VerifyKey],
    *,
    origin: str | None = None,
) -> Entry:
    """Parse and verify entry bytes.

    `keys` is the log's verify key, or a mapping from key ID (8 hex digits) to verify key.
    With `origin`, the entry must belong to that log.
    """
    try:
        obj = canonical.loads(data)
    except canonical.CanonicalError as exc:
        raise EntryError(f"entry is not canonical JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise EntryError("entry is not a JSON object")
    if set(obj) != MEMBERS:
        missing = sorted(MEMBERS - set(obj))
        extra = sorted(set(obj) - MEMBERS)
        raise EntryError(f"entry members wrong (missing {missing}, unexpected {extra})")
    v = obj["v"]
    if isinstance(v, bool) or v != VERSION:
        raise EntryError(f"unsupported entry version {v!r}")
    _check_fields(obj["origin"], obj["primary"], obj["kind"], obj["time"], obj["body"])
    if origin is not None and obj["origin"] != origin:
        raise EntryError(f"entry belongs to log {obj['origin']!r}, not {origin!r}")
    kid = obj["key"]
    if not isinstance(kid, str) or not KEY_ID_RE.fullmatch(kid):
        raise EntryError(f"key must be 8 lowercase hex digits: {kid!r}")
    try:
        sig = b64decode(obj["sig"], length=64, what="sig")
    except Base64Error as exc:
        raise EntryError(str(exc)) from None

    if isinstance(keys, nacl.signing.VerifyKey):
        if key_id(obj["origin"], bytes(keys)).hex() != kid:
            raise EntryError(f"entry signed by unknown key {kid}")
        verify_key = keys
    else:
        found = keys.get(kid)
        if found is None:
            raise EntryError(f"entry signed by unknown key {kid}")
        verify_key = found
        if key_id(obj["origin"], bytes(verify_key)).hex() != kid:
            raise EntryError(f"key {kid} is not the key ID of the given key for this origin")
    unsigned = {k: obj[k] for k in MEMBERS - {"sig"}}
    try:
        verify_key.verify(signing_message(obj["kind"], unsigned), sig)
    except nacl.exceptions.BadSignatureError:
        raise EntryError(f"bad signature on {obj['kind']} entry (key {kid})") from None
    raw = bytes(data)
    return Entry(
        v=v,
        origin=obj["origin"],
        primary=obj["primary"],
        kind=obj["kind"],
        time=obj["time"],
        body=obj["body"],
        key=kid,
        sig=sig,
        raw=raw,
        leaf_hash=leaf_hash(raw),
    )
