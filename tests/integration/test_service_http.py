"""What every service's HTTP app has: health, metrics per route, AsyncAPI, and 4xx naming the field."""

from __future__ import annotations

import httpx
from fastapi import APIRouter
from faststream.kafka import TestKafkaBroker
from pydantic import BaseModel, Field

from probidad.shared.service import create_http_app
from probidad.shared.settings import ServiceSettings
from tests.support import ledger


class Headcount(BaseModel):
    institution_id: str = Field(min_length=1)
    headcount: int = Field(ge=1)


router = APIRouter()


@router.post("/headcounts", status_code=201)
async def declare(body: Headcount) -> dict:
    return body.model_dump()


async def _client(database_url: str, tmp_path):
    runtime = ledger.create_runtime(ServiceSettings(service_name="ledger", database_url=database_url,
                                                    state_dir=tmp_path))
    runtime.in_memory_broker = True
    app = create_http_app(runtime, [router], title="ledger")
    return runtime, app


async def test_health_metrics_asyncapi_and_field_errors(database_url: str, tmp_path) -> None:
    runtime, app = await _client(database_url, tmp_path)
    async with TestKafkaBroker(runtime.broker), app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ledger") as http:
            health = await http.get("/health")
            assert health.status_code == 200 and health.json()["checks"]["database"] == "ok"

            bad = await http.post("/headcounts", json={"institution_id": "salud", "headcount": 0})
            assert bad.status_code == 422
            assert bad.json()["errors"][0]["field"] == "headcount"
            assert "headcount" in bad.json()["detail"]
            assert (await http.post("/headcounts", json={"institution_id": "salud", "headcount": 9})).status_code == 201

            spec = (await http.get("/asyncapi.json")).json()
            assert spec["asyncapi"] == "3.0.0"

            metrics = (await http.get("/metrics")).text
            requests = 'probidad_http_requests_total{method="POST",route="/headcounts",service="ledger"'
            assert requests + ',status="4xx"}' in metrics
            assert requests + ',status="2xx"}' in metrics


async def test_the_openapi_document_promises_the_refusals_the_api_sends(database_url: str, tmp_path) -> None:
    runtime, app = await _client(database_url, tmp_path)
    async with TestKafkaBroker(runtime.broker), app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ledger") as http:
            document = (await http.get("/openapi.json")).json()
            responses = document["paths"]["/headcounts"]["post"]["responses"]
            problem = {"$ref": "#/components/schemas/Problem"}
            assert responses["422"]["content"]["application/json"]["schema"] == problem
            assert responses["4XX"]["content"]["application/json"]["schema"] == problem
            assert "HTTPValidationError" not in document["components"]["schemas"]
            schema = document["components"]["schemas"]["Problem"]
            assert schema["required"] == ["detail"] and schema["properties"]["detail"]["type"] == "string"

            refused = (await http.post("/headcounts", json={"institution_id": "", "headcount": "many"})).json()
            assert isinstance(refused["detail"], str)
            assert {e["field"] for e in refused["errors"]} == {"institution_id", "headcount"}
            assert set(refused) <= set(schema["properties"])


async def test_a_body_that_is_not_json_is_named_as_the_body_with_the_line_and_column_where_it_broke(
        database_url: str, tmp_path) -> None:
    runtime, app = await _client(database_url, tmp_path)
    async with TestKafkaBroker(runtime.broker), app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ledger") as http:
            # A comma forgotten at the end of the second line: the third line's first key is where it broke.
            sent = '{\n  "institution_id": "salud"\n  "headcount": 9\n}'
            refused = await http.post("/headcounts", content=sent.encode(),
                                      headers={"Content-Type": "application/json"})
            assert refused.status_code == 422
            assert refused.json()["errors"] == [
                {"field": "body", "message": "not valid JSON at line 3, column 3: Expecting ',' delimiter"}]
            assert "body: not valid JSON at line 3, column 3" in refused.json()["detail"]
            # Columns count characters, not bytes: an accented name before the fault does not shift it.
            refused = await http.post("/headcounts", content='{"institution_id": "Tulúm", }'.encode(),
                                      headers={"Content-Type": "application/json"})
            assert refused.json()["errors"][0]["message"].startswith("not valid JSON at line 1, column 29:")
