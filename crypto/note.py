"""C2SP signed notes (https://c2sp.org/signed-note) with Ed25519, and tlog checkpoints
(https://c2sp.org/tlog-checkpoint).

A note is a text ending in a newline, a blank line, then signature lines
``— <key name> <base64(4-byte key ID || signature)>``. Signatures by unknown keys are ignored
(so witnesses can cosign); a known key whose signature fails makes the whole note invalid.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Self

import nacl.exceptions
import nacl.signing

from crypto.encoding import Base64Error, b64decode, b64encode

SIG_TYPE_ED25519 = 0x01
MAX_SIGNATURES = 100  # the spec requires accepting at least 16
_SIG_PREFIX = "\u2014 "  # EM DASH, space
_SIZE_RE = re.compile(r"0|[1-9][0-9]*")
MAX_TREE_SIZE = 2**63 - 1


class NoteError(ValueError):
    """Base class: a note, key string or checkpoint was refused."""


class MalformedNoteError(NoteError):
    """The note (or checkpoint text) does not follow the format."""


class MalformedKeyError(NoteError):
    """A key name, verifier-key or signer-key string is invalid."""


class UnknownKeyError(NoteError):
    """No signature on the note is from a key the caller trusts."""


class BadSignatureError(NoteError):
    """A signature from a trusted key does not verify."""


def check_key_name(name: str) -> None:
    """Key names are non-empty, with no Unicode space, no '+', no control character."""
    if not isinstance(name, str) or not name:
        raise MalformedKeyError("key name must be a non-empty string")
    for char in name:
        if char == "+" or char.isspace() or ord(char) < 0x20 or ord(char) == 0x7F:
            raise MalformedKeyError(f"key name {name!r} contains {char!r}")


def key_id(name: str, public_key: bytes, sig_type: int = SIG_TYPE_ED25519) -> bytes:
    """First 4 bytes of SHA-256(name || 0x0A || sig_type || public key): 0x01 for a note key,
    0x04 for a witness's cosigner key (crypto/cosignature.py)."""
    check_key_name(name)
    if len(public_key) != 32:
        raise MalformedKeyError("an Ed25519 public key is 32 bytes")
    data = name.encode("utf-8") + b"\n" + bytes([sig_type]) + bytes(public_key)
    return hashlib.sha256(data).digest()[:4]


@dataclass(frozen=True)
class Verifier:
    """A trusted Ed25519 note key: name, key ID and 32-byte public key."""

    name: str
    key_id: bytes
    public_key: bytes

    @classmethod
    def from_public_key(cls, name: str, public_key: bytes | nacl.signing.VerifyKey) -> Verifier:
        raw = bytes(public_key)
        return cls(name, key_id(name, raw), raw)

    @property
    def verify_key(self) -> nacl.signing.VerifyKey:
        return nacl.signing.VerifyKey(self.public_key)

    @property
    def vkey(self) -> str:
        return format_verifier_key(self.name, self.public_key)

    def verify(self, message: bytes, signature: bytes) -> bool:
        if len(signature) != 64:
            return False
        try:
            self.verify_key.verify(message, signature)
        except nacl.exceptions.BadSignatureError:
            return False
        return True


def format_verifier_key(
    name: str, public_key: bytes | nacl.signing.VerifyKey, sig_type: int = SIG_TYPE_ED25519
) -> str:
    """`<name>+<key ID hex>+<base64(sig_type || public key)>`."""
    raw = bytes(public_key)
    kid = key_id(name, raw, sig_type)
    return f"{name}+{kid.hex()}+{b64encode(bytes([sig_type]) + raw)}"


def split_key_string(
    text: str, what: str, sig_type: int = SIG_TYPE_ED25519, type_name: str = "Ed25519 (type 0x01)"
) -> tuple[str, bytes, bytes]:
    """Split a C2SP key string `<name>+<hex8>+<base64(type byte + 32 bytes)>` into the name,
    the key ID and the 32 key bytes, refusing any other signature type (cosigner keys use
    this with type 0x04)."""
    parts = text.split("+", 2)
    if len(parts) != 3:
        raise MalformedKeyError(f"{what} must be <name>+<hex8>+<base64>")
    name, kid_hex, b64 = parts
    check_key_name(name)
    if not re.fullmatch(r"[0-9a-f]{8}", kid_hex):
        raise MalformedKeyError(f"{what} key ID must be 8 lowercase hex digits")
    try:
        blob = b64decode(b64, what=what)
    except Base64Error as exc:
        raise MalformedKeyError(str(exc)) from None
    if len(blob) != 33 or blob[0] != sig_type:
        raise MalformedKeyError(f"{what} is not an {type_name} key")
    return name, bytes.fromhex(kid_hex), blob[1:]


def parse_verifier_key(vkey: str) -> Verifier:
    """Parse a verifier-key string, checking that the key ID matches the name and key."""
    name, kid, public_key = split_key_string(vkey, "verifier key")
    if key_id(name, public_key) != kid:
        raise MalformedKeyError(f"verifier key ID {kid.hex()} does not match {name!r} and key")
    return Verifier(name, kid, public_key)


