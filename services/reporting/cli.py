"""``probidad reporting …``: operator commands of the reporting service."""

from __future__ import annotations

import asyncio
from typing import Any

import typer

app = typer.Typer(help="Reporting projections: rebuild, status.", no_args_is_help=True)


@app.command("rebuild")
def rebuild(batch_size: int = typer.Option(None, min=100, help="Facts per bulk insert (default from settings)."),
            workers: int = typer.Option(
                None, min=1, max=64, help="Processes reading and decoding the topics; 1 does it all in this process "
                "(default: 2 on a machine with 2 cores or more).")) -> None:
    """Replay every platform topic from offset 0 into a fresh store and swap it in, without a gap in service."""
    from rich.console import Console
    from rich.progress import (
        BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn,
    )

    from probidad.shared.database import Database
    from services.reporting.app import TOPICS
    from services.reporting.rebuild import RebuildReport, rebuild_from_kafka
    from services.reporting.settings import ReportingSettings

    settings = ReportingSettings()
    console = Console(stderr=True)

    async def run() -> RebuildReport:
        database = Database(settings.resolved_database_url)
        columns = (TextColumn("[bold]replaying[/]"), BarColumn(), MofNCompleteColumn(), TextColumn("events"),
                   TimeElapsedColumn(), TimeRemainingColumn())
        try:
            with Progress(*columns, console=console) as bar:
                task = bar.add_task("replay", total=None)
                report = await rebuild_from_kafka(
                    database, settings.kafka_bootstrap, [settings.topic(t) for t in TOPICS],
                    batch_size=batch_size or settings.rebuild_batch_size, workers=workers,
                    on_total=lambda total: bar.update(task, total=total),
                    progress=lambda done, _total: bar.update(task, completed=done))
        finally:
            await database.dispose()
        return report

    report = asyncio.run(run())
    console.print(f"generation {report.generation} swapped in (was {report.previous_generation}): "
                  f"{report.records:,} events read, {report.facts:,} facts, {report.invalid} invalid, "
                  f"{report.carried_over} applied live meanwhile; {report.seconds:.1f}s "
                  f"({report.records_per_second:,.0f} events/s)")


@app.command("status")
def status() -> None:
    """Show the generation served and how many facts it holds."""
    from probidad.shared.database import Database
    from services.reporting.settings import ReportingSettings
    from services.reporting.repository import pointer

    async def run() -> dict[str, Any]:
        database = Database(ReportingSettings().resolved_database_url)
        try:
            return await pointer(database)
        finally:
            await database.dispose()

    typer.echo(asyncio.run(run()))
