"""Witness cosignatures (C2SP tlog-cosignature v1.0.1, Ed25519) and the add-checkpoint wire
format of C2SP tlog-witness v1.0.0. Pure: no I/O.

A cosignature is a signed-note signature line on a checkpoint,
``— <witness name> base64(key ID || timestamp || signature)``, where

- the key ID is ``SHA-256(name || "\\n" || 0x04 || public key)[:4]`` (0x04, not the 0x01 of
  ordinary note keys: a cosigner key cannot be mistaken for a log key);
- the timestamp is 8 bytes big-endian, seconds since the epoch, never zero;
- the Ed25519 signature covers ``"cosignature/v1\\ntime <timestamp>\\n" || checkpoint body``.

A cosigner's public key is written as a verifier-key string ``<name>+<key ID>+<base64(0x04 ||
key)>``; its signing key as ``PRIVATE+KEY+<name>+<key ID>+<base64(0x04 || seed)>``.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass

import nacl.exceptions
import nacl.signing

from crypto.encoding import Base64Error, b64decode, b64encode
from crypto.note import (
    MalformedKeyError,
    MalformedNoteError,
    NoteKey,
    Signature,
    format_signer_key,
    key_id,
    parse_signature_line,
    split_key_string,
)

SIG_TYPE_COSIGNATURE = 0x04
COSIGNATURE_HEADER = "cosignature/v1\n"
MAX_TIMESTAMP = 2**63 - 1
MAX_PROOF_LINES = 63
EMPTY_ROOT = hashlib.sha256(b"").digest()
_SIZE_RE = re.compile(r"0|[1-9][0-9]{0,18}")


def cosigner_key_id(name: str, public_key: bytes) -> bytes:
    """First 4 bytes of SHA-256(name || 0x0A || 0x04 || public key)."""
    return key_id(name, public_key, SIG_TYPE_COSIGNATURE)


def signed_message(checkpoint_text: str, timestamp: int) -> bytes:
    """The bytes an Ed25519 cosignature signs: header, time line, checkpoint body."""
    return f"{COSIGNATURE_HEADER}time {timestamp}\n{checkpoint_text}".encode()


@dataclass(frozen=True)
class Cosigner:
    """A witness's public identity: name, key ID (0x04 algorithm) and Ed25519 public key."""

    name: str
    key_id: bytes
    public_key: bytes

    @classmethod
    def from_public_key(cls, name: str, public_key: bytes) -> Cosigner:
        raw = bytes(public_key)
        return cls(name, cosigner_key_id(name, raw), raw)

    @property
    def vkey(self) -> str:
        blob = b64encode(bytes([SIG_TYPE_COSIGNATURE]) + self.public_key)
        return f"{self.name}+{self.key_id.hex()}+{blob}"

    def matches(self, signature: Signature) -> bool:
        return signature.name == self.name and signature.key_id == self.key_id

    def verify(self, checkpoint_text: str, signature: Signature) -> int | None:
        """The cosignature's timestamp if it is this witness's valid cosignature, else None."""
        if not self.matches(signature) or len(signature.signature) != 8 + 64:
            return None
        timestamp = int.from_bytes(signature.signature[:8], "big")
        if not 0 < timestamp <= MAX_TIMESTAMP:
            return None
        try:
            nacl.signing.VerifyKey(self.public_key).verify(
                signed_message(checkpoint_text, timestamp), signature.signature[8:]
            )
        except nacl.exceptions.BadSignatureError:
            return None
        return timestamp


def _split_key(text: str, what: str) -> tuple[str, bytes, bytes]:
    return split_key_string(text, what, SIG_TYPE_COSIGNATURE, "Ed25519 cosignature (type 0x04)")


def parse_cosigner_vkey(text: str) -> Cosigner:
    """Parse a cosigner verifier key, checking its key ID."""
    name, kid, public_key = _split_key(text.strip(), "witness key")
    if cosigner_key_id(name, public_key) != kid:
        raise MalformedKeyError(f"witness key ID {kid.hex()} does not match {name!r} and key")
    return Cosigner(name, kid, public_key)


