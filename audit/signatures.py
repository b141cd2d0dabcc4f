"""Entry signature verification (spec §3, §5), one chunk per worker process."""

from __future__ import annotations

from collections.abc import Sequence

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from audit.envelope import signed_message


def verify_chunk(args: tuple[bytes, Sequence[tuple[int, str, bytes]]]) -> list[int]:
    """Indices of the entries whose signature by ``public_key`` does not verify."""
    public_key, items = args
    verify = VerifyKey(public_key).verify
    bad = []
    for index, kind, raw in items:
        try:
            message, signature = signed_message(raw, kind)
            verify(message, signature)
        except (BadSignatureError, ValueError):
            bad.append(index)
    return bad
