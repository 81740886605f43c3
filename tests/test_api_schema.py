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


# --- The schema tells the truth about every operation (schemathesis holds the API to it in CI) --------


def operations(schema):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield f"{method.upper()} {path}", operation


def test_every_operation_documents_401_406_and_429_as_problems_and_every_post_411_413_415(schema):
    for name, operation in operations(schema):
        for status in ("401", "406", "429", *(("411", "413", "415") if name.startswith("POST") else ())):
            assert status in operation["responses"], name
            assert list(operation["responses"][status]["content"]) == ["application/problem+json"], (name, status)


def test_every_operation_with_a_name_in_its_path_or_query_parameters_documents_404_and_400(schema):
    for name, operation in operations(schema):
        places = {parameter["in"] for parameter in operation.get("parameters", [])}
        if "path" in places:
            assert "404" in operation["responses"], name
        if "query" in places:
            assert "400" in operation["responses"], name


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/api/v1/orders/", "status=AAA"),
        ("/api/v1/orders/", "status="),
        ("/api/v1/orders/", "page_size=0"),
        ("/api/v1/orders/", "page_size=201"),
        ("/api/v1/orders/", "page_size=1e2"),
        ("/api/v1/orders/", "page_size=null"),
        ("/api/v1/licenses/", "page_size=-1"),
        ("/api/v1/licenses/", "page_size=%EF%BC%95"),  # a full-width 5
    ],
)
def test_a_query_parameter_the_schema_refuses_is_400_naming_it(api, schema, path, query):
    response = api.get(f"{path}?{query}")

    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert [error["field"] for error in response.json()["errors"]] == [query.split("=")[0]]


def test_page_size_is_an_integer_from_1_to_200(api, schema):
    parameters = {p["name"]: p["schema"] for p in schema["paths"]["/api/v1/orders/"]["get"]["parameters"]}
    assert parameters["page_size"] == {"type": "integer", "minimum": 1, "maximum": 200}
    assert api.get("/api/v1/orders/?page_size=200").status_code == 200


def test_a_cursor_the_list_did_not_give_is_a_documented_404(api, schema):
    response = api.get("/api/v1/orders/?cursor=not~a~cursor")

    assert response.status_code == 404 and response["Content-Type"] == "application/problem+json"
    assert "404" in schema["paths"]["/api/v1/orders/"]["get"]["responses"]


def order_input(schema):
    return resolve(schema, submission(schema)["requestBody"]["content"]["application/json"]["schema"])


def test_an_order_needs_1_to_100_lines_of_skus_the_catalog_has(catalog, schema):
    lines = order_input(schema)["properties"]["lines"]
    assert (lines["minItems"], lines["maxItems"]) == (1, 100)
    assert resolve(schema, lines["items"])["properties"]["sku"]["enum"] == ["RDA-1Y", "SRA-1Y"]


def test_requested_start_admits_exactly_the_days_the_api_accepts(api, schema, settings):
    import re
    from datetime import timedelta

    from django.utils import timezone

    from licensing.models import JAPAN

    pattern = re.compile(order_input(schema)["properties"]["requested_start"]["pattern"])
    today = timezone.localdate(timezone=JAPAN)
    for offset in (-1, 0, 1, 200, settings.ORDER_REQUESTED_START_MAX_DAYS, settings.ORDER_REQUESTED_START_MAX_DAYS + 1):
        day = (today + timedelta(days=offset)).isoformat()
        answered = post(api, json.dumps(order_body(po_number=f"PO-{offset}", requested_start=day))).status_code
        assert (pattern.match(day) is not None) == (answered == 201), (day, answered)
    assert pattern.match("9999-12-31") is None


def test_single_line_fields_state_which_characters_they_refuse(api, schema):
    import re

    po_number = re.compile(order_input(schema)["properties"]["po_number"]["pattern"])
    for text, accepted in (("PO-1", True), ("ＰＯ－１", True), ("PO\u202e1", False), ("PO\x1b1", False), ("   ", False)):
        assert (po_number.match(text) is not None) == accepted, repr(text)
        answered = post(api, json.dumps(order_body(po_number=text, lines=[{"sku": "SRA-1Y", "quantity": 1}]))).status_code
        assert (answered == 201) == accepted, repr(text)


def test_idempotency_keys_are_documented_as_the_api_checks_them(api, schema):
    import re

    for name, operation in operations(schema):
        for parameter in operation.get("parameters", []):
            if parameter["name"] == "Idempotency-Key":
                assert parameter["schema"]["maxLength"] == 255, name
                assert {"400", "409", "422"} <= set(operation["responses"]), name
    key = re.compile(submission(schema)["parameters"][0]["schema"]["pattern"])
    assert key.match("7d0b6c2e-1") and not key.match("キー") and not key.match(" padded ")


def test_a_body_error_without_a_field_matches_the_schema(api, schema):
    response = post(api, "{not json")

    error = response.json()["errors"][0]
    assert error["field"] is None
    assert resolve(schema, {"$ref": "#/components/schemas/FieldError"})["properties"]["field"]["nullable"] is True


def test_a_length_counts_the_white_space_around_the_text(api):
    too_long = " " + "P" * 64
    refused = post(api, json.dumps(order_body(po_number=too_long)))
    assert refused.status_code == 400 and refused.json()["errors"][0]["code"] == "max_length"
    assert post(api, json.dumps(order_body(po_number=" " + "P" * 63))).json()["po_number"] == "P" * 63


def test_notes_the_view_takes_as_null_are_nullable_in_the_schema(api, schema):
    response = post(api, json.dumps(order_body(notes=None)))
    assert response.status_code == 201
    assert response.json()["notes"] == ""
    request = resolve(schema, submission(schema)["requestBody"]["content"]["application/json"]["schema"])
    assert request["properties"]["notes"]["nullable"] is True
