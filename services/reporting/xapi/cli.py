"""``probidad xapi …``: operator commands of reporting's xAPI projection (run with reporting's settings)."""

from __future__ import annotations

import asyncio
from datetime import datetime

import typer

app = typer.Typer(help="xAPI statements to a Learning Record Store (reporting's settings: PROBIDAD_LRS_*).",
                  no_args_is_help=True)


@app.command("backfill")
def backfill(since: datetime | None = typer.Option(None, formats=["%Y-%m-%d"], help="Send again only the learning "
                                                    "facts stated from this day (UTC) on; default: all of them.")
             ) -> None:
    """Send the platform's history from the topics (offset 0) to the LRS: what was sent is sent again under the
    same statement ids, and the LRS keeps one of each."""
    from services.reporting.app import TOPICS
    from services.reporting.settings import ReportingSettings
    from services.reporting.xapi.backfill import backfill as run_backfill

    settings = ReportingSettings()
    try:
        report = asyncio.run(run_backfill(settings, [settings.topic(t) for t in TOPICS],
                                          since=since.date() if since else None))
    except ValueError as error:
        typer.echo(f"Error: {error}", err=True)
        raise typer.Exit(1) from None
    status = report.status or {}
    typer.echo(f"{report.records:,} events read, {report.learning_facts:,} learning facts, {report.invalid} "
               f"invalid; statements: {status.get('sent', 0):,} sent, {status.get('pending', 0):,} waiting for "
               f"another attempt, {status.get('parked', 0):,} parked, {status.get('held', 0):,} facts held")
    if status.get("pending") or status.get("parked"):
        raise typer.Exit(2)
