"""HTTP API: public verification (JSON or a page), the signing key, PDF and Open Badges exports,
and certificate and competency look-ups for staff.

Public answers say what a verifier needs — valid, expired or revoked, course, date, vigencia, hours,
issuer — and nothing about the holder: certification never receives names (they stay in enrollment and
can be erased there), so not even initials exist here to be shown. The holder proves the certificate is
theirs by holding it; the code and the signature prove it is genuine. A named constancia (printed by
enrollment) adds its holder's salt to the verification link, so the page can answer whether the CURP
printed on it is the holder the certificate binds — comparing digests, showing back no CURP or name.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from fastapi import APIRouter, Query, Request
from jinja2 import Environment, PackageLoader, StrictUndefined
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from contracts.events import RevocationApplies
from contracts.holder import SALT_PARAMETER, is_salt
from probidad.shared.dependencies import Comptroller, Provided, Registrar, Runtime
from probidad.shared.errors import RuleViolation
from probidad.shared.printing import SigningAuthority
from services.certification import status_list, views
from services.certification.domain.codes import CODE_PREFIX, CODE_SHAPE, normalise_code
from services.certification.badges import ACHIEVEMENTS_PATH
from services.certification.documents import PrintedCertificate, render_pdf, spanish_date
from services.certification import handlers  # the one write route: the comptroller's revocation
from services.certification.handlers import CertificationContext
from services.certification.reads_repository import SqlCertificateReads
from services.certification.repository import SqlCertificationRepository
from services.certification.signing import b64url
from services.certification.views import Verification
from services.certification.tables import CertificateRecord

WELL_KNOWN_KEYS = "/.well-known/probidad-certificates.json"

public_router = APIRouter(tags=["verification"])
staff_router = APIRouter(tags=["certificates"])


Context = Provided(CertificationContext)


def _base_url(runtime: Runtime) -> str:
    return runtime.settings.base_url.rstrip("/")


def verification_url(base_url: str, code: str) -> str:
    return f"{base_url}/verify/{code}"


async def _verification(runtime: Runtime, ctx: CertificationContext, code: str) -> Verification:
    if normalise_code(code) is None:
        raise RuleViolation("code", f"{code[:60]!r} is not a verification code (a folio reads {CODE_SHAPE})")
    async with runtime.unit_of_work() as uow:
        reads = SqlCertificateReads(uow)
        found = await views.verification(reads, code, ctx.signer, ctx.today())
    if found is None:
        raise RuleViolation("code", f"no certificate has the verification code {code!r}", "not_found")
    return found


@public_router.get(WELL_KNOWN_KEYS, summary="Public keys of Probidad certificates: the current and the retired")
async def signing_keys(runtime: Runtime, ctx: Context) -> JSONResponse:
    """Every key a certificate's ``key_id`` may name: the ``current`` key, which signs new certificates
    and badges, and the ``retired`` keys, which signed before a rotation and still verify what they signed."""
    signer, settings = ctx.signer, runtime.settings
    return JSONResponse({
        "issuer": settings.issuing_authority,
        "algorithm": "Ed25519",
        "signed_payload": "RFC 8785 canonical JSON of the certificate claims (see /docs)",
        "keys": [{"kid": public.key_id, "status": status, "public_key": b64url(public.raw),
                  "did": public.did_key, "jwk": public.jwk()} for public, status in signer.published_keys()],
    })


def _public_view(found: Verification, base_url: str, holder_check: str | None = None) -> dict:
    record = found.record
    return {
        "verification_code": record.verification_code,
        "status": found.status,
        "valid": found.status == "valid",
        "course": {"code": record.course_code, "title": record.course_title, "topic": record.course_topic},
        "date": record.issued_on.isoformat(),
        "valid_until": record.valid_until.isoformat() if record.valid_until else None,
        "hours": record.hours,
        "issuer": record.issuing_authority,
        "signature": {"algorithm": "Ed25519", "key_id": record.key_id, "holds": found.signature_holds,
                      "public_keys": f"{base_url}{WELL_KNOWN_KEYS}"},
        "holder_check": holder_check,
        "revocation": _revocation(found),
    }


def _revocation(found: Verification) -> dict | None:
    """A revoked certificate's revocation in valid time: void (it never counted) or from a date."""
    revocation = found.revocation
    if revocation is None:
        return None
    return {"void": revocation.void, "applies_from": revocation.applies_from(found.record.issued_on).isoformat()}


