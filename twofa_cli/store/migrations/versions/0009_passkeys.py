"""passkeys (WebAuthn): a secondary-auth kind, the credentials and their challenges

* ``secondary_auth.kind`` accepts ``passkey`` (no provider).
* ``passkey``: one registered credential per entry: its id, public key, sign count,
  transports, AAGUID, backup flags, name and times.
* ``webauthn_challenge``: challenges handed to browsers, single use and short-lived,
  bound to a login session (or, for a passwordless sign-in, to nothing).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-10
"""

from alembic import op
import sqlalchemy as sa

from twofa_cli.store.models import UTCDateTime


revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("secondary_auth") as batch_op:
        batch_op.drop_constraint("ck_secondary_auth_kind", type_="check")
        batch_op.create_check_constraint("ck_secondary_auth_kind",
                                         "kind IN ('code', 'totp', 'passkey')")
    op.create_table(
        "passkey",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("entry_id", sa.Integer(), sa.ForeignKey("entry.id", ondelete="CASCADE"),
                  nullable=False, unique=True),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("credential_id", sa.String(length=1400), nullable=False, unique=True),
        sa.Column("public_key", sa.String(), nullable=False),
        sa.Column("sign_count", sa.BigInteger(), nullable=False),
        sa.Column("transports", sa.String(length=200), nullable=False),
        sa.Column("aaguid", sa.String(length=36), nullable=False),
        sa.Column("backup_eligible", sa.Boolean(), nullable=False),
        sa.Column("backup_state", sa.Boolean(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_used_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_passkey_account_id", "passkey", ["account_id"])
    op.create_table(
        "webauthn_challenge",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("challenge", sa.String(length=128), nullable=False, unique=True),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("session_sha256", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id", ondelete="CASCADE"),
                  nullable=True),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("purpose IN ('register', 'login', 'passwordless')",
                           name="ck_webauthn_challenge_purpose"),
    )
    op.create_index("ix_webauthn_challenge_expires_at", "webauthn_challenge", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_webauthn_challenge_expires_at", table_name="webauthn_challenge")
    op.drop_table("webauthn_challenge")
    op.drop_index("ix_passkey_account_id", table_name="passkey")
    op.drop_table("passkey")
    # Passkey entries and their method cannot outlive the kind.
    op.execute("DELETE FROM challenge WHERE secondary_auth_id IN "
               "(SELECT id FROM secondary_auth WHERE kind = 'passkey')")
    op.execute("DELETE FROM entry WHERE secondary_auth_id IN "
               "(SELECT id FROM secondary_auth WHERE kind = 'passkey')")
    op.execute("DELETE FROM secondary_auth WHERE kind = 'passkey'")
    with op.batch_alter_table("secondary_auth") as batch_op:
        batch_op.drop_constraint("ck_secondary_auth_kind", type_="check")
        batch_op.create_check_constraint("ck_secondary_auth_kind", "kind IN ('code', 'totp')")
