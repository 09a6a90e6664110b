"""Request and response shapes of the Exponea-compatible API, for the OpenAPI schema.

Bodies are validated by :mod:`customers.validation` (the same rules as every other way
in), so these serializers describe the wire format; they hold no business logic.
"""

from __future__ import annotations

from rest_framework import serializers

ANY_VALUE = serializers.JSONField(help_text="Any JSON value.")


class CustomerIdsField(serializers.DictField):
    """``{"registered": "...", "cookie": "..."}``: ID name to value."""

    def __init__(self, **kwargs: object) -> None:
        kwargs.setdefault("child", serializers.CharField(max_length=1024))
        kwargs.setdefault(
            "help_text", 'Customer IDs by name, e.g. {"registered": "jane@example.com"}.'
        )
        super().__init__(**kwargs)  # type: ignore[arg-type]


class PropertiesField(serializers.DictField):
    def __init__(self, **kwargs: object) -> None:
        kwargs.setdefault("child", serializers.JSONField())
        super().__init__(**kwargs)  # type: ignore[arg-type]


# Responses ------------------------------------------------------------------------------------


class SuccessSerializer(serializers.Serializer):
    success = serializers.BooleanField()


class ErrorSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    errors = serializers.ListField(child=serializers.CharField())  # type: ignore[assignment]


class AuthErrorSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    error = serializers.CharField()


class SystemTimeSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    errors = serializers.ListField(child=serializers.CharField())  # type: ignore[assignment]
    time = serializers.FloatField(help_text="Server time in seconds since the epoch.")


# Tracking -------------------------------------------------------------------------------------


class CustomerUpdateRequest(serializers.Serializer):
    customer_ids = CustomerIdsField()
    properties = PropertiesField(required=False)
    update_timestamp = serializers.JSONField(
        required=False,
        allow_null=True,
        help_text="Seconds since the epoch (a number) or an ISO 8601 date-time string.",
    )


class EventTrackRequest(serializers.Serializer):
    customer_ids = CustomerIdsField()
    event_type = serializers.CharField(max_length=128)
    timestamp = serializers.JSONField(
        required=False,
        allow_null=True,
        help_text="Seconds since the epoch (a number) or an ISO 8601 date-time; default: now.",
    )
    properties = PropertiesField(required=False, allow_null=True)


class BatchCommandSerializer(serializers.Serializer):
    name = serializers.ChoiceField(choices=["customers", "customers/events", "system/time"])
    data = serializers.DictField(  # type: ignore[assignment]
        child=serializers.JSONField(),
        required=False,
        help_text="The body of the single-command endpoint of that name.",
    )
    command_id = serializers.CharField(required=False, help_text="Echoed in the result.")


class BatchRequest(serializers.Serializer):
    commands = BatchCommandSerializer(many=True)


class BatchResultSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    time = serializers.FloatField(required=False)
    errors = serializers.ListField(child=serializers.CharField(), required=False)  # type: ignore[assignment]
    command_id = serializers.JSONField(required=False)


class BatchResponse(serializers.Serializer):
    success = serializers.BooleanField()
    start_time = serializers.FloatField()
    end_time = serializers.FloatField()
    results = BatchResultSerializer(many=True)


# Reading --------------------------------------------------------------------------------------


class CustomerIdsRequest(serializers.Serializer):
    customer_ids = CustomerIdsField()


class EventOutSerializer(serializers.Serializer):
    type = serializers.CharField()
    timestamp = serializers.FloatField()
    properties = PropertiesField()


class ExportOneResponse(serializers.Serializer):
    success = serializers.BooleanField()
    ids = serializers.DictField(
        child=serializers.JSONField(),
        help_text="Hard IDs as a string, soft IDs as a list; PII masked as ******.",
    )
    properties = PropertiesField()
    events = EventOutSerializer(many=True)


class AttributeRequestSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="'property' or 'id' (others answer success=false).")
    property = serializers.CharField(required=False)
    id = serializers.CharField(required=False)


class AttributesRequest(serializers.Serializer):
    customer_ids = CustomerIdsField()
    attributes = AttributeRequestSerializer(many=True)


class AttributeResultSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    value = serializers.JSONField(required=False)
    error = serializers.CharField(required=False)


class AttributesResponse(serializers.Serializer):
    success = serializers.BooleanField()
    results = AttributeResultSerializer(many=True)


class EventsRequest(serializers.Serializer):
    customer_ids = CustomerIdsField()
    event_types = serializers.ListField(child=serializers.CharField(max_length=128))
    order = serializers.ChoiceField(choices=["asc", "desc"], required=False)
    limit = serializers.IntegerField(required=False, min_value=1)
    skip = serializers.IntegerField(required=False, min_value=0)


class EventsResponse(serializers.Serializer):
    success = serializers.BooleanField()
    data = EventOutSerializer(many=True)  # type: ignore[assignment]


# Export ---------------------------------------------------------------------------------------


class ExportAttributeSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["id", "property"])
    id = serializers.CharField(required=False)
    property = serializers.CharField(required=False)


class ExportRequest(serializers.Serializer):
    format = serializers.ChoiceField(choices=["native_json", "table_json", "csv"], required=False)
    attributes = serializers.JSONField(
        required=False,
        help_text=(
            "The columns: Exponea's {type: 'some', list: [{type: id, id} | {type: property, "
            "property}]} or {type: 'properties_and_ids'} (the default: every ID name, then "
            "every property)."
        ),
    )
    filter = serializers.JSONField(
        required=False,
        allow_null=True,
        help_text=(
            "Exponea's {type: 'all'}, or (an extension) the customer filter: {conditions: "
            "[{attribute, operator, value}], events: [{event_type, within_days, done}]}. Keys "
            "without Personal data may not use PII attributes."
        ),
    )
    execution_time = serializers.JSONField(
        required=False, help_text="Seconds or ISO 8601; not in the future."
    )
    timezone = serializers.CharField(required=False, help_text="An IANA time zone name.")


class ExportResponse(serializers.Serializer):
    success = serializers.BooleanField()
    fields = ExportAttributeSerializer(many=True)  # type: ignore[assignment]
    data = serializers.ListField(child=serializers.ListField(child=serializers.JSONField()))  # type: ignore[assignment]
