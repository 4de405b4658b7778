"""``probidad token issue``: mint a bearer token for the HTTP APIs."""

from __future__ import annotations

import typer

from probidad.shared.auth import ROLES, issue_token
from probidad.shared.settings import ServiceSettings

app = typer.Typer(help="Bearer tokens for the HTTP APIs.", no_args_is_help=True)


@app.command("issue")
def issue(
    role: str = typer.Option(..., help=f"One of: {', '.join(ROLES)}."),
    institution: str | None = typer.Option(None, help="Institution id (required for liaison)."),
    instructor: str | None = typer.Option(None, help="Instructor id (required for instructor)."),
    subject: str | None = typer.Option(None, help="Who the token is for (appears in audit logs)."),
    days: int = typer.Option(30, min=1, max=366, help="Validity in days."),
) -> None:
    """Print a signed token (HS256 with PROBIDAD_JWT_SECRET)."""
    from datetime import timedelta

    settings = ServiceSettings()
    try:
        token = issue_token(settings.jwt_secret.get_secret_value(), role, subject=subject,  # type: ignore[arg-type]
                            institution_id=institution, instructor_id=instructor, ttl=timedelta(days=days))
    except ValueError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error
    typer.echo(token)
