"""The customer filter: one definition shared by the list page, CSV and API exports, and
bulk / command-line anonymization (docs/customer-filter.md).

- :mod:`.values`: operators, value types, conditions (immutable values)
- :mod:`.parsing`: :class:`CustomerFilter` and its parsers (URL, HTML form, JSON, CLI)
- :mod:`.sql`: evaluation, :func:`customers_matching` (the only vendor-specific SQL)
"""

from .parsing import CustomerFilter
from .sql import JsonTypedValue, customers_matching, estimate_is_reliable
from .values import Condition, EventCondition, Operator, ValueType

__all__ = [
    "Condition",
    "CustomerFilter",
    "EventCondition",
    "JsonTypedValue",
    "Operator",
    "ValueType",
    "customers_matching",
    "estimate_is_reliable",
]
