"""The comptroller's revocation route on SQLite and PostgreSQL: a certificate revoked as void or from a date,
announced with how it applies in valid time, and what verification, the badge's status list and later facts
make of it — with the in-memory broker."""

from __future__ import annotations

from datetime import date

from contracts.events import CertificateIssued, CertificateRevoked, CompetencyAttained
from services.certification import status_list
from tests.integration.test_certification_service import (  # the service in its harness and its facts
    certification, corrected, course, graded, present, scheduled, seat,
)
from tests.support.identity import both_kinds_of_token

__all__ = ["certification"]  # the fixture, used by name

SESSION_DAY = date(2026, 11, 5)  # the day the certificates below carry


async def certified(service, servant: str = "sv-1") -> CertificateIssued:
    """A servant completes session s-1 and is certified."""
    for fact in (course(), scheduled(), seat(servant), present(servant), graded(servant)):
        await service.hear(fact)
    return next(e for e in await service.events(CertificateIssued) if e.servant_id == servant)


async def revocation_bit(http, code: str) -> bool:
    at = status_list.position(code)
    credential = (await http.get(f"{status_list.PATH}/{at.list_id}")).json()
    return status_list.bit_is_set(status_list.decoded_list(credential["credentialSubject"]["encodedList"]), at.index)


async def test_the_comptroller_revokes_a_certificate_as_void_and_every_reader_is_told_it_never_counted(certification):
    issued = await certified(certification)
    async with certification.client(certification.token("comptroller", subject="comptroller:ana")) as http:
        assert not await revocation_bit(http, issued.verification_code)
        answer = await http.post(f"/certificates/{issued.certificate_id}/revocation",
                                 json={"reason": "la lista de asistencia fue falsificada", "applies": "void"})
        assert answer.status_code == 200, answer.text
        assert answer.json() == {
            "certificate_id": issued.certificate_id, "verification_code": issued.verification_code,
            "status": "revoked", "reason": "la lista de asistencia fue falsificada", "applies": "void",
            "applies_from": "2026-11-05", "revoked_by": "comptroller:ana"}

        (revoked,) = await certification.events(CertificateRevoked)
        assert (revoked.certificate_id, revoked.servant_id, revoked.session_id) == \
            (issued.certificate_id, "sv-1", "s-1")
        assert (revoked.applies, revoked.effective_on) == ("void", None)
        assert revoked.reason == "la lista de asistencia fue falsificada"

        view = (await http.get(f"/verify/{issued.verification_code}")).json()
        assert view["status"] == "revoked" and view["valid"] is False
        assert view["revocation"] == {"void": True, "applies_from": "2026-11-05"}
        assert "falsificada" not in str(view), "the reason may speak of the holder: not on a public answer"
        page = (await http.get(f"/verify/{issued.verification_code}", headers={"Accept": "text/html"})).text
        assert "REVOCADA" in page
        assert "Nula desde su emisión (5 de noviembre de 2026)" in page and 'data-void="true"' in page
        assert await revocation_bit(http, issued.verification_code)
        assert (await http.get(f"/certificates/{issued.verification_code}/badge")).status_code == 410


async def test_a_revocation_from_a_date_is_announced_and_verified_with_that_date(certification):
    issued = await certified(certification)
    async with certification.client(certification.token("comptroller")) as http:
        typed = issued.verification_code.lower().replace("-", " ")  # a folio as a person types it
        answer = await http.post(f"/certificates/{typed}/revocation",
                                 json={"reason": "sanción administrativa firme", "applies": "from_date",
                                       "effective_on": "2026-11-20"})
        assert answer.status_code == 200, answer.text
        assert (answer.json()["applies"], answer.json()["applies_from"]) == ("from_date", "2026-11-20")
        (revoked,) = await certification.events(CertificateRevoked)
        assert (revoked.applies, revoked.effective_on) == ("from_date", date(2026, 11, 20))

        view = (await http.get(f"/verify/{issued.verification_code}")).json()
        assert view["status"] == "revoked"
        assert view["revocation"] == {"void": False, "applies_from": "2026-11-20"}
        page = (await http.get(f"/verify/{issued.verification_code}", headers={"Accept": "text/html"})).text
        assert "REVOCADA" in page and "Sin efecto desde el 20 de noviembre de 2026" in page
        assert await revocation_bit(http, issued.verification_code)


