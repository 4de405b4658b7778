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


@app.command("fetch")
def fetch(
    client_id: str = typer.Option(..., help="The client the identity provider registered for you."),
    client_secret: str = typer.Option(..., envvar="PROBIDAD_OIDC_CLIENT_SECRET", prompt=True, hide_input=True,
                                      help="Its secret (or PROBIDAD_OIDC_CLIENT_SECRET; asked for when absent)."),
    issuer: str | None = typer.Option(None, help="The provider's issuer (default PROBIDAD_OIDC_ISSUER)."),
    audience: str | None = typer.Option(None, help="The platform's audience (default PROBIDAD_OIDC_AUDIENCE)."),
) -> None:
    """Print an access token from the identity provider (client_credentials grant), for the HTTP APIs."""
    import httpx

    settings = ServiceSettings()
    issuer = issuer or settings.oidc_issuer
    audience = audience or settings.oidc_audience
    if not issuer or not audience:
        typer.echo("error: name the provider: --issuer and --audience, or PROBIDAD_OIDC_ISSUER and "
                   "PROBIDAD_OIDC_AUDIENCE", err=True)
        raise typer.Exit(2)
    try:
        discovery = httpx.get(f"{issuer.rstrip('/')}/.well-known/openid-configuration", timeout=10)
        discovery.raise_for_status()
        answer = httpx.post(discovery.json()["token_endpoint"], auth=(client_id, client_secret), timeout=10,
                            data={"grant_type": "client_credentials", "audience": audience})
    except (httpx.HTTPError, ValueError, KeyError) as error:
        typer.echo(f"error: the identity provider at {issuer} could not be asked: {error}", err=True)
        raise typer.Exit(1) from error
    if answer.status_code != 200:
        typer.echo(f"error: the identity provider refused: {answer.status_code} {answer.text}", err=True)
        raise typer.Exit(1)
    typer.echo(answer.json()["access_token"])
