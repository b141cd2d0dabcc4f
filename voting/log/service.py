"""The public log service: one append-only, signed Merkle log per primary (docs/audit-log.md).

Writing is two-phase, so that an entry exists if and only if the caller's state change commits:

1. `append(conn, …)` signs the entry and inserts it into `log_queue` inside the caller's
   transaction (no index yet);
2. the sequencer (`integrate`) moves committed queue rows into `log_entries`, in queue order,
   assigning consecutive indexes, extending the tree's compact range and storing completed
   tiles. It runs in one transaction under a row lock on the log head (`logs` row), which
   serialises sequencers across processes; whoever holds the lock integrates every committed
   entry, so concurrent writers batch naturally. `wait` runs it (if needed) for one entry.

Checkpoints are signed only over committed trees: by the sequencer at each phase-change entry
(`PHASE_CHANGE_KINDS`, a tree ending exactly there), on `publish_checkpoint`, when a receipt
needs one, and from the background service at most every
`checkpoint_interval` seconds while the tree grows.

Proofs never load the tree: a recording pass of the proof algorithm lists the perfect
subtrees it needs, their tiles are fetched (full tiles from `log_tiles`, the partial ones
assembled from `log_entries` or from the roots of the tiles below), then the proof is computed.
"""

from __future__ import annotations

from functools import cached_property

from voting.log.proofs import LogProofs
from voting.log.witnesses import Witnesses


class LogService(LogProofs):
    """Create, append to, sequence, checkpoint and read the logs of all primaries: the
    writer (`voting/log/writer.py`, whose constructor it takes), the sequencer
    (`sequencer.py`), the readers (`readers.py`) and the proofs (`proofs.py`), one object."""

    @cached_property
    def witnesses(self) -> Witnesses:
        """The witness client (it needs the whole service: proofs too)."""
        return Witnesses(self)
