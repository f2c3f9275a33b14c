"""Pagination for every list endpoint: a bounded `limit`, and a schema that says what is returned."""

from __future__ import annotations

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination

MAX_LIMIT = 1000
# PostgreSQL's OFFSET is a bigint; anything near it is a mistake, not a page.
MAX_OFFSET = 10**12


class Pagination(LimitOffsetPagination):
    """LimitOffsetPagination with max_limit: `?limit=` beyond bigint used to reach PostgreSQL (500)."""

    max_limit = MAX_LIMIT

    def get_offset(self, request):
        offset = super().get_offset(request)
        if offset > MAX_OFFSET:
            raise ValidationError({"offset": f"must be at most {MAX_OFFSET}"})
        return offset


def paginated(serializer: type[serializers.Serializer], *, name: str | None = None):
    """The OpenAPI response of a paginated list: {count, next, previous, results: [serializer]}."""
    name = name or serializer.__name__.removesuffix("Serializer")
    return inline_serializer(
        f"Paginated{name}List",
        {
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": serializer(many=True),
        },
    )
