"""Which faults the consumer retries without end (they pass) and which it dead-letters after a few tries."""

from __future__ import annotations

import pytest
from sqlalchemy import exc as sa_exc

from probidad.shared.consumer import is_transient
from probidad.shared.errors import RuleViolation


class DriverError(Exception):
    """What asyncpg raises, reduced to what counts: its SQLSTATE."""

    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"SQLSTATE {sqlstate}")
        self.sqlstate = sqlstate


def wrapped(sqlstate: str) -> sa_exc.DBAPIError:
    """As SQLAlchemy hands it over: a DBAPIError whose ``orig`` is the driver's error."""
    return sa_exc.DBAPIError("SELECT 1", {}, DriverError(sqlstate))


@pytest.mark.parametrize("sqlstate", ["57P01", "57P02", "57P03", "08000", "08003", "08006", "08001", "40001",
                                      "40P01", "53300"])
def test_a_database_shutting_down_starting_up_or_unreachable_is_transient(sqlstate: str) -> None:
    assert is_transient(wrapped(sqlstate))


@pytest.mark.parametrize("sqlstate", ["23505", "22P02", "42P01", "23503"])
def test_a_violated_constraint_or_a_bad_statement_is_not_transient(sqlstate: str) -> None:
    assert not is_transient(wrapped(sqlstate))


def test_a_refused_connection_is_transient_and_a_rejection_is_not() -> None:
    assert is_transient(ConnectionRefusedError(111, "Connection refused"))
    assert not is_transient(RuleViolation(None, "a business rule"))
    assert not is_transient(ValueError("a bug"))
