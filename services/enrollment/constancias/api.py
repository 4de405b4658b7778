"""HTTP API of named constancias: translates requests into handler and view calls, nothing more."""

from __future__ import annotations

import io
import zipfile
from datetime import date

from fastapi import APIRouter, Response
from probidad.shared.dependencies import Registrar, Runtime
from pydantic import BaseModel, Field

from services.enrollment.constancias import views
from services.enrollment.constancias.pdf import file_name as constancia_file_name
from services.enrollment.constancias.pdf import render_constancia
from services.enrollment.http import Context, acting_for, storage

router = APIRouter()


# ------------------------------------------------------------------ named constancias


class ConstanciaOut(BaseModel):
    verification_code: str
    course_id: str | None
    course_title: str | None
    issued_on: date | None
    valid_until: date | None
    revoked: bool = Field(description="A revoked certificate's constancia is not printed.")
    pdf: str = Field(description="Path of the printable constancia (with the holder's name and CURP).")


@router.get("/servants/{servant_id}/constancias", response_model=list[ConstanciaOut], tags=["constancias"])
async def list_constancias(servant_id: str, runtime: Runtime, principal: Registrar) -> list[ConstanciaOut]:
    """The servant's certificates, each printable as a named constancia (the comptroller, or the
    servant's liaison)."""
    async with runtime.unit_of_work() as uow:
        found = await views.constancias(storage(uow), servant_id, acting_for=acting_for(principal))
    return [ConstanciaOut(verification_code=c.row.verification_code, course_id=c.row.course_id,
                          course_title=c.course_title, issued_on=c.row.completed_on, valid_until=c.row.valid_until,
                          revoked=c.row.revoked_on is not None,
                          pdf=f"/servants/{servant_id}/constancias/{c.row.verification_code}.pdf") for c in found]


@router.get("/servants/{servant_id}/constancias/{code}.pdf", response_class=Response, tags=["constancias"],
            responses={200: {"content": {"application/pdf": {}}}, 410: {"description": "Personal data erased"}})
async def constancia_pdf(servant_id: str, code: str, runtime: Runtime, ctx: Context,
                         principal: Registrar) -> Response:
    """The named constancia: holder's full name and CURP, course, hours, date, folio, and a QR code to the
    verification page, which can check the printed CURP against the signed certificate. 410 once the
    servant's personal data was erased (ARCO); 409 for a revoked certificate."""
    async with runtime.unit_of_work() as uow:
        named = await views.named_constancia(storage(uow), ctx, servant_id, code, acting_for=acting_for(principal))
    return Response(render_constancia(named), media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{constancia_file_name(named)}"'})


@router.get("/institutions/{institution_id}/constancias.zip", response_class=Response, tags=["constancias"],
            responses={200: {"content": {"application/zip": {}}}})
async def institution_constancias(institution_id: str, runtime: Runtime, ctx: Context,
                                  principal: Registrar) -> Response:
    """Every printable constancia of the institution's servants in one ZIP, for the liaison's personnel
    files (revoked certificates and erased servants left out); 404 to another institution's liaison."""
    async with runtime.unit_of_work() as uow:
        named = await views.institution_constancias(storage(uow), ctx, institution_id, acting_for=acting_for(principal))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for constancia in named:
            archive.writestr(f"{constancia.curp}/{constancia_file_name(constancia)}", render_constancia(constancia))
    return Response(buffer.getvalue(), media_type="application/zip", headers={
        "Content-Disposition": f'attachment; filename="constancias-{institution_id}.zip"'})
