"""login sessions in the store, failed-password throttling, the password epoch

* ``login_session``: a login session's token hash, state (``pending`` / ``signed_in``),
  the account's password epoch it checked, and its times.
* ``login_throttle``: failed passwords per login name and client (``*``: all clients).
* ``account.password_epoch``: counts password changes; a session of another epoch is dead.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from alembic import op
import sqlalchemy as sa

from twofa_cli.store.models import UTCDateTime


revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("account", sa.Column("password_epoch", sa.Integer(), nullable=False,
                                       server_default="0"))
    op.create_table(
        "login_session",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("token_sha256", sa.String(length=64), nullable=False, unique=True),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("password_epoch", sa.Integer(), nullable=False),
        sa.Column("device", sa.String(length=200), nullable=False),
        sa.Column("client", sa.String(length=200), nullable=False),
        sa.Column("password_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("state IN ('pending', 'signed_in')", name="ck_login_session_state"),
    )
    op.create_index("ix_login_session_account_id", "login_session", ["account_id"])
    op.create_table(
        "login_throttle",
        sa.Column("subject", sa.String(length=254), primary_key=True),
        sa.Column("client", sa.String(length=200), primary_key=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_started_at", UTCDateTime(), nullable=False),
        sa.Column("blocked_until", UTCDateTime(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("login_throttle")
    op.drop_index("ix_login_session_account_id", table_name="login_session")
    op.drop_table("login_session")
    with op.batch_alter_table("account") as batch_op:
        batch_op.drop_column("password_epoch")
