"""HPA discovery: flavors per second against ONAP's onaphpadriver, and region registration.

    python benchmarks/hpa_discovery.py [--flavors 10000] [--repeat 3] [--seed 6]
                                       [--aai-latency 20] [--aai-concurrency 8]
                                       [--region-sizes 250,500,1000]
                                       [--no-peer] [--no-registration] [--profile]

1. ``--flavors`` realistic, varied Nova flavors in ONAP's input shape (``{flavor,
   extra_specs, viminfo, vimtype}``, names ``onap.*``, a fixed seed): CPU pinning and
   topology, huge pages, NUMA with per-node CPUs and memory, PCI passthrough aliases, SR-IOV
   NIC aggregate specs, OVS-DPDK regions, instruction set extensions, local storage.
2. nfvd, in this process: :class:`framework.discovery.Discovery` over the installed plugins
   (the six ``onap-device-driver-*``): every plugin called with its timeout, every result
   sized and validated against ``specs/schemas/hpa-capability.json``; timed as the registry
   runs it (``discover_all``: the flavors' plugin calls handed to a worker thread in
   batches), and one flavor at a time (``discover``, as the API runs it: a hand-off to the
   worker per flavor). Validation is timed in a separate pass of the same run by wrapping
   the function that judges each result (``_judge``: the 1500-byte check and the schema,
   and within it ``_checked_bytes`` and ``_problem``, the schema and size in plain code and
   jsonschema's wording of what fails); the wrappers cost time of their own, so that pass
   is not the one timed. The garbage collector's collections in the timed pass are counted
   per generation, on both sides: a full one walks every object the process holds.
3. The peer, in the same run: ONAP's ``onaphpadriver`` 1.0 from PyPI, installed on first
   use into a virtualenv under ``~/.cache/nfvd-peers/onap-venv``, run in a subprocess on
   the same flavors (a JSON file) that times its own ``get_hpa_capabilities`` calls. Its
   entry point names a class that does not exist, so its module is imported directly; a
   flavor it crashes on is caught and counted (ONAP would abort every remaining flavor).
   nfvd and the peer take turns, ``--repeat`` rounds each.
4. Registration: ``nfvd serve`` (SQLite, a Kafka-compatible broker started apart, the A&AI
   stand-in of ``tests/fixtures/aai.py`` answering each request after ``--aai-latency`` ms)
   and ``POST /api/multicloud/v1/{owner}/{region}/registry`` with the ``inline`` flavor
   source, timed until ``GET .../registry`` shows the operation finished (asked every 10 ms
   once A&AI has had every flavor's PUT, every second before), for regions of
   ``--region-sizes`` flavors; split into the time before the first A&AI request of a flavor
   (request, listing, discovery of every flavor) and the A&AI writes. Compared with the
   floor of ``aai_concurrency`` writers (rounds of round trips) and with ONAP's one flavor
   at a time (flavors x 2 requests x latency, computed: ONAP's ``_update_resoure`` GETs then
   PUTs each flavor in turn).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import cProfile
import gc
import importlib
import io
import json
import math
import os
import pstats
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

from peer_venv import CACHE, peer_python

import framework.discovery
from framework.alarms import Alarms
from framework.config import Settings
from framework.discovery import Discovery
from framework.messaging import EmbeddedBroker
from framework.metrics import Counter
from framework.plugins.registry import HPA_GROUP, PluginRegistry
from framework.runtime import discovery as make_discovery

ROOT = Path(__file__).resolve().parent.parent
OWNER = "CloudOwner"
PEER = "onaphpadriver==1.0"
#: onaphpadriver imports six without declaring it
PEER_EXTRA = "six==1.17.0"
#: flavors discovered before timing starts, on both sides (imports, caches)
WARM_UP = 200

# --- the flavors ---------------------------------------------------------------------------

#: (vendor, device, alias prefix) of PCI devices passed through: GPUs, QAT, FPGA
PCI_DEVICES = [("10de", "1eb8", "gpu-t4"), ("10de", "20b5", "gpu-a100"),
               ("8086", "37c9", "qat-vf"), ("8086", "0b30", "fpga-n3000"),
               ("1af4", "1041", "virtio-net")]
#: (architecture, vendor, device) of SR-IOV NICs: Intel XL710/E810/X710 VFs, Mellanox CX-5
SRIOV_NICS = [("intel", "8086", "154c"), ("intel", "8086", "1889"), ("intel", "8086", "1572"),
              ("mellanox", "15b3", "1018"), ("mellanox", "15b3", "101a")]
PHYSNETS = ["physnet1", "physnet-1", "physnet-sriov-a", "sriov_data", "provider-fabric-2"]
CPU_FEATURES = ["avx", "avx2", "avx512f", "avx512bw", "avx512vl", "sse4.2", "aes", "sha_ni",
                "pclmulqdq", "vmx", "acpi", "rdrand"]
#: harmless extra specs real flavors carry, which no HPA feature reads
OTHER_SPECS = {"hw:watchdog_action": ["reset", "poweroff"], "hw_rng:allowed": ["True"],
               "quota:vif_outbound_average": ["102400", "1048576"], "hw:boot_menu": ["false"],
               "hw:emulator_threads_policy": ["share", "isolate"],
               "hw:vif_multiqueue_enabled": ["true"]}
#: the cloud regions the flavors come from: ``(vimtype, cloud_extra_info)``; the ovsDpdk
#: capability depends on them (a named library, a vimtype's default, or 12.1)
REGIONS = [
    ("openstack", None),
    ("pike", json.dumps({"ovsDpdk": {"libname": "dataProcessingAccelerationLibrary",
                                     "libversion": "v17.11"}})),
    ("windriver", ""),
    ("starlingx", json.dumps({"ovsDpdk": {"libname": "dataProcessingAccelerationLibrary",
                                          "libversion": "v18.11"},
                              "openstack-region-id": "RegionOne"})),
    ("ocata", json.dumps({"openstack-region-id": "RegionTwo"})),
]
SIZES = [("tiny", 1, 512), ("small", 2, 2048), ("medium", 4, 4096), ("large", 8, 8192),
         ("xlarge", 16, 16384), ("2xlarge", 32, 65536)]
#: flavor families: the features each asks for, and how often it occurs
FAMILIES: list[tuple[str, tuple[str, ...], int]] = [
    ("general", (), 14),
    ("pinned", ("pinning", "topology"), 10),
    ("hugepages", ("hugepages",), 8),
    ("numa", ("pinning", "numa", "hugepages"), 10),
    ("avx", ("features", "pinning"), 8),
    ("gpu", ("pci", "pinning", "numa"), 8),
    ("sriov", ("sriov", "pinning", "hugepages"), 12),
    ("dpdk", ("pinning", "hugepages", "numa", "features"), 10),
    ("storage", ("storage",), 8),
    ("nfv", ("pinning", "topology", "hugepages", "numa", "features", "pci", "sriov",
             "storage"), 12),
]


def _divisor(rng: random.Random, number: int, choices: tuple[int, ...]) -> int:
    return rng.choice([c for c in choices if number % c == 0])


def _specs(rng: random.Random, features: tuple[str, ...], vcpus: int,
           ram: int) -> dict[str, str]:
    specs: dict[str, str] = {}
    if "pinning" in features:
        specs["hw:cpu_policy"] = rng.choice(["dedicated", "dedicated", "shared"])
        if rng.random() < 0.6:
            specs["hw:cpu_thread_policy"] = rng.choice(["prefer", "isolate", "require"])
    if "topology" in features or ("pinning" in features and rng.random() < 0.3):
        threads = _divisor(rng, vcpus, (1, 2))
        sockets = _divisor(rng, vcpus // threads, (1, 2))
        topology = {"hw:cpu_sockets": sockets, "hw:cpu_cores": vcpus // threads // sockets,
                    "hw:cpu_threads": threads}
        for key in rng.sample(sorted(topology), rng.randint(1, 3)):
            specs[key] = str(topology[key])
    if "hugepages" in features:
        specs["hw:mem_page_size"] = rng.choice(["large", "large", "small", "any", "2048",
                                                "1048576"])
    if "numa" in features:
        nodes = _divisor(rng, vcpus, (1, 2, 4) if vcpus >= 4 else (1,))
        specs["hw:numa_nodes"] = str(nodes)
        if nodes > 1 and rng.random() < 0.8:  # an asymmetric layout, node by node
            per_node = vcpus // nodes
            for node in range(nodes):
                first = node * per_node
                specs[f"hw:numa_cpus.{node}"] = (
                    f"{first}-{first + per_node - 1}" if rng.random() < 0.5
                    else ",".join(str(cpu) for cpu in range(first, first + per_node)))
                specs[f"hw:numa_mem.{node}"] = str(ram // nodes)
    if "features" in features:
        specs["hw:capabilities:cpu_info:features"] = ",".join(
            rng.sample(CPU_FEATURES, rng.randint(2, 6)))
    if "pci" in features:
        vendor, device, prefix = rng.choice(PCI_DEVICES)
        arch = rng.choice(["intel", "intel", "amd64"])
        specs["pci_passthrough:alias"] = f"{prefix}-{arch}-{vendor}-{device}:{rng.randint(1, 4)}"
    if "sriov" in features:
        arch, vendor, device = rng.choice(SRIOV_NICS)
        specs["aggregate_instance_extra_specs:sriov_nic"] = (
            f"sriov-nic-{arch}-{vendor}-{device}-{rng.choice(PHYSNETS)}:{rng.randint(1, 4)}")
    for key in rng.sample(sorted(OTHER_SPECS), rng.randint(0, 3)):
        specs[key] = rng.choice(OTHER_SPECS[key])
    return specs


def make_flavors(count: int, seed: int) -> list[dict[str, Any]]:
    """``count`` flavors in ONAP's input shape, the same for the same seed."""
    rng = random.Random(seed)
    weights = [weight for _, _, weight in FAMILIES]
    flavors = []
    for index in range(count):
        family, features, _ = rng.choices(FAMILIES, weights)[0]
        size, vcpus, ram = rng.choice(SIZES)
        storage = "storage" in features
        flavor_id = f"{index + 1:05d}-{rng.getrandbits(32):08x}"
        disk = rng.choice([1, 10, 20, 40, 80, 160] + ([500, 1000] if storage else []))
        vimtype, extra_info = rng.choice(REGIONS)
        flavors.append({
            "flavor": {
                "id": flavor_id, "name": f"onap.{family}.{size}.{index + 1:05d}",
                "vcpus": vcpus, "ram": ram, "disk": disk,
                "swap": rng.choice([512, 1024, 4096]) if storage and rng.random() < 0.7 else "",
                "OS-FLV-EXT-DATA:ephemeral": rng.choice([10, 50, 100]) if storage else 0,
                "OS-FLV-DISABLED:disabled": False, "os-flavor-access:is_public": True,
                "rxtx_factor": 1.0,
                "links": [{"rel": "self", "href":
                           f"http://nova.example:8774/v2.1/flavors/{flavor_id}"}],
            },
            "extra_specs": _specs(rng, features, vcpus, ram),
            "viminfo": {"cloud_owner": OWNER, "cloud_region_id": f"Region-{vimtype}",
                        "cloud_extra_info": extra_info},
            "vimtype": vimtype,
        })
    return flavors


