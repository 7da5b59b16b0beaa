"""``twofa audit``: the audit trail."""

from __future__ import annotations

from typing import Annotated

import typer

from twofa_cli.api import AuditEvent
from twofa_cli.cli.output import JsonOpt, columns_of, emit, plain, twofa

COLUMNS = columns_of(AuditEvent)


def audit(
    ctx: typer.Context,
    account: Annotated[str | None, typer.Option("--account", help="Only this account (id or email).",
                                                show_default=False)] = None,
    action: Annotated[str | None, typer.Option("--action", help="Only this action (provider.add).",
                                               show_default=False)] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=100_000, help="Newest N rows.")] = 50,
    offset: Annotated[int, typer.Option("--offset", min=0, help="Skip the newest N rows.")] = 0,
    json_: JsonOpt = False,
) -> None:
    """Show the audit trail, newest first: admin changes and customer events."""
    emit(plain(twofa(ctx).audit(account=account, action=action, limit=limit, offset=offset)),
         as_json=json_, columns=COLUMNS, title="Audit trail")
