"""Reads of named constancias for the HTTP API, through the repository."""

from __future__ import annotations

from dataclasses import dataclass

from probidad.shared.errors import RuleViolation
from probidad.shared.printing import SigningAuthority

from services.enrollment.constancias.pdf import NamedConstancia, constancia_url
from services.enrollment.constancias.ports import CompletionRow, ConstanciasRepository, Course, Institution, Servant
from services.enrollment.context import EnrollmentContext
from services.enrollment.institutions.handlers import find_institution
from services.enrollment.servants.handlers import find_servant

# ------------------------------------------------------------------ named constancias


@dataclass(frozen=True)
class CertificateHeld:
    row: CompletionRow
    course_title: str | None


async def constancias(repo: ConstanciasRepository, servant_id: str, *, acting_for: str | None) -> list[CertificateHeld]:
    await find_servant(repo, servant_id, acting_for)
    titles = {c.course_id: c.title for c in await repo.courses()}
    return [CertificateHeld(row, titles.get(row.course_id))
            for row in (await repo.certificates_of([servant_id]))[servant_id]]


class _Printer:
    """Makes named constancias: the course titles and institution names they print, read once."""

    def __init__(self, verify_base_url: str, courses: list[Course], institutions: list[Institution],
                 signing_authority: SigningAuthority) -> None:
        self.verify_base_url = verify_base_url
        self.signing_authority = signing_authority
        self.titles = {c.course_id: c.title for c in courses}
        self.institutions = {i.institution_id: i.name for i in institutions}

    @classmethod
    async def reading(cls, repo: ConstanciasRepository, ctx: EnrollmentContext) -> _Printer:
        return cls(ctx.verify_base_url, await repo.courses(), await repo.institutions(), ctx.signing_authority)

    def constancia(self, servant: Servant, row: CompletionRow) -> NamedConstancia:
        return NamedConstancia(
            holder_name=servant.name, curp=servant.curp, verification_code=row.verification_code,
            course_title=self.titles.get(row.course_id) or row.course_id or "", hours=row.hours or 0,
            issued_on=row.completed_on, issuing_authority=row.issuing_authority or "",
            verification_url=constancia_url(self.verify_base_url, row.verification_code, servant.holder_salt),
            institution_name=self.institutions.get(servant.institution_id), signed_by=self.signing_authority)


def _printable(servant: Servant) -> bool:
    """Whether a constancia bearing the servant's name can be printed: not after erasure (nor for a
    servant registered before holders were bound, who has no salt yet)."""
    return servant.erased_at is None and bool(servant.name and servant.curp and servant.holder_salt)


async def named_constancia(repo: ConstanciasRepository, ctx: EnrollmentContext, servant_id: str, code: str, *,
                           acting_for: str | None) -> NamedConstancia:
    """The constancia of one of the servant's certificates, ready to print."""
    servant = await find_servant(repo, servant_id, acting_for)
    row = next((r for r in (await repo.certificates_of([servant_id]))[servant_id] if r.verification_code == code), None)
    if row is None:
        raise RuleViolation("code", f"servant {servant_id} has no certificate {code!r}", "not_found")
    if not _printable(servant):
        raise RuleViolation("servant_id", "this servant's personal data was erased: no constancia bearing their "
                            "name can be printed (the certificate still verifies by its code)", "gone")
    if row.revoked_on is not None:
        raise RuleViolation("code", f"certificate {code} was revoked on {row.revoked_on.isoformat()}", "conflict")
    return (await _Printer.reading(repo, ctx)).constancia(servant, row)


async def institution_constancias(repo: ConstanciasRepository, ctx: EnrollmentContext, institution_id: str, *,
                                  acting_for: str | None) -> list[NamedConstancia]:
    """The printable constancias of the institution's current servants: revoked certificates and erased
    servants left out."""
    await find_institution(repo, institution_id, acting_for)
    servants = [s for s in await repo.servants_ever_in(institution_id)
                if s.institution_id == institution_id and _printable(s)]
    held = await repo.certificates_of([s.servant_id for s in servants])
    printer = await _Printer.reading(repo, ctx)
    return [printer.constancia(s, row) for s in servants for row in held[s.servant_id]
            if row.revoked_on is None and row.completed_on is not None]
