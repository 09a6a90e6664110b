"""Settings > API: API keys (private and public), rotation with a grace period, and the
public tracking surface (CORS origins, what a public key may do with hard IDs).

Every page needs ``manage_access`` (:class:`~access.views_management.AccessPage`); each
POST calls one service, which takes the principal and writes the audit log.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone

from . import selectors, services
from .errors import DomainError
from .forms import API_PERMISSION_LABELS, ApiKeyForm, ApiKeyRotateForm, TrackingSettingsForm
from .models import ApiKey
from .views_management import AccessPage


class ApiKeysView(AccessPage):
    """The project's API keys ("API groups"): create, rotate, revoke, last used."""

    template_name = "access/api_keys.html"
    section = "api"

    def context(self) -> dict[str, Any]:
        now = timezone.now()
        keys = list(selectors.api_keys_for_project(self.principal))
        settings = services.tracking_settings_for(self.project)
        return {
            "keys": [
                {
                    "key": key,
                    "permissions": [API_PERMISSION_LABELS[p] for p in key.permission_names],
                    "grace_until": key.previous_secret_valid_until
                    if key.is_active and key.previous_secret_valid_at(now)
                    else None,
                }
                for key in keys
            ],
            "form": ApiKeyForm(initial={"permissions": ["track"], "kind": ApiKey.PRIVATE}),
            "rotate_form": ApiKeyRotateForm(),
            "tracking_form": TrackingSettingsForm(
                initial={
                    "allowed_origins": "\n".join(settings.allowed_origins),
                    "public_hard_ids": settings.public_hard_ids,
                }
            ),
            "project_token": str(self.project.token),
        }


class ApiKeyCreateView(ApiKeysView):
    """POST: create a key; its secret is in this response only, never stored or shown again."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        form = ApiKeyForm(request.POST)
        if not form.is_valid():
            return self.page(request, status=400, form=form, open_panel="create")
        try:
            key, secret = services.api_key_create(
                actor=self.principal,
                name=form.cleaned_data["name"],
                permissions=form.cleaned_data["permissions"],
                kind=form.cleaned_data["kind"] or ApiKey.PRIVATE,
            )
        except DomainError as exc:
            return self.failed(request, exc, form=form, open_panel="create")
        return self.page(request, new_key=key, new_secret=secret)


class ApiKeyRotateView(ApiKeysView):
    """POST: a new secret, shown once; the old one works until the grace period ends."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        key = selectors.api_key_in_project(self.principal, kwargs["api_key_id"])
        form = ApiKeyRotateForm(request.POST)
        if not form.is_valid():
            return self.page(request, status=400, error="Choose a grace period.")
        hours = form.cleaned_data["grace_hours"]
        secret = services.api_key_rotate(
            actor=self.principal, api_key=key, grace=timedelta(hours=hours)
        )
        return self.page(request, new_key=key, new_secret=secret, rotated=True)


class ApiKeyEndGraceView(ApiKeysView):
    """POST: the secret before the last rotation stops working now."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        key = selectors.api_key_in_project(self.principal, kwargs["api_key_id"])
        services.api_key_end_grace(actor=self.principal, api_key=key)
        messages.success(request, f"The old secret of '{key.name}' no longer works.")
        return redirect("access:api_keys", token=self.project.token)


class ApiKeyRevokeView(ApiKeysView):
    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        key = selectors.api_key_in_project(self.principal, kwargs["api_key_id"])
        services.api_key_revoke(actor=self.principal, api_key=key)
        messages.success(request, f"API key '{key.name}' was revoked.")
        return redirect("access:api_keys", token=self.project.token)


class TrackingSettingsView(ApiKeysView):
    """POST: the origins allowed to call the tracking endpoints, the public hard-ID policy."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        form = TrackingSettingsForm(request.POST)
        if not form.is_valid():
            return self.page(request, status=400, tracking_form=form)
        try:
            services.tracking_settings_update(
                actor=self.principal,
                allowed_origins=form.cleaned_data["allowed_origins"].splitlines(),
                public_hard_ids=form.cleaned_data["public_hard_ids"],
            )
        except DomainError as exc:
            return self.failed(request, exc, tracking_form=form)
        messages.success(request, "Public tracking settings were saved.")
        return redirect("access:api_keys", token=self.project.token)
