"""Resource driver API: execute requests per second, and POST-to-terminal-message latency.

    python benchmarks/driver_api.py [--seconds 10] [--connections 32] [--latency 1000]
                                    [--rate 100] [--database sqlite|postgresql] [--no-peer]

Starts a Kafka-compatible broker and ``nfvd serve`` (one worker, default settings otherwise,
SQLite in a temporary directory or a fresh PostgreSQL database), then:

1. latency, on the idle server: ``--latency`` requests (the fake driver's no-op ``Start``, a
   one-file package) sent one at a time, ``--rate`` per second, while a Kafka consumer
   (assigned, ``fetch.wait.max.ms=1``) reads lm_vnfc_lifecycle_execution_events; reports
   p50/p90/p99 from just before the POST to the arrival of its COMPLETE message, and of the
   POST alone.
2. throughput: ``--connections`` keep-alive HTTP/1.1 connections post the same request back
   to back for ``--seconds``; every 202 means the request was committed to the store
   first. Reports 202s per second and the server's CPU time per 202 (steadier than the rate
   on a shared machine), then how long the engine takes to finish the backlog (executions
   completed per second, end to end).

Then the peer, measured the same way in the same run (unless ``--no-peer``): a no-op resource
driver built on IBM's Ignition 3.6.3 (``peers/ignition_driver.py``, Ignition's direct mode, one
uvicorn worker), installed from PyPI into a virtualenv of its own on first use. Each side gets a
fresh broker of its own. Last, the ratios against the issue's targets.

The client is raw asyncio over sockets so that it takes little of the two cores the
server also runs on.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from pathlib import Path

from confluent_kafka import OFFSET_END, Consumer, TopicPartition
from databases import fresh_database
from peer_venv import CACHE, peer_python

from framework.messaging import EmbeddedBroker

TOPIC = "lm_vnfc_lifecycle_execution_events"
#: The peer, in a virtualenv of its own: Ignition's app needs uvicorn to serve
IGNITION = ["ignition-framework==3.6.3", "connexion[flask,uvicorn]==3.0.6"]
#: A resource driver built on Ignition (its no-op mode here), see its docstring
PEER_APP = Path(__file__).resolve().parent / "peers" / "ignition_driver.py"


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _body() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("scripts/Start.sh", "true\n")
    return json.dumps({
        "lifecycleName": "Start",
        "driverFiles": base64.b64encode(buffer.getvalue()).decode(),
        "systemProperties": {"resourceId": {"type": "string", "value": str(uuid.uuid4())},
                             "resourceName": {"type": "string", "value": "bench"}},
        "resourceProperties": {"a": {"type": "string", "value": "b"}},
        "requestProperties": {},
        "deploymentLocation": {"name": "lab", "type": "Fake", "properties": {}},
    }).encode()


def _request(port: int, body: bytes) -> bytes:
    return (f"POST /api/driver/lifecycle/execute HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode() + body


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    request: bytes) -> tuple[int, bytes]:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return status, await reader.readexactly(length)


async def _throughput(port: int, request: bytes, seconds: float, connections: int,
                      ) -> tuple[int, int, float]:
    ok = failed = 0
    deadline = 0.0

    async def client() -> None:
        nonlocal ok, failed
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while time.perf_counter() < deadline:
            status, _ = await _exchange(reader, writer, request)
            if status == 202:
                ok += 1
            else:
                failed += 1
        writer.close()

    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(*(client() for _ in range(connections)))
    return ok, failed, time.perf_counter() - started


class _Arrivals:
    """Records when each request's terminal message arrives."""

    def __init__(self, bootstrap: str) -> None:
        self.at: dict[str, float] = {}
        self._stop = threading.Event()
        self._consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench",
                                   "enable.auto.commit": False, "fetch.wait.max.ms": 1,
                                   "fetch.error.backoff.ms": 1})
        topic = self._consumer.list_topics(TOPIC, timeout=10).topics[TOPIC]
        self._consumer.assign([TopicPartition(TOPIC, p, OFFSET_END) for p in topic.partitions])
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            message = self._consumer.poll(0.05)
            value = None if message is None or message.error() is not None else message.value()
            if value is None:
                continue
            now = time.perf_counter()
            payload = json.loads(value)
            if payload["status"] != "IN_PROGRESS":
                self.at.setdefault(payload["requestId"], now)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._consumer.close()


