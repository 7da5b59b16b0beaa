"""no index that repeats a unique constraint's first column

``entry.account_id`` and ``recovery_code.account_id`` lose their own indexes: the
unique constraint of each table leads with ``account_id`` and serves those lookups,
so each new entry or recovery code writes one index page fewer.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from alembic import op


revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_entry_account_id", table_name="entry")
    op.drop_index("ix_recovery_code_account_id", table_name="recovery_code")


def downgrade() -> None:
    op.create_index("ix_recovery_code_account_id", "recovery_code", ["account_id"])
    op.create_index("ix_entry_account_id", "entry", ["account_id"])
