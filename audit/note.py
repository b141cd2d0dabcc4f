"""C2SP signed notes, verifier keys and tlog checkpoints (spec §5, §6)."""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

EM_DASH = "\u2014"
ALG_ED25519 = 0x01
MAX_SIGNATURES = 100


class NoteError(ValueError):
    """A key string, note or checkpoint that cannot be parsed."""


def b64decode_strict(text: str) -> bytes:
    """Standard base64 with padding, rejecting anything that does not re-encode identically."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"invalid base64: {text[:40]!r}") from exc
    if base64.b64encode(raw).decode("ascii") != text:
        raise ValueError(f"non-canonical base64: {text[:40]!r}")
    return raw


def key_id(name: str, public_key: bytes) -> bytes:
    """C2SP key ID: first 4 bytes of SHA-256(name || "\\n" || 0x01 || key)."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + public_key).digest()[:4]


@dataclass(frozen=True)
class VerifierKey:
    name: str
    key_id: bytes
    public_key: bytes

    @property
    def key_id_hex(self) -> str:
        return self.key_id.hex()

    def __str__(self) -> str:
        blob = base64.b64encode(bytes([ALG_ED25519]) + self.public_key).decode()
        return f"{self.name}+{self.key_id_hex}+{blob}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            VerifyKey(self.public_key).verify(message, signature)
        except (BadSignatureError, ValueError):
            return False
        return True


def parse_verifier_key(text: str) -> VerifierKey:
    """Parse ``<name>+<8 hex key ID>+<base64(0x01 || 32-byte key)>`` and check its key ID."""
    text = text.strip()
    parts = text.split("+", 2)
    if len(parts) != 3 or not parts[0]:
        raise NoteError("verifier key must look like <name>+<key id>+<base64 key>")
    name, hex_id, blob = parts
    if any(c.isspace() for c in name) or "+" in name:
        raise NoteError("verifier key name must not contain spaces or '+'")
    if len(hex_id) != 8 or any(c not in "0123456789abcdef" for c in hex_id):
        raise NoteError("verifier key ID must be 8 lowercase hex digits")
    try:
        raw = b64decode_strict(blob)
    except ValueError as exc:
        raise NoteError(f"verifier key: {exc}") from exc
    if len(raw) != 33 or raw[0] != ALG_ED25519:
        raise NoteError("verifier key is not an Ed25519 key (0x01 + 32 bytes)")
    public_key = raw[1:]
    kid = key_id(name, public_key)
    if kid.hex() != hex_id:
        raise NoteError(f"verifier key ID {hex_id} does not match the key (expected {kid.hex()})")
    return VerifierKey(name, kid, public_key)


@dataclass(frozen=True)
class NoteSignature:
    name: str
    key_id: bytes
    signature: bytes


@dataclass(frozen=True)
class Note:
    text: str
    body: str
    signatures: tuple[NoteSignature, ...]

    def signed_by(self, key: VerifierKey) -> bool:
        """True when ``key`` (name and ID) signs the note and every line naming it verifies.

        Lines of other keys (witness cosignatures) are ignored, as C2SP signed-note says.
        """
        body = self.body.encode()
        mine = [s for s in self.signatures if s.name == key.name and s.key_id == key.key_id]
        return bool(mine) and all(key.verify(body, s.signature) for s in mine)

    def names_key(self, key: VerifierKey) -> bool:
        return any(s.name == key.name and s.key_id == key.key_id for s in self.signatures)


def parse_note(text: str) -> Note:
    """Split a C2SP signed note into its body and signature lines."""
    if not text.endswith("\n"):
        raise NoteError("note does not end with a newline")
    sep = text.find("\n\n")
    if sep < 0:
        raise NoteError("note has no blank line before its signatures")
    body, sig_block = text[: sep + 1], text[sep + 2 :]
    if any((c < " " and c != "\n") or c == "\x7f" for c in text):
        raise NoteError("note contains a control character other than newline")
    lines = sig_block[:-1].split("\n") if sig_block else []
    if not lines:
        raise NoteError("note has no signature line")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"note has more than {MAX_SIGNATURES} signature lines")
    sigs = []
    for line in lines:
        if not line.startswith(EM_DASH + " "):
            raise NoteError(f"bad signature line: {line[:60]!r}")
        fields = line[2:].split(" ")
        if len(fields) != 2:
            raise NoteError(f"bad signature line: {line[:60]!r}")
        try:
            blob = b64decode_strict(fields[1])
        except ValueError as exc:
            raise NoteError(f"bad signature line: {exc}") from exc
        if len(blob) < 5:
            raise NoteError("signature too short")
        sigs.append(NoteSignature(fields[0], blob[:4], blob[4:]))
    return Note(text, body, tuple(sigs))


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    note: Note

    @property
    def text(self) -> str:
        return self.note.text


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse a signed checkpoint: origin, decimal tree size, base64 root hash (three lines)."""
    note = parse_note(text)
    lines = note.body[:-1].split("\n")
    if len(lines) != 3:
        raise NoteError(f"checkpoint body has {len(lines)} lines, expected 3")
    origin, size_text, root_text = lines
    if not origin:
        raise NoteError("checkpoint has an empty origin")
    if (
        not size_text.isdigit()
        or not size_text.isascii()
        or (size_text != "0" and size_text.startswith("0"))
    ):
        raise NoteError(f"checkpoint tree size is not a decimal integer: {size_text!r}")
    try:
        root = b64decode_strict(root_text)
    except ValueError as exc:
        raise NoteError(f"checkpoint root: {exc}") from exc
    if len(root) != 32:
        raise NoteError("checkpoint root hash is not 32 bytes")
    return Checkpoint(origin, int(size_text), root, note)


def checkpoint_body(origin: str, size: int, root: bytes) -> str:
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"
