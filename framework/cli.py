"""The ``nfvd`` command: serve the APIs and inspect the installed plugins."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import ssl
import sys
import textwrap
from collections.abc import Iterable, Iterator
from typing import Any, NoReturn

import click

from framework import __version__
from framework.config import Settings, load_settings, redact_url
from framework.coordination.commands import coordinate
from framework.coordination.server_cli import coordination_server
from framework.errors import StartupError
from framework.outbox_commands import outbox
from framework.scaffold import new_driver

log = logging.getLogger(__name__)


def _fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"nfvd: error: {message}", err=True)
    sys.exit(code)


def _settings(ctx: click.Context, **overrides: Any) -> Settings:
    env = dict(os.environ)
    for name, value in overrides.items():
        if value is not None:
            env["NFVD_" + name.upper()] = str(value)
    try:
        return load_settings(ctx.obj.get("config"), env)
    except StartupError as exc:
        _fail(str(exc), 2)
        raise  # unreachable: _fail exits


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nfvd")
@click.option("--config", "config", type=click.Path(dir_okay=False),
              help="YAML settings file (also $NFVD_CONFIG); NFVD_* variables override it.")
@click.pass_context
def main(ctx: click.Context, config: str | None) -> None:
    """nfvd: an NFV driver framework."""
    ctx.ensure_object(dict)
    ctx.obj["config"] = config


@contextlib.contextmanager
def _embedded_broker(settings: Settings) -> Iterator[Settings]:
    """Starts the bundled broker when asked; yields settings that point at the real address."""
    if not settings.kafka_embedded:
        yield settings
        return
    from framework.messaging import EmbeddedBroker

    broker = EmbeddedBroker(settings.kafka_embedded_port)
    broker.start()
    try:
        yield settings.replace(kafka_bootstrap_servers=broker.bootstrap_servers)
    finally:
        broker.stop()


def _exit_normally(_signum: int, _frame: Any) -> None:
    raise SystemExit(0)


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """How uvicorn serves nfvd: address, TLS and client certificates, our logging not its own."""
    options: dict[str, Any] = {
        "host": settings.host, "port": settings.port, "log_config": None,
        "access_log": False, "lifespan": "on", "server_header": False,
        "timeout_graceful_shutdown": 10,
    }
    if settings.tls:
        options.update(ssl_certfile=settings.tls_cert, ssl_keyfile=settings.tls_key)
    if settings.tls_client_ca:
        # uvloop leaks the transport of a handshake refused for a missing client certificate
        # and then fails to close its loop; asyncio's loop closes it
        options.update(ssl_ca_certs=settings.tls_client_ca, ssl_cert_reqs=ssl.CERT_REQUIRED,
                       loop="asyncio")
    return options


@main.command()
@click.option("--host", help="Address to bind (NFVD_HOST, default 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (NFVD_PORT, default 8296).")
@click.option("--workers", type=int, help="Worker processes (NFVD_WORKERS, default 1).")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None, workers: int | None) -> None:
    """Serve every API until stopped (Ctrl-C or SIGTERM)."""
    import uvicorn

    from framework.app import create_served_app
    from framework.cloud_regions import load_cloud_regions
    from framework.logs import configure_logging
    from framework.plugins.registry import PluginRegistry
    from framework.store import open_store

    settings = _settings(ctx, host=host, port=port, workers=workers)
    try:  # read again by every worker; checked here so that a mistake stops the start at once
        load_cloud_regions(settings.cloud_regions_file)
    except StartupError as exc:
        _fail(str(exc), 2)
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then raises the signal again under the
    # handler it found: make that a normal exit, so the broker is stopped and the status is 0
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, _exit_normally)
    configure_logging(settings.log_level, settings.log_format, settings.secrets())
    try:
        with _embedded_broker(settings) as effective:
            # migrate once here, so workers never race and a bad store stops start-up at once
            open_store(effective.database_url).close()
            plugins = PluginRegistry.discover()
            scheme = "https" if effective.tls else "http"
            failed = len(plugins.failed())
            click.echo(f"nfvd {__version__} listening on {scheme}://{effective.host}:"
                       f"{effective.port} ({effective.workers} worker"
                       f"{'s' if effective.workers > 1 else ''})")
            click.echo(f"  store: {redact_url(effective.database_url)}")
            click.echo(f"  kafka: {effective.kafka_bootstrap_servers}"
                       f"{' (embedded)' if settings.kafka_embedded else ''}")
            click.echo(f"  plugins: {len(plugins.records) - failed} loaded, {failed} failed"
                       + (" (nfvd drivers list shows why)" if failed else ""))
            options = uvicorn_options(effective)
            if effective.workers == 1:
                uvicorn.run(create_served_app(effective), **options)
            else:
                # each worker builds its own app from the environment: hand it the broker address
                os.environ["NFVD_KAFKA_BOOTSTRAP_SERVERS"] = effective.kafka_bootstrap_servers
                if ctx.obj.get("config"):
                    os.environ["NFVD_CONFIG"] = os.path.abspath(ctx.obj["config"])
                uvicorn.run("framework.app:create_served_app", factory=True,
                            workers=effective.workers, **options)
    except StartupError as exc:
        _fail(str(exc))


@main.group()
def drivers() -> None:
    """Inspect the installed plugins."""


@drivers.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_drivers(as_json: bool) -> None:
    """Every plugin found: group, name, distribution, version, status and load error."""
    from framework.plugins.registry import PluginRegistry

    logging.basicConfig(level=logging.CRITICAL)  # the table reports failures; no log noise
    plugins = PluginRegistry.discover().as_list()
    if as_json:
        click.echo(json.dumps({"plugins": plugins}, indent=2))
        return
    if not plugins:
        click.echo("no plugin installed")
        return
    columns = ("group", "name", "distribution", "version", "status", "error")
    rows = [[str(p[c] if p[c] is not None else "-") for c in columns] for p in plugins]
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(columns[:-1])]
    header = [c.upper() for c in columns]
    for row in [header, *rows]:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=False))
                   + "  " + row[-1])


@drivers.command("check")
@click.argument("name")
@click.option("--group", help="Entry-point group, when NAME is in several.")
def check_driver(name: str, group: str | None) -> None:
    """Load the installed plugin NAME and check that it conforms (framework.testing).

    Prints "ok" or each problem on its own line; exits 1 on a problem or a load failure.
    """
    from framework.plugins.registry import (
        COORDINATE_GROUP,
        HPA_GROUP,
        LEGACY_HPA_GROUP,
        RESOURCE_GROUP,
        LegacyHpaPlugin,
        PluginRegistry,
    )
    from framework.testing import check_plugin

    kinds = {RESOURCE_GROUP: "resource", HPA_GROUP: "hpa", LEGACY_HPA_GROUP: "hpa",
             COORDINATE_GROUP: "coordinate"}
    logging.basicConfig(level=logging.CRITICAL)  # a load failure is printed below, once
    registry = PluginRegistry.discover()
    named = [r for r in registry.records if r.name == name]
    records = [r for r in named if group in (None, r.group)]
    if not records:
        installed = ", ".join(sorted({r.name for r in registry.records})) or "none"
        where = f" in group {group}" if group and named else ""
        _fail(f"no plugin named {name!r} is installed{where}; installed: {installed}", 2)
    groups = sorted({r.group for r in records})
    if len(groups) > 1:
        _fail(f"{name!r} is in several groups ({', '.join(groups)}): choose one with --group", 2)
    problems = 0
    for record in records:
        label = f"{name} ({record.group}, {record.distribution or '-'} {record.version or '-'})"
        if record.status != "loaded":
            click.echo(f"{label}: failed to load: {record.error}")
            problems += 1
            continue
        if record.group == RESOURCE_GROUP:
            plugin: Any = registry.resource_driver(name)
        else:
            plugin = registry.hook_plugins(record.group)[name]
            # the legacy plugin itself, so that problems name its own method
            plugin = plugin.legacy if isinstance(plugin, LegacyHpaPlugin) else plugin
        found = check_plugin(plugin, kinds[record.group])
        click.echo(f"{label}: ok" if not found else f"{label}:")
        for problem in found:
            click.echo(f"  {problem}")
        problems += len(found)
    if problems:
        sys.exit(1)


@main.group()
def ops() -> None:
    """Inspect and control lifecycle operations (acts on the store; servers follow)."""


@contextlib.contextmanager
def _lifecycles(ctx: click.Context) -> Iterator[Any]:
    from framework.errors import FrameworkError
    from framework.runtime import open_lifecycles

    settings = _settings(ctx)
    logging.basicConfig(level=logging.CRITICAL)
    try:
        with open_lifecycles(settings) as lifecycles:
            yield lifecycles
    except FrameworkError as exc:
        _fail(exc.detail)
    except StartupError as exc:
        _fail(str(exc))


def _print(data: Any) -> None:
    click.echo(json.dumps(data, indent=2))


def _print_each(items: Iterable[Any]) -> None:
    """Prints ``items`` as :func:`_print` prints their list, each item as it comes: the same
    text, without holding them all."""
    opening = "[\n"
    for item in items:
        click.echo(opening + textwrap.indent(json.dumps(item, indent=2), "  "), nl=False)
        opening = ",\n"
    click.echo("[]" if opening == "[\n" else "\n]")


@ops.command("list")
@click.option("--state", help="Only operations in this state (e.g. FAILED_TEMP).")
@click.option("--limit", type=int, default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def ops_list(ctx: click.Context, state: str | None, limit: int, as_json: bool) -> None:
    """Operations, newest first."""
    with _lifecycles(ctx) as lifecycles:
        found = [op.as_dict(tasks=False)
                 for op in lifecycles.engine.list(state=state, limit=limit)]
    if as_json:
        _print({"operations": found})
        return
    for op in found:
        click.echo(f"{op['id']}  {op['state']:<12} {op['solState']:<12} {op['kind']}  "
                   f"{op['createdAt']}")


@ops.command("show")
@click.argument("operation_id")
@click.pass_context
def ops_show(ctx: click.Context, operation_id: str) -> None:
    """One operation with its tasks, as JSON (secret property values hidden)."""
    from framework.lifecycle import redact

    with _lifecycles(ctx) as lifecycles:
        _print(redact(lifecycles.engine.get(operation_id).as_dict()))


@ops.command("plan")
@click.argument("operation_id")
@click.pass_context
def ops_plan(ctx: click.Context, operation_id: str) -> None:
    """The ordered tasks, preconditions as they evaluate now, and the rollback order."""
    with _lifecycles(ctx) as lifecycles:
        _print(lifecycles.engine.plan(operation_id))


def _control(name: str) -> None:
    @ops.command(name, help=f"{name.capitalize()} an operation (refused if its state forbids).")
    @click.argument("operation_id")
    @click.pass_context
    def command(ctx: click.Context, operation_id: str) -> None:
        with _lifecycles(ctx) as lifecycles:
            operation = getattr(lifecycles.engine, name)(operation_id)
        click.echo(f"{operation.id}  {operation.state}")


for _name in ("pause", "resume", "cancel", "retry", "rollback", "fail"):
    _control(_name)

@main.group()
def hpa() -> None:
    """HPA discovery with the installed plugins."""


@hpa.command("discover")
@click.argument("flavors", type=click.File("r"))
def hpa_discover(flavors: Any) -> None:
    """Discover the HPA capabilities of the flavors in FLAVORS (a JSON file: one flavor's
    data, or a list), offline, as POST /api/hpa/v1/discover does; prints one result per
    flavor as JSON, each as soon as it is discovered. Dropped results are logged, not sent
    to Kafka."""
    from framework.alarms import Alarms
    from framework.metrics import Counter
    from framework.plugins.registry import PluginRegistry
    from framework.runtime import discovery

    try:
        loaded = json.load(flavors)
    except ValueError as exc:
        _fail(f"{flavors.name}: not JSON: {exc}", 2)
    items = loaded if isinstance(loaded, list) else [loaded]
    if not all(isinstance(item, dict) and isinstance(item.get("flavor"), dict)
               for item in items):
        _fail(f"{flavors.name}: expected an object with a 'flavor' object, or a list of them", 2)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    runner = discovery(PluginRegistry.discover(), Alarms(Counter("alarms", "")))
    _print_each(runner.discover_all(items))


main.add_command(new_driver, "new-driver")
main.add_command(coordinate)
main.add_command(outbox)
main.add_command(coordination_server)
