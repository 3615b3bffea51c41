"""Reading the files a script writes: outputs, topology, failure and resource id."""

from __future__ import annotations

import json
import os
import stat
from typing import Any

from framework import ResourceDriverError

#: Largest file a script may hand back; a bigger one is refused unread.
MAX_FILE_BYTES = 1024 * 1024

_JSON_TYPES = {list: "an array", str: "a string", int: "a number", float: "a number",
               bool: "a boolean", type(None): "null"}


def read_outputs(path: str, script: str) -> dict[str, Any]:
    """The JSON object at ``path`` (``$NFVD_OUTPUTS_FILE``); ``{}`` if missing or empty.

    Raises :class:`ResourceDriverError` (``INTERNAL_ERROR``) naming ``script``, the
    variable and the problem when the file is not a JSON object of at most
    :data:`MAX_FILE_BYTES`.
    """
    return _read_object(path, "NFVD_OUTPUTS_FILE", script)


def read_topology(path: str, script: str) -> dict[str, Any]:
    """The associated topology at ``path`` (``$NFVD_TOPOLOGY_FILE``); ``{}`` if missing.

    Each entry must be ``null`` (the resource is gone) or an object with string ``id``
    and ``type``; otherwise, as for :func:`read_outputs`, ``INTERNAL_ERROR``.
    """
    topology = _read_object(path, "NFVD_TOPOLOGY_FILE", script)
    for name, entry in topology.items():
        if entry is not None and not (isinstance(entry, dict)
                                      and isinstance(entry.get("id"), str)
                                      and isinstance(entry.get("type"), str)):
            raise _invalid(script, "NFVD_TOPOLOGY_FILE",
                           f"entry {name!r} is neither null nor an object with string "
                           "'id' and 'type'")
    return topology


def read_resource_id(path: str, script: str) -> str | None:
    """The resource id at ``path`` (``$NFVD_RESOURCE_ID_FILE``), stripped; ``None`` if
    missing or blank. Not UTF-8 text, or too big: ``INTERNAL_ERROR``."""
    text = _read_text(path, "NFVD_RESOURCE_ID_FILE", script)
    if text is None or not text.strip():
        return None
    return text.strip()


def read_failure(path: str) -> tuple[str | None, str | None]:
    """``(failureCode, description)`` from ``$NFVD_FAILURE_FILE``, each ``None`` if absent.

    Lenient: the script has already failed, and a malformed failure file must not hide
    that, so any problem with the file reads as ``(None, None)``. The code is not
    checked here.
    """
    try:
        failure = _read_object(path, "NFVD_FAILURE_FILE", "")
    except ResourceDriverError:
        return None, None
    code, description = failure.get("failureCode"), failure.get("description")
    return (code if isinstance(code, str) else None,
            description if isinstance(description, str) and description.strip() else None)


def _read_object(path: str, variable: str, script: str) -> dict[str, Any]:
    text = _read_text(path, variable, script)
    if text is None or not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _invalid(script, variable, f"not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(value, dict):
        raise _invalid(script, variable,
                       f"{_JSON_TYPES.get(type(value), 'a value')}, not a JSON object")
    return value


def _read_text(path: str, variable: str, script: str) -> str | None:
    try:
        # Only a regular file: reading a FIFO the script left there would block forever.
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise _invalid(script, variable, "not a regular file")
        with open(path, "rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _invalid(script, variable, f"unreadable ({exc.strerror})") from None
    if len(data) > MAX_FILE_BYTES:
        raise _invalid(script, variable, f"larger than {MAX_FILE_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise _invalid(script, variable, "not UTF-8 text") from None


def _invalid(script: str, variable: str, problem: str) -> ResourceDriverError:
    return ResourceDriverError(f"{script} wrote an invalid ${variable}: {problem}",
                               "INTERNAL_ERROR")
