"""Transfers asked for, accepted and declined on the agency stream follow the HTTP rules.

On SQLite and PostgreSQL with the in-memory broker: the agency of the institution a servant leaves
asks, the one they join accepts (or either declines); every other agency is answered as if the
servant or transfer did not exist, and each request is decided once per request id.
"""

from __future__ import annotations

from contracts.events import RequestRejected, TransferAccepted, TransferDeclined, TransferRequested
from services.enrollment.institutions import handlers as institutions
from services.enrollment.context import EnrollmentContext
from services.enrollment.repository import SqlEnrollmentRepository
from services.enrollment.tables import Servant
from tests.integration.test_enrollment_agency_outcomes import send_on_topic_of, start_collecting
from tests.integration.test_enrollment_agency_requests import curp, enrollment, send, submitted  # noqa: F401 (fixture)
from tests.integration.test_enrollment_agency_outcomes import answered  # noqa: F401 (fixture)


async def servant_of(runtime, institution: str = "in-a", body: str = "GOMA850412MYNRRN0") -> str:
    """Register a servant of ``institution`` through its agency and return their id."""
    await send(runtime, submitted(f"rq-sv-{institution}-{body}", institution, curp(body)))
    (registered,) = [e for e in runtime.published if e.type == "probidad.enrollment.servant.registered.v1"
                     and e.event.institution_id == institution and e.event.request_id.endswith(body)]
    runtime.published.clear()
    return registered.event.servant_id


async def add_third_institution(runtime) -> None:
    async with runtime.unit_of_work() as uow:
        uow.record((await institutions.register_institution(
            SqlEnrollmentRepository.of(uow), runtime.provided(EnrollmentContext), institution_id="in-c",
            name="Instituto C",
            government_level="state", municipality=None, headcount=50, headcount_year=2026)).events)
    await runtime.relay.drain()
    runtime.published.clear()


def of_type(runtime, suffix: str) -> list:
    return [e.event for e in runtime.published if e.type.endswith(suffix)]


async def institution_of(runtime, servant_id: str) -> str:
    async with runtime.database.transaction() as db:
        return (await db.get(Servant, servant_id)).institution_id


async def opened(runtime, servant_id: str, request_id: str = "rq-ask") -> str:
    """The leaving agency (in-a) asks to move the servant to in-b; returns the transfer id."""
    await send(runtime, TransferRequested(request_id=request_id, institution_id="in-a", servant_id=servant_id,
                                          to_institution_id="in-b", reason="Cambio de adscripción"))
    (transfer,) = of_type(runtime, "transfer.opened.v1")
    runtime.published.clear()
    return transfer.transfer_id


async def test_the_leaving_agency_asks_the_joining_agency_accepts_and_the_move_is_published_once(enrollment):
    ana = await servant_of(enrollment)
    await send(enrollment, TransferRequested(request_id="rq-ask", institution_id="in-a", servant_id=ana,
                                             to_institution_id="in-b"))
    (asked,) = of_type(enrollment, "transfer.opened.v1")
    assert (asked.servant_id, asked.from_institution_id, asked.to_institution_id, asked.request_id,
            asked.requested_by) == (ana, "in-a", "in-b", "rq-ask", "agency:in-a")
    assert await institution_of(enrollment, ana) == "in-a"  # nothing moves before the answer

    accept = TransferAccepted(request_id="rq-yes", institution_id="in-b", transfer_id=asked.transfer_id)
    await send(enrollment, accept)
    await send(enrollment, accept)  # the agency's retry under a new event id
    (moved,) = of_type(enrollment, "servant.transferred.v1")
    assert (moved.transfer_id, moved.from_institution_id, moved.to_institution_id, moved.approved_by) == \
        (asked.transfer_id, "in-a", "in-b", "agency:in-b")
    assert await institution_of(enrollment, ana) == "in-b"


async def test_the_joining_agency_cannot_ask_and_is_answered_as_for_a_servant_nobody_has(enrollment):
    ana = await servant_of(enrollment)
    await send(enrollment,
               TransferRequested(request_id="rq-1", institution_id="in-b", servant_id=ana, to_institution_id="in-b"),
               TransferRequested(request_id="rq-2", institution_id="in-b", servant_id="sv-nobody",
                                 to_institution_id="in-b"))
    theirs, nobodys = of_type(enrollment, "request.rejected.v1")
    assert (theirs.field, theirs.reason) == ("servant_id", f"unknown servant {ana!r}")  # the HTTP 404's words
    assert (nobodys.field, nobodys.reason) == ("servant_id", "unknown servant 'sv-nobody'")
    assert of_type(enrollment, "transfer.opened.v1") == []


async def test_the_leaving_agency_cannot_accept_its_own_request(enrollment):
    transfer_id = await opened(enrollment, await servant_of(enrollment))
    await send(enrollment, TransferAccepted(request_id="rq-yes", institution_id="in-a", transfer_id=transfer_id))
    (refused,) = of_type(enrollment, "request.rejected.v1")
    assert (refused.field, refused.reason) == \
        ("transfer_id", "only the institution the servant joins (or the comptroller) accepts a transfer")
    assert of_type(enrollment, "servant.transferred.v1") == []