def format_signer_key(
    name: str, signing_key: nacl.signing.SigningKey, sig_type: int = SIG_TYPE_ED25519
) -> str:
    """`PRIVATE+KEY+<name>+<key ID hex>+<base64(sig_type || 32-byte seed)>` (Go note format)."""
    kid = key_id(name, bytes(signing_key.verify_key), sig_type)
    blob = b64encode(bytes([sig_type]) + bytes(signing_key))
    return f"PRIVATE+KEY+{name}+{kid.hex()}+{blob}"


def parse_signer_key(skey: str) -> tuple[str, nacl.signing.SigningKey]:
    """Parse a signer-key string into (name, signing key)."""
    if not skey.startswith("PRIVATE+KEY+"):
        raise MalformedKeyError("signer key must start with PRIVATE+KEY+")
    name, kid, seed = split_key_string(skey[len("PRIVATE+KEY+") :], "signer key")
    signing_key = nacl.signing.SigningKey(seed)
    if key_id(name, bytes(signing_key.verify_key)) != kid:
        raise MalformedKeyError(f"signer key ID {kid.hex()} does not match {name!r} and key")
    return name, signing_key


@dataclass(frozen=True)
class NoteKey:
    """An Ed25519 signing key and the key name it signs under: a log's (crypto.keys.LogKey,
    its origin) or a witness's (crypto.cosignature.CosignerKey, whose key ID and key strings
    carry the algorithm byte 0x04 instead of 0x01)."""

    name: str
    signing_key: nacl.signing.SigningKey
    sig_type: ClassVar[int] = SIG_TYPE_ED25519

    @classmethod
    def generate(cls, name: str) -> Self:
        check_key_name(name)
        return cls(name, nacl.signing.SigningKey.generate())

    @property
    def public_key(self) -> bytes:
        return bytes(self.signing_key.verify_key)

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.public_key, self.sig_type)

    @property
    def vkey(self) -> str:
        return format_verifier_key(self.name, self.public_key, self.sig_type)


@dataclass(frozen=True)
class Signature:
    """One signature line: key name, 4-byte key ID, signature bytes (after the key ID)."""

    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        return f"{_SIG_PREFIX}{self.name} {b64encode(self.key_id + self.signature)}\n"


@dataclass(frozen=True)
class OpenedNote:
    text: str
    verified: list[Signature] = field(default_factory=list)
    unverified: list[Signature] = field(default_factory=list)


def _check_text(text: str) -> None:
    for char in text:
        if ord(char) < 0x20 and char != "\n":
            raise MalformedNoteError(f"note contains control character {char!r}")
        if 0xD800 <= ord(char) <= 0xDFFF:
            raise MalformedNoteError("note contains a lone surrogate")


def parse_signature_line(line: str) -> Signature:
    """One signature line `— <name> <base64(key ID + signature)>` (without its newline): the
    log's own and witnesses' cosignatures are read alike."""
    if not line.startswith(_SIG_PREFIX):
        raise MalformedNoteError(f"not a signature line: {line[:40]!r}")
    name, _, b64 = line[len(_SIG_PREFIX) :].partition(" ")
    try:
        check_key_name(name)
        blob = b64decode(b64, what="signature")
    except (MalformedKeyError, Base64Error) as exc:
        raise MalformedNoteError(f"bad signature line: {exc}") from None
    if len(blob) < 5:
        raise MalformedNoteError("signature line too short")
    return Signature(name, blob[:4], blob[4:])


def parse_note(note: str | bytes) -> tuple[str, list[Signature]]:
    """Split a note into its text and signature lines (no verification)."""
    if isinstance(note, bytes | bytearray):
        try:
            note = bytes(note).decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedNoteError("note is not valid UTF-8") from None
    _check_text(note)
    split = note.rfind("\n\n")
    if split < 0:
        raise MalformedNoteError("note has no blank line before its signatures")
    text, block = note[: split + 1], note[split + 2 :]
    if not block or not block.endswith("\n"):
        raise MalformedNoteError("note has no signature lines, or does not end with a newline")
    signatures = []
    for line in block[:-1].split("\n"):
        signatures.append(parse_signature_line(line))
        if len(signatures) > MAX_SIGNATURES:
            raise MalformedNoteError(f"more than {MAX_SIGNATURES} signatures")
    return text, signatures


