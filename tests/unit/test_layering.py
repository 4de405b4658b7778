"""The service template's layering, read from the source tree (CONTRIBUTING.md, "The shape of a service").

Every import is read from the syntax tree, wherever it stands (module level, inside a function, under
``if TYPE_CHECKING:``), relative imports resolved; nothing is imported or run. Each failure lists
``path:line`` and what that line imports, so the message alone says what to move.
"""

from __future__ import annotations

import ast
import os
import re
import sys
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path, PurePosixPath

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("attendance", "certification", "enrollment", "reporting")
SQL_LIBRARIES = frozenset({"sqlalchemy", "sqlmodel", "duckdb", "asyncpg", "aiosqlite"})
MAX_SERVICE_MODULE_LINES = 500
# path (from the repository root) -> why it may be longer. Every entry is a debt with its reason written down.
LONG_MODULES_ALLOWED: dict[str, str] = {}
# Directories that hold no source of the project's own.
NOT_SOURCE = frozenset({".git", ".venv", ".probidad", ".mypy_cache", ".ruff_cache", "build", "dist", "__pycache__",
                        "node_modules"})
# A noqa marker naming an annotation rule (ANN001, ANN201, ...): annotate instead. Written so that this file
# does not match itself.
ANNOTATION_NOQA = re.compile(r"#\s*noqa\s*:[^#\n]*\bANN\d{3}\b")


@dataclass(frozen=True)
class Import:
    """One imported name: ``module`` is what the statement names; ``candidates`` are the modules it may load
    (``from a.b import c`` loads ``a.b`` and, if ``c`` is a submodule, ``a.b.c``)."""

    line: int
    module: str
    candidates: tuple[str, ...]

    def __str__(self) -> str:
        return self.candidates[-1] if self.candidates else self.module

    @property
    def loads(self) -> str:
        """The module of the project this import loads: the submodule when a file of that name exists, else the
        module named (``from .context import repository`` may take a function named repository)."""
        return next((name for name in reversed(self.candidates) if is_project_module(name)), self.module)


@dataclass(frozen=True)
class Module:
    path: PurePosixPath  # from the repository root
    name: str  # dotted
    imports: tuple[Import, ...]
    lines: int

    @property
    def parts(self) -> tuple[str, ...]:
        return self.path.with_suffix("").parts


