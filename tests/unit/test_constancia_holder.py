"""Enrollment binds a servant's certificates to their CURP with a secret salt it keeps, and forgets the
salt on erasure, so no constancia can bind the person again."""

from __future__ import annotations

import inspect
from datetime import date

from contracts.events import Sex
from contracts.holder import holder_digest, holder_matches
from services.enrollment.servants.domain.curp import curp_check_digit
from services.enrollment.servants.domain import ServantDetails, decide_erasure, decide_servant


def _curp() -> str:
    body = "GOMA850412MYNRRN0"
    return body + curp_check_digit(body)


def register(existing, details, servant_id="sv-1"):
    # The joining day (``today``) came with the servants' life cycle; pass it where the rule takes it.
    extra = {"today": date(2026, 11, 5)} if "today" in inspect.signature(decide_servant).parameters else {}
    return decide_servant(existing, details, new_servant_id=servant_id, person_id="pe-1", digest_key="k", **extra)


def test_a_new_servant_gets_a_secret_salt_and_is_published_with_the_digest_of_their_curp_under_it():
    decision = register(None, ServantDetails("in-1", "Ana Gómez", _curp(), Sex.female))
    salt = decision.servant.holder_salt
    (event,) = decision.events
    assert salt and event.holder_digest == holder_digest(salt, _curp())
    assert salt not in event.model_dump_json() and _curp() not in event.model_dump_json()
    assert holder_matches(salt, _curp(), event.holder_digest)


def test_registering_a_servant_again_keeps_their_salt_so_every_certificate_names_the_same_holder():
    first = register(None, ServantDetails("in-1", "Ana Gómez", _curp(), Sex.female)).servant
    again = register(first, ServantDetails("in-1", "Ana Gómez", _curp(), Sex.female, position_level="directivo"))
    assert again.servant.holder_salt == first.holder_salt
    (event,) = again.events
    assert event.holder_digest == holder_digest(first.holder_salt, _curp())


def test_the_same_person_in_two_institutions_gets_a_salt_per_servant():
    one = register(None, ServantDetails("in-1", "Ana", _curp(), Sex.female)).servant
    other = register(None, ServantDetails("in-2", "Ana", _curp(), Sex.female), servant_id="sv-2").servant
    assert one.holder_salt != other.holder_salt


def test_erasure_forgets_the_salt_and_publishes_no_digest():
    servant = register(None, ServantDetails("in-1", "Ana Gómez", _curp(), Sex.female)).servant
    erased = decide_erasure(servant)
    assert erased.servant.holder_salt is None and erased.servant.curp is None
    (event,) = erased.events
    assert event.holder_digest is None
