"""A stranger's verifier and log producer, written from docs/audit-log.md and
docs/majority-judgment.md alone (never from audit/, voting/, crypto/ or web/)."""
