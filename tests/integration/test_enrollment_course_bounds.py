"""A course's hours and passing score are refused at enrollment's door when no service could keep them:
the contract's plain-number bound (hours and scores are signed into certificates), with a 422 naming
the field, and nothing published. On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from tests.integration.test_enrollment_api import platform  # noqa: F401 (fixture)

COURSE = {"course_id": "co-1", "code": "CE-01", "title": "Código de Ética", "topic": "Código de Ética", "hours": 4}


@pytest.mark.parametrize("changed", [{"hours": 5e-324}, {"hours": 1e-05}, {"passing_score": 1e-05}],
                         ids=lambda c: f"{next(iter(c))}={next(iter(c.values()))!r}")
async def test_a_course_with_a_number_certificates_cannot_sign_is_refused_naming_the_field(platform, changed):
    async with platform.client() as c:
        refused = await c.post("/courses", json={**COURSE, **changed})
        listed = (await c.get("/courses")).json()
    assert refused.status_code == 422, refused.text
    (field,) = changed
    assert field in refused.text and "no plain decimal form" in refused.text
    assert listed == []
    assert await platform.events("course.published.v1") == []


async def test_a_course_of_a_tenth_of_a_thousandth_of_an_hour_is_plain_and_published(platform):
    async with platform.client() as c:
        published = await c.post("/courses", json={**COURSE, "hours": 0.0001, "passing_score": 0})
    assert published.status_code == 201, published.text
    (event,) = await platform.events("course.published.v1")
    assert (event.event.hours, event.event.passing_score) == (0.0001, 0)