class CosignerKey(NoteKey):
    """A witness's signing key (`generate`, `public_key`, `key_id` and `vkey` are NoteKey's,
    with the algorithm byte 0x04)."""

    sig_type = SIG_TYPE_COSIGNATURE

    @property
    def cosigner(self) -> Cosigner:
        return Cosigner(self.name, self.key_id, self.public_key)

    def skey(self) -> str:
        return format_signer_key(self.name, self.signing_key, self.sig_type)

    @classmethod
    def parse(cls, text: str) -> CosignerKey:
        text = text.strip()
        if not text.startswith("PRIVATE+KEY+"):
            raise MalformedKeyError("a witness signing key starts with PRIVATE+KEY+")
        name, kid, seed = _split_key(text[len("PRIVATE+KEY+") :], "witness signing key")
        key = cls(name, nacl.signing.SigningKey(seed))
        if key.key_id != kid:
            raise MalformedKeyError("witness signing key ID does not match its name and key")
        return key

    def cosign(self, checkpoint_text: str, timestamp: int | None = None) -> Signature:
        """Cosign a checkpoint body (the note text, without signature lines)."""
        if timestamp is None:
            timestamp = int(time.time())
        if not 0 < timestamp <= MAX_TIMESTAMP:
            raise ValueError("a cosignature timestamp is in 1 .. 2^63-1")
        signature = self.signing_key.sign(signed_message(checkpoint_text, timestamp)).signature
        return Signature(self.name, self.key_id, timestamp.to_bytes(8, "big") + signature)


# -- tlog-witness add-checkpoint ----------------------------------------------------------


class AddCheckpointError(ValueError):
    """An add-checkpoint request body that does not follow tlog-witness (answered 400)."""


@dataclass(frozen=True)
class AddCheckpoint:
    old_size: int
    proof: tuple[bytes, ...]
    note: bytes  # the signed checkpoint, as sent


def format_add_checkpoint(
    old_size: int, proof: list[bytes] | tuple[bytes, ...], note: str
) -> bytes:
    """``old <size>\\n`` + one base64 proof hash per line + ``\\n`` + the signed checkpoint."""
    if len(proof) > MAX_PROOF_LINES:
        raise ValueError(f"a consistency proof has at most {MAX_PROOF_LINES} hashes")
    lines = [f"old {old_size}\n", *(b64encode(h) + "\n" for h in proof), "\n", note]
    return "".join(lines).encode()


def parse_add_checkpoint(body: bytes) -> AddCheckpoint:
    head, sep, note = body.partition(b"\n\n")
    if not sep:
        raise AddCheckpointError("the request has no empty line before the checkpoint")
    try:
        lines = head.decode("ascii").split("\n")
    except UnicodeDecodeError:
        raise AddCheckpointError("the old size and proof lines are not ASCII") from None
    first = lines[0]
    if not first.startswith("old ") or not _SIZE_RE.fullmatch(first[4:]):
        raise AddCheckpointError("the first line must be 'old <size>' (decimal, no leading zero)")
    old_size = int(first[4:])
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise AddCheckpointError(f"more than {MAX_PROOF_LINES} consistency proof lines")
    proof = []
    for i, line in enumerate(lines[1:], 1):
        try:
            proof.append(b64decode(line, length=32, what=f"proof line {i}"))
        except Base64Error as exc:
            raise AddCheckpointError(str(exc)) from None
    if not note:
        raise AddCheckpointError("the request has no checkpoint")
    return AddCheckpoint(old_size, tuple(proof), note)


def parse_size_body(body: bytes) -> int:
    """The body of a 409 answer (``text/x.tlog.size``): a decimal size and a newline."""
    text = body.decode("ascii", "replace")
    if not text.endswith("\n") or not _SIZE_RE.fullmatch(text[:-1]):
        raise MalformedNoteError(f"not a tlog size: {text[:30]!r}")
    return int(text[:-1])


def parse_cosignature_lines(body: bytes) -> list[Signature]:
    """The signature lines of a 200 answer, each ``— <name> <base64>\\n``."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedNoteError("cosignature lines are not UTF-8") from None
    if not text.endswith("\n"):
        raise MalformedNoteError("cosignature lines must end with a newline")
    signatures = []
    for line in text[:-1].split("\n"):
        signatures.append(parse_signature_line(line))
    return signatures
