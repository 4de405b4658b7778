"""Rows a certification unit of work changed or created, written together when it completes: changed rows
with one executemany UPDATE by primary key per table, created rows with one multi-row INSERT in the order
created (see ``repository``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Update, and_, bindparam, insert, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from services.certification.rows import Stored
from services.certification.tables import (
    AttendanceFact,
    CertificateRecord,
    CompetencyAttainment,
    CourseFact,
    EnrolmentFact,
    GradeFact,
    HolderFact,
    SessionFact,
    TransferFact,
)

CHUNK = 500  # rows per statement


class Pending:
    """A row created or changed in this unit of work, as plain attributes (written at completion)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)


# The tables whose rows the repository writes, in the order written.
_WRITTEN: tuple[type[SQLModel], ...] = (CourseFact, SessionFact, EnrolmentFact, TransferFact, HolderFact,
                                        AttendanceFact, GradeFact, CertificateRecord, CompetencyAttainment)


def _defaults(model: type[SQLModel]) -> dict[str, Any]:
    return {name: info.default for name, info in model.model_fields.items() if not info.is_required()}


_DEFAULTS = {model: _defaults(model) for model in _WRITTEN}
_KEYS = {model: tuple(column.name for column in model.__table__.primary_key.columns) for model in _WRITTEN}
_COLUMNS = {model: tuple(column.name for column in model.__table__.columns) for model in _WRITTEN}


def _update_by_key(model: type[SQLModel]) -> Update:
    table = model.__table__
    keys = _KEYS[model]
    return (update(table)
            .where(and_(*(table.c[name] == bindparam(f"key_{name}") for name in keys)))
            .values({name: bindparam(f"new_{name}") for name in _COLUMNS[model] if name not in keys}))


_UPDATES = {model: _update_by_key(model) for model in _WRITTEN}


class RowBatch:
    """The rows to write, by table: changed ones (UPDATE) and created ones (INSERT), by key."""

    def __init__(self) -> None:
        self.changed: dict[type, dict[tuple[Any, ...], Pending]] = {model: {} for model in _WRITTEN}
        self.created: dict[type, dict[tuple[Any, ...], Pending]] = {model: {} for model in _WRITTEN}

    def own(self, model: type, stored: Stored) -> Pending:
        """A mutable copy of a row read as a plain row, written back with an UPDATE."""
        if isinstance(stored, Pending):
            return stored
        row = Pending(stored._asdict())
        self.changed[model][tuple(getattr(row, name) for name in _KEYS[model])] = row
        return row

    def new(self, model: type, values: dict[str, Any]) -> Pending:
        """A row created here (the model's defaults for what is not given), INSERTed."""
        row = Pending({**_DEFAULTS[model], **values})
        self.created[model][tuple(getattr(row, name) for name in _KEYS[model])] = row
        return row

    def put(self, model: type, stored: Stored | None, values: dict[str, Any]) -> Pending:
        """``stored`` with ``values`` (a new row with them if nothing is stored)."""
        if stored is None:
            return self.new(model, values)
        row = self.own(model, stored)
        row.__dict__.update(values)
        return row

    async def write(self, session: AsyncSession) -> None:
        """Write every changed and created row, table by table."""
        for model in _WRITTEN:
            keys, columns = _KEYS[model], _COLUMNS[model]
            changed, created = self.changed[model], self.created[model]
            if changed:
                values = [{**{f"key_{name}": getattr(row, name) for name in keys},
                           **{f"new_{name}": getattr(row, name) for name in columns if name not in keys}}
                          for row in changed.values()]
                for chunk in range(0, len(values), CHUNK):
                    await session.execute(_UPDATES[model], values[chunk:chunk + CHUNK])
            if created:
                values = [{name: getattr(row, name) for name in columns} for row in created.values()]
                for chunk in range(0, len(values), CHUNK):
                    await session.execute(insert(model.__table__), values[chunk:chunk + CHUNK])
            changed.clear()
            created.clear()
