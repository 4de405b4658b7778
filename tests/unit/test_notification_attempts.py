"""What a message becomes after an attempt to send it: the rule the scheduler applies, on its own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.enrollment.notifications.domain import RetryTerms, after_attempt

DECIDED = datetime(2026, 12, 7, 13, 0, tzinfo=UTC)
TERMS = RetryTerms(base_s=60, max_s=3600, give_up_after_s=3 * 86400)


def test_a_message_the_server_accepted_is_sent_and_nothing_is_suppressed() -> None:
    after = after_attempt("accepted", attempts=1, decided_at=DECIDED, now=DECIDED, retry=TERMS)
    assert (after.status, after.next_attempt_at, after.suppress_address) == ("sent", None, False)


def test_a_hard_bounce_is_final_and_suppresses_the_address() -> None:
    after = after_attempt("refused", attempts=1, decided_at=DECIDED, now=DECIDED, retry=TERMS)
    assert (after.status, after.next_attempt_at, after.suppress_address) == ("bounced", None, True)


def test_a_send_interrupted_while_the_server_took_the_content_is_uncertain_and_never_retried() -> None:
    after = after_attempt("unknown", attempts=1, decided_at=DECIDED, now=DECIDED, retry=TERMS)
    assert (after.status, after.next_attempt_at) == ("uncertain", None)


@pytest.mark.parametrize(("attempts", "wait_s"), [(1, 60), (2, 120), (3, 240), (6, 1920), (7, 3600), (30, 3600)])
def test_a_server_away_is_tried_again_after_a_wait_that_doubles_up_to_its_ceiling(attempts: int, wait_s: int) -> None:
    now = DECIDED + timedelta(hours=1)
    after = after_attempt("transient", attempts=attempts, decided_at=DECIDED, now=now, retry=TERMS)
    assert (after.status, after.next_attempt_at) == ("queued", now + timedelta(seconds=wait_s))


def test_a_message_still_not_taken_when_its_time_is_up_is_given_up() -> None:
    just_before = DECIDED + timedelta(days=3) - timedelta(seconds=1)
    assert after_attempt("transient", attempts=40, decided_at=DECIDED, now=just_before, retry=TERMS).status == "queued"
    after = after_attempt("transient", attempts=41, decided_at=DECIDED, now=DECIDED + timedelta(days=3), retry=TERMS)
    assert (after.status, after.next_attempt_at) == ("failed", None)


def test_an_outcome_the_sender_does_not_give_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown outcome"):
        after_attempt("maybe", attempts=1, decided_at=DECIDED, now=DECIDED, retry=TERMS)