# --- nfvd's discovery ----------------------------------------------------------------------

def nfvd_discovery() -> Discovery:
    """HPA discovery over the installed plugins, as ``nfvd hpa discover`` builds it."""
    return make_discovery(PluginRegistry.discover(), Alarms(Counter("alarms", "")),
                          timeout=Settings.hpa_timeout_seconds)


@contextlib.contextmanager
def _timed(name: str, totals: dict[str, float]) -> Iterator[None]:
    """Wraps ``framework.discovery.<name>`` so that its time adds up in ``totals[name]``."""
    original: Callable[..., Any] = getattr(framework.discovery, name)
    totals[name] = 0.0

    def wrapper(*args: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args)
        finally:
            totals[name] += time.perf_counter() - started

    with mock.patch.object(framework.discovery, name, wrapper):
        yield


def collections_made() -> list[int]:
    """How many collections the garbage collector has made so far, per generation."""
    return [generation["collections"] for generation in gc.get_stats()]


def run_nfvd(discovery: Discovery, flavors: list[dict[str, Any]]) -> dict[str, Any]:
    """Timed passes over ``flavors`` (as the registry, then one at a time, as the API), and
    an instrumented one; seconds, seconds judging/validating, outcomes."""
    # each result is counted and let go as it comes, as the registry writes and lets go of
    # it and as the peer's loop below counts it: holding all 10,000 results would make the
    # garbage collector walk them again and again while the rest are discovered
    capabilities = 0
    statuses: collections.Counter[str] = collections.Counter()
    collected = collections_made()
    started = time.perf_counter()
    for result in discovery.discover_all(flavors):
        capabilities += len(result["hpa-capability"])
        statuses.update([plugin["status"] for plugin in result["plugins"]])
    elapsed = time.perf_counter() - started
    collected = [after - before for before, after in zip(collected, collections_made(),
                                                         strict=True)]
    started = time.perf_counter()
    for item in flavors:
        discovery.discover(item)
    one_by_one = time.perf_counter() - started
    totals: dict[str, float] = {}
    with _timed("_judge", totals), _timed("_checked_bytes", totals), \
            _timed("_problem", totals):
        started = time.perf_counter()
        for _ in discovery.discover_all(flavors):
            pass
        instrumented = time.perf_counter() - started
    return {"seconds": elapsed, "collections": collected, "one_by_one": one_by_one,
            "instrumented": instrumented,
            "judge": totals["_judge"], "schema": totals["_checked_bytes"] + totals["_problem"],
            "capabilities": capabilities,
            "accepted": statuses["accepted"], "dropped": statuses["dropped"],
            "plugins": len(discovery.plugins)}


