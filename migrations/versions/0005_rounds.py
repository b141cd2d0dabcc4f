"""Voting rounds, tally keys, voters marked as voted, results.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from migrations.sql import execute_script

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("SELECT 1")  # placeholder: filled in by the rounds feature


def downgrade() -> None:
    execute_script("SELECT 1")
