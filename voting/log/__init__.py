"""The public log: one append-only, signed Merkle log per primary (docs/audit-log.md).

Sealed behind this package: nothing outside `voting/log/` queries the log's tables (`logs`,
`log_queue`, `log_entries`, `log_tiles`, `log_checkpoints`, `log_cosignatures`;
tests/test_architecture.py holds it).

- `service`: `LogService`, one object built up from the layers below;
- `writer`: keys, log creation, `append` (sign and queue in the caller's transaction);
- `sequencer`: `integrate`, `wait`, checkpoints, the background round;
- `proofs`: tiles, inclusion and consistency proofs, receipts, the export;
- `readers`: the service's own reads (heads, checkpoints, entries) and what the domain reads
  from the log (an origin, a round's ballot entries, a key's history…), for services and
  pages that must not write SQL against the log's tables;
- `model`: the values and errors (`Queued`, `Integrated`, `LogEntry`, `TreeHead`…);
- `witnesses`: getting checkpoints cosigned (docs/witness.md);
- `queries`: the SQL.

State changes append through a unit of work (`voting/unit_of_work.py`).
"""

from voting.log.model import (
    EXPORT_CHUNK,
    EXPORT_FORMAT,
    INTEGRATE_BATCH,
    Database,
    EntryTooLarge,
    Integrated,
    LogEntry,
    LogError,
    LogRangeError,
    NotIntegratedError,
    Queued,
    SignedCheckpoint,
    TreeHead,
    UnknownLogError,
)
from voting.log.sequencer import log_background
from voting.log.service import LogService

__all__ = [
    "EXPORT_CHUNK",
    "EXPORT_FORMAT",
    "INTEGRATE_BATCH",
    "Database",
    "EntryTooLarge",
    "Integrated",
    "LogEntry",
    "LogError",
    "LogRangeError",
    "LogService",
    "NotIntegratedError",
    "Queued",
    "SignedCheckpoint",
    "TreeHead",
    "UnknownLogError",
    "log_background",
]