def plugin_calls() -> list[Callable[[dict[str, Any]], Any]]:
    """The ``hpa_discover`` of each installed HPA plugin, to call directly."""
    plugins = PluginRegistry.discover().hook_plugins(HPA_GROUP)
    return [plugin.hpa_discover for _, plugin in sorted(plugins.items())]


def run_plugins_alone(calls: list[Callable[[dict[str, Any]], Any]],
                      flavors: list[dict[str, Any]]) -> float:
    """Seconds for the plugins' own code (``calls``, from :func:`plugin_calls`) over
    ``flavors``: each called directly, with no copy of the flavor, no worker thread, no check
    and no report. No framework around these plugins can be faster than this."""
    started = time.perf_counter()
    for item in flavors:
        for call in calls:
            call(item)
    return time.perf_counter() - started


class _InThisThread:
    """Runs the plugin calls in the calling thread, where cProfile sees them."""

    @staticmethod
    def run(calls: list[tuple[Callable[[Any], Any], Any]], timeout: float) -> list[Any]:
        return [("returned", function(argument)) for function, argument in calls]


def profile_nfvd(discovery: Discovery, flavors: list[dict[str, Any]], top: int = 20) -> str:
    """cProfile's top entries (own time, then cumulative) over one pass, the plugin calls
    run in this thread rather than a worker's (cProfile sees one thread)."""
    profiler = cProfile.Profile()
    with mock.patch.object(framework.discovery, "_CALLS", _InThisThread()):
        profiler.enable()
        list(discovery.discover_all(flavors))
        profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(r"discovery|calls|pluggy|copy|onap_device", top)
    return out.getvalue()


