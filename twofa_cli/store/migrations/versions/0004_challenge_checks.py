"""refuse unknown challenge states and purposes

``challenge.status`` drives every lookup of a pending code and the single-use
claim (``status = 'pending'`` → ``'used'``); ``purpose`` decides whether a
verification completes an enrollment or a login. A value outside the known
ones would silently hide a challenge, so the store now refuses it.

SQLite cannot add a CHECK constraint in place: batch mode copies the table.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from alembic import op


revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("challenge") as batch_op:
        batch_op.create_check_constraint(
            "ck_challenge_status", "status IN ('pending', 'used', 'superseded')"
        )
        batch_op.create_check_constraint("ck_challenge_purpose", "purpose IN ('enroll', 'login')")


def downgrade() -> None:
    with op.batch_alter_table("challenge") as batch_op:
        batch_op.drop_constraint("ck_challenge_purpose", type_="check")
        batch_op.drop_constraint("ck_challenge_status", type_="check")
