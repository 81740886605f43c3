"""The API's cursor pagination: `results`, `next`, `previous`, and `?page_size=` from 1 to 200.

DRF's CursorPagination quietly uses its default for a page size it cannot
read (0, 1e2, null) and the maximum for one over it. Here that is a 400 naming
the parameter, as the schema says (page_size: integer, minimum 1, maximum 200).
A cursor the list did not give answers 404, as DRF's does (the schema says so).
"""

from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination


class StrictCursorPagination(CursorPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= self.max_page_size):
            message = _("A whole number from 1 to %(limit)d.") % {"limit": self.max_page_size}
            raise ValidationError({self.page_size_query_param: [message]})
        return int(raw)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size)
        return parameters
