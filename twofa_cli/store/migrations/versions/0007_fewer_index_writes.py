"""fewer index writes on the customer flow

* ``entry.account_id`` and ``recovery_code.account_id`` lose their own indexes: the
  unique constraint of each table leads with ``account_id`` and serves those lookups.
* ``challenge.entry_id`` is indexed only where it is set: it is looked up when an entry
  is deleted, and an enrolment's challenge (which has no entry) then writes no index page.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from alembic import op
import sqlalchemy as sa


revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_SET = sa.text("entry_id IS NOT NULL")


def upgrade() -> None:
    op.drop_index("ix_entry_account_id", table_name="entry")
    op.drop_index("ix_recovery_code_account_id", table_name="recovery_code")
    op.drop_index("ix_challenge_entry_id", table_name="challenge")
    op.create_index("ix_challenge_entry_id", "challenge", ["entry_id"],
                    sqlite_where=_SET, postgresql_where=_SET)


def downgrade() -> None:
    op.drop_index("ix_challenge_entry_id", table_name="challenge")
    op.create_index("ix_challenge_entry_id", "challenge", ["entry_id"])
    op.create_index("ix_recovery_code_account_id", "recovery_code", ["account_id"])
    op.create_index("ix_entry_account_id", "entry", ["account_id"])