_VERDICTS = {"valid": ("VÁLIDA", "#1b6e3a"), "expired": ("VENCIDA", "#8a5a00"), "revoked": ("REVOCADA", "#a11d2b"),
             "invalid": ("NO VÁLIDA", "#a11d2b")}
_HOLDER_ANSWERS = {"match": ("La CURP corresponde al titular de esta constancia.", "#1b6e3a"),
                   "mismatch": ("La CURP NO corresponde al titular de esta constancia.", "#a11d2b")}
_TEMPLATES = Environment(loader=PackageLoader("services.certification", "templates"), autoescape=True,
                         undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def _spanish(iso_date: str | None) -> str | None:
    return spanish_date(date.fromisoformat(iso_date)) if iso_date else None


def _page(view: dict[str, Any], *, ask_curp_for: str | None = None, unbound: bool = False) -> str:
    """The verification page: the verdict, the answer about a CURP given (or a form asking for it, the salt
    kept hidden in it, or why it cannot be checked; never the CURP itself), the course, date, revocation
    (void, or from a date), vigencia, hours and issuer."""
    label, colour = _VERDICTS[view["status"]]
    revocation = view.get("revocation")
    return _TEMPLATES.get_template("verification.html").render(
        view=view, label=label, colour=colour, date_text=_spanish(view["date"]),
        holder_answer=_HOLDER_ANSWERS.get(view["holder_check"]) if view["holder_check"] else None,
        ask_curp_for=ask_curp_for, unbound=unbound, salt_parameter=SALT_PARAMETER,
        revoked_since=_spanish(revocation["applies_from"]) if revocation else None,
        valid_until=_spanish(view["valid_until"]), hours=format(view["hours"], "g"))


def _quality(request: Request, *media_types: str) -> float:
    """The highest q the Accept header gives any of ``media_types`` by name (0 when none is named)."""
    best = 0.0
    for part in request.headers.get("accept", "").split(","):
        media_type, *parameters = (piece.strip() for piece in part.split(";"))
        if media_type.lower() not in media_types:
            continue
        q = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    q = 0.0
        best = max(best, q)
    return best


def _wants_page(request: Request) -> bool:
    """A browser (text/html named, preferred to JSON) gets a page; any other client gets JSON, as before."""
    return _quality(request, "text/html", "application/xhtml+xml") > _quality(request, "application/json")


_REFUSAL_TITLES = {404: "Folio no encontrado", 422: "Folio no válido"}


def _refusal_page(code: str, status_code: int) -> str:
    """Why a folio verifies nothing, for a person: in Spanish, the folio as typed (escaped, shortened)."""
    not_found = status_code == 404  # anything else: the folio cannot be one
    shown = code if len(code) <= 40 else code[:40] + "…"
    return _TEMPLATES.get_template("refusal.html").render(
        title=_REFUSAL_TITLES[404 if not_found else 422], status_code=status_code, not_found=not_found, code=shown,
        shape=CODE_SHAPE, prefix=CODE_PREFIX)


@public_router.get("/verify/{code}", summary="Verify a certificate by its code (JSON, or a page for browsers)",
                   responses={404: {"description": "No certificate has this code"},
                              422: {"description": "The code cannot be a verification code"}})
async def verify(code: str, request: Request, runtime: Runtime, ctx: Context,
                 salt: str | None = Query(None, alias=SALT_PARAMETER, max_length=64,
                                          description="The holder's salt, from a named constancia's QR code"),
                 curp: str | None = Query(None, max_length=40, description="The CURP printed on the constancia")
                 ) -> Response:
    """valid | expired (its vigencia, ``valid_until``, ended before today in the programme's time zone) |
    revoked | invalid (the stored record no longer matches its signature), with the course, date, vigencia,
    hours and issuer. Nothing about the holder: certification holds no names or initials.

    With ``titular`` (the salt) and ``curp``: ``holder_check`` says whether that CURP is the holder the
    certificate binds (``match`` | ``mismatch``; null when not asked, or the certificate binds no holder).
    With ``titular`` only, the page asks for the CURP.

    Content negotiation: a page when the Accept header prefers ``text/html`` to ``application/json`` (a
    browser), JSON otherwise. An unknown code answers 404 and one that cannot be a code 422, as a page in
    Spanish for a browser, as ``{"detail": "code: …"}`` for a program."""
    page = _wants_page(request)
    # A salt or a CURP in the address is kept out of caches and out of the next site's Referer; the same
    # address answers a page or JSON, so caches must key on Accept.
    private = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"} if salt or curp else {}
    private["Vary"] = "Accept"
    try:
        found = await _verification(runtime, ctx, code)
    except RuleViolation as refused:
        if not page:
            return JSONResponse({"detail": str(refused)}, status_code=refused.status, headers=private)
        return HTMLResponse(_refusal_page(code, refused.status), status_code=refused.status, headers=private)
    check = found.holder_check(salt, curp)
    view = _public_view(found, _base_url(runtime), check)
    if page:
        ask = salt if salt and not curp and is_salt(salt) and found.binds_holder else None
        unbound = bool(salt and curp) and found.signature_holds and not found.binds_holder
        return HTMLResponse(_page(view, ask_curp_for=ask, unbound=unbound), headers=private)
    return JSONResponse(view, headers=private)


def _exportable(found: Verification) -> CertificateRecord:
    if found.status == "revoked":
        raise RuleViolation("code", f"certificate {found.record.verification_code} was revoked", "gone")
    if found.status == "invalid":
        raise RuleViolation("code", f"certificate {found.record.verification_code} fails its signature check",
                            "conflict")
    return found.record


@public_router.get("/certificates/{code}/pdf", summary="Printable certificate (PDF) with a verification QR code")
async def certificate_pdf(code: str, runtime: Runtime, ctx: Context) -> Response:
    record = _exportable(await _verification(runtime, ctx, code))
    document = render_pdf(PrintedCertificate(
        verification_code=record.verification_code, course_title=record.course_title, course_topic=record.course_topic,
        hours=record.hours, issued_on=record.issued_on, issuing_authority=record.issuing_authority, score=record.score,
        verification_url=verification_url(_base_url(runtime), record.verification_code),
        valid_until=record.valid_until, signed_by=SigningAuthority.of(runtime.settings),
    ))
    return Response(document, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="constancia-{record.verification_code}.pdf"'})


@public_router.get("/certificates/{code}/badge", summary="Open Badges 3.0 credential (eddsa-jcs-2022 proof)")
async def certificate_badge(code: str, runtime: Runtime, ctx: Context) -> JSONResponse:
    record = _exportable(await _verification(runtime, ctx, code))
    async with runtime.unit_of_work() as uow:
        reads = SqlCertificateReads(uow)
        credential = await views.badge(reads, record, ctx.signer, base_url=_base_url(runtime))
    return JSONResponse(credential, media_type="application/vc+ld+json")


# ------------------------------------------------------------------ Open Badges: status lists and achievements


@public_router.get(status_list.PATH + "/{list_id}", summary="Bitstring Status List of badge revocations (signed)")
async def badge_status_list(list_id: str, runtime: Runtime, ctx: Context) -> JSONResponse:
    """The BitstringStatusListCredential a badge's ``credentialStatus`` names: one bit per certificate, set
    once it was revoked, signed (eddsa-jcs-2022) by the key that signs the badges."""
    normalised = status_list.list_id_of(list_id)
    if normalised is None:
        raise RuleViolation("list_id", f"{list_id!r} names no status list (it is a code's first 8 symbols)",
                            "not_found")
    async with runtime.unit_of_work() as uow:
        reads = SqlCertificateReads(uow)
        credential = await views.status_list_credential(reads, normalised, ctx.signer, base_url=_base_url(runtime))
    # A revocation must reach verifiers at once: they may keep a copy only as long as they revalidate it.
    return JSONResponse(credential, media_type="application/vc+ld+json", headers={"Cache-Control": "no-cache"})


@public_router.get(ACHIEVEMENTS_PATH + "/{course_id}", summary="Open Badges 3.0 Achievement of a course")
async def course_achievement(course_id: str, runtime: Runtime) -> JSONResponse:
    """What a badge's ``achievement.id`` points at: the course's Achievement under its current terms."""
    async with runtime.unit_of_work() as uow:
        reads = SqlCertificateReads(uow)
        found = await views.course_achievement(reads, course_id, base_url=_base_url(runtime))
    if found is None:
        raise RuleViolation("course_id", f"no course {course_id!r}", "not_found")
    return JSONResponse(found, media_type="application/ld+json")


def _staff_view(record: CertificateRecord, base_url: str) -> dict:
    return {
        "certificate_id": record.certificate_id, "verification_code": record.verification_code,
        "servant_id": record.servant_id, "session_id": record.session_id, "institution_id": record.institution_id,
        "course_id": record.course_id, "course_code": record.course_code, "course_title": record.course_title,
        "hours": record.hours, "score": record.score, "issued_on": record.issued_on.isoformat(),
        "status": record.status, "revocation_reason": record.revocation_reason,
        "verification_url": verification_url(base_url, record.verification_code),
    }


@staff_router.get("/certificates", summary="Certificates, by servant, session or institution")
async def list_certificates(runtime: Runtime, principal: Registrar, servant_id: str | None = Query(None),
                            session_id: str | None = Query(None)) -> list[dict]:
    """A liaison sees only certificates of its institution's servants."""
    institution = principal.institution_id if principal.role == "liaison" else None
    async with runtime.unit_of_work() as uow:
        reads = SqlCertificateReads(uow)
        found = await views.certificates(reads, servant_id=servant_id, session_id=session_id,
                                        institution_id=institution)
    return [_staff_view(r, _base_url(runtime)) for r in found]


class RevocationIn(BaseModel):
    """The comptroller's revocation of a certificate: why, and how it applies in valid time."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=1000, description="Why it is revoked (kept and announced).")
    applies: RevocationApplies = Field(description="void: the completion never counted, on any date (the "
                                       "attendance was wrong, the evaluation annulled); from_date: it counted "
                                       "until the day before effective_on (a sanction, a fraud discovered).")
    effective_on: date | None = Field(None, description="With from_date: the first day it no longer counts, after "
                                      "the certificate's date and not after today. None with void.")


class RevocationOut(BaseModel):
    certificate_id: str
    verification_code: str
    status: str
    reason: str
    applies: RevocationApplies
    applies_from: date = Field(description="The first day the certificate no longer holds: its own date when void.")
    revoked_by: str


@staff_router.post("/certificates/{certificate}/revocation", summary="Revoke a certificate (comptroller)",
                   response_model=RevocationOut,
                   responses={404: {"description": "No such certificate"}, 409: {"description": "Already revoked"}})
async def revoke_certificate(certificate: str, body: RevocationIn, runtime: Runtime, ctx: Context,
                             principal: Comptroller) -> RevocationOut:
    """Revoke a certificate, by its id or its verification code: void from the start, or from a date.

    Announced as ``CertificateRevoked`` (with ``applies`` and ``effective_on``): verification answers
    REVOCADA with the day it applies from, the badge's status list sets its bit, enrollment stops printing
    its constancia, and compliance and the figures take the completion away in valid time. Final: no
    later fact re-issues the completion. 404 for an unknown certificate, 409 for one already revoked."""
    async with runtime.unit_of_work() as uow:
        repo = await SqlCertificationRepository.of(uow)
        revoked = await handlers.revoke(repo, ctx, certificate, reason=body.reason, applies=body.applies,
                                        effective_on=body.effective_on, ruled_by=principal.subject, now=ctx.clock())
        uow.record(revoked.events)
    held = revoked.certificate
    return RevocationOut(certificate_id=held.terms.certificate_id, verification_code=held.terms.verification_code,
                         status=held.status.value, reason=held.revocation_reason, applies=held.revocation.applies,
                         applies_from=held.revocation.applies_from(held.terms.issued_on),
                         revoked_by=held.revocation.ruled_by)


@staff_router.get("/servants/{servant_id}/competencies", summary="Competencies a servant attained")
async def servant_competencies(servant_id: str, runtime: Runtime, _principal: Comptroller) -> list[dict]:
    async with runtime.unit_of_work() as uow:
        reads = SqlCertificateReads(uow)
        found = await views.competencies(reads, servant_id)
    return [{"competency": c.competency, "course_ids": json.loads(c.course_ids),
             "certificate_ids": json.loads(c.certificate_ids), "attained_on": c.attained_on.isoformat()} for c in found]


@public_router.get("/competency-model", summary="Competencies and the course codes or topics each requires")
async def competency_model(ctx: Context) -> dict[str, list[str]]:
    return ctx.rules.competency_model
