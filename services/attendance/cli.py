"""``probidad attendance …``: import a platform's attendance report, show a check-in code, close a session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, SpinnerColumn, TextColumn, TransferSpeedColumn
from rich.table import Table

app = typer.Typer(help="Attendance: platform reports, check-in codes, closing sessions.", no_args_is_help=True)
console = Console()

URL = typer.Option(None, "--url", envvar="PROBIDAD_ATTENDANCE_URL", show_default=False,
                   help="Attendance service URL; default: where the platform `probidad up` runs from "
                   "$PROBIDAD_STATE_DIR (./.probidad) answers, else http://127.0.0.1:8002.")
TOKEN = typer.Option(None, "--token", envvar="PROBIDAD_TOKEN",
                     help="Bearer token (probidad token issue --role instructor --instructor ID).")
CHUNK = 64 * 1024


def _headers(token: str | None) -> dict[str, str]:
    if not token:
        console.print("[red]error:[/] give --token or set PROBIDAD_TOKEN (see: probidad token issue --help)")
        raise typer.Exit(2)
    return {"Authorization": f"Bearer {token}"}


def _send(method: str, url: str | None, path: str, **options: Any) -> httpx.Response:
    """The request to the attendance service (see ``service_url`` for where it is found); unreachable,
    the error names the address tried and where it came from."""
    from probidad.ops.platform import service_url

    address, why = service_url("attendance", url)
    try:
        return httpx.request(method, f"{address}{path}", **options)
    except httpx.TransportError as error:
        console.print(f"[red]could not reach the attendance service at {escape(address)} ({escape(why)}):[/] "
                      f"{escape(str(error))}", highlight=False)
        raise typer.Exit(1) from error


def _fail(response: httpx.Response) -> None:
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        detail = response.text
    console.print(f"[red]refused ({response.status_code}):[/] {detail}")
    raise typer.Exit(1)


@app.command("import")
def import_report(
    session: str = typer.Argument(..., help="Session id."),
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="The exported report."),
    format: str = typer.Option("auto", "--format", help="auto, zoom, teams, meet or csv."),  # noqa: A002
    reason: str | None = typer.Option(None, "--reason", help="Why, when the session is already closed (a correction)."),
    url: str | None = URL,
    token: str | None = TOKEN,
) -> None:
    """Upload a Zoom/Teams/Meet attendance report and show who matched and who did not."""
    if format not in ("auto", "zoom", "teams", "meet", "csv"):
        raise typer.BadParameter("must be auto, zoom, teams, meet or csv", param_hint="--format")
    headers = {**_headers(token), "Content-Type": "application/octet-stream"}
    size = file.stat().st_size
    params = {"format": format, **({"reason": reason} if reason else {})}
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                  TransferSpeedColumn(), console=console, transient=True) as progress:
        upload = progress.add_task(f"uploading {file.name}", total=size)

        def chunks() -> Iterator[bytes]:
            with file.open("rb") as handle:
                while chunk := handle.read(CHUNK):
                    progress.advance(upload, len(chunk))
                    yield chunk
            progress.update(upload, description="merging intervals and matching servants")

        response = _send("POST", url, f"/sessions/{session}/reports", params=params, content=chunks(),
                         headers={**headers, "Content-Length": str(size)}, timeout=300)
    if response.status_code != 201:
        _fail(response)
    summary = response.json()
    console.print(f"[bold]{summary['format']}[/] report: {summary['rows']} rows, {summary['matched_rows']} matched "
                  f"to {len(summary['servants'])} servants, {len(summary['unmatched'])} unmatched, "
                  f"{len(summary['ignored'])} ignored")
    table = Table("servant", "minutes in session")
    for servant, minutes in summary["servants"].items():
        table.add_row(servant, str(minutes))
    console.print(table)
    if summary["unmatched"]:
        unmatched = Table("line", "name", "e-mail", "why not matched", title="Rows that matched no enrolled servant")
        for row in summary["unmatched"]:
            unmatched.add_row(str(row["line"]), row["name"], row["email"] or "", row["reason"])
        console.print(unmatched)
    for row in summary["ignored"]:
        console.print(f"[dim]line {row['line']} ignored: {row['reason']}[/]")
    for warning in summary["warnings"]:
        console.print(f"[yellow]warning:[/] {warning}")
    for c in summary["corrections"]:
        console.print(f"corrected {c['servant_id']}: {c['minutes_before']} min {c['status_before']} → "
                      f"{c['minutes_after']} min {c['status_after']}")


@app.command("check-in-code")
def check_in_code(session: str = typer.Argument(...), url: str | None = URL, token: str | None = TOKEN) -> None:
    """The code to display in the room for self check-in."""
    response = _send("GET", url, f"/sessions/{session}/check-in-code", headers=_headers(token), timeout=30)
    if response.status_code != 200:
        _fail(response)
    body = response.json()
    console.print(f"[bold]{body['code']}[/]  (valid {body['valid_from']} – {body['valid_until']})")


@app.command("close")
def close(session: str = typer.Argument(...), url: str | None = URL, token: str | None = TOKEN) -> None:
    """Close a session: its attendance becomes final and is published."""
    response = _send("POST", url, f"/sessions/{session}/close", headers=_headers(token), timeout=60)
    if response.status_code != 200:
        _fail(response)
    body = response.json()
    console.print(f"closed {body['session_id']}: {body['present']} of {body['enrolled']} enrolled present, "
                  f"{body['graded']} graded")
