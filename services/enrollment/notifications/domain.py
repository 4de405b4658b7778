"""What the digests to institution contacts and the reminders to servants say, and when: pure decisions.

Nothing here reads a clock, a table or a setting: ``today``, the standings, the constancias and the keys are
handed in, so every rule is a function of its arguments (and the tests pin each one).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.utils import parseaddr

from contracts.compliance import State
from probidad.shared.retries import doubling_wait_s

DIGEST_SECTIONS = ("compliance", "expiring")  # what a contact may want: counts+named lists, constancias expiring
CADENCES = ("daily", "weekly", "monthly", "off")
LANGUAGES = ("es", "en")
REMINDER_KINDS = ("due_30", "due_7", "overdue", "expiry_30", "expiry_7")
SOON_DAYS = 30  # "falls due within 30 days"
EXPIRING_DAYS = 60  # constancias expiring within 60 days (digest)
# The windows of the advance reminders, in days left (both ends included): the first run inside a window sends,
# the ledger of sent messages (one per kind, deadline and recipient) keeps the later runs from sending again.
EARLY_WINDOW = (8, 30)
LATE_WINDOW = (0, 7)

# Domain separation: a MAC or hash made for one purpose is never valid for another.
_UNSUBSCRIBE_PREFIX = b"probidad.unsubscribe.v1\x00"
_CONTENT_PREFIX = b"probidad.mail.content.v1\x00"
_MESSAGE_PREFIX = b"probidad.message-id.v1\x00"
# RFC 5322 dot-atom text: what may stand in the left and right parts of a Message-ID without quoting.
_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")


def digest_period(cadence: str, today: date) -> str | None:
    """The period a digest sent today belongs to (one digest per contact and period): the day, the ISO week
    ("2026-W50") or the month; None when the contact wants none."""
    if cadence == "daily":
        return today.isoformat()
    if cadence == "weekly":
        year, week, _ = today.isocalendar()
        return f"{year}-W{week:02d}"
    if cadence == "monthly":
        return f"{today.year}-{today.month:02d}"
    if cadence == "off":
        return None
    raise ValueError(f"unknown digest cadence {cadence!r}; one of {', '.join(CADENCES)}")


@dataclass(frozen=True)
class Standing:
    """One line of the institution's named compliance list (servant x requirement)."""

    servant_id: str
    name: str | None  # None after erasure
    position: str | None
    requirement_id: str
    requirement_title: str
    course_id: str | None  # the requirement's course (None: a competency requirement)
    state: str  # "compliant" | "due" | "overdue" | "exempt"  (contracts.compliance.State values)
    due_on: date | None


@dataclass(frozen=True)
class Expiring:
    """A constancia (certificate) of a servant, not revoked, with a last valid day."""

    servant_id: str
    name: str | None
    certificate_id: str
    course_id: str | None
    course_title: str
    valid_until: date


@dataclass(frozen=True)
class RequirementCounts:
    requirement_id: str
    title: str
    compliant: int
    due_soon: int
    due_later: int
    overdue: int
    exempt: int

    @property
    def required(self) -> int:
        return self.compliant + self.due_soon + self.due_later + self.overdue + self.exempt


def _is_soon(standing: Standing, today: date) -> bool:
    return standing.due_on is not None and standing.due_on <= today + timedelta(days=SOON_DAYS)


def requirement_counts(standings: Sequence[Standing], today: date) -> list[RequirementCounts]:
    """Per requirement, how many servants stand in each state; a due one counts as soon when it falls due within
    SOON_DAYS. Sorted by title (then id, so two requirements of one title keep a stable order)."""
    tally: dict[str, dict[str, int]] = {}
    titles: dict[str, str] = {}
    for s in standings:
        titles.setdefault(s.requirement_id, s.requirement_title)
        row = tally.setdefault(s.requirement_id, dict.fromkeys(
            ("compliant", "due_soon", "due_later", "overdue", "exempt"), 0))
        if s.state == State.due.value:
            row["due_soon" if _is_soon(s, today) else "due_later"] += 1
        elif s.state in (State.compliant.value, State.overdue.value, State.exempt.value):
            row[s.state] += 1
        else:
            raise ValueError(f"unknown compliance state {s.state!r}")
    counts = [RequirementCounts(rid, titles[rid], **row) for rid, row in tally.items()]
    return sorted(counts, key=lambda c: (c.title.casefold(), c.title, c.requirement_id))


