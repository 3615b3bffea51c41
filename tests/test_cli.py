"""The nfvd command as a user runs it: serve on the defaults, list plugins, fail clearly."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from fixtures.kafka import free_port
from fixtures.servers import ServeProcess, make_distribution

from framework import __version__
from framework.plugins.registry import RESOURCE_GROUP

Start = Callable[..., ServeProcess]
#: the console script installed with the package, next to the interpreter running the tests
NFVD = str(Path(sys.executable).with_name("nfvd"))


def nfvd(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
         timeout: float = 60) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("NFVD_")}
    full.update(env or {})
    return subprocess.run([NFVD, *args], capture_output=True, text=True, env=full, cwd=cwd,
                          timeout=timeout, check=False)


@pytest.fixture
def broken_site(tmp_path: Path) -> Path:
    """A vendor wheel whose module raises on import, and one whose entry point names nothing."""
    root = tmp_path / "site"
    make_distribution(root, "nfvd-driver-broken", "0.9.1",
                      {RESOURCE_GROUP: {"broken": "broken_driver:Driver"}},
                      {"broken_driver.py": "raise ImportError('libvirt is not installed')\n"})
    make_distribution(root, "nfvd-driver-ghost", "1.0", {RESOURCE_GROUP: {"ghost": "ghost:X"}})
    return root


def test_version() -> None:
    result = nfvd("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"nfvd, version {__version__}"


def test_serve_on_the_embedded_defaults(serve_process: Start, tmp_path: Path) -> None:
    """The quick start: no settings at all, SQLite in the working directory, embedded Kafka."""
    server = serve_process()
    server.wait_ready(timeout=15)
    assert requests.get(server.url + "/health", timeout=5).status_code == 200
    out = server.stdout
    assert f"listening on http://127.0.0.1:{server.port} (1 worker)" in out
    assert f"store: sqlite:///{tmp_path / 'nfvd.db'}" in out
    assert "(embedded)" in out
    assert (tmp_path / "nfvd.db").exists()
    assert server.stop(signal.SIGTERM) == 0


def test_embedded_broker_stops_with_the_server(serve_process: Start) -> None:
    kafka_port = free_port()
    server = serve_process({"NFVD_KAFKA_EMBEDDED_PORT": str(kafka_port)})
    server.wait_ready()
    server.stop(signal.SIGTERM)
    # the port can be bound again: the broker went with the server
    deadline = time.monotonic() + 10
    while True:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", kafka_port))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"port {kafka_port} is still taken") from None
        time.sleep(0.1)


def test_serve_with_several_workers(serve_process: Start) -> None:
    server = serve_process({"NFVD_WORKERS": "2"})
    server.wait_ready(timeout=30)
    statuses = {requests.get(server.url + "/ready", timeout=5).status_code for _ in range(10)}
    assert statuses == {200}
    assert "(2 workers)" in server.stdout


def test_broken_plugins_do_not_stop_the_server(serve_process: Start, broken_site: Path) -> None:
    server = serve_process({"PYTHONPATH": str(broken_site)})
    server.wait_ready()
    plugins = requests.get(server.url + "/api/plugins", timeout=5).json()["plugins"]
    loaded = sum(1 for p in plugins if p["status"] == "loaded")  # fake, and what is installed
    assert f"plugins: {loaded} loaded, 2 failed (nfvd drivers list shows why)" in server.stdout
    by_name = {p["name"]: p for p in plugins}
    assert by_name["fake"]["status"] == "loaded"
    assert by_name["broken"]["status"] == "failed"
    assert by_name["broken"]["error"] == "ImportError: libvirt is not installed"
    assert by_name["broken"]["distribution"] == "nfvd-driver-broken"
    assert by_name["ghost"]["error"] == "ModuleNotFoundError: No module named 'ghost'"
    assert "plugin nfvd.resource_drivers:broken (broken_driver:Driver) failed to load" in \
        server.stderr


def test_drivers_list_json(broken_site: Path) -> None:
    result = nfvd("drivers", "list", "--json", env={"PYTHONPATH": str(broken_site)})
    assert result.returncode == 0, result.stderr
    plugins = {p["name"]: p for p in json.loads(result.stdout)["plugins"]}
    assert plugins["fake"] == {
        "group": RESOURCE_GROUP, "name": "fake",
        "target": "framework.plugins.fake:FakeResourceDriver",
        "distribution": "nfv-driver-framework", "version": __version__, "status": "loaded",
        "error": None, "hooks": ["execute_lifecycle", "find_reference"]}
    assert plugins["broken"]["status"] == "failed"
    assert plugins["broken"]["version"] == "0.9.1"


def test_drivers_list_table(broken_site: Path) -> None:
    result = nfvd("drivers", "list", env={"PYTHONPATH": str(broken_site)})
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["GROUP", "NAME", "DISTRIBUTION", "VERSION", "STATUS", "ERROR"]
    broken = next(line for line in lines if " broken " in line)
    assert "nfvd-driver-broken" in broken and "0.9.1" in broken and "failed" in broken
    assert broken.endswith("ImportError: libvirt is not installed")
    fake = next(line for line in lines if " fake " in line)
    assert "loaded" in fake and fake.endswith("-")


@pytest.mark.parametrize(("env", "message"), [
    ({"NFVD_PORT": "eighty"}, "nfvd: error: NFVD_PORT: expected an integer, got 'eighty'"),
    ({"NFVD_LOG_FORMAT": "xml"}, "nfvd: error: NFVD_LOG_FORMAT: expected one of text, json"),
])
def test_bad_setting_stops_start_up_with_one_line(env: dict[str, str], message: str) -> None:
    result = nfvd("serve", env=env)
    assert result.returncode == 2
    assert result.stderr.strip().startswith(message)
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_bad_cloud_regions_file_stops_start_up_without_its_secret(tmp_path: Path) -> None:
    regions = tmp_path / "regions.yaml"
    regions.write_text("- {cloudOwner: o, cloudRegionId: r, authUrl: 'http://k/v3', "
                       "password: Secr3t-Pa55}\n")
    result = nfvd("serve", env={"NFVD_CLOUD_REGIONS_FILE": str(regions)})
    assert result.returncode == 2
    assert result.stderr.strip() == (f"nfvd: error: NFVD_CLOUD_REGIONS_FILE {regions}: "
                                      "regions[0]: password needs username")


def test_bad_config_file_names_it(tmp_path: Path) -> None:
    config = tmp_path / "nfvd.yaml"
    config.write_text("port: 8296\nmax_body_byte: 10\n")
    result = nfvd("--config", str(config), "serve")
    assert result.returncode == 2
    assert result.stderr.strip() == (f"nfvd: error: config file {config}: unknown setting "
                                     "'max_body_byte'")


def test_unreachable_store_stops_start_up(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://nfvd:pw-never-shown@127.0.0.1:{free_port()}/nfvd"
    result = nfvd("serve", env={"NFVD_DATABASE_URL": url,
                                "NFVD_KAFKA_EMBEDDED_PORT": str(free_port())}, cwd=tmp_path)
    assert result.returncode == 1
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("nfvd: error: store postgresql+psycopg://nfvd:***@127.0.0.1:")
    assert "cannot connect" in line
    assert "pw-never-shown" not in result.stderr + result.stdout


def test_embedded_port_taken_stops_start_up(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = nfvd("serve", env={"NFVD_KAFKA_EMBEDDED_PORT": str(port)}, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("nfvd: error: ")
    assert str(port) in result.stderr


def test_json_logs(serve_process: Start) -> None:
    server = serve_process({"NFVD_LOG_FORMAT": "json"})
    server.wait_ready()
    requests.get(server.url + "/health", timeout=5)
    server.stop()
    lines = [line for line in server.stderr.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line of the log is one JSON object
    assert any(r["logger"] == "framework.access" and r["path"] == "/health" for r in records)


def test_python_dash_m() -> None:
    result = subprocess.run([sys.executable, "-m", "framework", "--help"], capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0
    assert "serve" in result.stdout and "drivers" in result.stdout
