"""The rebuild's fast decoding reaches the same verdict as the live consumer's ``open_envelope``."""

from __future__ import annotations

import pytest

from contracts.envelope import ContractViolation, open_envelope, to_record
from services.reporting.projection import fact_from
from services.reporting.rebuild import decode
from tests.support.programme import generate, small_plan


def wire(envelope):  # noqa: ANN001, ANN201
    key, value, headers = to_record(envelope)
    return [(k, v.encode()) for k, v in headers.items()], value


def test_a_valid_record_decodes_to_the_same_envelope_and_fact():
    for envelope in generate(small_plan()).envelopes[:400]:
        headers, value = wire(envelope)
        fast, slow = decode(headers, value), open_envelope(headers, value)
        assert fast == slow
        assert fact_from(fast) == fact_from(slow)


@pytest.mark.parametrize("damage", [
    lambda h, v: ([x for x in h if x[0] != "ce_id"], v),
    lambda h, v: ([(k, b"0.3" if k == "ce_specversion" else x) for k, x in h], v),
    lambda h, v: ([(k, b"probidad.nothing.v1" if k == "ce_type" else x) for k, x in h], v),
    lambda h, v: (h, b"not json"),
    lambda h, v: (h, b"[1, 2]"),
    lambda h, v: (h, v.replace(b'"sex":"', b'"sex":"x')),
    lambda h, v: ([(k, b"yesterday" if k == "ce_time" else x) for k, x in h], v),
])
def test_a_damaged_record_is_refused_for_the_same_reason(damage):
    envelope = next(e for e in generate(small_plan()).envelopes if e.type.endswith("servant.registered.v1"))
    headers, value = damage(*wire(envelope))
    with pytest.raises(ContractViolation) as slow:
        open_envelope(headers, value)
    with pytest.raises(ContractViolation) as fast:
        decode(headers, value)
    assert str(fast.value) == str(slow.value)