def _by_day_then_name(day: date | None, name: str | None, *ids: str) -> tuple[date, bool, str, tuple[str, ...]]:
    # An erased servant (no name) goes after the named ones of the same day, ordered by id.
    return (day or date.max, name is None, (name or "").casefold(), ids)


def overdue(standings: Sequence[Standing]) -> list[Standing]:
    """Who is overdue, earliest deadline first, then by name."""
    return sorted((s for s in standings if s.state == State.overdue.value),
                  key=lambda s: _by_day_then_name(s.due_on, s.name, s.servant_id, s.requirement_id))


def due_soon(standings: Sequence[Standing], today: date) -> list[Standing]:
    """Who falls due within SOON_DAYS (deadline today included), earliest deadline first, then by name."""
    return sorted((s for s in standings if s.state == State.due.value and _is_soon(s, today)),
                  key=lambda s: _by_day_then_name(s.due_on, s.name, s.servant_id, s.requirement_id))


def _superseded(held: Sequence[Expiring]) -> set[str]:
    """The constancias a later one of the same servant and course outlasts (a renewal): nothing to remind of."""
    last: dict[tuple[str, str], date] = {}
    for c in held:
        if c.course_id is not None:
            key = (c.servant_id, c.course_id)
            last[key] = max(last.get(key, c.valid_until), c.valid_until)
    return {c.certificate_id for c in held
            if c.course_id is not None and c.valid_until < last[(c.servant_id, c.course_id)]}


def expiring_soon(held: Sequence[Expiring], today: date) -> list[Expiring]:
    """The constancias whose last valid day is today or within EXPIRING_DAYS, soonest first, then by name; one a
    renewal already outlasts is left out (its holder has nothing to do)."""
    gone = _superseded(held)
    return sorted((c for c in held if today <= c.valid_until <= today + timedelta(days=EXPIRING_DAYS)
                   and c.certificate_id not in gone),
                  key=lambda c: _by_day_then_name(c.valid_until, c.name, c.servant_id, c.certificate_id))


@dataclass(frozen=True)
class Reminder:
    kind: str  # one of REMINDER_KINDS
    servant_id: str
    about: str  # requirement_id (due_*, overdue) or certificate_id (expiry_*)
    period: str  # the day due or expiring, ISO (so "once per deadline")
    day: date  # that day
    title: str  # requirement title, or course title for a constancia
    course_id: str | None  # the course whose open sessions the message lists


def _advance(days_left: int, early: str, late: str) -> str | None:
    if EARLY_WINDOW[0] <= days_left <= EARLY_WINDOW[1]:
        return early
    if LATE_WINDOW[0] <= days_left <= LATE_WINDOW[1]:
        return late
    return None


def reminders_due(standings: Sequence[Standing], held: Sequence[Expiring], today: date) -> list[Reminder]:
    """The reminders servants are owed today: 30 days ahead (8..30 days left), 7 days ahead (0..7) of a deadline
    or of a constancia's last valid day, and once a requirement is overdue. Each is keyed by its day, so a
    sender that records what it sent sends each once per deadline. Ordered by servant, day, kind, subject."""
    found: list[Reminder] = []
    for s in standings:
        if s.due_on is None:
            continue
        if s.state == State.overdue.value:
            kind: str | None = "overdue"
        elif s.state == State.due.value:
            kind = _advance((s.due_on - today).days, "due_30", "due_7")
        else:
            kind = None  # compliant or exempt: nothing to do
        if kind is not None:
            found.append(Reminder(kind, s.servant_id, s.requirement_id, s.due_on.isoformat(), s.due_on,
                                  s.requirement_title, s.course_id))
    gone = _superseded(held)
    for c in held:
        kind = None if c.certificate_id in gone else _advance((c.valid_until - today).days, "expiry_30", "expiry_7")
        if kind is not None:
            found.append(Reminder(kind, c.servant_id, c.certificate_id, c.valid_until.isoformat(), c.valid_until,
                                  c.course_title, c.course_id))
    return sorted(found, key=lambda r: (r.servant_id, r.day, REMINDER_KINDS.index(r.kind), r.about))


