"""Domain errors. Views map them to HTTP; the API maps them to Exponea's error shape.

Messages are shown to the caller, so they never contain a customer value: they name
attributes, ID names and positions, never what was stored or sent.
"""

from __future__ import annotations


class DomainError(Exception):
    status_code = 400
    code = "invalid"

    def __init__(self, message: str, *, errors: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or [message]


class InvalidInput(DomainError):
    status_code = 400
    code = "invalid"


class TooLarge(DomainError):
    status_code = 413
    code = "too_large"


class NotFound(DomainError):
    """Missing or not visible to the principal: the same answer either way."""

    status_code = 404
    code = "not_found"


class Forbidden(DomainError):
    status_code = 403
    code = "forbidden"


class PiiFieldRefused(Forbidden):
    """A filter, sort, search or sample on a PII attribute by a principal who may not see PII."""

    code = "pii_refused"

    def __init__(self, attribute: str, *, usage: str = "filter or sort by") -> None:
        self.attribute = attribute
        super().__init__(
            f"Attribute '{attribute}' is personal data: you need the Personal data "
            f"permission to {usage} it."
        )


class Conflict(DomainError):
    status_code = 409
    code = "conflict"
