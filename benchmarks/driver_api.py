"""Resource driver API: execute requests per second, and POST-to-terminal-message latency.

    python benchmarks/driver_api.py [--seconds 10] [--connections 32] [--latency 1000]
                                    [--rate 100] [--database sqlite|postgresql]

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

from framework.messaging import EmbeddedBroker

TOPIC = "lm_vnfc_lifecycle_execution_events"


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--latency", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()

    broker = EmbeddedBroker(_free_port())
    broker.start()
    folder = Path(tempfile.mkdtemp(prefix="nfvd-bench-"))
    url, drop = fresh_database(args.database, folder)
    port = _free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("NFVD_")},
           "NFVD_PORT": str(port), "NFVD_DATABASE_URL": url,
           "NFVD_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers}
    with (folder / "serve.log").open("wb") as log:
        server = subprocess.Popen([sys.executable, "-m", "framework", "serve"], env=env,
                                  cwd=folder, stdout=log, stderr=log)
    try:
        import requests

        for _ in range(200):
            try:
                if requests.get(f"http://127.0.0.1:{port}/ready", timeout=1).ok:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        request = _request(port, _body())
        # latency first, on an idle server: a backlog left by the throughput run would be
        # measured instead
        for _ in range(20):  # the topic appears with the first messages
            requests.post(f"http://127.0.0.1:{port}/api/driver/lifecycle/execute",
                          data=_body(), headers={"Content-Type": "application/json"},
                          timeout=10)
        time.sleep(1.0)
        arrivals = _Arrivals(broker.bootstrap_servers)
        try:
            asyncio.run(_latency(port, request, 50, args.rate, arrivals))  # warm up
            latencies, posts = asyncio.run(_latency(port, request, args.latency, args.rate,
                                                    arrivals))
        finally:
            arrivals.close()
        print(f"POST -> terminal Kafka message: p50 {_pct(latencies, 0.5):.2f} ms, "
              f"p90 {_pct(latencies, 0.9):.2f} ms, p99 {_pct(latencies, 0.99):.2f} ms "
              f"({len(latencies)} of {args.latency} at {args.rate:g}/s, {args.database})")
        print(f"POST alone: p50 {_pct(posts, 0.5):.2f} ms, p99 {_pct(posts, 0.99):.2f} ms")
        cpu = _cpu_seconds(server.pid)
        ok, failed, elapsed = asyncio.run(_throughput(port, request, args.seconds,
                                                      args.connections))
        cpu = _cpu_seconds(server.pid) - cpu
        print(f"throughput: {ok / elapsed:.0f} req/s (202: {ok}, other: {failed}, "
              f"{args.connections} connections, {elapsed:.1f}s, {args.database})")
        print(f"server CPU meanwhile: {cpu / elapsed:.0%} of one core, "
              f"{cpu / max(ok, 1) * 1000:.2f} ms per 202 (the engine's work included)")
        drained = _drain(port)
        print(f"completed: {ok / (elapsed + drained):.0f} executions/s end to end (the last "
              f"of them {drained:.1f}s after the last 202)")
    finally:
        server.terminate()
        server.wait(30)
        broker.stop()
        if drop is not None:
            drop()


if __name__ == "__main__":
    main()