async def test_a_third_institutions_agency_can_neither_ask_accept_nor_decline_and_learns_nothing(enrollment):
    await add_third_institution(enrollment)
    ana = await servant_of(enrollment)
    transfer_id = await opened(enrollment, ana)
    await send(enrollment,
               TransferRequested(request_id="rq-1", institution_id="in-c", servant_id=ana, to_institution_id="in-c"),
               TransferAccepted(request_id="rq-2", institution_id="in-c", transfer_id=transfer_id),
               TransferDeclined(request_id="rq-3", institution_id="in-c", transfer_id=transfer_id),
               TransferAccepted(request_id="rq-4", institution_id="in-c", transfer_id="tr-nobody"))
    ask, accept, decline, nothing = of_type(enrollment, "request.rejected.v1")
    assert (ask.field, ask.reason) == ("servant_id", f"unknown servant {ana!r}")
    # A real transfer between others is refused in the words used for one that does not exist.
    assert [(r.field, r.reason.replace(transfer_id, "?")) for r in (accept, decline)] == \
        [(nothing.field, nothing.reason.replace("tr-nobody", "?"))] * 2
    assert {r.institution_id for r in (ask, accept, decline, nothing)} == {"in-c"}
    assert of_type(enrollment, "servant.transferred.v1") == of_type(enrollment, "transfer.dropped.v1") == []
    assert await institution_of(enrollment, ana) == "in-a"


async def test_either_agency_declines_once_and_a_declined_transfer_can_no_longer_be_accepted(enrollment):
    ana = await servant_of(enrollment)
    transfer_id = await opened(enrollment, ana)
    decline = TransferDeclined(request_id="rq-no", institution_id="in-b", transfer_id=transfer_id)
    await send(enrollment, decline, decline)
    (dropped,) = of_type(enrollment, "transfer.dropped.v1")
    assert (dropped.transfer_id, dropped.declined_by, dropped.request_id) == (transfer_id, "agency:in-b", "rq-no")

    await send(enrollment, TransferAccepted(request_id="rq-yes", institution_id="in-b", transfer_id=transfer_id))
    (late,) = of_type(enrollment, "request.rejected.v1")
    assert (late.field, late.reason) == ("transfer_id", "this transfer is already declined")

    # The leaving agency may withdraw a new request of its own.
    enrollment.published.clear()
    again = await opened(enrollment, ana, request_id="rq-ask-2")
    await send(enrollment, TransferDeclined(request_id="rq-withdraw", institution_id="in-a", transfer_id=again))
    (withdrawn,) = of_type(enrollment, "transfer.dropped.v1")
    assert withdrawn.declined_by == "agency:in-a"
    assert await institution_of(enrollment, ana) == "in-a"


async def test_a_request_id_reused_for_another_transfer_is_refused_and_the_first_stands(enrollment):
    ana, beto = await servant_of(enrollment), await servant_of(enrollment, body="PEHJ920101HQRRRN0")
    await send(enrollment,
               TransferRequested(request_id="rq-ask", institution_id="in-a", servant_id=ana, to_institution_id="in-b"),
               TransferRequested(request_id="rq-ask", institution_id="in-a", servant_id=beto, to_institution_id="in-b"))
    (first,) = of_type(enrollment, "transfer.opened.v1")
    (refused,) = of_type(enrollment, "request.rejected.v1")
    assert first.servant_id == ana
    assert refused.field == "request_id"


async def test_in_secure_mode_each_transfer_decision_reaches_its_agencys_outcome_topic_with_the_transfer_id(answered):
    ana = await servant_of(answered)
    to_a = await start_collecting(answered)
    to_b = await start_collecting(answered, "probidad.agency.outcomes.in-b")
    await send_on_topic_of(answered, "in-a", TransferRequested(request_id="rq-ask", institution_id="in-a",
                                                               servant_id=ana, to_institution_id="in-b"))
    (transfer,) = of_type(answered, "transfer.opened.v1")
    await send_on_topic_of(answered, "in-a", TransferAccepted(request_id="rq-mine", institution_id="in-a",
                                                              transfer_id=transfer.transfer_id))
    await send_on_topic_of(answered, "in-b", TransferAccepted(request_id="rq-yes", institution_id="in-b",
                                                              transfer_id=transfer.transfer_id))
    assert [(o.event.request_id, o.event.outcome, o.event.outcome_id, o.event.field) for o in to_a] == [
        ("rq-ask", "probidad.enrollment.transfer.opened.v1", transfer.transfer_id, None),
        ("rq-mine", RequestRejected.type, None, "transfer_id")]
    assert [(o.event.request_id, o.event.outcome, o.event.outcome_id) for o in to_b] == [
        ("rq-yes", "probidad.enrollment.servant.transferred.v1", transfer.transfer_id)]
