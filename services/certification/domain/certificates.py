"""Certificate decisions — pure logic, no I/O.

Certification hears facts from two topics in any order, sometimes twice. It keeps, per fact, only
the version that *supersedes* the others (the latest by CloudEvents time, ties broken by kind and
event id), so the state it ends in depends on the set of facts it has heard, never on their order.
After every fact it re-judges the servant's completion of the session and compares the verdict
with the certificate it holds:

* completed, no certificate                     -> CertificateIssued;
* completed, certificate says something else    -> CertificateIssued again, same id (amended terms);
* completed, latest certificate revoked         -> CertificateIssued for a new certificate;
* not completed, valid certificate              -> CertificateRevoked with the reason, void (the facts say
                                                   the completion never held, so it never counted);
* the comptroller's ruling (``decide_ruling``)  -> CertificateRevoked with the reason, void or from a date;
                                                   final for the completion: no later fact re-issues it.

The certificate id and verification code are derived from (servant, session, issue number), so
every path to the same completion names the same certificate. A revocation is final for that
certificate: if a later correction makes the completion hold again, a *new* certificate is issued
(issue number + 1: new id, new code) and the revoked one stays revoked. Verifiers never see a
revoked code turn valid again, and every consumer can treat CertificateRevoked as the end of a
certificate id. The price: after a revoke/re-issue cycle, which id the standing certificate has
depends on whether certification ever saw the completion fail, not only on the final facts.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import Enum

from contracts.base import Event
from contracts.compliance import NEVER_COUNTED, revoked_from
from contracts.holder import holder_matches
from contracts.events import (
    CertificateIssued,
    CertificateRevoked,
    RevocationApplies,
)
from probidad.shared.errors import RuleViolation

from services.certification.domain.codes import CertificateIdentity, certificate_identity
from services.certification.domain.facts import CompletionFacts, Outcome, judge


@dataclass(frozen=True)
class CertificateTerms:
    """What a certificate states; the signature covers exactly ``claims()``."""

    certificate_id: str
    verification_code: str
    servant_id: str
    session_id: str
    course_id: str
    course_code: str
    course_title: str
    course_topic: str
    hours: float
    score: float | None
    issued_on: date
    issuing_authority: str
    valid_until: date | None = None  # the course's vigencia after issued_on; None: it never expires
    holder_digest: str | None = None  # the servant's holder digest (contracts.holder); None: not bound

    def claims(self) -> dict[str, object]:
        """What is signed. ``valid_until`` and ``holder_digest`` are claimed only when the certificate has
        them, so a certificate signed before they existed still verifies."""
        claims = {
            "certificate_id": self.certificate_id,
            "verification_code": self.verification_code,
            "servant_id": self.servant_id,
            "session_id": self.session_id,
            "course_id": self.course_id,
            "course_code": self.course_code,
            "course_title": self.course_title,
            "hours": self.hours,
            "score": self.score,
            "issued_on": self.issued_on.isoformat(),
            "issuing_authority": self.issuing_authority,
        }
        if self.valid_until is not None:
            claims["valid_until"] = self.valid_until.isoformat()
        if self.holder_digest is not None:
            claims["holder_digest"] = self.holder_digest
        return claims

    def issued(self) -> CertificateIssued:
        # The optional fields only when known: a certificate without them is announced as before.
        optional = {name: value for name, value in (("valid_until", self.valid_until),
                                                    ("holder_digest", self.holder_digest)) if value is not None}
        return CertificateIssued(
            certificate_id=self.certificate_id, verification_code=self.verification_code,
            servant_id=self.servant_id, course_id=self.course_id, session_id=self.session_id,
            hours=self.hours, score=self.score, issued_on=self.issued_on, issuing_authority=self.issuing_authority,
            **optional,
        )

    def revoked(self, reason: str, revocation: Revocation) -> CertificateRevoked:
        return CertificateRevoked(
            certificate_id=self.certificate_id, verification_code=self.verification_code,
            servant_id=self.servant_id, course_id=self.course_id, session_id=self.session_id, reason=reason[:1000],
            applies=revocation.applies, effective_on=revocation.effective_on,
        )


def certificate_terms(facts: CompletionFacts, identity: CertificateIdentity, issuing_authority: str,
                      holder_digest: str | None = None) -> CertificateTerms:
    course, session = facts.course_of_session, facts.session
    assert course is not None and session is not None and session.local_date is not None
    # Only a graded course's certificate carries a score: otherwise a late grade would rewrite it.
    score = facts.grade.score if course.has_evaluation and facts.grade is not None else None
    return CertificateTerms(
        certificate_id=identity.certificate_id, verification_code=identity.verification_code,
        servant_id=facts.servant_id, session_id=facts.session_id, course_id=course.course_id,
        course_code=course.code, course_title=course.title, course_topic=course.topic, hours=course.hours,
        score=score, issued_on=session.local_date, issuing_authority=issuing_authority,
        valid_until=course.valid_until(session.local_date), holder_digest=holder_digest,
    )


class Status(str, Enum):
    valid = "valid"
    revoked = "revoked"


EXPIRED = "expired"
INVALID = "invalid"
MATCH, MISMATCH = "match", "mismatch"


def holder_check(digest: str | None, salt: str | None, curp: str | None) -> str | None:
    """Whether the CURP printed on a named constancia is the holder its certificate binds, given the salt
    its QR code carries: "match" or "mismatch"; None when the salt or the CURP is missing or the
    certificate binds no holder (nothing to compare with)."""
    if not salt or not curp or digest is None:
        return None
    return MATCH if holder_matches(salt, curp, digest) else MISMATCH


def verified_status(status: str, signature_holds: bool, valid_until: date | None, today: date) -> str:
    """What a verifier is told about a stored certificate on ``today`` (the programme's date):

    * invalid — the stored record no longer matches its signature (nothing it says can be trusted);
    * revoked — final, whatever its vigencia;
    * expired — its vigencia ended (``valid_until`` is the last day it holds);
    * valid.
    """
    if not signature_holds:
        return INVALID
    if status == Status.revoked.value:
        return status
    if valid_until is not None and today > valid_until:
        return EXPIRED
    return status


@dataclass(frozen=True)
class Revocation:
    """How a revocation applies in valid time (``CertificateRevoked.applies``) and who ruled it.

    ``void``: the completion never counted (every revocation after a correction: the training did not
    happen as certified); ``from_date``: it counted until the day before ``effective_on``. ``ruled_by``:
    the comptroller who revoked it by the revocation route (None: certification, after a correction).
    A ruled revocation is final for the completion: no later fact re-issues it.
    """

    applies: RevocationApplies = RevocationApplies.void
    effective_on: date | None = None
    ruled_by: str | None = None

    @property
    def void(self) -> bool:
        """Void as the compliance rule reads it (``contracts.compliance.revoked_from``): counted on no day."""
        return revoked_from(self.applies, self.effective_on) == NEVER_COUNTED

    def applies_from(self, issued_on: date) -> date:
        """The first day the certificate no longer holds: its own date when void (it never held)."""
        if self.void or self.effective_on is None:  # a revocation from a date always has its date
            return issued_on
        return self.effective_on


AFTER_CORRECTION = Revocation()  # certification's own revocations: void


@dataclass(frozen=True)
class HeldCertificate:
    """The latest certificate of a (servant, session); ``issue`` counts the ones revoked before it."""

    terms: CertificateTerms
    status: Status
    issue: int = 0
    revocation_reason: str | None = None
    revocation: Revocation | None = None  # with status revoked (None in rows kept before it was: void)

    @property
    def ruled(self) -> bool:
        return self.status is Status.revoked and self.revocation is not None and self.revocation.ruled_by is not None


@dataclass(frozen=True)
class Decision:
    """What to keep and what to tell the world after re-judging one completion."""

    certificate: HeldCertificate | None
    events: list[Event] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.events)


def decide(facts: CompletionFacts, held: HeldCertificate | None, code_key: bytes, issuing_authority: str,
           holder_digest: str | None = None) -> Decision:
    """``holder_digest``: the servant's latest (None: unknown or erased), which the certificate binds."""
    if held is not None and held.ruled:
        return Decision(held)  # the comptroller's revocation stands whatever the facts say later
    verdict = judge(facts)
    if verdict.outcome is Outcome.completed:
        if held is None:
            issue = 0
        elif held.status is Status.revoked:
            issue = held.issue + 1
        else:
            issue = held.issue
        identity = certificate_identity(facts.servant_id, facts.session_id, code_key, issue)
        terms = certificate_terms(facts, identity, issuing_authority, holder_digest)
        if held is not None and held.status is Status.valid and held.terms == terms:
            return Decision(held)
        # A valid certificate whose terms changed (a regrade, a reschedule) is amended under its id.
        return Decision(HeldCertificate(terms, Status.valid, issue), [terms.issued()])
    if held is None or held.status is Status.revoked:
        return Decision(held)
    reason = verdict.reason if verdict.outcome is Outcome.not_completed else f"no longer complete: {verdict.reason}"
    # The facts now say the completion never held: the revocation is void, on every date.
    return Decision(HeldCertificate(held.terms, Status.revoked, held.issue, reason, AFTER_CORRECTION),
                    [held.terms.revoked(reason, AFTER_CORRECTION)])


class RevocationRefused(RuleViolation):
    """The comptroller's revocation cannot be done: ``field`` is the input at fault, ``kind`` how to answer
    (invalid 422, not_found 404, conflict 409)."""


@dataclass(frozen=True)
class Ruling:
    """A comptroller's revocation of one certificate: why, and how it applies in valid time."""

    reason: str
    revocation: Revocation


def ruling(*, reason: str, applies: RevocationApplies | str, effective_on: date | None, ruled_by: str,
           issued_on: date, today: date) -> Ruling:
    """A revocation as the comptroller asks for it, checked against the certificate's date and today.

    Void takes no date (it applies from the start). From a date needs one after the certificate's own date
    (on or before it, nothing ever counted: that is void) and not after today (a verifier is told
    REVOCADA at once, so the day it applies from cannot be still to come)."""
    reason = " ".join(reason.split())
    if not reason:
        raise RevocationRefused("reason", "say why the certificate is revoked")
    if len(reason) > 1000:
        raise RevocationRefused("reason", "at most 1000 characters")
    applies = RevocationApplies(applies)
    if applies is RevocationApplies.void:
        if effective_on is not None:
            raise RevocationRefused("effective_on", "a void revocation applies from the start: give no date")
        return Ruling(reason, Revocation(applies, None, ruled_by))
    if effective_on is None:
        raise RevocationRefused("effective_on", "a revocation from a date needs the date it applies from")
    if effective_on <= issued_on:
        raise RevocationRefused("effective_on", f"on or before the certificate's date ({issued_on.isoformat()}) "
                                "it never counted: revoke it as void")
    if effective_on > today:
        raise RevocationRefused("effective_on", f"after today ({today.isoformat()}): a revocation applies from a "
                                "day already begun")
    return Ruling(reason, Revocation(applies, effective_on, ruled_by))


def decide_ruling(standing: StandingCertificate | None, certificate_id: str, ruling: Ruling) -> Decision:
    """Revoke the certificate ``certificate_id`` by the comptroller's ruling: it must be the latest of its
    (servant, session) and still valid."""
    held = standing.held if standing is not None else None
    if held is None:
        raise RevocationRefused("certificate", f"no certificate {certificate_id}", "not_found")
    if held.terms.certificate_id != certificate_id:  # an earlier one: a new one is issued only after a revocation
        raise RevocationRefused("certificate", f"certificate {certificate_id} is already revoked", "conflict")
    if held.status is Status.revoked:
        raise RevocationRefused("certificate", f"certificate {held.terms.verification_code} is already revoked",
                                "conflict")
    revoked = HeldCertificate(held.terms, Status.revoked, held.issue, ruling.reason, ruling.revocation)
    return Decision(revoked, [held.terms.revoked(ruling.reason, ruling.revocation)])



@dataclass(frozen=True)
class StandingCertificate:
    """The latest certificate of a (servant, session), with the institution it is stamped with (the
    stamp is neither signed nor published: it says which liaison may list the certificate)."""

    held: HeldCertificate
    institution_id: str | None = None