# --- the peer: ONAP's onaphpadriver in its own virtualenv ----------------------------------

PEER_RUN = textwrap.dedent('''
    import gc, importlib.metadata, json, sys, time
    flavors = json.load(open(sys.argv[1]))
    warm_up = int(sys.argv[2])
    # the entry point ONAP's MultiCloud loads with stevedore: it names HPA_Discovery
    entry_point = "none"
    for ep in importlib.metadata.entry_points(group="hpa.discovery"):
        try:
            ep.load()
            entry_point = f"{ep.value} loads"
        except Exception as exc:
            entry_point = f"{ep.value} loads nothing ({type(exc).__name__}: {exc})"
    from hpa.hpa_discovery import HPADiscovery
    driver = HPADiscovery()
    for item in flavors[:warm_up]:
        try:
            driver.get_hpa_capabilities(item)
        except Exception:
            pass
    crashes = capabilities = 0
    collected = [generation["collections"] for generation in gc.get_stats()]
    started = time.perf_counter()
    for item in flavors:
        try:
            capabilities += len(driver.get_hpa_capabilities(item))
        except Exception:  # ONAP's loop would stop here, losing every remaining flavor
            crashes += 1
    seconds = time.perf_counter() - started
    collected = [generation["collections"] - before
                 for generation, before in zip(gc.get_stats(), collected)]
    print(json.dumps({"seconds": seconds, "crashes": crashes, "capabilities": capabilities,
                      "collections": collected, "entry_point": entry_point}))
''')