def open_note(note: str | bytes, verifiers: Verifier | Iterable[Verifier]) -> OpenedNote:
    """Verify a note against trusted keys; returns text and verified/unverified signatures."""
    if isinstance(verifiers, Verifier):
        verifiers = [verifiers]
    known: dict[tuple[str, bytes], Verifier] = {}
    ambiguous: set[tuple[str, bytes]] = set()
    for v in verifiers:
        slot = (v.name, v.key_id)
        if slot in known and known[slot].public_key != v.public_key:
            ambiguous.add(slot)
        known[slot] = v
    text, signatures = parse_note(note)
    message = text.encode("utf-8")
    verified: list[Signature] = []
    unverified: list[Signature] = []
    for sig in signatures:
        slot = (sig.name, sig.key_id)
        if slot in ambiguous:
            raise UnknownKeyError(f"ambiguous key {sig.name}+{sig.key_id.hex()}")
        verifier = known.get(slot)
        if verifier is None:
            if sig not in unverified:
                unverified.append(sig)
            continue
        if not verifier.verify(message, sig.signature):
            raise BadSignatureError(f"invalid signature for key {sig.name}+{sig.key_id.hex()}")
        if sig not in verified:
            verified.append(sig)
    if not verified:
        names = ", ".join(f"{s.name}+{s.key_id.hex()}" for s in unverified) or "none"
        raise UnknownKeyError(f"note has no signature from a trusted key (signed by: {names})")
    return OpenedNote(text, verified, unverified)


def verify_note(note: str | bytes, verifiers: Verifier | Iterable[Verifier]) -> str:
    """The note's text, if at least one trusted key signed it and none failed."""
    return open_note(note, verifiers).text


def sign_note(text: str, name: str, signing_key: nacl.signing.SigningKey) -> str:
    """A note of `text` (which must end in a newline) signed by one Ed25519 key."""
    return sign_note_multi(text, [(name, signing_key)])


def sign_note_multi(text: str, signers: Sequence[tuple[str, nacl.signing.SigningKey]]) -> str:
    """A note of `text` with one signature line per (name, signing key), in order."""
    if not isinstance(text, str) or not text.endswith("\n"):
        raise MalformedNoteError("note text must end with a newline")
    _check_text(text)
    if not signers:
        raise ValueError("at least one signer is needed")
    lines = []
    for name, signing_key in signers:
        kid = key_id(name, bytes(signing_key.verify_key))
        signature = signing_key.sign(text.encode("utf-8")).signature
        lines.append(Signature(name, kid, signature).line())
    return text + "\n" + "".join(lines)


@dataclass(frozen=True)
class Checkpoint:
    """A tlog-checkpoint body: origin, tree size, root hash, optional extension lines."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.origin, str) or not self.origin or "\n" in self.origin:
            raise MalformedNoteError("checkpoint origin must be a non-empty line")
        if isinstance(self.size, bool) or not isinstance(self.size, int):
            raise MalformedNoteError("checkpoint size must be an int")
        if not 0 <= self.size <= MAX_TREE_SIZE:
            raise MalformedNoteError(f"checkpoint size {self.size} out of range")
        if not isinstance(self.root_hash, bytes) or len(self.root_hash) != 32:
            raise MalformedNoteError("checkpoint root hash must be 32 bytes")
        for ext in self.extensions:
            if not ext or "\n" in ext:
                raise MalformedNoteError("checkpoint extension lines must be non-empty lines")

    def text(self) -> str:
        lines = [self.origin, str(self.size), b64encode(self.root_hash), *self.extensions]
        return "".join(line + "\n" for line in lines)


def format_checkpoint(checkpoint: Checkpoint) -> str:
    return checkpoint.text()


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse checkpoint note text (origin, size, base64 root, then extension lines)."""
    if not text.endswith("\n"):
        raise MalformedNoteError("checkpoint text must end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise MalformedNoteError("checkpoint text needs origin, size and root hash lines")
    if any(not line for line in lines):
        raise MalformedNoteError("checkpoint lines must be non-empty")
    origin, size_line, root_line, *extensions = lines
    if not _SIZE_RE.fullmatch(size_line) or int(size_line) > MAX_TREE_SIZE:
        raise MalformedNoteError(f"bad checkpoint tree size {size_line[:24]!r}")
    try:
        root_hash = b64decode(root_line, length=32, what="checkpoint root hash")
    except Base64Error as exc:
        raise MalformedNoteError(str(exc)) from None
    return Checkpoint(origin, int(size_line), root_hash, tuple(extensions))


def sign_checkpoint(
    checkpoint: Checkpoint, signing_key: nacl.signing.SigningKey, name: str | None = None
) -> str:
    """Signed checkpoint note; the key name defaults to the checkpoint's origin."""
    return sign_note(checkpoint.text(), checkpoint.origin if name is None else name, signing_key)


def open_checkpoint(
    note: str | bytes, vkey: str | Verifier, *, allow_extensions: bool = False
) -> Checkpoint:
    """Verify a signed checkpoint with the log's key; the origin must equal the key name."""
    verifier = parse_verifier_key(vkey) if isinstance(vkey, str) else vkey
    checkpoint = parse_checkpoint(verify_note(note, verifier))
    if checkpoint.origin != verifier.name:
        raise MalformedNoteError(
            f"checkpoint origin {checkpoint.origin!r} is not the key name {verifier.name!r}"
        )
    if checkpoint.extensions and not allow_extensions:
        raise MalformedNoteError("checkpoint has extension lines")
    return checkpoint
