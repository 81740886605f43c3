"""Database statements one order submission makes, as Django sends them.

Run after bench/intake.py, against the database it prepared (its name must
contain "bench": this submits a real order there):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/orderdesk_bench .venv/bin/python bench/intake_queries.py
"""

import json
import os
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orderdesk.settings")
os.environ.setdefault("ORDERDESK_LOCAL", "1")  # a bench runs on this machine, over plain HTTP
os.environ.setdefault("API_RATE_LIMIT", "1000000/min")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from licensing.models import ApiToken, Customer  # noqa: E402


def submit(client: Client):
    body = {"po_number": f"QUERIES-{uuid.uuid4().hex[:12]}", "lines": [{"sku": "SRA-1Y", "quantity": 50}, {"sku": "RDA-1Y", "quantity": 50}]}
    return client.post(
        "/api/v1/orders/", json.dumps(body), content_type="application/json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4())
    )


def main() -> int:
    if "bench" not in connection.settings_dict["NAME"]:
        sys.exit(f"refusing to submit orders to {connection.settings_dict['NAME']!r}: use bench/intake.py's database")
    _token, raw_key = ApiToken.objects.issue(customer=Customer.objects.get(code="DEMO1"), name="bench/intake_queries.py")
    client = Client(HTTP_AUTHORIZATION=f"Token {raw_key}")
    submit(client)  # warm: imports, first connection
    with CaptureQueriesContext(connection) as captured:
        response = submit(client)
    if response.status_code != 201:
        sys.exit(f"submission answered {response.status_code}: {response.content!r}")
    statements = [query["sql"] for query in captured.captured_queries]
    control = {"BEGIN", "COMMIT"} | {sql for sql in statements if sql.startswith("SET LOCAL")}
    for sql in statements:
        print("  ", " ".join(sql.split())[:110])
    print(f"{len(statements)} statements, {len(statements) - sum(s in control for s in statements)} of them queries")
    return 0


if __name__ == "__main__":
    sys.exit(main())
