"""What an agency's endpoint receives verifies with the Standard Webhooks reference library, and carries the
CloudEvent in HTTP binary mode."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from probidad.shared.webhooks import CloudEvent, headers, new_secret, sign

EVENT = CloudEvent(id="7f1c2a9e-0000-4000-8000-000000000001", source="probidad/enrollment",
                   type="probidad.enrollment.request.decided.v1", time=datetime(2026, 12, 8, 9, 30, tzinfo=UTC),
                   subject="req-1", data=json.dumps({"request_id": "req-1", "institution_id": "in-a",
                                                     "outcome": "probidad.enrollment.servant.registered.v1"}))


def test_a_new_secret_is_whsec_and_base64_of_at_least_24_random_bytes():
    secret, other = new_secret(), new_secret()
    assert secret.startswith("whsec_") and secret != other
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) >= 24


def test_the_signed_headers_verify_with_the_reference_library():
    secret, now = new_secret(), int(datetime.now(UTC).timestamp())
    sent = headers(EVENT, message_id="msg_1", secret=secret, timestamp=now)
    assert Webhook(secret).verify(EVENT.body, sent) == json.loads(EVENT.data)


def test_our_signature_equals_the_reference_librarys():
    secret, when = new_secret(), datetime.now(UTC)
    ours = sign(secret, "msg_2", int(when.timestamp()), EVENT.body)
    assert ours == Webhook(secret).sign("msg_2", when, EVENT.data)


def test_another_secret_a_changed_body_or_a_stale_timestamp_does_not_verify():
    secret, now = new_secret(), datetime.now(UTC)
    sent = headers(EVENT, message_id="msg_3", secret=secret, timestamp=int(now.timestamp()))
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(EVENT.body, sent)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(EVENT.body.replace(b"in-a", b"in-b"), sent)
    stale = headers(EVENT, message_id="msg_3", secret=secret,
                    timestamp=int((now - timedelta(hours=1)).timestamp()))
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(EVENT.body, stale)


def test_the_cloudevent_travels_in_binary_mode_with_its_original_attributes():
    sent = headers(EVENT, message_id="msg_4", secret=new_secret(), timestamp=1_765_000_000)
    assert {k: v for k, v in sent.items() if k.startswith("ce-") or k == "content-type"} == {
        "ce-specversion": "1.0", "ce-id": EVENT.id, "ce-source": "probidad/enrollment",
        "ce-type": "probidad.enrollment.request.decided.v1", "ce-time": "2026-12-08T09:30:00Z",
        "ce-subject": "req-1", "content-type": "application/json"}
    assert (sent["webhook-id"], sent["webhook-timestamp"]) == ("msg_4", "1765000000")
