"""One error hierarchy: request errors render as RFC 7807 problems; startup errors stop nfvd."""

from __future__ import annotations

from typing import Any, ClassVar

PROBLEM_BASE = "https://nfvd.dev/problems/"


class FrameworkError(Exception):
    """Base of every error nfvd raises on purpose while serving a request.

    Children only set ``status``, ``title`` and ``type``; the message given at
    raise time becomes the problem's ``detail`` and must be safe to show to the
    caller (no secrets, no internals).
    """

    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal Server Error"
    type: ClassVar[str] = "about:blank"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra

    def to_problem(self) -> dict[str, Any]:
        """The RFC 7807 body for this error."""
        body: dict[str, Any] = {
            "type": self.type,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        body.update(self.extra)
        return body


class BadRequest(FrameworkError):
    status = 400
    title = "Bad Request"
    type = PROBLEM_BASE + "bad-request"


class Unauthorized(FrameworkError):
    status = 401
    title = "Unauthorized"
    type = PROBLEM_BASE + "unauthorized"


class NotFound(FrameworkError):
    status = 404
    title = "Not Found"
    type = PROBLEM_BASE + "not-found"


class Conflict(FrameworkError):
    status = 409
    title = "Conflict"
    type = PROBLEM_BASE + "conflict"


class PayloadTooLarge(FrameworkError):
    status = 413
    title = "Payload Too Large"
    type = PROBLEM_BASE + "payload-too-large"


class UnprocessableContent(FrameworkError):
    status = 422
    title = "Unprocessable Content"
    type = PROBLEM_BASE + "unprocessable-content"


class DriverFailed(FrameworkError):
    """A resource driver failed while the caller waited: planning an execution, or finding a
    reference. ``failureCode`` says how, as in a FAILED completion message."""

    status = 502
    title = "Driver Failed"
    type = PROBLEM_BASE + "driver-failed"


class ServiceUnavailable(FrameworkError):
    status = 503
    title = "Service Unavailable"
    type = PROBLEM_BASE + "service-unavailable"


class StartupError(Exception):
    """nfvd cannot start; the message is one line that says what to fix."""


class SettingsError(StartupError):
    """A setting has a value nfvd cannot use; the message names the setting."""


class BrokerUnavailable(StartupError):
    """The embedded Kafka-compatible broker cannot be started."""
