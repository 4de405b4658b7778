"""The ``probidad`` command line: one entry point for operators, liaisons and developers."""

from __future__ import annotations

import typer

app = typer.Typer(help="Probidad: integrity-training platform for a state comptroller.", no_args_is_help=True)


def _register_subcommands() -> None:
    # Each area contributes its own sub-app; an area not yet built simply is not listed.
    import importlib

    for module_name, command in (
        ("probidad.ops.kafkactl", "kafka"),
        ("probidad.ops.pgctl", "postgres"),
        ("probidad.ops.jaegerctl", "jaeger"),
        ("probidad.ops.hydractl", "hydra"),
        ("probidad.ops.ralphctl", "ralph"),
        ("probidad.ops.tokens", "token"),
        ("probidad.ops.agencies", "agency"),
        ("services.enrollment.cli", "enrollment"),
        ("services.attendance.cli", "attendance"),
        ("services.certification.cli", "certification"),
        ("services.reporting.cli", "reporting"),
        ("services.reporting.xapi.cli", "xapi"),
        ("probidad.ops.platform", "platform"),
        ("probidad.ops.migrate", "migrate"),
        ("probidad.ops.asyncapi", "asyncapi"),
        ("probidad.ops.stack", "stack"),
        ("probidad.ops.backup", "backup"),
        ("probidad.ops.gotools", "tools"),
        ("probidad.ops.mailsink", "mail-sink"),
        ("probidad.ops.notify", "notify"),
    ):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name != module_name:
                raise
            continue
        sub = getattr(module, "app", None)
        if isinstance(sub, typer.Typer):
            app.add_typer(sub, name=command)
        for name, fn in getattr(module, "TOP_LEVEL_COMMANDS", {}).items():
            app.command(name)(fn)


_register_subcommands()
