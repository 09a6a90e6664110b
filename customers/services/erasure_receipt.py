"""The erasure receipt and the leftover check, run by every anonymization before it removes.

For each customer of a chunk, with the customers locked and the plan read
(docs/architecture.md, "Locking and re-check"):

1. collect the values about to go: PII properties, every external ID, PII event attributes;
2. look for them (case-insensitive, as substrings, 3 characters or more) in what stays —
   the customer's non-PII properties and the non-PII attributes of its events (an e-mail
   inside a ``url``, a name inside a ``note``), nested values included;
3. when the project's ``remove_leftovers`` switch is on (the default), replace each match
   with ``******`` in the same transaction;
4. keep the keyed hashes of the hard IDs (:mod:`.suppression`) when that switch is on;
5. write one :class:`~customers.models.ErasureReceipt`: attribute names and counts only.

Set-based per chunk, on both databases: one query each for the IDs, the customers and the
events of the chunk, one ``bulk_update`` per table for the rows that held a leftover, one
insert for the receipts (:func:`.anonymization_sql.rows_insert`). The matching itself is Python (a regex per customer): the values
are per customer, so a SQL ``replace`` would need one statement per customer and value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from access.models import Project
from access.principal import Principal
from datamanager.catalog import PiiCatalog
from datamanager.models import EventType

from ..models import AnonymizationJob, Customer, CustomerId, ErasureReceipt, Event
from .anonymization_sql import IdIn, rows_insert
from .suppression import erasure_settings, identities_suppress

MASK = "******"
MIN_MATCH_CHARS = 3
MAX_DEPTH = 32


def _values(value: Any, out: set[str], depth: int = 0) -> None:
    """Every string (and number) inside a JSON value, as text."""
    if depth > MAX_DEPTH or value is None or isinstance(value, bool):
        return
    if isinstance(value, str):
        text = value.strip()
        if len(text) >= MIN_MATCH_CHARS and text != MASK:
            out.add(text)
    elif isinstance(value, int | float):
        text = str(value)
        if len(text) > MIN_MATCH_CHARS:
            out.add(text)
    elif isinstance(value, list):
        for item in value:
            _values(item, out, depth + 1)
    elif isinstance(value, dict):
        for item in value.values():
            _values(item, out, depth + 1)


def _pattern(values: set[str]) -> re.Pattern[str] | None:
    if not values:
        return None
    # Longest first, so an e-mail is replaced whole rather than its local part only.
    alternatives = sorted(values, key=lambda v: (-len(v), v))
    return re.compile("|".join(re.escape(v) for v in alternatives), re.IGNORECASE)


# Letters that re.IGNORECASE matches to each other beyond simple lower case: CPython's own
# table (generated from Unicode), each letter mapped to the lowest of its group. Without it
# the pre-filter below stands aside and every customer gets its regex.
try:
    from re._casefix import _EXTRA_CASES
except ImportError:  # pragma: no cover - CPython has had it since 3.11
    _EXTRA_CASES = None
_FOLD = str.maketrans({chr(c): chr(min(c, *others)) for c, others in (_EXTRA_CASES or {}).items()})


def _fold(text: str) -> str:
    """``text`` folded so that whatever a case-insensitive regex of a literal ``v`` matches
    in it contains ``_fold(v)``: letter by letter, simple lower case (U+0130's full lower
    case is two letters, its simple one ``i``), then one letter per equivalence group."""
    return text.replace("\u0130", "i").lower().translate(_FOLD)


def _texts(value: Any, out: list[str]) -> None:
    """Text of every string and number inside a JSON value (what :func:`_scrub` looks at),
    at any depth."""
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, int | float):
        out.append(str(value))
    elif isinstance(value, list):
        for item in value:
            _texts(item, out)
    elif isinstance(value, dict):
        for item in value.values():
            _texts(item, out)


def _may_contain(texts: Sequence[str], values: set[str]) -> bool:
    """False only if no value can match in ``texts``; a superset of what the regex finds
    (folding text joined by NUL equals joining the folded texts, letter by letter)."""
    if not texts or not values:
        return False
    if _EXTRA_CASES is None:  # pragma: no cover
        return True
    haystack = _fold("\x00".join(texts))
    return any(_fold(value) in haystack for value in values)


def _scrub(value: Any, pattern: re.Pattern[str], depth: int = 0) -> tuple[Any, bool]:
    """``value`` with every match replaced by ``******``, and whether anything matched."""
    if depth > MAX_DEPTH:
        return value, False
    if isinstance(value, str):
        new, n = pattern.subn(MASK, value)
        return new, n > 0
    if isinstance(value, int | float) and not isinstance(value, bool):
        if pattern.fullmatch(str(value)):
            return MASK, True
        return value, False
    if isinstance(value, list):
        changed = False
        items = []
        for item in value:
            new, hit = _scrub(item, pattern, depth + 1)
            items.append(new)
            changed = changed or hit
        return items, changed
    if isinstance(value, dict):
        changed = False
        mapping = {}
        for key, item in value.items():
            new, hit = _scrub(item, pattern, depth + 1)
            mapping[key] = new
            changed = changed or hit
        return mapping, changed
    return value, False


def erasure_check_and_receipts(
    *,
    actor: Principal,
    customer_pks: Sequence[int],
    catalog: PiiCatalog,
    event_keys: Mapping[int, Sequence[str]],
    source: str,
    job: AnonymizationJob | None,
    now: datetime,
) -> None:
    """Run the leftover check, the suppression and write the receipts for a locked chunk.

    Call it inside the anonymization's transaction, after the customers are locked and the
    plan is read, before anything is removed.
    """
    project: Project = actor.project
    pks = list(customer_pks)
    switches = erasure_settings(project)
    pii_properties = set(catalog.customer_properties)
    pii_event = {type_id: set(keys) for type_id, keys in event_keys.items()}
    type_names = dict(EventType.objects.filter(project=project).values_list("pk", "name"))

    removed: dict[int, set[str]] = {pk: set() for pk in pks}
    id_names_of: dict[int, set[str]] = {pk: set() for pk in pks}
    id_rows = list(
        CustomerId.objects.filter(IdIn("customer_id", pks)).values_list(
            "customer_id", "name", "value"
        )
    )
    for customer_id, name, value in id_rows:
        _values(value, removed[customer_id])
        id_names_of[customer_id].add(name)

    customers = dict(Customer.objects.filter(IdIn("pk", pks)).values_list("pk", "properties"))
    properties_of: dict[int, list[str]] = {}
    for pk, props in customers.items():
        names = sorted(set(props) & pii_properties)
        properties_of[pk] = names
        for name in names:
            _values(props[name], removed[pk])

    events = list(
        Event.objects.filter(IdIn("customer_id", pks)).values_list(
            "pk", "customer_id", "event_type_id", "properties"
        )
    )
    events_cleared = {pk: 0 for pk in pks}
    attributes_of: dict[int, set[tuple[str, str]]] = {pk: set() for pk in pks}
    for _, customer_id, type_id, props in events:
        keys = pii_event.get(type_id, set()) & set(props)
        if keys:
            events_cleared[customer_id] += 1
            type_name = type_names.get(type_id, "")
            attributes_of[customer_id].update((type_name, k) for k in keys)
            for key in keys:
                _values(props[key], removed[customer_id])

    # What stays, as text: a customer none of whose values it contains (nearly all)
    # needs no regex; compiling one per customer was most of an anonymization's time.
    stays: dict[int, list[str]] = {pk: [] for pk in pks}
    for pk, props in customers.items():
        _texts([v for k, v in props.items() if k not in pii_properties], stays[pk])
    for _, customer_id, type_id, props in events:
        keep = pii_event.get(type_id, set())
        _texts([v for k, v in props.items() if k not in keep], stays[customer_id])
    patterns = {
        pk: _pattern(values) if _may_contain(stays[pk], values) else None
        for pk, values in removed.items()
    }
    leftovers: dict[int, dict[tuple[str, str, str], int]] = {pk: {} for pk in pks}
    changed_customers: list[Customer] = []
    for pk, props in customers.items():
        pattern = patterns[pk]
        if pattern is None:
            continue
        new_props = dict(props)
        hit_any = False
        for name, value in props.items():
            if name in pii_properties:
                continue
            new, hit = _scrub(value, pattern)
            if hit:
                leftovers[pk][("property", "", name)] = 1
                new_props[name] = new
                hit_any = True
        if hit_any:
            changed_customers.append(Customer(pk=pk, properties=new_props))
    changed_events: list[Event] = []
    for event_pk, customer_id, type_id, props in events:
        pattern = patterns[customer_id]
        if pattern is None:
            continue
        keep = pii_event.get(type_id, set())
        new_props = dict(props)
        hit_any = False
        for name, value in props.items():
            if name in keep:
                continue
            new, hit = _scrub(value, pattern)
            if hit:
                spot = ("event", type_names.get(type_id, ""), name)
                leftovers[customer_id][spot] = leftovers[customer_id].get(spot, 0) + 1
                new_props[name] = new
                hit_any = True
        if hit_any:
            changed_events.append(Event(pk=event_pk, properties=new_props))
    if switches.remove_leftovers:
        Customer.objects.bulk_update(changed_customers, ["properties"], batch_size=500)
        Event.objects.bulk_update(changed_events, ["properties"], batch_size=500)

    suppressed = (
        identities_suppress(project, pks, id_rows=id_rows)
        if switches.suppress_erased_ids
        else dict.fromkeys(pks, 0)
    )
    rows_insert(
        ErasureReceipt,
        [
            {
                "project_id": project.pk,
                "customer_id": pk,
                "job_id": job.pk if job is not None else None,
                "source": source,
                "actor_label": actor.label[:200],
                "created_at": now,
                "properties": properties_of.get(pk, []),
                "id_names": sorted(id_names_of[pk]),
                "event_attributes": [list(pair) for pair in sorted(attributes_of[pk])],
                "events_cleared": events_cleared[pk],
                "leftovers": [
                    {"where": where, "event_type": event_type, "attribute": name, "count": count}
                    for (where, event_type, name), count in sorted(leftovers[pk].items())
                ],
                "leftovers_cleared": bool(leftovers[pk]) and switches.remove_leftovers,
                "ids_suppressed": suppressed.get(pk, 0),
            }
            for pk in pks
        ],
        generated={"public_id": "gen_random_uuid()"},
    )


def receipt_document(receipt: ErasureReceipt) -> dict[str, Any]:
    """The receipt as JSON (the download and the pages): names and counts, never a value."""
    return {
        "receipt": str(receipt.public_id),
        "customer": receipt.customer_id,
        "anonymized_at": receipt.created_at.isoformat(),
        "by": receipt.actor_label,
        "source": receipt.source,
        "job": str(receipt.job.public_id) if receipt.job is not None else None,
        "properties_removed": list(receipt.properties),
        "id_names_removed": list(receipt.id_names),
        "event_attributes_removed": [
            {"event_type": t, "attribute": a} for t, a in receipt.event_attributes
        ],
        "events_cleared": receipt.events_cleared,
        "leftovers_found": list(receipt.leftovers),
        "leftovers_cleared": receipt.leftovers_cleared,
        "ids_suppressed": receipt.ids_suppressed,
    }
