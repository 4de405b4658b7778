"""The baseline of the enrollment benchmark: a bare FastAPI endpoint that inserts one row and answers.

Same database layer and settings as the services (probidad.shared.database), no auth, no rules, no
outbox: the floor any real enrolment endpoint on this machine is compared with.
Run: ``uvicorn bench.enrollment_baseline:app`` with PROBIDAD_DATABASE_URL set.
"""

from __future__ import annotations

import os
import uuid
from contextlib import asynccontextmanager

from fastapi import FastAPI
from pydantic import BaseModel
from sqlmodel import Field, SQLModel

from probidad.shared.database import Database


class BareEnrolment(SQLModel, table=True):
    __tablename__ = "bare_enrolment"

    number: int | None = Field(default=None, primary_key=True)
    enrolment_id: str = Field(max_length=64, unique=True)
    session_id: str = Field(max_length=64)
    servant_id: str = Field(max_length=64)


class EnrolmentIn(BaseModel):
    session_id: str
    servant_id: str


database = Database(os.environ.get("PROBIDAD_DATABASE_URL", "sqlite+aiosqlite:///bare.db"))


@asynccontextmanager
async def lifespan(_app: FastAPI):
    await database.create_schema([BareEnrolment.__table__])
    yield
    await database.dispose()


app = FastAPI(lifespan=lifespan)


@app.get("/health")
async def health() -> dict:
    return {"status": "ok"}


@app.post("/enrolments", status_code=201)
async def enrol(body: EnrolmentIn) -> dict:
    enrolment = BareEnrolment(enrolment_id=uuid.uuid4().hex, session_id=body.session_id, servant_id=body.servant_id)
    async with database.transaction() as session:
        session.add(enrolment)
    return {"enrolment_id": enrolment.enrolment_id, "status": "confirmed"}