async def _latency(port: int, request: bytes, count: int, rate: float,
                   arrivals: _Arrivals) -> tuple[list[float], list[float]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sent: dict[str, float] = {}
    posts = []
    for _ in range(count):
        started = time.perf_counter()
        status, body = await _exchange(reader, writer, request)
        posts.append(time.perf_counter() - started)
        assert status == 202, body
        sent[json.loads(body)["requestId"]] = started
        await asyncio.sleep(max(0.0, 1 / rate - (time.perf_counter() - started)))
    writer.close()
    deadline = time.monotonic() + 30
    while len([r for r in sent if r in arrivals.at]) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return [arrivals.at[r] - t for r, t in sent.items() if r in arrivals.at], posts


def _drain(port: int) -> float:
    """Seconds until no operation is left PROCESSING, and the outbox has had time to empty."""
    import requests

    started = time.perf_counter()
    url = f"http://127.0.0.1:{port}/api/lcm/operations?state=PROCESSING&limit=1"
    while requests.get(url, timeout=30).json()["operations"]:
        time.sleep(0.2)
    took = time.perf_counter() - started
    time.sleep(1.0)
    return took


def _cpu_seconds(pid: int) -> float:
    """CPU time (user and system) of process ``pid`` so far, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000)[int(q * 1000) - 1] * 1000


def _wait_ready(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    import requests

    for _ in range(600):
        if server.poll() is not None:
            raise SystemExit(f"the server stopped at start-up; see {log}")
        try:
            if requests.get(url, timeout=1).ok:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"the server did not get ready; see {log}")


def _measure(name: str, port: int, pid: int, bootstrap: str,
             args: argparse.Namespace) -> dict[str, float]:
    """Latency on the idle server, then throughput, as the module's docstring says."""
    import requests

    request = _request(port, _body())
    # latency first, on an idle server: a backlog left by the throughput run would be
    # measured instead
    for _ in range(20):  # the topic appears with the first messages
        requests.post(f"http://127.0.0.1:{port}/api/driver/lifecycle/execute",
                      data=_body(), headers={"Content-Type": "application/json"}, timeout=10)
    time.sleep(1.0)
    arrivals = _Arrivals(bootstrap)
    try:
        asyncio.run(_latency(port, request, 50, args.rate, arrivals))  # warm up
        latencies, posts = asyncio.run(_latency(port, request, args.latency, args.rate,
                                                arrivals))
    finally:
        arrivals.close()
    p50, p99 = _pct(latencies, 0.5), _pct(latencies, 0.99)
    print(f"{name}: POST -> terminal Kafka message: p50 {p50:.2f} ms, "
          f"p90 {_pct(latencies, 0.9):.2f} ms, p99 {p99:.2f} ms "
          f"({len(latencies)} of {args.latency} at {args.rate:g}/s)")
    print(f"{name}: POST alone: p50 {_pct(posts, 0.5):.2f} ms, p99 {_pct(posts, 0.99):.2f} ms")
    cpu = _cpu_seconds(pid)
    ok, failed, elapsed = asyncio.run(_throughput(port, request, args.seconds,
                                                  args.connections))
    cpu = _cpu_seconds(pid) - cpu
    print(f"{name}: throughput: {ok / elapsed:.0f} req/s (202: {ok}, other: {failed}, "
          f"{args.connections} connections, {elapsed:.1f}s)")
    print(f"{name}: server CPU meanwhile: {cpu / elapsed:.0%} of one core, "
          f"{cpu / max(ok, 1) * 1000:.2f} ms per 202")
    return {"rate": ok / elapsed, "p50": p50, "p99": p99, "ok": ok, "elapsed": elapsed}


def _nfvd(args: argparse.Namespace, bootstrap: str, folder: Path) -> dict[str, float]:
    url, drop = fresh_database(args.database, folder)
    port = _free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("NFVD_")},
           "NFVD_PORT": str(port), "NFVD_DATABASE_URL": url,
           "NFVD_KAFKA_BOOTSTRAP_SERVERS": bootstrap}
    with (folder / "serve.log").open("wb") as log:
        server = subprocess.Popen([sys.executable, "-m", "framework", "serve"], env=env,
                                  cwd=folder, stdout=log, stderr=log)
    try:
        _wait_ready(f"http://127.0.0.1:{port}/ready", server, folder / "serve.log")
        figures = _measure(f"nfvd ({args.database})", port, server.pid, bootstrap, args)
        drained = _drain(port)
        print(f"nfvd ({args.database}): completed: "
              f"{figures['ok'] / (figures['elapsed'] + drained):.0f} executions/s end to end "
              f"(the last of them {drained:.1f}s after the last 202; the engine's work is in "
              "the CPU above)")
        return figures
    finally:
        server.terminate()
        server.wait(30)
        if drop is not None:
            drop()


def _ignition(args: argparse.Namespace, bootstrap: str, folder: Path) -> dict[str, float]:
    python = peer_python(args.peer_venv, IGNITION, "ignition.boot.api")
    port = _free_port()
    workspace = folder / "ignition"
    workspace.mkdir()
    with (folder / "ignition.log").open("wb") as log:
        server = subprocess.Popen([str(python), str(PEER_APP), str(port), bootstrap,
                                   str(workspace), "--no-op"], cwd=workspace,
                                  stdout=log, stderr=log)
    try:
        _wait_ready(f"http://127.0.0.1:{port}/management/health", server,
                    folder / "ignition.log")
        return _measure("Ignition 3.6.3", port, server.pid, bootstrap, args)
    finally:
        server.terminate()
        server.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--latency", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--no-peer", action="store_true",
                        help="measure nfvd alone, not Ignition after it")
    parser.add_argument("--peer-venv", type=Path, default=CACHE / "ignition-venv")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="nfvd-bench-"))
    sides = [_nfvd] if args.no_peer else [_nfvd, _ignition]
    figures = []
    for side in sides:
        # a broker of its own for each side: on this one, a consumer assigned at the end of
        # the topic after the other side's thousands of messages did not always see new ones
        broker = EmbeddedBroker(_free_port())
        broker.start()
        try:
            figures.append(side(args, broker.bootstrap_servers, folder))
        finally:
            broker.stop()
    if args.no_peer:
        return
    nfvd, peer = figures
    print(f"ratio nfvd/Ignition, 202 per second: {nfvd['rate'] / peer['rate']:.2f} "
          f"(target >= 8); p50 {nfvd['p50']:.2f} against {peer['p50']:.2f} ms "
          f"(target <= 5 ms), p99 {nfvd['p99']:.2f} against {peer['p99']:.2f} ms "
          "(target <= 25 ms)")


if __name__ == "__main__":
    main()
