"""What every 4xx answer of the platform's HTTP APIs looks like, and the OpenAPI document saying so.

Every refusal is ``{"detail": "field: reason"}`` (the field at fault first, so a person or a program
can tell what to fix); an invalid request adds ``errors``, one entry per field. FastAPI documents
422 answers as its own validation-error array, which these APIs never send: the documents are
rewritten to promise what is sent, so a client generated from them, or a schema checker, is not misled.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, Field


class FieldProblem(BaseModel):
    field: str = Field(description="Where the problem is, e.g. 'headcount' or 'rows.3.curp'.")
    message: str


class Problem(BaseModel):
    """A refused request."""

    detail: str = Field(description="What is wrong, naming the field at fault first ('field: reason').")
    errors: list[FieldProblem] | None = Field(None, description="For invalid input: one entry per field.")


def input_problems(errors: list[dict[str, Any]], body: Any = None) -> list[dict[str, str]]:
    """One ``{"field", "message"}`` per problem of an invalid request (FastAPI's validation errors).

    A body that is not JSON at all is named as the body, with where it broke (line and column, as an
    editor counts them) and why, instead of the character offset FastAPI reports in the error's place."""
    problems = []
    for error in errors:
        loc = error.get("loc") or ()
        if error.get("type") == "json_invalid":
            problems.append({"field": "body", "message": _where_json_broke(body, loc[-1] if loc else None,
                                                                           (error.get("ctx") or {}).get("error"))})
            continue
        problems.append({"field": ".".join(str(p) for p in loc if p != "body") or "body", "message": error["msg"]})
    return problems


def _where_json_broke(body: Any, position: Any, reason: str | None) -> str:
    message = "not valid JSON"
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(position, int) and isinstance(body, str) and 0 <= position <= len(body):
        line = body.count("\n", 0, position) + 1
        column = position - (body.rfind("\n", 0, position) + 1) + 1
        message += f" at line {line}, column {column}"
    return f"{message}: {reason}" if reason else message


_FASTAPI_ERROR_SCHEMAS = ("HTTPValidationError", "ValidationError")


def document_problems(app: FastAPI) -> None:
    """Make ``app``'s OpenAPI document describe its 4xx answers as ``Problem``s."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for name in _FASTAPI_ERROR_SCHEMAS:
                components.pop(name, None)
            problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(problem.pop("$defs", {}))
            components["Problem"] = problem
            answer = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
            for path in schema.get("paths", {}).values():
                for operation in path.values():
                    responses = operation.setdefault("responses", {})
                    if "422" in responses:
                        responses["422"] = {"description": "Invalid input", **answer}
                    responses.setdefault("4XX", {"description": "Refused (the field at fault first)", **answer})
                    responses.setdefault("503", {"description": "The database is away for a moment: retry after "
                                                 "the Retry-After header's seconds", **answer})
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
