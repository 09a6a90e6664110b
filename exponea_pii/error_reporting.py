"""Error reports that cannot carry a customer value: pages, error mails and log lines.

Django's reports of an unhandled exception show the local variables of every frame, the
request's GET/POST/cookies/META and the exception's message. A view's locals hold the raw
customer rows it was masking, and a database error's message quotes the row (PostgreSQL's
``DETAIL: Key (value)=(...)``), so any of them can put personal data in front of a
principal without Personal data (the technical 500 page with ``DEBUG=1``), in an error
mail or in a log. These reports keep what locates the bug, the exception's type and the
stack (file, line, function, the line of code), and drop everything that holds data.

Wired in settings: ``DEFAULT_EXCEPTION_REPORTER`` (pages and mails, in every mode),
``DEFAULT_EXCEPTION_REPORTER_FILTER`` (for anything that still asks the filter), and
:class:`RedactingFormatter` on the log handlers.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import ItemsView
from html import escape
from types import TracebackType
from typing import Any

from django.http import HttpRequest
from django.utils.safestring import SafeString, mark_safe
from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter

TITLE = "Server error"
NOTE = (
    "Frame variables, request data and the exception's message are never shown: they may "
    "hold personal data. Reproduce the error in a test or a debugger to see them."
)


class RedactingExceptionReporterFilter(SafeExceptionReporterFilter):
    """Hides every frame variable and all request data, whatever ``DEBUG`` says."""

    def is_active(self, request: HttpRequest | None) -> bool:
        return True

    def get_post_parameters(self, request: HttpRequest | None) -> dict[str, Any]:
        return {}

    def get_traceback_frame_variables(self, request: Any, tb_frame: Any) -> ItemsView[str, Any]:
        return {}.items()

    def get_safe_request_meta(self, request: HttpRequest) -> dict[str, Any]:
        return {}

    def get_safe_settings(self) -> dict[str, Any]:
        return {}


def stack_lines(tb: TracebackType | None) -> list[str]:
    """``file:line in function`` and the line of code, outermost first; no values."""
    lines = []
    for frame in traceback.extract_tb(tb):
        lines.append(f"  {frame.filename}:{frame.lineno} in {frame.name}")
        if frame.line:
            lines.append(f"    {frame.line.strip()}")
    return lines


def _exception_chain(exc_value: BaseException | None) -> list[BaseException]:
    chain: list[BaseException] = []
    while exc_value is not None and exc_value not in chain and len(chain) < 10:
        chain.append(exc_value)
        exc_value = exc_value.__cause__ or (
            None if exc_value.__suppress_context__ else exc_value.__context__
        )
    return list(reversed(chain))


def redacted_traceback(exc_value: BaseException | None) -> str:
    """The exception chain as type names and stacks, without messages or variables."""
    parts = []
    for exc in _exception_chain(exc_value):
        parts.append("Traceback (most recent call last):")
        parts.extend(stack_lines(exc.__traceback__))
        parts.append(f"{type(exc).__module__}.{type(exc).__qualname__} (message withheld)")
    return "\n".join(parts)


class RedactingExceptionReporter(ExceptionReporter):
    """The 500 page and error mail: exception type and stack only (see the module doc)."""

    def _summary(self) -> str:
        exc_type = self.exc_type.__qualname__ if self.exc_type else "Error"
        path = self.request.path if self.request is not None else ""
        return f"{TITLE}: {exc_type}" + (f" at {path}" if path else "")

    def get_traceback_text(self) -> SafeString:
        text = f"{self._summary()}\n\n{redacted_traceback(self.exc_value)}\n\n{NOTE}\n"
        return mark_safe(text)  # noqa: S308 (plain text for a text/plain mail body)

    def get_traceback_html(self) -> SafeString:
        # Every interpolated piece is escaped.
        return mark_safe(  # noqa: S308
            '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f"<title>{escape(TITLE)}</title></head><body>"
            f"<h1>{escape(self._summary())}</h1>"
            f"<pre>{escape(redacted_traceback(self.exc_value))}</pre>"
            f"<p>{escape(NOTE)}</p></body></html>"
        )


class RedactingFormatter(logging.Formatter):
    """Log lines whose tracebacks name types and code lines but never an exception message."""

    def formatException(self, ei: Any) -> str:
        return redacted_traceback(ei[1])
