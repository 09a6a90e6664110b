"""Request and response shapes of the anonymization API (validation of shapes only).

Business rules (known ID names, which customer an entry names) live in the service; these
serializers check structure and the entry limit, and their messages never echo a value.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import serializers


def bulk_limit() -> int:
    return int(settings.EXPONEA_LIMITS["BULK_ANONYMIZE_ENTRIES"])


class AnonymizeRequest(serializers.Serializer):
    customer_ids = serializers.DictField(
        child=serializers.JSONField(), allow_empty=False, help_text="ID name to value."
    )


class BulkEntry(serializers.Serializer):
    """Documentation of one entry: exactly one of the two fields."""

    customer_ids = serializers.DictField(child=serializers.JSONField(), required=False)
    internal_id = serializers.CharField(required=False)


class AnonymizeBulkRequest(serializers.Serializer):
    customers = serializers.ListField(
        child=serializers.DictField(child=serializers.JSONField()),
        allow_empty=False,
        help_text="At most 1,000 entries, each {customer_ids} or {internal_id}.",
    )

    def validate_customers(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if len(value) > bulk_limit():
            raise serializers.ValidationError(
                f"At most {bulk_limit()} entries per request; got {len(value)}."
            )
        return value


class SuccessResponse(serializers.Serializer):
    success = serializers.BooleanField()


class AnonymizeBulkResponse(serializers.Serializer):
    success = serializers.BooleanField()
    bulk_id = serializers.UUIDField()


class AnonymizeBulkStatus(serializers.Serializer):
    success = serializers.BooleanField()
    bulk_id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=["queued", "running", "done", "failed"])
    total = serializers.IntegerField(help_text="Customers found, each counted once.")
    done = serializers.IntegerField()
    not_found = serializers.ListField(
        child=serializers.IntegerField(),
        help_text="Positions (from 0) of request entries that named no customer.",
    )
    created_at = serializers.FloatField(help_text="Seconds since the epoch.")
    started_at = serializers.FloatField(allow_null=True)
    finished_at = serializers.FloatField(allow_null=True)
    error = serializers.CharField(allow_blank=True)
