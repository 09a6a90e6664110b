"""Shapes of the Data manager API. They check structure; the service checks meaning."""

from __future__ import annotations

from rest_framework import serializers

from ..services import DESCRIPTION_MAX


class _AttributeChangeSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=128)
    pii = serializers.BooleanField(required=False)
    # Checked by the service, which names the attribute and lists the valid types.
    type = serializers.CharField(required=False, max_length=20)
    description = serializers.CharField(
        required=False, allow_blank=True, max_length=DESCRIPTION_MAX, trim_whitespace=True
    )


class CustomerAttributeChangeSerializer(_AttributeChangeSerializer):
    pass


class EventAttributeChangeSerializer(_AttributeChangeSerializer):
    pass


class EventTypeChangeSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=128)
    description = serializers.CharField(
        required=False, allow_blank=True, max_length=DESCRIPTION_MAX, trim_whitespace=True
    )
    attributes = EventAttributeChangeSerializer(many=True, required=False)


class CatalogPatchSerializer(serializers.Serializer):
    customer_attributes = CustomerAttributeChangeSerializer(many=True, required=False)
    event_types = EventTypeChangeSerializer(many=True, required=False)
    confirm_unflag = serializers.BooleanField(
        required=False,
        default=False,
        help_text=(
            "Must be true when the request unflags an attribute: its values become visible "
            "to every key and user without Personal data, and anonymization stops deleting it."
        ),
    )

    def validate(self, attrs: dict) -> dict:  # type: ignore[type-arg]
        if not attrs.get("customer_attributes") and not attrs.get("event_types"):
            raise serializers.ValidationError("Send customer_attributes and/or event_types.")
        return attrs


class AttributeOutSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.CharField()
    description = serializers.CharField()
    pii = serializers.BooleanField()
    tracked = serializers.BooleanField()
    suggested = serializers.CharField(allow_null=True, required=False)
    values = serializers.DictField(required=False)


class CustomerAttributeOutSerializer(AttributeOutSerializer):
    kind = serializers.ChoiceField(choices=["id", "property"])
    hard = serializers.BooleanField()


class EventTypeOutSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    system = serializers.BooleanField()
    tracked = serializers.BooleanField()
    attributes = AttributeOutSerializer(many=True)


class CatalogResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    customer_attributes = CustomerAttributeOutSerializer(many=True)
    event_types = EventTypeOutSerializer(many=True)


class ChangeOutSerializer(serializers.Serializer):
    target = serializers.ChoiceField(
        choices=["customer_attribute", "event_attribute", "event_type"]
    )
    name = serializers.CharField()
    event_type = serializers.CharField(required=False)
    field = serializers.ChoiceField(choices=["pii", "type", "description"])
    old = serializers.JSONField()
    new = serializers.JSONField()


class CatalogPatchResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    changed = serializers.IntegerField()
    changes = ChangeOutSerializer(many=True)


class CustomerIdCreateSerializer(serializers.Serializer):
    """Documents the body of ``POST .../data-manager/ids`` (the view checks it strictly)."""

    name = serializers.RegexField(
        r"^[a-z][a-z0-9_]*$",
        max_length=64,
        help_text="Lower-case letters, digits and underscores, starting with a letter.",
    )
    hard = serializers.BooleanField(
        required=False,
        default=True,
        help_text="true: one value per customer, never merged away; false: several values.",
    )
    pii = serializers.BooleanField(required=False, default=True)
    description = serializers.CharField(
        required=False, allow_blank=True, max_length=DESCRIPTION_MAX
    )


class CustomerIdOutSerializer(serializers.Serializer):
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=["id"])
    hard = serializers.BooleanField()
    type = serializers.CharField()
    description = serializers.CharField()
    pii = serializers.BooleanField()
    tracked = serializers.BooleanField()


class CustomerIdCreateResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    id = CustomerIdOutSerializer()
