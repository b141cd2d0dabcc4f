"""Scrutin's pure cryptographic primitives: canonical JSON, Merkle trees and tiles, signed
notes and checkpoints, signed log entries, sealed secrets and sealed ballots.

Only PyNaCl, hashlib and the standard library; no database, no HTTP. The formats are those of
docs/audit-log.md, which an independent verifier implements from the text alone.
"""
