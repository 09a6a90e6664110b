"""The invited user's side: their pending invitations, accepted or declined by them only."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views import View

from . import selectors, services
from .errors import NotFound
from .views_base import client_ip


class InvitationsView(LoginRequiredMixin, View):
    def get(self, request: HttpRequest) -> HttpResponse:
        invitations = selectors.pending_invitations_for_user(request.user)  # type: ignore[arg-type]
        return render(request, "access/invitations.html", {"invitations": invitations})


class InvitationAnswerView(LoginRequiredMixin, View):
    """POST: accept or decline one of *your own* pending invitations (anything else: 404)."""

    http_method_names = ["post"]
    accept: bool = True

    def post(self, request: HttpRequest, invitation_id: int, **kwargs: Any) -> HttpResponse:
        user: Any = request.user
        try:
            if self.accept:
                membership = services.invitation_accept(
                    user=user, invitation_id=invitation_id, ip=client_ip(request)
                )
            else:
                services.invitation_decline(
                    user=user, invitation_id=invitation_id, ip=client_ip(request)
                )
        except NotFound as exc:
            raise Http404(exc.message) from exc
        if self.accept:
            messages.success(request, f"You joined {membership.project.name}.")
            return redirect("access:project", token=membership.project.token)
        messages.success(request, "The invitation was declined.")
        return redirect("invitations")
