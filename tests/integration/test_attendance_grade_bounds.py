"""A score no certificate could sign (1e-05) is refused at attendance's door, by JSON or CSV, with a 422
naming the score, and nothing is published: the contract's plain-number bound on AssessmentGraded.
On SQLite and PostgreSQL."""

from __future__ import annotations

from contracts.events import AssessmentGraded
from tests.integration.test_attendance_service import a_zoom_session, service  # noqa: F401 (fixture)


async def test_a_score_without_a_plain_decimal_form_is_refused_naming_the_score(service) -> None:
    await a_zoom_session(service)
    await service.http.post("/sessions/ses-etica-1/close", headers=service.token())
    await service.events()
    as_json = await service.http.post("/sessions/ses-etica-1/grades", headers=service.token(), json={"grades": [
        {"servant_id": "srv-ana", "score": 90}, {"servant_id": "srv-carla", "score": 1e-05}]})
    assert as_json.status_code == 422, as_json.text
    assert "score" in as_json.json()["detail"] and "no plain decimal form" in as_json.text
    sheet = "servant_id,email,score\nsrv-ana,,90\nsrv-carla,,0.00001\n"
    as_csv = await service.http.post("/sessions/ses-etica-1/grades.csv", content=sheet, headers=service.token())
    assert as_csv.status_code == 422, as_csv.text
    assert "grade 2: score: 1e-05 has no plain decimal form" in as_csv.json()["detail"]
    assert not [e for e in await service.events() if isinstance(e, AssessmentGraded)]
    plain = await service.http.post("/sessions/ses-etica-1/grades", headers=service.token(), json={"grades": [
        {"servant_id": "srv-carla", "score": 0.0001}]})
    assert plain.json() == {"graded": 1, "published": True}
    assert [(e.servant_id, e.score) for e in await service.events() if isinstance(e, AssessmentGraded)] == [
        ("srv-carla", 0.0001)]
