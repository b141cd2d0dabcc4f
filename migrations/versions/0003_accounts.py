"""Accounts: sign-in tokens, sessions, mail queue, eligibility.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from migrations.sql import execute_script

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("SELECT 1")  # placeholder: filled in by the accounts feature


def downgrade() -> None:
    execute_script("SELECT 1")