def message_id(kind: str, period: str, about: str | None, recipient_id: str, domain: str) -> str:
    """A stable Message-ID (without its angle brackets): the same message to the same recipient always gets the
    same one, so a sender can tell it was sent already. Kind and period are readable; who it is for and about is
    only a hash, so the header names no one."""
    for part, what in ((kind, "kind"), (period, "period"), (domain, "domain")):
        if not _ATOM.fullmatch(part):
            raise ValueError(f"{what} {part!r} cannot stand in a Message-ID")
    secret = hashlib.sha256(_MESSAGE_PREFIX + json.dumps([recipient_id, about]).encode()).hexdigest()[:24]
    return f"probidad.{kind}.{period}.{secret}@{domain.lower()}"


def mail_domain(mail_from: str) -> str:
    """The domain of the sender's address: "Probidad <no-reply@probidad.example>" -> "probidad.example"."""
    _, address = parseaddr(mail_from)
    local, at, domain = address.rpartition("@")
    domain = domain.strip().lower()
    if not at or not local or not _ATOM.fullmatch(domain):
        raise ValueError(f"no domain in the sender address {mail_from!r}")
    return domain


def content_digest(subject: str, text: str, html: str) -> str:
    """SHA-256 (hex) of what a message says: each part length-prefixed, so no two different messages share the
    bytes hashed. Recorded instead of the content, which holds personal data."""
    digest = hashlib.sha256(_CONTENT_PREFIX)
    for part in (subject, text, html):
        data = part.encode()
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    """Strict URL-safe base64 without padding: only the canonical spelling decodes (else ValueError)."""
    data = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    if _b64(data) != text:
        raise ValueError("not the canonical spelling")
    return data


def _unsubscribe_mac(address_digest: bytes, key: str) -> bytes:
    if not key:
        raise ValueError("an unsubscribe token needs a key")
    return hmac.new(key.encode(), _UNSUBSCRIBE_PREFIX + address_digest, hashlib.sha256).digest()


def unsubscribe_token(address_digest: str, key: str) -> str:
    """A URL-safe token that names an address (by its digest, never in clear) and proves we issued it."""
    raw = address_digest.encode()
    return f"{_b64(raw)}.{_b64(_unsubscribe_mac(raw, key))}"


def unsubscribed_digest(token: str, key: str) -> str | None:
    """The address digest a token names, or None when the token is forged, altered or garbled."""
    named, dot, mac = token.partition(".")
    if not dot or not named or not mac:
        return None
    try:
        raw, given = _unb64(named), _unb64(mac)
        expected = _unsubscribe_mac(raw, key)
        address_digest = raw.decode()
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    return address_digest if hmac.compare_digest(given, expected) else None


# ------------------------------------------------------------------ what an attempt to send comes to

SMTP_OUTCOMES = ("accepted", "transient", "refused", "unknown")


@dataclass(frozen=True)
class RetryTerms:
    base_s: float  # the wait after the first failure, doubled after each one
    max_s: float  # never longer than this
    give_up_after_s: float  # a message not accepted this long after it was decided is given up


@dataclass(frozen=True)
class AfterAttempt:
    status: str  # sent | bounced | uncertain | queued (to be tried again) | failed (given up)
    next_attempt_at: datetime | None
    suppress_address: bool  # a hard bounce: no more mail to this address


def after_attempt(outcome: str, *, attempts: int, decided_at: datetime, now: datetime,
                  retry: RetryTerms) -> AfterAttempt:
    """What a message becomes after its ``attempts``-th attempt (counting this one) ended in ``outcome``.

    accepted: sent. refused (a 5xx): bounced, and the address is suppressed. unknown (the connection was lost
    while the server was taking the content): uncertain, never sent again without an operator. transient (the
    server away, a 4xx): tried again after ``base_s`` doubled per earlier failure, at most ``max_s`` — unless it
    was decided ``give_up_after_s`` ago or more: failed."""
    if outcome not in SMTP_OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}")
    if outcome == "accepted":
        return AfterAttempt("sent", None, False)
    if outcome == "refused":
        return AfterAttempt("bounced", None, True)
    if outcome == "unknown":
        return AfterAttempt("uncertain", None, False)
    if (now - decided_at).total_seconds() >= retry.give_up_after_s:
        return AfterAttempt("failed", None, False)
    wait = doubling_wait_s(retry.base_s, retry.max_s, attempts)
    return AfterAttempt("queued", now + timedelta(seconds=wait), False)
