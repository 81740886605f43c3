"""The OpenAPI schema states what POST /api/v1/orders/ accepts and answers.

The intake is a plain Django view (orders.api.submit), documented through a
drf-spectacular extension (orders/api/schema.py); these tests keep the two
from drifting apart: every status the view answers is in the schema, and the
201 body has exactly the fields the schema promises.
"""

import json

import pytest
from rest_framework.test import APIClient

from tests.conftest import order_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema():
    response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    return response.json()


def resolve(schema, node):
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def submission(schema):
    return schema["paths"]["/api/v1/orders/"]["post"]


def post(client, data, content_type="application/json", **headers):
    return client.post("/api/v1/orders/", data=data, content_type=content_type, **headers)


def test_the_submission_lists_every_status_the_view_answers(api, schema):
    documented = set(submission(schema)["responses"])
    big_body = json.dumps(order_body(notes="x" * 2_000_000))
    answered = {
        post(api, json.dumps(order_body())).status_code,  # 201
        post(api, "{not json").status_code,  # 400
        post(APIClient(), json.dumps(order_body())).status_code,  # 401
        post(api, json.dumps(order_body()), HTTP_ACCEPT="text/csv").status_code,  # 406
        post(api, json.dumps(order_body())).status_code,  # 409: same PO number again
        post(api, big_body).status_code,  # 413
        post(api, "po_number=1", content_type="application/x-www-form-urlencoded").status_code,  # 415
        post(api, json.dumps(order_body(po_number="PO-NEW", lines=[]))).status_code,  # 400: no lines
        post(api, json.dumps(order_body(po_number="PO-K1")), HTTP_IDEMPOTENCY_KEY="k").status_code,  # 201
        post(api, json.dumps(order_body(po_number="PO-K2")), HTTP_IDEMPOTENCY_KEY="k").status_code,  # 422
    }
    assert answered == {201, 400, 401, 406, 409, 413, 415, 422}
    assert {str(status) for status in answered} <= documented
    assert "429" in documented  # the throttle's answer, tested in test_api_errors.py


def test_the_submission_documents_its_body_and_idempotency_key(schema):
    operation = submission(schema)
    request = resolve(schema, operation["requestBody"]["content"]["application/json"]["schema"])
    assert set(request["required"]) >= {"po_number", "lines"}
    line = resolve(schema, request["properties"]["lines"]["items"])
    assert line["properties"]["quantity"]["minimum"] == 1
    assert "Idempotency-Key" in [parameter["name"] for parameter in operation["parameters"]]
    for status, response in operation["responses"].items():
        if status != "201":
            assert list(response["content"]) == ["application/problem+json"], status
            problem = resolve(schema, response["content"]["application/problem+json"]["schema"])
            assert set(problem["required"]) == {"type", "title", "status", "detail"}, status


def test_the_201_body_has_the_fields_the_schema_promises(api, schema):
    response = post(api, json.dumps(order_body()))
    assert response.status_code == 201
    promised = resolve(schema, submission(schema)["responses"]["201"]["content"]["application/json"]["schema"])
    assert set(response.json()) == set(promised["properties"])
