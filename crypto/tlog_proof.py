"""C2SP tlog-proof: an inclusion proof with its checkpoint, as one offline-verifiable text
file (https://c2sp.org/tlog-proof; docs/audit-log.md §7, receipts).

    c2sp.org/tlog-proof@v1
    extra <base64 of the entry bytes>
    index <zero-based index, decimal>
    <base64 proof hash, from the leaf's sibling up>
    …
    <empty line>
    <the signed checkpoint, verbatim>

Scrutin puts the entry itself on the `extra` line, so that a voter's proof file alone gives
the tracker (its leaf hash), the signed entry and its place in a signed tree.
"""

from __future__ import annotations

from collections.abc import Sequence

from crypto.encoding import b64encode

HEADER = "c2sp.org/tlog-proof@v1"


def format_proof(
    index: int, hashes: Sequence[bytes], checkpoint: str, *, extra: bytes | None = None
) -> str:
    """The proof file; `checkpoint` is a signed note (it ends with a newline)."""
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise ValueError(f"index must be a non-negative integer, got {index!r}")
    if not checkpoint.endswith("\n"):
        raise ValueError("a signed checkpoint ends with a newline")
    lines = [HEADER]
    if extra is not None:
        lines.append(f"extra {b64encode(extra)}")
    lines.append(f"index {index}")
    lines.extend(b64encode(h) for h in hashes)
    return "\n".join(lines) + "\n\n" + checkpoint