def run_peer(python: Path, flavors_file: Path, folder: Path) -> dict[str, Any]:
    """One timed pass of onaphpadriver over the flavors in ``flavors_file``."""
    script = folder / "peer_run.py"
    script.write_text(PEER_RUN)
    # HPADiscovery opens discovery.log in the working directory: keep it in the temp folder
    done = subprocess.run([str(python), str(script), str(flavors_file), str(WARM_UP)],
                          cwd=folder, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# --- registration through the API against the A&AI stand-in ---------------------------------

def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _stand_in(latency: float) -> Any:
    """The A&AI stand-in of the tests (``tests/fixtures/aai.py``), started, ``latency`` s per
    request; each request's arrival is recorded in its ``arrivals``: (time, method, path)."""
    sys.path.insert(0, str(ROOT / "tests"))
    stand_in = importlib.import_module("fixtures.aai").AaiStandIn(latency=latency)
    arrivals: list[tuple[float, str, str]] = []
    answer = stand_in.answer

    def timed(method: str, target: str, headers: Any, raw: bytes) -> Any:
        arrivals.append((time.perf_counter(), method, target))
        return answer(method, target, headers, raw)

    stand_in.answer, stand_in.arrivals = timed, arrivals
    return stand_in.start()


def _register(url: str, region: str, flavors: list[dict[str, Any]], stand_in: Any
              ) -> dict[str, Any]:
    """POSTs the registration, waits for its operation to finish; wall time and A&AI times."""
    import requests

    registry = f"{url}/api/multicloud/v1/{OWNER}/{region}/registry"
    body = json.dumps({"flavorSource": "inline", "vimType": "openstack",
                       "flavors": [{"flavor": f["flavor"], "extra_specs": f["extra_specs"]}
                                   for f in flavors]}).encode()
    stand_in.add_region(OWNER, region)
    arrivals: list[tuple[float, str, str]] = stand_in.arrivals
    arrivals.clear()
    stand_in.requests.clear()  # what the stand-in records for tests: not needed here
    path = f"/{region}/flavors/"
    with requests.Session() as http:
        started = time.perf_counter()
        answer = http.post(registry, data=body, timeout=60,
                           headers={"Content-Type": "application/json"})
        assert answer.status_code == 202, answer.text
        asked = 0.0
        while True:
            # a GET of the status loads the operation with every listed flavor (tens of ms
            # of the server's CPU at 1,000 flavors): asked often only once A&AI has had
            # every flavor's PUT, once a second before that
            written = sum(1 for _, method, target in arrivals
                          if method == "PUT" and path in target) >= len(flavors)
            if written or time.perf_counter() - asked >= 1.0:
                asked = time.perf_counter()
                status = http.get(registry, timeout=30).json()
                if status["state"] not in ("PROCESSING", "PAUSED", "ROLLING_BACK"):
                    break
            time.sleep(0.01)
        elapsed = time.perf_counter() - started
    assert status["state"] == "COMPLETED", status
    assert status["result"]["flavors"] == len(flavors), status["result"]
    flavor_requests = [at for at, _, target in arrivals if path in target]
    return {"seconds": elapsed, "requests": len(flavor_requests),
            "before_aai": flavor_requests[0] - started,
            "aai": flavor_requests[-1] - flavor_requests[0],
            "capabilities": status["result"]["capabilities"]}


@contextlib.contextmanager
def nfvd_server(aai_url: str, concurrency: int, body_bytes: int) -> Iterator[str]:
    """``nfvd serve`` on SQLite with a broker started apart; yields its URL."""
    import requests

    broker = EmbeddedBroker(_free_port())
    broker.start()
    folder = Path(tempfile.mkdtemp(prefix="nfvd-bench-"))
    port = _free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("NFVD_")},
           "NFVD_PORT": str(port), "NFVD_DATABASE_URL": f"sqlite:///{folder / 'bench.db'}",
           "NFVD_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
           "NFVD_AAI_URL": aai_url, "NFVD_AAI_CONCURRENCY": str(concurrency),
           # the inline flavors of 1,000 flavors are more than the default 1 MiB body
           "NFVD_MAX_BODY_BYTES": str(max(body_bytes, Settings.max_body_bytes))}
    with (folder / "serve.log").open("wb") as log:
        server = subprocess.Popen([sys.executable, "-m", "framework", "serve"], env=env,
                                  cwd=folder, stdout=log, stderr=log)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if requests.get(f"{url}/ready", timeout=1).ok:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        else:
            raise RuntimeError(f"nfvd serve did not start: see {folder / 'serve.log'}")
        yield url
    finally:
        server.terminate()
        server.wait(30)
        broker.stop()


