"""``probidad enrollment import FILE``: load an HR department's CSV of servants (and enrolments).

The file goes to the service's bulk endpoint in chunks, so the same rules apply as for any other
request; each row commits on its own and the report says, per line, what was accepted and why the
rest was rejected. Column names may be in English or Spanish (curp, nombre, correo, sexo, puesto,
nivel, institucion, sesion…); split name columns (nombres, apellido paterno, apellido materno) are joined.
"""

from __future__ import annotations

import asyncio
import csv
import io
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import typer
from probidad.shared.csvcells import cell
from probidad.shared.uploads import header_key, sniffed_dialect
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

app = typer.Typer(help="Enrollment: bulk import of servants and enrolments.", no_args_is_help=True)

FIELDS = ("institution_id", "name", "curp", "email", "sex", "position", "position_level", "session_id")
ALIASES = {
    "curp": "curp",
    "name": "name", "nombre": "name", "nombre completo": "name", "full name": "name",
    "given names": "given_names", "nombres": "given_names", "nombre s": "given_names",
    "apellido paterno": "first_surname", "primer apellido": "first_surname",
    "apellido materno": "second_surname", "segundo apellido": "second_surname",
    "email": "email", "e mail": "email", "mail": "email", "correo": "email", "correo electronico": "email",
    "sex": "sex", "sexo": "sex", "genero": "sex",
    "position": "position", "puesto": "position", "cargo": "position",
    "position level": "position_level", "nivel": "position_level", "nivel de puesto": "position_level",
    "nivel puesto": "position_level",
    "institution": "institution_id", "institution id": "institution_id", "institucion": "institution_id",
    "id institucion": "institution_id", "dependencia": "institution_id",
    "session": "session_id", "session id": "session_id", "sesion": "session_id", "id sesion": "session_id",
}


def read_rows(text: str) -> list[dict]:
    """Rows of a CSV export as import rows, with the file line each came from."""
    reader = csv.DictReader(io.StringIO(text), dialect=sniffed_dialect(text))
    columns = {header: ALIASES.get(header_key(header or "")) for header in reader.fieldnames or []}
    if "curp" not in columns.values():
        raise ValueError("the file has no CURP column (expected a header such as 'curp')")
    rows = []
    for raw in reader:
        mapped: dict[str, str] = {}
        for header, value in raw.items():
            target = columns.get(header)
            if target and value is not None and value.strip():
                mapped[target] = value.strip()
        if not any(mapped.values()):
            continue  # blank line
        split_name = " ".join(mapped.pop(p, "") for p in ("given_names", "first_surname", "second_surname")).strip()
        if split_name and not mapped.get("name"):
            mapped["name"] = " ".join(split_name.split())
        rows.append({"line": reader.line_num, **{k: v for k, v in mapped.items() if k in FIELDS}})
    return rows


async def import_rows(client: httpx.AsyncClient, rows: list[dict], *, chunk_size: int = 200,
                      on_progress: Callable[[int], None] | None = None) -> dict:
    """Send the rows in chunks to ``POST /servants/import``; the merged report of every row."""
    results: list[dict] = []
    for start in range(0, len(rows), chunk_size):
        chunk = rows[start:start + chunk_size]
        response = await client.post("/servants/import", json={"rows": chunk})
        if response.status_code != 200:
            raise RuntimeError(f"the service answered {response.status_code}: {response.text[:500]}")
        results.extend(response.json()["results"])
        if on_progress:
            on_progress(len(chunk))
    accepted = sum(1 for r in results if r["accepted"])
    return {"accepted": accepted, "rejected": len(results) - accepted, "results": results}


def _default_token() -> str:
    # An operator holding the platform secret acts as the comptroller; liaisons pass their own --token.
    from probidad.shared.auth import issue_token
    from probidad.shared.settings import ServiceSettings

    return issue_token(ServiceSettings().jwt_secret.get_secret_value(), "comptroller", subject="csv-import")


