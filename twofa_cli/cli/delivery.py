"""``twofa delivery``: what happened to the messages providers took."""

from __future__ import annotations

from typing import Annotated

import typer

from twofa_cli.api import Delivery, DeliveryStats
from twofa_cli.cli.output import JsonOpt, columns_of, emit, plain, twofa

app = typer.Typer(help="Deliveries: each message's status as its provider reported it.",
                  no_args_is_help=True)
COLUMNS = columns_of(Delivery)
STATS_COLUMNS = columns_of(DeliveryStats)
STATUSES = ("queued", "sent", "delivered", "undelivered", "failed")


@app.command("list")
def list_(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(
        "--status", help=f"Only this status: {', '.join(STATUSES)}.", show_default=False)] = None,
    provider: Annotated[str | None, typer.Option(
        "--provider", help="Only this provider (id or title).", show_default=False)] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000,
                                       help="Newest N deliveries.")] = 50,
    json_: JsonOpt = False,
) -> None:
    """List deliveries, newest first.

    \b
    Example:
      twofa delivery list --status undelivered --provider "SMS"
    """
    if status is not None and status not in STATUSES:
        from twofa_cli.errors import BadInput

        raise BadInput(f"--status is one of {', '.join(STATUSES)}, not {status[:20]!r}")
    rows = twofa(ctx).deliveries(status=status, provider=provider,  # type: ignore[arg-type]
                                 limit=limit)
    emit(plain(rows), as_json=json_, columns=COLUMNS, title="Deliveries")


@app.command("stats")
def stats(
    ctx: typer.Context,
    hours: Annotated[int, typer.Option("--hours", min=1, max=24 * 366,
                                       help="Over the last N hours.")] = 24,
    json_: JsonOpt = False,
) -> None:
    """Per provider: messages sent, delivered, undelivered and failed.

    Only providers that report each message's fate (Twilio, with [web] public_url set)
    ever count a message as delivered, undelivered or failed.
    """
    emit(plain(twofa(ctx).delivery_stats(hours=hours)), as_json=json_, columns=STATS_COLUMNS,
         title=f"Deliveries, last {hours} h")