# --- reporting -------------------------------------------------------------------------------

def _range(values: list[float], digits: int = 0) -> str:
    low, high = min(values), max(values)
    if round(low, digits) == round(high, digits):
        return f"{low:,.{digits}f}"
    return f"{low:,.{digits}f}-{high:,.{digits}f}"


def _collections(runs: list[dict[str, Any]]) -> str:
    """The garbage collections of each generation in the timed passes of ``runs``."""
    return " / ".join(_range([r["collections"][generation] for r in runs])
                      for generation in range(len(runs[0]["collections"])))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flavors", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--aai-latency", type=float, default=20.0,
                        help="ms the A&AI stand-in takes per request")
    parser.add_argument("--aai-concurrency", type=int, default=Settings.aai_concurrency)
    parser.add_argument("--region-sizes", default="250,500,1000")
    parser.add_argument("--peer-venv", type=Path,
                        default=CACHE / "onap-venv")
    parser.add_argument("--no-peer", action="store_true")
    parser.add_argument("--no-registration", action="store_true")
    parser.add_argument("--profile", action="store_true",
                        help="also print cProfile's top entries of one nfvd pass")
    args = parser.parse_args()

    flavors = make_flavors(args.flavors, args.seed)
    specs = sum(len(f["extra_specs"]) for f in flavors)
    print(f"{len(flavors):,} flavors (seed {args.seed}), {specs / len(flavors):.1f} extra specs "
          "on average", flush=True)
    folder = Path(tempfile.mkdtemp(prefix="nfvd-bench-hpa-"))
    flavors_file = folder / "flavors.json"
    flavors_file.write_text(json.dumps(flavors))
    python = None if args.no_peer else peer_python(args.peer_venv, [PEER, PEER_EXTRA],
                                                          "hpa.hpa_discovery")

    discovery = nfvd_discovery()
    run_nfvd(discovery, flavors[:WARM_UP])
    ours: list[dict[str, Any]] = []
    theirs: list[dict[str, Any]] = []
    calls = plugin_calls()
    alone: list[float] = []
    for round_ in range(args.repeat):
        ours.append(run_nfvd(discovery, flavors))
        mine = ours[-1]
        alone.append(run_plugins_alone(calls, flavors))
        line = (f"round {round_ + 1}: nfvd {len(flavors) / mine['seconds']:,.0f} flavors/s "
                f"(one at a time {len(flavors) / mine['one_by_one']:,.0f}; validation "
                f"{mine['judge'] / mine['instrumented']:.0%}; the plugins alone "
                f"{len(flavors) / alone[-1]:,.0f})")
        if python is not None:
            theirs.append(run_peer(python, flavors_file, folder))
            line += f", onaphpadriver {len(flavors) / theirs[-1]['seconds']:,.0f} flavors/s"
        print(line, flush=True)

    shutil.rmtree(folder, ignore_errors=True)
    rates = [len(flavors) / r["seconds"] for r in ours]
    first = ours[0]
    print(f"\nnfvd, {first['plugins']} plugins, every result validated: {_range(rates)} "
          f"flavors/s ({first['capabilities']:,} capabilities; results accepted "
          f"{first['accepted']:,}, dropped {first['dropped']:,})")
    singles = [len(flavors) / r["one_by_one"] for r in ours]
    print(f"  one flavor at a time (discover, as the API): {_range(singles)} flavors/s")
    judge = [r["judge"] / r["instrumented"] for r in ours]
    schema = [r["schema"] / r["instrumented"] for r in ours]
    print(f"  time validating: {_range([100 * s for s in judge])}% (size check and schema, "
          f"_judge), of which the schema {_range([100 * s for s in schema])}% "
          "(_checked_bytes and _problem)")
    print(f"  time per flavor: {_range([1e6 / r for r in rates])} us")
    alone_rates = [len(flavors) / seconds for seconds in alone]
    print(f"  the plugins' own code alone (no copy, thread, check or report): "
          f"{_range(alone_rates)} flavors/s, {_range([1e6 / r for r in alone_rates])} us")
    print(f"  garbage collections in a pass, per generation: {_collections(ours)}")
    if theirs:
        peer_rates = [len(flavors) / r["seconds"] for r in theirs]
        print(f"onaphpadriver 1.0, no validation: {_range(peer_rates)} flavors/s "
              f"({theirs[0]['capabilities']:,} capabilities, crashes caught: "
              f"{theirs[0]['crashes']})")
        print(f"  entry point: {theirs[0]['entry_point']}")
        print(f"  garbage collections in a pass, per generation: {_collections(theirs)}")
        ratios = [a / b for a, b in zip(rates, peer_rates, strict=True)]
        ratio = statistics.median(rates) / statistics.median(peer_rates)
        verdict = "met" if ratio >= 2 else "NOT met"
        print(f"ratio nfvd/onaphpadriver: {ratio:.3f} (per round {_range(ratios, 3)}); "
              f"target >= 2: {verdict}")
        print(f"  one flavor at a time: "
              f"{statistics.median(singles) / statistics.median(peer_rates):.3f}")
        print(f"  the plugins alone against the peer: "
              f"{statistics.median(alone_rates) / statistics.median(peer_rates):.3f} (the "
              "most any framework around these plugins could reach)")
    if args.profile:
        print("\ncProfile of one nfvd pass over "
              f"{min(len(flavors), 2000):,} flavors:")
        print(profile_nfvd(discovery, flavors[:2000]))

    if not args.no_registration:
        sizes = [int(s) for s in args.region_sizes.split(",")]
        latency = args.aai_latency / 1000
        concurrency = args.aai_concurrency
        stand_in = _stand_in(latency)
        biggest = max(sizes)
        regional = make_flavors(biggest, args.seed)  # the first flavors of the same list
        body_bytes = 2 * len(json.dumps(regional))
        try:
            with nfvd_server(stand_in.url, concurrency, body_bytes) as url:
                _register(url, "bench-warm-up", regional[:20], stand_in)
                print(f"\nregistration, A&AI stand-in at {args.aai_latency:g} ms per request, "
                      f"aai_concurrency {concurrency}:")
                print(f"{'flavors':>8}{'wall s':>14}{'before A&AI s':>15}{'A&AI s':>14}"
                      f"{'req/flavor':>11}{'floor s':>9}{'ONAP s (computed)':>19}")
                for size in sizes:
                    runs = [_register(url, f"bench-{size}-{r}", regional[:size], stand_in)
                            for r in range(args.repeat)]
                    per_flavor = runs[0]["requests"] / size
                    floor = math.ceil(size / concurrency) * per_flavor * latency
                    onap = size * 2 * latency
                    print(f"{size:>8}{_range([r['seconds'] for r in runs], 2):>14}"
                          f"{_range([r['before_aai'] for r in runs], 2):>15}"
                          f"{_range([r['aai'] for r in runs], 2):>14}{per_flavor:>11.1f}"
                          f"{floor:>9.2f}{onap:>19.1f}", flush=True)
                print("floor: ceil(flavors / aai_concurrency) x requests per flavor x latency; "
                      "ONAP: flavors x 2 requests (GET, PUT) x latency, one at a time")
        finally:
            stand_in.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
