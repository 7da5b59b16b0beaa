"""authenticator apps (TOTP), the preferred entry, recovery codes

* ``secondary_auth.kind``: ``code`` (a code sent through a provider) or ``totp`` (an
  authenticator app); a TOTP method has no provider, so ``provider_id`` may be NULL.
* ``entry.secret`` / ``entry.last_step``: a TOTP entry's Fernet-encrypted secret and the
  last time step accepted; ``entry.preferred``: the entry a login uses.
* ``challenge.secret``: the secret of a TOTP enrolment until ``verify`` proves it.
* the ``recovery_code`` table: recovery codes, kept as an HMAC under a random key of
  their set, itself stored Fernet-encrypted in each row.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from alembic import op
import sqlalchemy as sa

from twofa_cli.store.models import UTCDateTime


revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("secondary_auth") as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=8), nullable=False,
                                      server_default="code"))
        batch_op.alter_column("provider_id", existing_type=sa.Integer(), nullable=True)
        batch_op.create_check_constraint("ck_secondary_auth_kind", "kind IN ('code', 'totp')")
    op.add_column("entry", sa.Column("secret", sa.String(), nullable=False, server_default=""))
    op.add_column("entry", sa.Column("last_step", sa.BigInteger(), nullable=True))
    op.add_column("entry", sa.Column("preferred", sa.Boolean(), nullable=False,
                                     server_default="0"))
    op.add_column("challenge", sa.Column("secret", sa.String(), nullable=False,
                                         server_default=""))
    op.create_table(
        "recovery_code",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("code_hmac", sa.String(length=64), nullable=False),
        sa.Column("recovery_key", sa.String(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("account_id", "code_hmac"),
    )
    op.create_index("ix_recovery_code_account_id", "recovery_code", ["account_id"])


def downgrade() -> None:
    op.drop_index("ix_recovery_code_account_id", table_name="recovery_code")
    op.drop_table("recovery_code")
    with op.batch_alter_table("challenge") as batch_op:
        batch_op.drop_column("secret")
    with op.batch_alter_table("entry") as batch_op:
        batch_op.drop_column("preferred")
        batch_op.drop_column("last_step")
        batch_op.drop_column("secret")
    op.execute("DELETE FROM secondary_auth WHERE kind = 'totp'")
    with op.batch_alter_table("secondary_auth") as batch_op:
        batch_op.drop_constraint("ck_secondary_auth_kind", type_="check")
        batch_op.alter_column("provider_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("kind")
