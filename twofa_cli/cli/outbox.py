"""``twofa outbox``: messages "sent" in simulate mode."""

from __future__ import annotations

from typing import Annotated

import typer

from twofa_cli.api import OutboxMessage
from twofa_cli.cli.output import JsonOpt, columns_of, emit, plain, twofa

COLUMNS = columns_of(OutboxMessage)


def outbox(
    ctx: typer.Context,
    to: Annotated[str | None, typer.Option("--to", help="Only messages to this destination.",
                                           show_default=False)] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000, help="Newest N messages.")] = 20,
    json_: JsonOpt = False,
) -> None:
    """Show simulated messages, newest first, with their codes."""
    emit(plain(twofa(ctx).outbox(to=to, limit=limit)), as_json=json_, columns=COLUMNS,
         title="Outbox")
