"""Proposed changes to the customer pages, applied as monkeypatches for measurement only.

``bench/scale.py --with-proposals`` applies these in the benchmark process, so the table
shows what each change would buy before its owner makes it in their module. Nothing
here is imported by the application or the tests.

1. ``listing.customer_page`` with the default sort (internal id): the cursor condition
   ``id < X OR (id = X AND id < X) OR id IS NULL`` cannot be an index range, so the
   planner walks the primary key from the newest customer and throws away every row
   before the cursor (500 k rows for a deep page). The id is never NULL: the condition
   is just ``id < X`` (``id > X`` backwards).
2. The CSV export yields one string per line (a million ``make_bytes`` calls and WSGI
   writes); joining 1,000 lines per yield removes that per-row overhead.
3. The export fetches each chunk's IDs with ``customer_id IN (2,000 parameters)``;
   Django spends more time building that query than PostgreSQL spends running it.
   The chunk is ordered by id, so ``customer_id BETWEEN first AND last`` (plus the
   project) reads the same rows with two parameters.
4. The profile's per-type event counts group 10,000 joined rows by type *name* (a sort
   of 10 k rows); grouping by ``event_type_id`` (a hash of 3 groups) and naming the few
   types afterwards does the same in a third of the time.
5. "Has done purchase in the last 30 days" names the type through a subquery
   (``event_type_id IN (SELECT id … WHERE name = 'purchase')``), so the planner cannot use
   the per-type statistics and estimates 10x too few customers (15 k instead of 145 k);
   the list then believes an exact COUNT is cheap and runs one over 145 k semi-joins
   (seconds). Resolving the name to the id first (one tiny query) gives the right
   estimate ("about 165 K") and no count.
6. The list template runs ``|truncatechars:60`` on every cell (a ``Truncator``, a
   Unicode normalization and a translation lookup per cell); cutting the text once in
   the presenter makes it a slice. Measured here by swapping the filter for a slice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

LINES_PER_CHUNK = 1000


def apply() -> list[str]:
    from django.db.models import Q

    from customers import listing
    from customers.models import CustomerId
    from customers.services import export

    applied: list[str] = []

    original_after = listing._after_q
    original_before = listing._before_q

    def after_q(value: Any, pk: int, *, descending: bool) -> Q:
        if value == pk and isinstance(value, int) and not isinstance(value, bool):
            return Q(pk__lt=pk) if descending else Q(pk__gt=pk)
        return original_after(value, pk, descending=descending)

    def before_q(value: Any, pk: int, *, descending: bool) -> Q:
        if value == pk and isinstance(value, int) and not isinstance(value, bool):
            return Q(pk__gt=pk) if descending else Q(pk__lt=pk)
        return original_before(value, pk, descending=descending)

    listing._after_q = after_q
    listing._before_q = before_q
    applied.append("id cursor as a plain range (listing._after_q/_before_q)")

    def lines(self: Any) -> Iterator[str]:
        buffer = export._LineBuffer()
        writer = export.csv.writer(buffer)
        batch = [writer.writerow(self.header)]
        for row in self.rows:
            batch.append(writer.writerow(row))
            if len(batch) >= LINES_PER_CHUNK:
                yield "".join(batch)
                batch = []
        if batch:
            yield "".join(batch)

    export.CustomerCsvExport.lines = lines
    applied.append(f"CSV lines joined {LINES_PER_CHUNK} per chunk (CustomerCsvExport.lines)")

    def ids_of_customers(customer_pks: Iterable[int]) -> dict[int, dict[str, list[str]]]:
        pks = list(customer_pks)
        if not pks:
            return {}
        out: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        wanted = set(pks)
        rows = (
            CustomerId.objects.filter(customer_id__gte=min(pks), customer_id__lte=max(pks))
            .order_by("customer_id", "name", "id")
            .values_list("customer_id", "name", "value")
        )
        for customer_id, name, value in rows:
            if customer_id in wanted:
                out[customer_id][name].append(value)
        return {pk: dict(v) for pk, v in out.items()}

    export.ids_of_customers = ids_of_customers
    applied.append("export IDs by id range (services.export.ids_of_customers)")

    from django.db.models import Count

    from customers import views
    from customers.models import Event
    from datamanager.models import EventType

    def customer_event_type_counts(customer: Any) -> list[tuple[str, int]]:
        counts = dict(
            Event.objects.filter(customer=customer)
            .values_list("event_type_id")
            .annotate(n=Count("id"))
            .order_by()
        )
        names = dict(EventType.objects.filter(pk__in=list(counts)).values_list("pk", "name"))
        return sorted((names[pk], n) for pk, n in counts.items())

    views.customer_event_type_counts = customer_event_type_counts

    import datetime as dt

    from django.db.models import Exists, OuterRef
    from django.utils import timezone

    from customers import filters

    def event_q(event: Any, *, project_id: int) -> Q:
        type_ids = list(
            EventType.objects.filter(project_id=project_id, name=event.event_type).values_list(
                "pk", flat=True
            )
        )
        if not type_ids:
            return Q(pk__in=[]) if event.done else Q()
        events = Event.objects.filter(customer_id=OuterRef("pk"), event_type_id__in=type_ids)
        if event.within_days is not None:
            events = events.filter(
                timestamp__gte=timezone.now() - dt.timedelta(days=event.within_days)
            )
        return Q(Exists(events)) if event.done else ~Q(Exists(events))

    filters._event_q = event_q
    applied.append("event condition by type id, not a name subquery (filters._event_q)")

    from django.template import defaultfilters

    def truncatechars(value: Any, arg: Any) -> Any:
        length = int(arg)
        text = str(value)
        return text if len(text) <= length else text[: length - 1] + "…"

    defaultfilters.register.filters["truncatechars"] = truncatechars
    applied.append("cells cut by a slice instead of |truncatechars (list.html)")
    applied.append("profile type counts grouped by type id (selectors.customer_event_type_counts)")
    return applied
