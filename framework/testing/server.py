"""nfvd served in-process, for plugin authors' end-to-end tests."""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import Any

from framework.config import Settings

#: Seconds the server is given to start (the store is migrated, plugins loaded).
START_TIMEOUT = 30.0


@dataclasses.dataclass(frozen=True)
class AppServer:
    """A running nfvd: its base ``url`` and the ``settings`` it runs with."""

    url: str
    settings: Settings


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def app_server(*, database_url: str | None = None, **settings: Any) -> Iterator[AppServer]:
    """nfvd served on 127.0.0.1 with every installed plugin; everything stopped on exit.

    uvicorn runs the app in a thread of this process on a free port; the store is a SQLite
    file in a temporary directory unless ``database_url`` is given; the embedded
    Kafka-compatible broker runs on a free port unless ``kafka_bootstrap_servers`` names
    another. Other keyword arguments are :class:`framework.config.Settings` fields, as
    parsed values. Enter it from the thread that lives longest (normally the main one):
    the broker is tied to the thread that starts it. RuntimeError if nfvd does not start.
    """
    # the server's stack is imported here only: the rest of the kit needs none of it
    import uvicorn

    from framework.app import create_app
    from framework.cli import uvicorn_options
    from framework.messaging import EmbeddedBroker

    with contextlib.ExitStack() as stack:
        if database_url is None:
            directory = stack.enter_context(tempfile.TemporaryDirectory(prefix="nfvd-test-"))
            database_url = f"sqlite:///{directory}/nfvd.db"
        if settings.get("kafka_bootstrap_servers", "embedded") == "embedded":
            broker = EmbeddedBroker(settings.pop("kafka_embedded_port", None) or _free_port())
            broker.start()
            stack.callback(broker.stop)
            settings["kafka_bootstrap_servers"] = broker.bootstrap_servers
        config = Settings(**{"port": _free_port(), **settings, "database_url": database_url})
        server = uvicorn.Server(uvicorn.Config(create_app(config), **uvicorn_options(config)))
        thread = threading.Thread(target=server.run, daemon=True, name="nfvd-app-server")
        thread.start()
        stack.callback(_stop, server, thread)
        deadline = time.monotonic() + START_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("nfvd did not start; its log says why")
            time.sleep(0.02)
        yield AppServer(f"{'https' if config.tls else 'http'}://{config.host}:{config.port}",
                        config)


def _stop(server: Any, thread: threading.Thread) -> None:
    server.should_exit = True
    thread.join(timeout=5)
    if thread.is_alive():  # a client left a connection open: do not wait it out
        server.force_exit = True
        thread.join(timeout=15)
