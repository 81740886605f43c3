"""The intake benchmark's ceiling: the least a Django request that stores a row can cost.

Mounted only when ORDERDESK_BENCH_CEILING=1 (see orderdesk/urls.py), which
bench/intake.py sets for the gunicorn it starts; normal deployments never
route to it. It inserts one row with raw SQL into bench_ceiling_row, a table
that bench/intake.py creates in its own database.
"""

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
