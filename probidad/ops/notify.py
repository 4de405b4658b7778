"""``probidad notify``: run the notice scheduler's round now, and send again a message an operator checked.

Talks to enrollment's HTTP API (``POST /notifications/run``), so the round is the one the service runs: under the
scheduler's lock, with the service's SMTP settings and database. The token is the comptroller's: ``--token``, else
``PROBIDAD_TOKEN``, else one signed with ``PROBIDAD_JWT_SECRET`` (development).
"""

from __future__ import annotations

from datetime import date
from typing import Any, NoReturn

import httpx
import typer

app = typer.Typer(help="E-mail digests and reminders: run the scheduler now, resend a message.", no_args_is_help=True)

URL = typer.Option(None, envvar="PROBIDAD_ENROLLMENT_URL", help=(
    "Enrollment's address (default: that of the platform `probidad up` runs, else http://127.0.0.1:8001)."))
TOKEN = typer.Option(None, envvar="PROBIDAD_TOKEN", help="A comptroller's bearer token (default: one signed with "
                     "PROBIDAD_JWT_SECRET).")


def _fail(message: str) -> NoReturn:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


def _post(path: str, *, url: str | None, token: str | None, timeout_s: float, **options: Any) -> dict:
    """POST to enrollment (found as ``service_url`` says) as the comptroller; its answer, or a clear exit."""
    from probidad.ops.demo import comptroller_token
    from probidad.ops.platform import service_url

    address = service_url("enrollment", url)[0]
    try:
        answer = httpx.post(f"{address}{path}", timeout=timeout_s, **options,
                            headers={"Authorization": f"Bearer {token or comptroller_token('probidad-notify')}"})
    except httpx.HTTPError as error:
        _fail(f"enrollment is not reachable at {address}: {error}")
    if answer.status_code != 200:
        _fail(f"enrollment answered {answer.status_code}: {answer.text}")
    return answer.json()


@app.command()
def run(
    now: bool = typer.Option(False, "--now", help="Run at once (the only way this command runs; kept explicit)."),
    on: str | None = typer.Option(None, help="The programme day to decide for, YYYY-MM-DD (default: today)."),
    send_only: bool = typer.Option(False, "--send-only", help="Only send what waits; decide nothing new."),
    url: str | None = URL,
    token: str | None = TOKEN,
) -> None:
    """Decide the digests and reminders due now and send every message that waits, then print what happened."""
    if not now:
        _fail("say --now: this command runs the scheduler's round at once (the service runs it on its own cadence)")
    params: dict[str, str] = {"decide": "false" if send_only else "true"}
    if on:
        try:
            params["on"] = date.fromisoformat(on).isoformat()
        except ValueError:
            _fail(f"--on: {on!r} is not a date (YYYY-MM-DD)")
    done = _post("/notifications/run", url=url, token=token, timeout_s=600, params=params)
    if not done["held_turn"]:
        typer.echo("another instance is running a round now; nothing was done here (try again in a moment)")
        return
    typer.echo(f"decided {done['decided']} new message(s); sent {done['sent']}, retrying {done['retrying']}, "
               f"bounced {done['bounced']}, failed {done['failed']}, uncertain {done['uncertain']}, "
               f"cancelled {done['cancelled']}")


@app.command()
def resend(
    message_id: str = typer.Argument(help="The message's id (its Message-ID, as GET /institutions/<id>/messages "
                                     "lists it)."),
    url: str | None = URL,
    token: str | None = TOKEN,
) -> None:
    """Queue an uncertain or failed message again, once you have checked it did not arrive."""
    _post(f"/mail/messages/{message_id}/resend", url=url, token=token, timeout_s=30)
    typer.echo(f"queued again: {message_id} (it goes with the scheduler's next round, or `probidad notify run --now`)")