def render_report(report: dict, console: Console, *, only_rejected: bool = False) -> None:
    table = Table(title="Import report", show_lines=False)
    for column in ("line", "outcome", "servant", "enrolment", "field", "reason"):
        table.add_column(column)
    for r in report["results"]:
        if only_rejected and r["accepted"]:
            continue
        if r["accepted"]:
            enrolment = ""
            if r.get("enrolment"):
                enrolment = r["enrolment"] + (f" (#{r['waitlist_position']})" if r.get("waitlist_position") else "")
            table.add_row(str(r["line"]), f"[green]accepted[/] ({r['servant']})", r["servant_id"], enrolment, "", "")
        else:
            table.add_row(str(r["line"]), "[red]rejected[/]", "", "", r.get("field") or "", r.get("reason") or "")
    console.print(table)
    console.print(f"[bold]{report['accepted']} accepted, {report['rejected']} rejected[/] "
                  f"of {report['accepted'] + report['rejected']} rows")


def write_report_csv(report: dict, path: Path) -> None:
    columns = ["line", "accepted", "servant_id", "servant", "enrolment_id", "enrolment", "waitlist_position",
               "field", "reason"]
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        # A reason quotes what the HR file said (a name typed "=…", say): written as text, never a formula.
        writer.writerows({k: cell(v) for k, v in row.items()} for row in report["results"])


@app.command("import")
def import_command(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="CSV exported by HR."),
    url: str | None = typer.Option(None, envvar="PROBIDAD_ENROLLMENT_URL", show_default=False,
                                   help="Enrollment service; default: where the platform `probidad up` runs "
                                   "from $PROBIDAD_STATE_DIR (./.probidad) answers, else http://127.0.0.1:8001."),
    token: str | None = typer.Option(None, envvar="PROBIDAD_TOKEN",
                                     help="Bearer token (probidad token issue); a comptroller token when omitted."),
    chunk_size: int = typer.Option(200, min=1, max=1000, help="Rows per request."),
    report: Path | None = typer.Option(None, help="Also write the per-row report to this CSV file."),
    only_rejected: bool = typer.Option(False, help="List only the rejected rows."),
) -> None:
    """Register the servants of a CSV file (and enrol those with a session); report every row."""
    console = Console()
    try:
        rows = read_rows(file.read_text(encoding="utf-8-sig"))
    except (ValueError, UnicodeDecodeError, csv.Error) as error:
        console.print(f"[red]cannot read {file}: {error}[/]")
        raise typer.Exit(2) from error

    from probidad.ops.platform import service_url

    address, why = service_url("enrollment", url)

    async def run() -> dict:
        headers = {"Authorization": f"Bearer {token or _default_token()}"}
        async with httpx.AsyncClient(base_url=address, headers=headers, timeout=120) as client:
            with Progress(TextColumn("importing {task.fields[name]}"), BarColumn(), MofNCompleteColumn(),
                          TimeElapsedColumn(), console=console, transient=not sys.stdout.isatty()) as progress:
                task = progress.add_task("rows", total=len(rows), name=file.name)
                return await import_rows(client, rows, chunk_size=chunk_size,
                                         on_progress=lambda n: progress.advance(task, n))

    try:
        outcome = asyncio.run(run())
    except httpx.TransportError as error:
        console.print(f"[red]import failed: could not reach the enrollment service at {escape(address)} "
                      f"({escape(why)}): {escape(str(error))}[/]", highlight=False)
        raise typer.Exit(2) from error
    except (httpx.HTTPError, RuntimeError) as error:
        console.print(f"[red]import failed ({escape(address)}): {escape(str(error))}[/]")
        raise typer.Exit(2) from error
    render_report(outcome, console, only_rejected=only_rejected)
    if report:
        write_report_csv(outcome, report)
    raise typer.Exit(1 if outcome["rejected"] else 0)
