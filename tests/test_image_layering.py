"""The released image and a derived image, layer by layer, without a Docker engine.

``Dockerfile`` installs nfvd's wheels into a clean Python; ``examples/derived-image/Dockerfile``
adds a vendor's driver wheel on top, offline. This test takes the same steps into a fresh
virtual environment, the stand-in for the image, and then serves from it:

1. base layer: the core wheel (with its ``embedded`` extra) and the example driver wheel,
   built from this repository and installed with ``--no-index --no-deps``;
2. derived layer: vendor packages made by ``nfvd new-driver``, each built into a wheel of its
   own and installed the way the derived Dockerfile does;
3. ``nfvd serve`` from that environment finds them as installed plugins, answers Brent's
   execute request through the vendor's driver, takes the vendor's HPA capabilities into
   discovery and coordinates a rolling update's VNFCs with the vendor's coordinate script.

The image gets the core's dependencies from the index; here they come from the environment
running the tests, so that the test needs no network. A ``.pth`` file in the new environment
*appends* that environment's site-packages to ``sys.path``: the new environment's own
site-packages comes first, so its ``framework``, drivers and distribution metadata win over any
copy outside (which the test checks), while the dependencies are found after them. The ``.pth``
file is written after the base layer is installed: pip would otherwise see nfvd already
installed outside and install nothing.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from fixtures.brent import ExecutionEvents, execute_body
from fixtures.kafka import free_port

from framework import __version__
from framework.plugins.registry import RESOURCE_GROUP

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
VENDOR = "acme"
VENDOR_DIST = "nfvd-driver-acme"
VENDOR_MODULE = "nfvd_driver_acme"
HPA_DIST = "onap-device-driver-acme"
#: The vendor's coordinate script: its name in update requests, and its distribution.
SCRIPT = "acme-ems"
SCRIPT_DIST = "nfvd-driver-acme-ems"


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment of a process in the image: none of the test run's nfvd settings or
    Python paths, so nothing but the new environment decides what is imported."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("NFVD_") and k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(extra)
    return env


def _run(*args: str | Path, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Runs a command to completion; fails the test with its output when it fails.

    ``cwd`` is never the checkout: ``python -c`` and ``python -m`` put the working directory
    first on ``sys.path``, where the checkout's ``framework`` and its ``*.egg-info`` would pass
    for installed ones.
    """
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, check=False,
                            timeout=timeout, env=_clean_env(), cwd=cwd)
    assert result.returncode == 0, f"{args} exited {result.returncode}:\n{result.stdout}\n" \
                                   f"{result.stderr}"
    return result


def _build_wheel(source: Path, wheelhouse: Path) -> Path:
    """``python -m build --wheel`` of ``source`` into ``wheelhouse``; the wheel built."""
    wheelhouse.mkdir(parents=True, exist_ok=True)
    before = set(wheelhouse.glob("*.whl"))
    _run(sys.executable, "-m", "build", "--no-isolation", "--wheel", "--outdir", wheelhouse,
         source, cwd=wheelhouse)
    (wheel,) = set(wheelhouse.glob("*.whl")) - before
    return wheel


