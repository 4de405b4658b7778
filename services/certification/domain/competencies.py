"""Competency attainment: the competencies a servant's valid certificates meet — pure logic, no I/O."""
from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date

from contracts.events import (
    CompetencyAttained,
)



# ------------------------------------------------------------------ competencies


@dataclass(frozen=True)
class CertificateHolding:
    """A valid certificate, as the competency model sees it."""

    certificate_id: str
    course_id: str
    course_code: str
    course_topic: str
    issued_on: date


def _satisfies(requirement: str, holding: CertificateHolding) -> bool:
    wanted = requirement.casefold()
    return wanted in (holding.course_code.casefold(), holding.course_topic.casefold())


def still_attained(already_attained: Mapping[str, Collection[str]],
                   holdings: list[CertificateHolding]) -> set[str]:
    """The competencies whose kept attainment still counts: every certificate it lists is still valid.

    ``already_attained``: each competency attained, with the certificate ids its attainment lists. One
    resting on a certificate since revoked (as void or from a date) counts no longer, so a servant who
    retrains attains it again."""
    valid = {h.certificate_id for h in holdings}
    return {competency for competency, certificate_ids in already_attained.items()
            if all(certificate_id in valid for certificate_id in certificate_ids)}


def competencies_attained(servant_id: str, model: dict[str, list[str]], holdings: list[CertificateHolding],
                          already_attained: Mapping[str, Collection[str]]) -> list[CompetencyAttained]:
    """Competencies newly attained: every requirement met by a valid certificate. Announced once while
    the certificates it lists stay valid (``still_attained``); again, with new ones, after a revocation."""
    attained = []
    counting = still_attained(already_attained, holdings)
    for competency in sorted(model):
        if competency in counting:
            continue
        chosen: list[CertificateHolding] = []
        for requirement in model[competency]:
            # With several certificates for a requirement, the earliest counts (stable across replays).
            candidates = sorted((h for h in holdings if _satisfies(requirement, h)),
                                key=lambda h: (h.issued_on, h.certificate_id))
            if not candidates:
                break
            chosen.append(candidates[0])
        else:
            unique = {h.certificate_id: h for h in chosen}.values()
            attained.append(CompetencyAttained(
                servant_id=servant_id, competency=competency,
                course_ids=sorted({h.course_id for h in unique}),
                certificate_ids=sorted(h.certificate_id for h in unique),
                attained_on=max(h.issued_on for h in unique),
            ))
    return attained
