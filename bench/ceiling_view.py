"""Benchmarks' baselines: the least a Django request that stores a row (bench/intake.py), or answers JSON (bench/validate.py), can cost.

Mounted only when ORDERDESK_BENCH_CEILING=1 (see orderdesk/urls.py), which
bench/intake.py sets for the gunicorn it starts; normal deployments never
route to it. It inserts one row with raw SQL into bench_ceiling_row, a table
that bench/intake.py creates in its own database.
"""

import json

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST


@csrf_exempt
@require_POST
def ceiling_insert(request):
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_ceiling_row (body) VALUES (%s) RETURNING id", [request.body.decode()])
        (row_id,) = cursor.fetchone()
    return JsonResponse({"id": row_id}, status=201)


@csrf_exempt
@require_POST
def json_minimal(request):
    """bench/validate.py's baseline: read a JSON body, answer a JSON decision; no database, no cache."""
    body = json.loads(request.body)
    return JsonResponse({"valid": bool(body.get("key")), "code": "VALID", "mode": None})
