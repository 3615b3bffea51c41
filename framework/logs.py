"""Logging: one line per record, text or JSON, with every known secret masked."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Iterable
from typing import Any

MASK = "***"
# Credentials that may appear in free text even when nfvd does not know their value.
_PATTERNS = (
    re.compile(r"(?i)(authorization\s*[:=]\s*)(basic|bearer)\s+[^\s,;\"']+"),
    re.compile(r"(?i)((?:password|passwd|secret|token|client_secret|access_token)"
               r"[\"']?\s*[:=]\s*[\"']?)([^\s,;&\"']+)"),
    re.compile(r"(://[^/\s:@]+:)([^@/\s]+)(@)"),
)
#: every word the second pattern can match contains one of these
_PATTERN_1_WORDS = ("passw", "secret", "token")
_STANDARD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message"}


class SecretMasker(logging.Filter):
    """Replaces known secret values and credential-shaped text in every record."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets: frozenset[str] = frozenset()
        self._longest_first: list[str] = []
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        # very short values would mask ordinary words; they are still caught by the patterns
        self.secrets = self.secrets | {s for s in secrets if s and len(s) >= 4}
        self._longest_first = sorted(self.secrets, key=len, reverse=True)

    def mask(self, text: str) -> str:
        for secret in self._longest_first:
            if secret in text:
                text = text.replace(secret, MASK)
        # Each pattern needs a word that most lines lack, looked for first. casefold() maps
        # what the patterns' IGNORECASE matches too (a long s, the Kelvin sign), and no
        # word has an i, which IGNORECASE also matches as a dotless or dotted one.
        lowered = text.casefold()
        if "author" in lowered:
            text = _PATTERNS[0].sub(lambda m: m.group(1) + m.group(2) + " " + MASK, text)
        if any(word in lowered for word in _PATTERN_1_WORDS):
            text = _PATTERNS[1].sub(lambda m: m.group(1) + MASK, text)
        if "://" in text:
            text = _PATTERNS[2].sub(lambda m: m.group(1) + MASK + m.group(3), text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        rewritten = bool(record.args)  # ``msg`` becomes the message: args or traceback put in
        if record.exc_info and record.exc_info[1] is not None:
            message = message + "\n" + logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
            rewritten = True
        fields = vars(record)
        extra = [key for key in fields.keys() - _STANDARD_ATTRS if isinstance(fields[key], str)]
        # Most records hold nothing to mask: one look at all their text together says so.
        # A text masked alone is masked inside the whole too (no pattern is anchored), so
        # an unchanged whole means every part is unchanged.
        whole = "\0".join([message, *(fields[key] for key in extra)])
        if self.mask(whole) == whole:
            if rewritten:
                record.msg, record.args = message, None
            return True
        record.msg, record.args = self.mask(message), None
        for key in extra:
            fields[key] = self.mask(fields[key])
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, separators=(",", ":"))


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def lean_records() -> None:
    """Makes this process's log records skip what none of nfvd's formats shows: the
    caller's file, line and function (a walk up the stack), and the thread's and process's
    names. That is about a fifth of the cost of an access line. The switches are those of
    the logging HOWTO's "Optimization" section; a record then shows line 0 of an unknown
    file."""
    logging._srcfile = None  # documented there
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


def configure_logging(
    level: str = "INFO", fmt: str = "text", secrets: Iterable[str] = (), stream: Any = None
) -> SecretMasker:
    """Send every log record to one stream handler (stderr by default) with a secret masker."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    masker = SecretMasker(secrets)
    handler.addFilter(masker)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return masker
