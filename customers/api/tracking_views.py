"""Exponea's tracking API: customers, events, batch and system time (permission ``track``)."""

from __future__ import annotations

import time
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from access.api.base import ProjectAPIView
from access.api.schema import error_responses
from access.errors import InvalidInput
from access.permissions import Perm

from ..services.public_tracking import public_key_batch, public_key_ids
from ..services.tracking import customer_update, event_track
from ..services.tracking_batch import tracking_batch
from . import serializers as s

TAG = ["Tracking"]
POST_ERRORS = (400, 403, 413, 415)


def body_object(request: Request) -> dict[str, Any]:
    """The JSON body, which must be an object."""
    data = request.data
    if not isinstance(data, dict):
        raise InvalidInput("The body must be a JSON object.")
    return data


class TrackingView(ProjectAPIView):
    required_permission = Perm.TRACK
    throttle_scope = "track"
    cors_public = True  # browsers on the project's listed origins (public keys)


class CustomerUpdateView(TrackingView):
    @extend_schema(
        tags=TAG,
        operation_id="track_customer",
        summary="Update customer properties",
        description="Identifies (or creates) the customer by its IDs and merges the properties.",
        request=s.CustomerUpdateRequest,
        responses={200: s.SuccessSerializer, **error_responses(*POST_ERRORS)},
    )
    def post(self, request: Request, token: str) -> Response:
        body = body_object(request)
        customer_update(
            actor=self.principal,
            ids=public_key_ids(self.principal, body.get("customer_ids")),
            properties=body.get("properties"),
            update_timestamp=body.get("update_timestamp"),
        )
        return Response({"errors": [], "success": True})


class EventTrackView(TrackingView):
    @extend_schema(
        tags=TAG,
        operation_id="track_event",
        summary="Add an event",
        request=s.EventTrackRequest,
        responses={200: s.SuccessSerializer, **error_responses(*POST_ERRORS)},
    )
    def post(self, request: Request, token: str) -> Response:
        body = body_object(request)
        event_track(
            actor=self.principal,
            ids=public_key_ids(self.principal, body.get("customer_ids")),
            event_type=body.get("event_type"),
            timestamp=body.get("timestamp"),
            properties=body.get("properties"),
        )
        return Response({"errors": [], "success": True})


class BatchView(TrackingView):
    @extend_schema(
        tags=TAG,
        operation_id="track_batch",
        summary="Batch of tracking commands",
        description=(
            "Up to 50 commands (configurable); each answers with its own result, so one bad "
            "command does not fail the others."
        ),
        request=s.BatchRequest,
        responses={200: s.BatchResponse, **error_responses(*POST_ERRORS)},
    )
    def post(self, request: Request, token: str) -> Response:
        body = body_object(request)
        if body.get("commands") == []:
            # Exponea's answer (reference/tracking-api-request-body-errors), in our shape.
            raise InvalidInput("No commands")
        start = time.time()
        results = public_key_batch(
            self.principal,
            body.get("commands"),
            lambda commands: tracking_batch(actor=self.principal, commands=commands),
        )
        return Response(
            {"success": True, "start_time": start, "end_time": time.time(), "results": results}
        )


class SystemTimeView(ProjectAPIView):
    """Any valid key of the project may ask for the time."""

    throttle_scope = "track"
    cors_public = True

    @extend_schema(
        tags=TAG,
        operation_id="system_time",
        summary="Server time",
        responses={200: s.SystemTimeSerializer, **error_responses()},
    )
    def get(self, request: Request, token: str) -> Response:
        return Response({"errors": [], "success": True, "time": time.time()})
