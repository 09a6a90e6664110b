"""The real URLs plus one deliberately broken page, to show the by-id walk can fail.

Used only by ``test_the_walk_catches_a_planted_unscoped_page``: the planted view looks a
customer up by id without checking the project in the URL — the bug the walk hunts.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.urls import path

from customers.models import Customer
from exponea_pii.urls import urlpatterns as real_urlpatterns


def unscoped_customer(request: HttpRequest, token: Any, pk: int) -> HttpResponse:
    customer = Customer.objects.filter(pk=pk).first()  # the plant: no project, no principal
    if customer is None:
        raise Http404("No such customer.")
    return HttpResponse(f"customer {customer.pk}")


urlpatterns = [
    path("projects/<uuid:token>/planted/<int:pk>/", unscoped_customer),
    *real_urlpatterns,
]
