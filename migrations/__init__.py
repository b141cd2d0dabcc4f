"""Alembic revisions: the only source of the database schema (plain SQL, one file each)."""