class Image:
    """A virtual environment standing in for a container image: its ``bin/``, its Python and
    its working directory (the image's ``WORKDIR``), where its commands run."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.python = root / "bin" / "python"
        self.nfvd = root / "bin" / "nfvd"
        self.workdir = root / "var" / "lib" / "nfvd"

    def run(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        self.workdir.mkdir(parents=True, exist_ok=True)
        return _run(*args, cwd=self.workdir)

    def pip_install(self, *args: str | Path) -> None:
        self.run(self.python, "-m", "pip", "install", "--no-cache-dir",
                 "--disable-pip-version-check", *args)

    def where(self, module: str) -> Path:
        """The file ``module`` is imported from inside the image."""
        code = f"import {module}; print({module}.__file__)"
        return Path(self.run(self.python, "-c", code).stdout.strip())

    def site_packages(self) -> Path:
        code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
        return Path(self.run(self.python, "-c", code).stdout.strip())


def base_image(root: Path, wheelhouse: Path) -> Image:
    """The steps of ``Dockerfile``: wheels of the core and the example drivers, installed."""
    _build_wheel(ROOT, wheelhouse)
    _build_wheel(ROOT / "drivers" / "script", wheelhouse)
    _build_wheel(ROOT / "drivers" / "openstack", wheelhouse)
    _run(sys.executable, "-m", "venv", root, cwd=wheelhouse)
    image = Image(root)
    image.pip_install("--no-index", "--find-links", wheelhouse, "--no-deps",
                      "nfv-driver-framework[embedded]", "nfvd-driver-script",
                      "nfvd-driver-openstack")
    outer = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    (image.site_packages() / "_dependencies_of_the_test_run.pth").write_text(
        f"import sys; sys.path.extend({outer!r})\n")
    return image


def vendor_package(image: Image, workdir: Path, kind: str = "resource",
                   name: str = VENDOR) -> Path:
    """A vendor's plugin package as ``nfvd new-driver`` makes it, with the image's nfvd."""
    workdir.mkdir(parents=True, exist_ok=True)
    _run(image.nfvd, "new-driver", "--kind", kind, "--name", name, "--dir", workdir,
         cwd=workdir)
    package = workdir / (f"onap-device-driver-{name}" if kind == "hpa"
                         else f"nfvd-driver-{name}")
    assert (package / "setup.cfg").is_file(), sorted(p.name for p in workdir.iterdir())
    return package


def derived_image(image: Image, workdir: Path, wheelhouse: Path) -> Image:
    """The steps of ``examples/derived-image/Dockerfile``: vendor wheels, offline, no deps
    (a resource driver, an HPA plugin and a coordinate script)."""
    wheel = _build_wheel(vendor_package(image, workdir), wheelhouse)
    assert wheel.name.startswith(f"{VENDOR_MODULE}-"), wheel.name
    _build_wheel(vendor_package(image, workdir, "hpa"), wheelhouse)
    _build_wheel(vendor_package(image, workdir, "coordinate", SCRIPT), wheelhouse)
    image.pip_install("--no-index", "--find-links", wheelhouse, "--no-deps", VENDOR_DIST,
                      HPA_DIST, SCRIPT_DIST)
    return image


class Server:
    """``nfvd serve`` from the image, as the image's entry point runs it."""

    def __init__(self, image: Image, env: dict[str, str], cwd: Path) -> None:
        self.url = f"http://127.0.0.1:{env['NFVD_PORT']}"
        self.out_path = cwd / "serve.out"
        with self.out_path.open("wb") as out:
            self.process = subprocess.Popen([str(image.nfvd), "serve"], cwd=cwd,
                                            env=_clean_env(**env), stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def output(self) -> str:
        return self.out_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"nfvd serve exited {self.process.returncode}:\n"
                                     f"{self.output}")
            try:
                if requests.get(self.url + "/ready", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"/ready did not answer 200 within {timeout}s:\n{self.output}")

    def stop(self) -> int:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode


def rolling_update() -> dict[str, Any]:
    """Two VNFCs of one VDU, each coordinated by the vendor's script, updated by ``fake``."""
    return {"vnfInstanceId": "vnf-1", "driver": "fake",
            "deploymentLocation": {"name": "lab", "type": "Fake"},
            "vnfcResourceInfo": [{"id": "vnfc-1", "vduId": "VDU1"},
                                 {"id": "vnfc-2", "vduId": "VDU1"}],
            "additionalParams": {"upgrade_type": "RollingUpdate",
                                 "lcm-operation-coordinate-old-vnf": SCRIPT,
                                 "lcm-operation-coordinate-new-vnf": SCRIPT,
                                 "vdu_params": [{"vdu_id": "VDU1"}]}}


