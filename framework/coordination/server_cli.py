"""``nfvd coordination-server``: the reference LCM coordination server as a command."""

from __future__ import annotations

import importlib
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

import click

from framework.coordination.server_state import RESULTS, DecideHook, ServerOptions

#: The port ``nfvd coordination-server`` listens on by default (``nfvd serve``: 8296).
DEFAULT_PORT = 8297
_ENV = "NFVD_COORDINATION_SERVER_"
FC = TypeVar("FC", bound=Callable[..., Any])


class _Stopped(Exception):
    """SIGTERM or SIGINT arrived: stop serving, exit normally."""


def _stop_serving(_signum: int, _frame: Any) -> None:
    raise _Stopped


def load_hook(reference: str) -> DecideHook:
    """The callable named ``module:attribute`` (the current directory is searched first,
    as uvicorn does); click.BadParameter saying why it cannot be had."""
    module_name, colon, attribute = reference.partition(":")
    if not (module_name and colon and attribute):
        raise click.BadParameter(f"expected MODULE:CALLABLE, got {reference!r}",
                                 param_hint="--decide")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        target: Any = importlib.import_module(module_name)
    except Exception as exc:  # any failure of the user's module is reported, not raised
        raise click.BadParameter(f"cannot import {module_name}: {type(exc).__name__}: {exc}",
                                 param_hint="--decide") from exc
    for name in attribute.split("."):
        if not hasattr(target, name):
            raise click.BadParameter(f"{module_name} has no attribute {attribute}",
                                     param_hint="--decide")
        target = getattr(target, name)
    if not callable(target):
        raise click.BadParameter(f"{reference} is not callable", param_hint="--decide")
    hook: DecideHook = target
    return hook


def _file_option(name: str, help_text: str) -> Callable[[FC], FC]:
    return click.option(name, help=help_text, type=click.Path(exists=True, dir_okay=False))


@click.command("coordination-server")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True,
              help="Port to listen on (0: any free port).")
@click.option("--mode", type=click.Choice(["sync", "async"]), default="sync", show_default=True,
              help="sync: 201 with the result; async: 202, the client polls for the result.")
@click.option("--result", type=click.Choice(RESULTS), default="CONTINUE", show_default=True,
              help="The result of every coordination (unless --decide chooses).")
@click.option("--busy", type=click.IntRange(min=0), default=0, show_default=True,
              help="Answer 503 with Retry-After to the first N coordination requests.")
@click.option("--retry-after", default="1", show_default=True,
              help="Retry-After of 503 and 202 answers: seconds or an HTTP-date.")
@click.option("--polls", type=click.IntRange(min=0), default=1, show_default=True,
              help="async: how many reads answer 202 before the result.")
@click.option("--basic-user", envvar=_ENV + "BASIC_USER", show_envvar=True,
              help="Require HTTP Basic with this user.")
@click.option("--basic-password", envvar=_ENV + "BASIC_PASSWORD", show_envvar=True,
              help="The Basic password (prefer the variable: a command line is visible).")
@click.option("--oauth2-client-id", envvar=_ENV + "OAUTH2_CLIENT_ID", show_envvar=True,
              help="Require OAuth 2.0 bearer tokens from /oauth2/token, issued to this client.")
@click.option("--oauth2-client-secret", envvar=_ENV + "OAUTH2_CLIENT_SECRET", show_envvar=True,
              help="The client's secret (not needed with --client-ca: the certificate is).")
@click.option("--token-ttl", type=click.IntRange(min=1), default=3600, show_default=True,
              help="Seconds an issued token is valid.")
@_file_option("--tls-cert", "Server certificate (PEM): serve HTTPS.")
@_file_option("--tls-key", "Private key of the server certificate (PEM).")
@_file_option("--client-ca", "CA bundle (PEM): require client certificates it signed (mutual TLS).")
@click.option("--client-cert-fingerprint",
              help="With --client-ca: issue tokens without a secret only to the certificate "
                   "of this SHA-256 thumbprint (x5t#S256 or hex).")
@click.option("--decide", "decide_ref", metavar="MODULE:CALLABLE",
              help="Python hook choosing each result: given the LcmCoordRequest, returns "
                   "CONTINUE, ABORT or a dict (see framework.coordination.server).")
@click.option("--log-level", default="INFO", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]))
def coordination_server(host: str, port: int, mode: str, result: str, busy: int,
                        retry_after: str, polls: int, basic_user: str | None,
                        basic_password: str | None, oauth2_client_id: str | None,
                        oauth2_client_secret: str | None, token_ttl: int,
                        tls_cert: str | None, tls_key: str | None, client_ca: str | None,
                        client_cert_fingerprint: str | None, decide_ref: str | None,
                        log_level: str) -> None:
    """Serve the ETSI SOL 002 LCM coordination API (the EM side, under /lcmcoord/v1) for
    tests and demonstrations, until stopped (Ctrl-C or SIGTERM)."""
    from framework.coordination.server import CoordinationServer
    from framework.logs import configure_logging

    try:
        options = ServerOptions(
            mode=mode, result=result, busy=busy, retry_after=retry_after,  # type: ignore[arg-type]
            polls=polls, basic_user=basic_user, basic_password=basic_password,
            oauth2_client_id=oauth2_client_id, oauth2_client_secret=oauth2_client_secret,
            token_ttl=token_ttl, certfile=tls_cert, keyfile=tls_key, client_ca=client_ca,
            client_cert_fingerprint=client_cert_fingerprint,
            decide=load_hook(decide_ref) if decide_ref else None)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    configure_logging(log_level, secrets=options.secrets())
    server = CoordinationServer(options, host, port)
    try:
        server.start()
    except (OSError, RuntimeError) as exc:
        click.echo(f"nfvd: error: cannot serve on {host}:{port}: {exc}", err=True)
        sys.exit(1)
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, _stop_serving)
    security = [name for name, on in (("basic", options.basic), ("oauth2", options.oauth2),
                                      ("client certificates", client_ca)) if on]
    click.echo(f"nfvd coordination server listening on {server.url} "
               f"(API {server.api_url}, {mode} mode, security: {', '.join(security) or 'none'})")
    try:
        while True:
            time.sleep(3600)
    except _Stopped:
        pass
    finally:
        server.stop()
