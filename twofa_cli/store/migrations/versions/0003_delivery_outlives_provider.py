"""keep the delivery log when its provider is removed

``twofa provider remove`` failed with a foreign-key error once the provider had
sent anything: every row of ``delivery`` pointed at it. Deleting those rows is
not the answer, since the per-destination hourly cap (SECURITY.md rule 7) counts
them whatever provider sent them. So ``delivery.provider_id`` now becomes NULL
when its provider goes.

SQLite cannot alter a foreign key in place: batch mode copies the table.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from alembic import op
import sqlalchemy as sa


revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

FK_NAME = "delivery_provider_id_fkey"  # PostgreSQL's own name for it, now on SQLite too
# SQLite keeps the 0002 foreign key unnamed; this names it on reflection so it can be dropped.
NAMING = {"fk": "%(table_name)s_%(column_0_name)s_fkey"}


def upgrade() -> None:
    _replace_provider_fk(ondelete="SET NULL")


def downgrade() -> None:
    _replace_provider_fk(ondelete=None)


def _replace_provider_fk(ondelete: str | None) -> None:
    with op.batch_alter_table("delivery", naming_convention=NAMING) as batch_op:
        batch_op.drop_constraint(FK_NAME, type_="foreignkey")
        batch_op.create_foreign_key(FK_NAME, "provider", ["provider_id"], ["id"], ondelete=ondelete)
