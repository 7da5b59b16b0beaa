"""delivery status, the per-country budget, fallback providers

* ``delivery.status`` (queued | sent | delivered | undelivered | failed), ``error_code``
  and ``updated_at``: what the provider reported last (Twilio's status callbacks), found
  by ``provider_message_id``; rows from before stay "sent".
* ``delivery.country``: the ISO region of an SMS destination, counted by
  ``[sms] max_per_country_per_hour``.
* ``secondary_auth_fallback``: the providers that send a method's code, in order, when
  the ones before fail or are over their cap.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from alembic import op
import sqlalchemy as sa

from twofa_cli.store.models import UTCDateTime


revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

STATUSES = "status IN ('queued', 'sent', 'delivered', 'undelivered', 'failed')"


def upgrade() -> None:
    with op.batch_alter_table("delivery") as batch_op:
        batch_op.add_column(sa.Column("status", sa.String(length=12), nullable=False,
                                      server_default="sent"))
        batch_op.add_column(sa.Column("error_code", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("updated_at", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("country", sa.String(length=2), nullable=False,
                                      server_default=""))
        batch_op.create_check_constraint("ck_delivery_status", STATUSES)
    op.create_index("ix_delivery_country_sent_at", "delivery", ["country", "sent_at"])
    op.create_index("ix_delivery_provider_message_id", "delivery", ["provider_message_id"])
    op.create_table(
        "secondary_auth_fallback",
        sa.Column("secondary_auth_id", sa.Integer(), sa.ForeignKey("secondary_auth.id"),
                  primary_key=True),
        sa.Column("position", sa.Integer(), primary_key=True),
        sa.Column("provider_id", sa.Integer(), sa.ForeignKey("provider.id"), nullable=False),
    )
    op.create_index("ix_secondary_auth_fallback_provider_id", "secondary_auth_fallback",
                    ["provider_id"])


def downgrade() -> None:
    op.drop_index("ix_secondary_auth_fallback_provider_id", table_name="secondary_auth_fallback")
    op.drop_table("secondary_auth_fallback")
    op.drop_index("ix_delivery_provider_message_id", table_name="delivery")
    op.drop_index("ix_delivery_country_sent_at", table_name="delivery")
    with op.batch_alter_table("delivery") as batch_op:
        batch_op.drop_constraint("ck_delivery_status", type_="check")
        for column in ("country", "updated_at", "error_code", "status"):
            batch_op.drop_column(column)
