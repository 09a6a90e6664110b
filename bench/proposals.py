"""Proposed changes to the customer pages, applied as monkeypatches for measurement only.

``bench/scale.py --with-proposals`` applies these in the benchmark process, so the table
can show what a change would buy before its owner makes it in their module. Nothing
here is imported by the application or the tests.

Every proposal measured here so far is now in the code itself, so the benchmark measures
the real code and :func:`apply` patches nothing:

1. the default id sort's cursor is a plain ``pk`` range (``customers/listing.py``);
2. the CSV export yields 1,000 lines per block and
3. reads each chunk's IDs by customer id range (``customers/services/export.py``,
   ``customers/selectors.py`` ``ids_of_customer_chunk``);
4. the profile's per-type counts group by ``event_type_id`` (``customers/selectors.py``);
5. "has done X" resolves the type name to its id first (``customers/filters.py``);
6. list cells are cut once in the presenter, not by ``|truncatechars``
   (``customers/presenters.py``, ``templates/customers/list.html``).

Still only a proposal (see docs/benchmarks.md), not patched here because it is a new
code path rather than a tweak: the CSV export built by one PostgreSQL ``COPY (SELECT …)
TO STDOUT`` whose columns come from the Masker (``bench/scale.py`` measures it directly).
"""

from __future__ import annotations


def apply() -> list[str]:
    """Apply the pending proposals; returns what was applied (nothing at the moment)."""
    return []