def module_name(path: PurePosixPath) -> str:
    parts = list(path.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def read_imports(source: str, name: str, is_package: bool) -> tuple[Import, ...]:
    """Every import statement of a module's source, relative ones made absolute."""
    package = name if is_package else name.rpartition(".")[0]
    found: list[Import] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend(Import(node.lineno, alias.name, (alias.name,)) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".") if package else []
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join([*base_parts, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            for alias in node.names:
                submodule = () if alias.name == "*" else (f"{base}.{alias.name}",)
                found.append(Import(node.lineno, base, (base, *submodule)))
    return tuple(sorted(found, key=lambda i: i.line))


def source_files(top: Path) -> list[Path]:
    """The .py files under ``top``, never descending into environments, caches or build output."""
    found = []
    for directory, subdirectories, files in os.walk(top):
        subdirectories[:] = sorted(d for d in subdirectories if d not in NOT_SOURCE and not d.startswith("."))
        found.extend(Path(directory) / name for name in sorted(files) if name.endswith(".py"))
    return found


@cache
def modules(top: str) -> tuple[Module, ...]:
    found = []
    for path in source_files(ROOT / top):
        relative = PurePosixPath(path.relative_to(ROOT).as_posix())
        source = path.read_text(encoding="utf-8")
        name = module_name(relative)
        found.append(Module(relative, name, read_imports(source, name, relative.name == "__init__.py"),
                            len(source.splitlines())))
    return tuple(found)


@cache
def is_project_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def top_level(module: str) -> str:
    return module.partition(".")[0]


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def service_of(module: Module) -> str | None:
    return module.parts[1] if module.parts[0] == "services" and len(module.parts) > 2 else None


def is_domain(module: Module) -> bool:
    """A service's pure domain: a ``domain.py`` module or anything in a ``domain/`` package, at any depth."""
    return module.parts[0] == "services" and "domain" in module.parts[2:]


def is_domain_name(name: str, service: str) -> bool:
    parts = name.split(".")
    return parts[:2] == ["services", service] and "domain" in parts[2:]


def speaks_sql(module: Module) -> bool:
    """Where a service may use the SQL libraries: its repositories, its tables and its migrations."""
    stem = module.parts[-1]
    return (stem in {"repository", "tables"} or stem.endswith("_repository")
            or (len(module.parts) > 3 and module.parts[2] == "migrations"))


def is_repository_name(name: str) -> bool:
    last = name.rpartition(".")[2]
    return last in {"repository", "tables"} or last.endswith("_repository")


def has_role(module: Module, *roles: str) -> bool:
    """A module playing one of the template's roles: ``handlers.py``, or a module in a ``handlers/`` package."""
    return module.parts[0] == "services" and any(part in roles for part in module.parts[2:])


def refuse(offences: list[str], rule: str) -> None:
    """Fail naming every offence, one per line (without pytest repeating the list as the asserted expression)."""
    if offences:
        pytest.fail(f"{rule} ({len(offences)}):\n  " + "\n  ".join(offences), pytrace=False)


def offending(module: Module, imported: Import) -> str:
    return f"{module.path}:{imported.line} imports {imported}"


STDLIB = frozenset(sys.stdlib_module_names)


# ---------------------------------------------------------------- the reader itself


def test_the_import_reader_sees_imports_in_functions_under_type_checking_and_relative_ones() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from sqlalchemy.ext.asyncio import AsyncSession\n"
        "def load() -> None:\n"
        "    import services.enrollment.repository\n"
        "from . import repository\n"
        "from ..shared import errors\n"
    )
    imports = read_imports(source, "services.attendance.sessions.handlers", is_package=False)
    candidates = {name for imported in imports for name in imported.candidates}
    assert "sqlalchemy.ext.asyncio" in candidates
    assert "services.enrollment.repository" in candidates
    assert "services.attendance.sessions.repository" in candidates
    assert "services.attendance.shared.errors" in candidates


def test_the_source_tree_is_read() -> None:
    service_modules = modules("services")
    assert {service_of(m) for m in service_modules} >= set(SERVICES)
    assert any(is_domain(m) for m in service_modules)
    assert modules("contracts") and modules("probidad")


# ---------------------------------------------------------------- the rules


def test_every_service_keeps_its_pure_rules_in_a_domain_module_or_package() -> None:
    with_domain = {service_of(m) for m in modules("services") if is_domain(m)}
    offences = [f"services/{service}: no domain.py nor domain/ package" for service in SERVICES
                if service not in with_domain]
    refuse(offences, "the pure rules live in domain.py or a domain/ package, where mypy --strict and these rules "
                     "find them")


def test_no_service_imports_another_service() -> None:
    offences = [
        offending(module, imported)
        for module in modules("services")
        if (service := service_of(module))
        for imported in module.imports
        if any(within(name, "services") and name.split(".")[1:2] not in ([], [service])
               for name in imported.candidates)
    ]
    refuse(offences, "a service imports another service; it may only read their events")


# The shared modules a domain may use: pure, as the domains are (the one error, the one upload reader, the one
# retry rule).
PURE_SHARED = ("probidad.shared.errors", "probidad.shared.uploads", "probidad.shared.retries")


def test_domain_modules_import_only_the_standard_library_contracts_and_the_shared_pure_modules() -> None:
    def allowed(name: str, service: str) -> bool:
        return (top_level(name) in STDLIB or within(name, "contracts") or any(within(name, m) for m in PURE_SHARED)
                or is_domain_name(name, service))

    offences = [
        offending(module, imported)
        for module in modules("services")
        if is_domain(module) and (service := service_of(module))
        for imported in module.imports
        # `from probidad.shared import errors` names a package that is not allowed and a module that is
        if not (allowed(imported.module, service) or any(allowed(n, service) for n in imported.candidates[1:]))
    ]
    refuse(offences, f"a domain module imports beyond stdlib, contracts and {', '.join(PURE_SHARED)}")


def test_the_shared_modules_domains_use_are_pure_themselves() -> None:
    offences = [
        offending(module, imported)
        for module in modules("probidad/shared")
        if module.name in PURE_SHARED
        for imported in module.imports
        if not (top_level(imported.module) in STDLIB or any(within(imported.module, m) for m in PURE_SHARED))
    ]
    refuse(offences, "a shared module domains may import reaches beyond the standard library")


def test_only_repository_tables_and_migrations_modules_import_the_sql_libraries() -> None:
    offences = [
        offending(module, imported)
        for module in modules("services") + modules("contracts")
        if not (service_of(module) and speaks_sql(module))
        for imported in module.imports
        if top_level(imported.module) in SQL_LIBRARIES
    ]
    refuse(offences, "SQL outside repository.py, *_repository.py, tables.py and migrations/")


def test_handlers_views_api_and_subscribers_never_import_sqlalchemy() -> None:
    offences = [
        offending(module, imported)
        for module in modules("services")
        if has_role(module, "handlers", "views", "api", "subscribers")
        for imported in module.imports
        if top_level(imported.module) in {"sqlalchemy", "sqlmodel"}
    ]
    refuse(offences, "handlers, views, api and subscribers reach storage through a repository")


def test_handlers_never_import_repository_or_tables_modules() -> None:
    offences = [
        offending(module, imported)
        for module in modules("services")
        if has_role(module, "handlers")
        for imported in module.imports
        if within(imported.loads, "services") and is_repository_name(imported.loads)
    ]
    refuse(offences, "a handler takes the repository Protocol (ports.py), never the SQL class")


def test_shared_plumbing_imports_no_service_and_no_operator_tooling() -> None:
    offences = [
        offending(module, imported)
        for module in modules("probidad")
        if within(module.name, "probidad.shared")
        for imported in module.imports
        if any(within(n, "services") or within(n, "probidad.ops") for n in imported.candidates)
    ]
    refuse(offences, "probidad.shared imports a service or probidad.ops (which stand above it)")


def test_contracts_import_nothing_from_services_or_probidad() -> None:
    offences = [
        offending(module, imported)
        for module in modules("contracts")
        for imported in module.imports
        if top_level(imported.module) in {"services", "probidad"}
    ]
    refuse(offences, "contracts import from services or probidad (contracts stand below both)")


def test_no_module_under_services_is_longer_than_500_lines() -> None:
    offences = [
        f"{module.path}: {module.lines} lines"
        for module in modules("services")
        if module.lines > MAX_SERVICE_MODULE_LINES and str(module.path) not in LONG_MODULES_ALLOWED
    ]
    refuse(offences, f"modules over {MAX_SERVICE_MODULE_LINES} lines: split them by area")


def test_the_long_module_exceptions_name_modules_that_are_still_long() -> None:
    stale = [path for path in LONG_MODULES_ALLOWED
             if not (ROOT / path).exists()
             or len((ROOT / path).read_text(encoding="utf-8").splitlines()) <= MAX_SERVICE_MODULE_LINES]
    refuse(stale, "exceptions no longer needed: remove them from LONG_MODULES_ALLOWED")


def test_no_noqa_marker_silences_a_missing_annotation() -> None:
    offences = []
    for path in source_files(ROOT):
        relative = path.relative_to(ROOT)
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if ANNOTATION_NOQA.search(line):
                offences.append(f"{relative}:{number}: {line.strip()}")
    refuse(offences, "annotate the function instead of silencing the annotation rule")


def test_every_service_has_a_lint_configuration_banning_the_sql_libraries_and_the_other_services() -> None:
    offences = []
    for service in (p.name for p in sorted((ROOT / "services").iterdir()) if (p / "__init__.py").exists()):
        config = ROOT / "services" / service / "ruff.toml"
        if not config.exists():
            offences.append(f"services/{service}/ruff.toml: missing")
            continue
        tidy = tomllib.loads(config.read_text(encoding="utf-8")).get("lint", {}).get("flake8-tidy-imports", {})
        others = {f"services.{other}" for other in SERVICES if other != service}
        missing = (SQL_LIBRARIES | others) - set(tidy.get("banned-api", {}))
        if missing:
            offences.append(f"services/{service}/ruff.toml: banned-api lacks {', '.join(sorted(missing))}")
        missing = others - set(tidy.get("banned-module-level-imports", []))
        if missing:
            offences.append(f"services/{service}/ruff.toml: banned-module-level-imports lacks "
                            f"{', '.join(sorted(missing))} (its SQL modules are exempt from banned-api)")
    refuse(offences, "each service's ruff.toml extends the root and bans SQL and the others")
