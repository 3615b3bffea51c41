"""``nfvd coordinate``: one LCM coordination from the shell."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

#: the members an LcmCoordRequest must have (SOL 002, 10.5.2.2)
REQUIRED = ("vnfInstanceId", "vnfLcmOpOccId", "lcmOperationType", "coordinationActionName",
            "_links")


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"nfvd: error: {message}", err=True)
    sys.exit(code)


def _json_object(path: str, what: str) -> dict[str, Any]:
    """The JSON object in ``path``; exits 2 with the reason when there is none."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        _fail(f"{path}: cannot read it ({exc.strerror or exc})", 2)
    except UnicodeDecodeError:
        _fail(f"{path}: not UTF-8 text", 2)
    try:
        data = json.loads(text)
    except ValueError as exc:
        # the position only: the text may hold a password
        _fail(f"{path}: not JSON (line {getattr(exc, 'lineno', '?')}, "
              f"column {getattr(exc, 'colno', '?')})", 2)
    if not isinstance(data, dict):
        _fail(f"{path}: expected a JSON object ({what})", 2)
    return data


@click.command("coordinate")
@click.option("--endpoint", required=True, metavar="URL",
              help="The coordination server; its API is under URL/lcmcoord/v1.")
@click.option("--request", "request_file", required=True, metavar="REQ.json",
              help="The LcmCoordRequest (JSON).")
@click.option("--auth", "auth_file", metavar="AUTH.json",
              help="The SOL 002 authentication object (JSON): authType and params*.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), metavar="S",
              help="Seconds for the whole coordination (NFVD_COORDINATION_TIMEOUT_SECONDS, "
                   "default 60).")
@click.pass_context
def coordinate(ctx: click.Context, endpoint: str, request_file: str, auth_file: str | None,
               timeout: float | None) -> None:
    """Run one LCM coordination (ETSI NFV-SOL 002) against the server at --endpoint.

    Prints the final LcmCoord as JSON; exits 0 when its coordinationResult is CONTINUE,
    1 when it is ABORT or CANCELLED or the coordination failed, 2 on unusable input.
    The server certificate is checked against NFVD_COORDINATION_CA_FILE (or the system's
    CAs); OAUTH2_CLIENT_CERT takes its certificate from NFVD_COORDINATION_CLIENT_CERTS.
    """
    from framework.cli import _settings
    from framework.coordination.client import ClientTls, CoordinationError
    from framework.coordination.client import coordinate as run_coordination

    request = _json_object(request_file, "an LcmCoordRequest")
    missing = [name for name in REQUIRED if name not in request]
    if missing:
        _fail(f"{request_file}: the LcmCoordRequest lacks {', '.join(missing)}", 2)
    authentication = _json_object(auth_file, "an authentication object") if auth_file else None
    if authentication is not None and "authType" not in authentication \
            and isinstance(authentication.get("authentication"), dict):
        authentication = authentication["authentication"]  # a whole vnfc_param-like object
    settings = _settings(ctx)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    try:
        result = run_coordination(
            endpoint, request, authentication=authentication,
            timeout=timeout or settings.coordination_timeout_seconds,
            tls=ClientTls.from_settings(settings))
    except CoordinationError as exc:
        _fail(str(exc), 1)
    click.echo(json.dumps(result, indent=2))
    if result.get("coordinationResult") != "CONTINUE":
        sys.exit(1)
