"""CoordinationError, and how an unwanted answer or a failed request becomes its message.

Every message is one line and holds no secret: what a server said is shortened, stripped
of markup and scrubbed of the credentials in use before it is quoted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

MASK = "***"
SNIPPET_CHARS = 200


class CoordinationError(Exception):
    """A coordination could not be completed; the message says why, in one line.

    The message never holds a password, a client secret or a token, so it is safe to log
    and to show. ``status`` is the HTTP status that caused the failure, if any;
    ``coordination_id`` the identifier of the coordination action, once known.
    """

    def __init__(self, message: str, *, status: int | None = None,
                 coordination_id: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.coordination_id = coordination_id


class CoordinationTimeout(CoordinationError):
    """The overall timeout of a coordination ran out before its result arrived."""


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every one of ``secrets`` replaced by ``***``."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def snippet(body: bytes, limit: int = SNIPPET_CHARS) -> str:
    """The start of a body as one short line of text: tags dropped, whitespace collapsed."""
    text = body[: limit * 8].decode("utf-8", errors="replace")
    text = re.sub(r"<[^>]*>", " ", text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def problem_text(body: bytes) -> str:
    """What a ProblemDetails body says (``title: detail``), or a snippet of any other body.

    Never raises: an empty, non-JSON, HTML or otherwise malformed body gives a snippet.
    """
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return snippet(body)
    if isinstance(data, dict):
        parts = [str(data[key]) for key in ("title", "detail") if isinstance(data.get(key), str)]
        if not parts:  # an OAuth 2.0 error answer (RFC 6749, 5.2)
            parts = [str(data[key]) for key in ("error", "error_description")
                     if isinstance(data.get(key), str)]
        if parts:
            return snippet(": ".join(dict.fromkeys(parts)).encode())
    return snippet(body)


def describe(status: int, reason: str, body: bytes) -> str:
    """An answer in one line: ``HTTP 403 Forbidden: <what its body says>``."""
    said = problem_text(body)
    if reason and (said == reason or said.startswith(reason + ": ")):
        said = said[len(reason) + 2:]  # a title that repeats the reason phrase
    return f"HTTP {status} {reason}".rstrip() + (f": {said}" if said else "")


def http_error(what: str, status: int, reason: str, body: bytes, secrets: Iterable[str], *,
               coordination_id: str | None = None) -> CoordinationError:
    """The error for an answer with an unwanted ``status``; ``what`` names the request."""
    return CoordinationError(scrub(f"{what}: {describe(status, reason, body)}", secrets),
                             status=status, coordination_id=coordination_id)


def transport_reason(exc: Exception) -> str:
    """Why a request failed below HTTP (refused, reset, TLS, files), in a few words."""
    reason: object = exc
    # requests wraps urllib3's MaxRetryError, whose ``reason`` is the error that matters
    while isinstance(reason, Exception) and reason.args:
        inner = getattr(reason, "reason", None) or reason.args[0]
        if not isinstance(inner, Exception) or inner is reason:
            break
        reason = inner
    # urllib3 starts its messages with the connection object
    text = re.sub(r"^(?:<[^>]*>|\w+\(host=[^)]*\)):\s*", "", str(reason))
    return snippet(text.encode()) or type(reason).__name__
