"""Servants: rows as the domain's records (no SQL: attribute reads of the rows the repository loaded)."""

from __future__ import annotations

from contracts.events import Sex

from services.enrollment.servants.domain import ServantRecord, TransferTerms
from services.enrollment.tables import Servant, Transfer


def record(servant: Servant) -> ServantRecord:
    return ServantRecord(servant.servant_id, servant.institution_id, Sex(servant.sex), servant.position_level,
                         servant.name, servant.curp, servant.email, servant.position, servant.erased_at is not None,
                         holder_salt=servant.holder_salt,
                         joined_on=servant.joined_on, left_on=servant.left_on,
                         position_digest=servant.position_digest)


def transfer_terms(transfer: Transfer) -> TransferTerms:
    return TransferTerms(transfer.transfer_id, transfer.servant_id, transfer.from_institution_id,
                                transfer.to_institution_id, transfer.effective_on, transfer.requested_by)
