"""count sends per canonical budget, fold the case of email destinations, escalate locks

* ``delivery.budget``: the per-destination cap now counts a budget key (the
  canonical destination, and for a login to the account's own verified entry, a
  budget of that account apart) instead of the raw spelling. Rows written before
  get the lower-cased destination: they only matter for the hour after upgrading.
* ``entry.destination`` and pending ``challenge.destination``: emails are stored
  case-folded, so entry uniqueness no longer depends on how the address was typed.
  An entry whose folded address another entry of the same account and method
  already has keeps its spelling (it still works; deleting one of them tidies up).
* ``account.lockouts``: locks since the last success, for the escalating lock.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from alembic import op
import sqlalchemy as sa


revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("account", sa.Column("lockouts", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("delivery", sa.Column("budget", sa.String(length=300), nullable=False,
                                        server_default=""))
    op.execute("UPDATE delivery SET budget = lower(destination)")
    op.drop_index("ix_delivery_destination_sent_at", table_name="delivery")
    op.create_index("ix_delivery_budget_sent_at", "delivery", ["budget", "sent_at"])
    _fold_email_destinations()


def downgrade() -> None:
    op.drop_index("ix_delivery_budget_sent_at", table_name="delivery")
    op.create_index("ix_delivery_destination_sent_at", "delivery", ["destination", "sent_at"])
    with op.batch_alter_table("delivery") as batch_op:
        batch_op.drop_column("budget")
    with op.batch_alter_table("account") as batch_op:
        batch_op.drop_column("lockouts")


def _fold_email_destinations() -> None:
    connection = op.get_bind()
    entries = connection.execute(sa.text(
        "SELECT id, account_id, secondary_auth_id, destination FROM entry ORDER BY id")).all()
    taken = {(e.account_id, e.secondary_auth_id, e.destination) for e in entries}
    for entry in entries:
        folded = entry.destination.lower()
        key = (entry.account_id, entry.secondary_auth_id, folded)
        if "@" in entry.destination and folded != entry.destination and key not in taken:
            connection.execute(sa.text("UPDATE entry SET destination = :d WHERE id = :id"),
                               {"d": folded, "id": entry.id})
            taken.add(key)
    pending = connection.execute(sa.text(
        "SELECT id, destination FROM challenge WHERE status = 'pending' AND destination LIKE '%@%'"
    )).all()
    for challenge in pending:
        if challenge.destination != challenge.destination.lower():
            connection.execute(sa.text("UPDATE challenge SET destination = :d WHERE id = :id"),
                               {"d": challenge.destination.lower(), "id": challenge.id})
