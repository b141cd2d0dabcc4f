"""Primaries' candidacies, declarations and supports.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from migrations.sql import execute_script

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("SELECT 1")  # placeholder: filled in by the candidacies feature


def downgrade() -> None:
    execute_script("SELECT 1")