@both_kinds_of_token
async def test_bad_revocations_are_refused_naming_the_field_and_nothing_is_announced(certification):
    issued = await certified(certification)
    path = f"/certificates/{issued.certificate_id}/revocation"
    refusals = [
        ({"applies": "void"}, 422, "reason"),
        ({"reason": "   ", "applies": "void"}, 422, "reason"),
        ({"reason": "x"}, 422, "applies"),
        ({"reason": "x", "applies": "someday"}, 422, "applies"),
        ({"reason": "x", "applies": "from_date"}, 422, "effective_on"),
        ({"reason": "x", "applies": "from_date", "effective_on": "not a day"}, 422, "effective_on"),
        ({"reason": "x", "applies": "void", "effective_on": "2026-11-20"}, 422, "effective_on"),
        ({"reason": "x", "applies": "from_date", "effective_on": SESSION_DAY.isoformat()}, 422, "effective_on"),
        ({"reason": "x", "applies": "from_date", "effective_on": "2100-01-01"}, 422, "effective_on"),
        ({"reason": "x", "applies": "void", "by": "someone"}, 422, "by"),
    ]
    async with certification.client(certification.token("comptroller")) as http:
        for body, status, field in refusals:
            answer = await http.post(path, json=body)
            assert answer.status_code == status, (body, answer.text)
            assert answer.json()["detail"].startswith(f"{field}:") or field in str(answer.json().get("errors")), \
                (body, answer.json())
        unknown = await http.post("/certificates/PRB-0000-0000-0000/revocation",
                                  json={"reason": "x", "applies": "void"})
        assert unknown.status_code == 404 and unknown.json()["detail"].startswith("certificate:")
        assert (await http.post("/certificates/no-such-id/revocation",
                                json={"reason": "x", "applies": "void"})).status_code == 404
    async with certification.client(certification.token("liaison", institution_id="inst-1")) as http:
        assert (await http.post(path, json={"reason": "x", "applies": "void"})).status_code == 403
    async with certification.client() as http:
        assert (await http.post(path, json={"reason": "x", "applies": "void"})).status_code == 401
    assert await certification.events(CertificateRevoked) == []
    async with certification.client() as http:
        assert (await http.get(f"/verify/{issued.verification_code}")).json()["status"] == "valid"


async def test_a_certificate_already_revoked_is_a_conflict_whoever_revoked_it(certification):
    issued = await certified(certification)
    await certified(certification, "sv-2")
    body = {"reason": "evaluación anulada", "applies": "void"}
    async with certification.client(certification.token("comptroller")) as http:
        assert (await http.post(f"/certificates/{issued.certificate_id}/revocation", json=body)).status_code == 200
        again = await http.post(f"/certificates/{issued.certificate_id}/revocation", json=body)
        assert again.status_code == 409 and again.json()["detail"].startswith("certificate:")

        await certification.hear(corrected("sv-2", minutes=60))  # certification revokes it itself
        (after_correction,) = [e for e in await certification.events(CertificateRevoked) if e.servant_id == "sv-2"]
        assert after_correction.applies == "void", "a correction says the training never happened as certified"
        assert (await http.post(f"/certificates/{after_correction.certificate_id}/revocation",
                                json=body)).status_code == 409
        view = (await http.get(f"/verify/{after_correction.verification_code}")).json()
        assert view["revocation"] == {"void": True, "applies_from": "2026-11-05"}


async def test_a_revocation_by_the_comptroller_is_final_later_facts_issue_no_new_certificate(certification):
    issued = await certified(certification)
    async with certification.client(certification.token("comptroller")) as http:
        assert (await http.post(f"/certificates/{issued.certificate_id}/revocation",
                                json={"reason": "fraude en la evaluación", "applies": "void"})).status_code == 200
    # Facts that would re-judge the completion (and, after a correction's revocation, re-issue it).
    await certification.hear(corrected("sv-1", minutes=60))
    await certification.hear(corrected("sv-1", minutes=235))
    await certification.hear(graded("sv-1", score=95))
    assert [e.certificate_id for e in await certification.events(CertificateIssued)] == [issued.certificate_id]
    assert len(await certification.events(CertificateRevoked)) == 1
    async with certification.client() as http:
        assert (await http.get(f"/verify/{issued.verification_code}")).json()["status"] == "revoked"


async def test_a_competency_resting_on_a_certificate_the_comptroller_revokes_is_attained_again_on_the_others(
        certification):
    await certification.hear(course(1))
    await certification.hear(course(2, code="CI-02", topic="Conflicto de Interés", passing=None))
    for n, course_n, day in ((1, 1, 5), (2, 2, 19)):
        await certification.hear(scheduled(n, course_n, day=day))
        for fact in (seat("sv-1", n), present("sv-1", n), graded("sv-1", n)):
            await certification.hear(fact)
    (first,) = await certification.events(CompetencyAttained)
    # The servant also took the ethics course a second time: the attainment still rests on the first.
    await certification.hear(scheduled(3, 1, day=26))
    for fact in (seat("sv-1", 3), present("sv-1", 3), graded("sv-1", 3)):
        await certification.hear(fact)
    assert await certification.events(CompetencyAttained) == [first]
    by_session = {e.session_id: e for e in await certification.events(CertificateIssued)}
    assert first.certificate_ids == sorted([by_session["s-1"].certificate_id, by_session["s-2"].certificate_id])

    async with certification.client(certification.token("comptroller", subject="comptroller:ana")) as http:
        answer = await http.post(f"/certificates/{by_session['s-1'].certificate_id}/revocation",
                                 json={"reason": "la evaluación fue anulada", "applies": "void"})
        assert answer.status_code == 200, answer.text
        _, again = await certification.events(CompetencyAttained)
        assert again.certificate_ids == sorted([by_session["s-2"].certificate_id, by_session["s-3"].certificate_id])
        assert again.attained_on == date(2026, 11, 26)
        # Revoking a certificate the new attainment does not rest on announces nothing more.
        other = await http.post(f"/certificates/{by_session['s-1'].certificate_id}/revocation",
                                json={"reason": "otra vez", "applies": "void"})
        assert other.status_code == 409
        (held,) = (await http.get("/servants/sv-1/competencies")).json()
    assert held["certificate_ids"] == again.certificate_ids
    assert len(await certification.events(CompetencyAttained)) == 2