def wait_operation(url: str, op_id: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        op: dict[str, Any] = requests.get(f"{url}/api/lcm/operations/{op_id}", timeout=5).json()
        if op["state"] not in ("PROCESSING", "ROLLING_BACK") or time.monotonic() > deadline:
            return op
        time.sleep(0.1)


def _plugin(plugins: list[dict[str, Any]], name: str) -> dict[str, Any]:
    (found,) = [p for p in plugins if p["group"] == RESOURCE_GROUP and p["name"] == name]
    return found


def test_a_vendor_wheel_on_the_released_image_is_served(
        tmp_path: Path, kafka_broker: Any, events: ExecutionEvents) -> None:
    image = base_image(tmp_path / "image", tmp_path / "wheels")
    derived_image(image, tmp_path / "vendor", tmp_path / "vendor-wheels")

    # what runs is the image's copy of each package, not the checkout nor the test run's
    for module in ("framework", "nfvd_driver_script", VENDOR_MODULE, "nfvd_driver_acme_ems"):
        assert image.where(module).is_relative_to(image.root), module

    listed = json.loads(image.run(image.nfvd, "drivers", "list", "--json").stdout)["plugins"]
    assert _plugin(listed, VENDOR)["distribution"] == VENDOR_DIST
    assert {_plugin(listed, n)["status"] for n in (VENDOR, "script", "fake")} == {"loaded"}

    # the store where the image keeps it by default: nfvd.db in the working directory
    server = Server(image, {
        "NFVD_PORT": str(free_port()),
        "NFVD_KAFKA_BOOTSTRAP_SERVERS": kafka_broker.bootstrap_servers,
        "NFVD_DATABASE_URL": f"sqlite:///{image.workdir / 'nfvd.db'}",
    }, cwd=image.workdir)
    try:
        server.wait_ready()
        plugins = requests.get(server.url + "/api/plugins", timeout=5).json()["plugins"]
        acme = _plugin(plugins, VENDOR)
        assert (acme["status"], acme["distribution"]) == ("loaded", VENDOR_DIST), acme
        assert acme["error"] is None
        assert _plugin(plugins, "script")["status"] == "loaded"

        response = requests.post(f"{server.url}/drivers/{VENDOR}/api/driver/lifecycle/execute",
                                 json=execute_body("Create", location_type="Acme"), timeout=10)
        assert response.status_code == 202, response.text
        request_id = response.json()["requestId"]
        terminal = events.terminal(request_id, timeout=30)
        assert terminal["status"] == "COMPLETE", terminal

        # the vendor's HPA plugin contributes to discovery
        flavor = {"flavor": {"id": "7", "name": "onap.acme", "vcpus": 2, "ram": 2048},
                  "extra_specs": {"hw:acme": "enabled"}, "vimtype": "pike",
                  "viminfo": {"cloud_owner": "owner", "cloud_region_id": "region"}}
        found = requests.post(server.url + "/api/hpa/v1/discover", json=flavor, timeout=10)
        assert found.status_code == 200, found.text
        (entry,) = [p for p in found.json()["plugins"] if p["distribution"] == HPA_DIST]
        assert entry["status"] == "accepted", entry
        assert "acme" in {c["hpa-feature"] for c in found.json()["hpa-capability"]}

        # the vendor's coordinate script coordinates each VNFC of a rolling update
        update = requests.post(server.url + "/api/lcm/rolling-updates", json=rolling_update(),
                               timeout=10)
        assert update.status_code == 201, update.text
        done = wait_operation(server.url, update.json()["id"])
        assert done["state"] == "COMPLETED", done
        coordinated = [(t["name"], t["result"]["coordinationActionName"])
                       for t in done["tasks"] if t["type"] == "coordination:coordinate"]
        assert coordinated == [(f"{vnfc}:coordinate-{side}", SCRIPT)
                               for vnfc in ("vnfc-2", "vnfc-1") for side in ("old", "new")]
    finally:
        returncode = server.stop()  # always, and before any failure above is reported
    assert returncode == 0, server.output  # SIGTERM is a clean stop


def test_the_dockerfiles_take_the_steps_this_test_takes() -> None:
    """The images and this test cannot drift apart unnoticed."""
    base = (ROOT / "Dockerfile").read_text()
    derived = (ROOT / "examples" / "derived-image" / "Dockerfile").read_text()

    # every distribution of the repository is built into the base image
    one_line = re.sub(r"\\\n\s*", " ", base)  # continuation lines joined
    (wheel_line,) = re.findall(r"^RUN pip wheel (.+)$", one_line, re.MULTILINE)
    built = {Path(arg).as_posix() for arg in wheel_line.split() if not arg.startswith("-")
             and arg != "/wheels"}
    packages = {"."} | {cfg.parent.relative_to(ROOT).as_posix()
                        for kind in ("drivers", "hpa_plugins")
                        for cfg in ROOT.glob(f"{kind}/*/setup.cfg")}
    assert built == packages
    assert '"nfv-driver-framework[embedded]"' in base
    assert f"ARG VERSION={__version__}\n" in base  # the image's version label
    assert re.search(r"^ENV NFVD_HOST=0\.0\.0\.0 \\\n\s+NFVD_PORT=8296$", base, re.MULTILINE)
    assert "/health" in base and 'ENTRYPOINT ["nfvd"]' in base and 'CMD ["serve"]' in base

    assert "pip install --no-cache-dir --no-index --find-links /wheelhouse --no-deps" in derived
    assert f"ARG VENDOR_DIST={VENDOR_DIST}" in derived
    # both leave the server to the same unprivileged user
    users = [re.findall(r"^USER (\S+)$", text, re.MULTILINE)[-1] for text in (base, derived)]
    assert users == ["10001:10001", "10001:10001"]
