"""Profile and job panels of issue 17: the legal hold and the erasure receipts.

Inclusion tags, so the profile and job views need no change: each reads the principal and
the customer or job from the page's context. They render names and counts only.
"""

from __future__ import annotations

from typing import Any

from django import template

from access.permissions import Perm

from ..models import AnonymizationJob, AnonymizationJobItem, ErasureReceipt
from ..services.erasure_receipt import receipt_document
from ..services.legal_hold import legal_hold_of

register = template.Library()

RECEIPTS_ON_JOB = 100


@register.inclusion_tag("customers/_erasure_panel.html", takes_context=True)
def erasure_panel(context: template.Context) -> dict[str, Any]:
    principal = context["principal"]
    customer = context["customer"]
    # One query either way: only an anonymized customer has receipts, and an anonymized
    # customer cannot be on hold (anonymization refuses held ones; a hold refuses them).
    receipts = []
    hold = None
    if customer.anonymized_at is not None:
        rows = ErasureReceipt.objects.filter(customer=customer).select_related("job")[:20]
        receipts = [receipt_document(r) for r in rows]
    else:
        hold = legal_hold_of(principal, customer.pk)
    return {
        "project": context["project"],
        "customer": customer,
        "can_hold": principal.has(Perm.ANONYMIZE_CUSTOMERS),
        "hold": hold,
        "receipts": receipts,
        "csrf_token": context.get("csrf_token"),
    }


@register.inclusion_tag("customers/_job_receipts.html", takes_context=True)
def job_receipts(context: template.Context, job: AnonymizationJob) -> dict[str, Any]:
    rows = ErasureReceipt.objects.filter(job=job)
    return {
        "project": context["project"],
        "held": AnonymizationJobItem.objects.filter(job=job, held=True).count(),
        "receipt_count": rows.count(),
        "leftover_receipts": rows.exclude(leftovers=[]).count(),
        "receipts": [receipt_document(r) for r in rows.select_related("job")[:RECEIPTS_ON_JOB]],
        "shown_max": RECEIPTS_ON_JOB,
    }
