"""Domain errors raised by services, mapped to 4xx JSON responses by ``exceptions.py``.

Each error names the field at fault so that clients can show the message where it belongs.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of the errors our services raise on purpose. Never a 500."""

    status_code = 400

    def __init__(self, message: str, *, field: str = "non_field_errors") -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def as_errors(self) -> dict[str, list[str]]:
        return {self.field: [self.message]}


class ValidationFailed(DomainError):
    """The input breaks a rule of the domain."""

    def __init__(
        self,
        message: str,
        *,
        field: str = "non_field_errors",
        errors: dict[str, list[str]] | None = None,
    ) -> None:
        super().__init__(message, field=field)
        self.errors = errors

    def as_errors(self) -> dict[str, list[str]]:
        return self.errors if self.errors is not None else super().as_errors()


class NotFound(DomainError):
    status_code = 404


class Conflict(DomainError):
    """The request is valid but clashes with the current state (e.g. an illegal transition)."""

    status_code = 409


class PayloadTooLarge(DomainError):
    status_code = 413
