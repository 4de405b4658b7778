"""The unsubscribe page, from its Jinja2 template (services/enrollment/templates/unsubscribe.html)."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

_PAGES = Environment(loader=FileSystemLoader(Path(__file__).resolve().parents[1] / "templates"),
                     autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)


def unsubscribe_page(*, token: str, state: str) -> str:
    """``state``: confirm (the link was opened), done (unsubscribed) or invalid (a link cut short or forged)."""
    return _PAGES.get_template("unsubscribe.html").render(token=token, state=state)
