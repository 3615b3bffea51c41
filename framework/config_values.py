"""Parsers of setting values: each turns text (or YAML data) into a typed value.

A parser raises :class:`ValueError` with a short reason; :mod:`framework.config` adds the name
of the setting.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

AUTH_SCHEMES = ("basic", "bearer")


def as_str(value: Any) -> str:
    """A string, a number given as text, stripped; not a list, a mapping or a boolean."""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise ValueError(f"expected a string, got {type(value).__name__}")
    return str(value).strip()


def _number(cast: type[int] | type[float], low: float, high: float) -> Callable[[Any], Any]:
    kind = "an integer" if cast is int else "a number"

    def show(number: float) -> str:
        return str(int(number)) if cast is int else f"{number:g}"

    def parse(value: Any) -> Any:
        try:
            number = cast(str(value).strip())
        except ValueError:
            raise ValueError(f"expected {kind}, got {value!r}") from None
        if not low <= number <= high:
            raise ValueError(f"expected {kind} from {show(low)} to {show(high)}, "
                             f"got {show(number)}")
        return number

    return parse


def optional_name(value: Any) -> str | None:
    """A non-empty name, or None for an empty one."""
    text = as_str(value).strip()
    return text or None


def as_int(low: int, high: int) -> Callable[[Any], int]:
    """A parser of integers from ``low`` to ``high``."""
    return _number(int, low, high)


def as_float(low: float, high: float) -> Callable[[Any], float]:
    """A parser of numbers from ``low`` to ``high``."""
    return _number(float, low, high)


def matching(pattern: str, expected: str) -> Callable[[Any], str]:
    """A parser of text that matches ``pattern`` whole; ``expected`` says what it should be."""
    def parse(value: Any) -> str:
        text = as_str(value)
        if not re.fullmatch(pattern, text):
            raise ValueError(f"expected {expected}, got {text!r}")
        return text

    return parse


def as_bool(value: Any) -> bool:
    """true/false, yes/no, on/off or 1/0."""
    if isinstance(value, bool):
        return value
    text = as_str(value).lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def one_of(*choices: str) -> Callable[[Any], str]:
    """A parser of one of ``choices``, compared in lower case."""
    def parse(value: Any) -> str:
        text = as_str(value).lower()
        if text not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {value!r}")
        return text

    return parse


def optional_file(value: Any) -> str | None:
    """The absolute path of an existing file, or None when empty."""
    if value is None or str(value).strip() == "":
        return None
    path = Path(as_str(value)).expanduser()
    if not path.is_file():
        raise ValueError(f"no such file: {path}")
    return str(path.resolve())


def optional_dir(value: Any) -> str | None:
    """The absolute path of an existing directory, or None when empty."""
    if value is None or str(value).strip() == "":
        return None
    path = Path(as_str(value)).expanduser()
    if not path.is_dir():
        raise ValueError(f"no such directory: {path}")
    return str(path.resolve())


def database_url(value: Any) -> str:
    """A SQLite or PostgreSQL SQLAlchemy URL."""
    url = as_str(value)
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if not (scheme.startswith("sqlite") or scheme.startswith("postgresql")):
        raise ValueError(
            "expected sqlite:///PATH or postgresql+psycopg://USER@HOST:PORT/DB, "
            f"got a URL with scheme {scheme or 'none'!r}"
        )
    return url


def log_level(value: Any) -> str:
    """A logging level name, in upper case."""
    level = as_str(value).upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ValueError(f"expected DEBUG, INFO, WARNING, ERROR or CRITICAL, got {value!r}")
    return level


def auth_schemes(value: Any) -> tuple[str, ...]:
    """The accepted auth schemes, from a list or comma-separated text; ``none`` is ()."""
    items = value if isinstance(value, list | tuple) else as_str(value).split(",")
    names = tuple(dict.fromkeys(as_str(item).lower() for item in items if str(item).strip()))
    if names in ((), ("none",)):
        return ()
    unknown = [name for name in names if name not in AUTH_SCHEMES]
    if unknown:
        raise ValueError(f"expected none or a list of {', '.join(AUTH_SCHEMES)}, got {unknown}")
    return names


def users(value: Any) -> dict[str, str]:
    """``{user: password}`` from a mapping, or ``user:password,user2:password2`` text.

    A password may be given as ``sha256:<hex digest>`` so that files never hold it in clear.
    """
    if isinstance(value, Mapping):
        pairs = [(str(k), as_str(v)) for k, v in value.items()]
    else:
        pairs = []
        for item in as_str(value).split(","):
            if not item.strip():
                continue
            user, sep, password = item.partition(":")
            if not sep or not user.strip() or not password:
                raise ValueError("expected user:password pairs separated by commas")
            pairs.append((user.strip(), password))
    return dict(pairs)


def tokens(value: Any) -> tuple[str, ...]:
    """Tokens from a list or comma-separated text."""
    items = value if isinstance(value, list | tuple) else as_str(value).split(",")
    return tuple(as_str(item) for item in items if str(item).strip())


def kafka_properties(value: Any) -> dict[str, str]:
    """Extra librdkafka properties, as a mapping or as a JSON object in the environment."""
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except json.JSONDecodeError as exc:
            raise ValueError(f"expected a JSON object: {exc.msg}") from None
    if not isinstance(value, Mapping):
        raise ValueError("expected a mapping of librdkafka property names to values")
    return {str(k): str(v) for k, v in value.items()}


def optional_url(value: Any) -> str | None:
    """An http(s) base URL without credentials, query or fragment; None when empty."""
    url = "" if value is None else as_str(value).rstrip("/")
    parts = urlsplit(url)
    if url and (parts.scheme not in ("http", "https") or not parts.hostname
                or "@" in parts.netloc or parts.query or parts.fragment):
        raise ValueError("expected an http:// or https:// URL without credentials, query "
                         "or fragment")
    return url or None
