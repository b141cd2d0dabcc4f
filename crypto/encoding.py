"""Strict standard base64 (RFC 4648 §4, with padding).

Every base64 string that ends up inside a signed or hashed object must have exactly one
accepted spelling, otherwise the same bytes could be written two ways and hash differently
(for example by flipping the unused low bits of the last character). So decoding here
refuses anything that does not re-encode to the very same string.
"""

from __future__ import annotations

import base64
import binascii


class Base64Error(ValueError):
    """A string is not the canonical standard base64 encoding of some bytes."""


def b64encode(data: bytes) -> str:
    """Standard base64 with padding, as text."""
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str, *, length: int | None = None, what: str = "value") -> bytes:
    """Decode canonical standard base64; optionally require an exact decoded length."""
    if not isinstance(text, str):
        raise Base64Error(f"{what}: expected a base64 string, got {type(text).__name__}")
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error) as exc:
        raise Base64Error(f"{what}: not standard base64 ({exc})") from None
    if base64.b64encode(data).decode("ascii") != text:
        raise Base64Error(f"{what}: non-canonical base64 (padding or trailing bits)")
    if length is not None and len(data) != length:
        raise Base64Error(f"{what}: expected {length} bytes, got {len(data)}")
    return data
