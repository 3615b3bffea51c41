"""Helpers of the script driver's tests: scripts written into a driver directory, what they
saw, requests, processes."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from framework import LifecycleRequest

PRIVATE_KEY = ("-----BEGIN OPENSSH PRIVATE KEY-----\n"
               "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
               "QyNTUxOQAAACBmYWtlLWtleS1mb3ItdGVzdHMtb25seS1ub3QtcmVhbAAAAJgAAAAAAAAA\n"
               "-----END OPENSSH PRIVATE KEY-----")
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGZha2Uta2V5 vm-key"


def write_script(driver_dir: Path, name: str, body: str) -> None:
    """A script as a package would ship it, without the exec bit."""
    path = driver_dir / "scripts" / f"{name}.sh"
    path.write_text(body)
    path.chmod(0o644)


def dump(driver_dir: Path) -> str:
    """Shell code that records the script's view in dump.json beside the driver dir."""
    return f'"{sys.executable}" "{driver_dir.parent / "dump.py"}" "{driver_dir.parent}/dump.json"\n'


def seen(driver_dir: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((driver_dir.parent / "dump.json").read_text())
    return result


def make_request(driver_dir: Path | None, lifecycle: str = "Create",
                 **fields: Any) -> LifecycleRequest:
    values: dict[str, Any] = {
        "system_properties": {"resourceId": {"type": "string", "value": "r-1"},
                              "resourceName": {"type": "string", "value": "vm1"}},
        "deployment_location": {"name": "dl1", "type": "Script",
                                "properties": {"region": "eu-1"}},
        "request_id": "req-1",
        "driver_dir": str(driver_dir) if driver_dir else None}
    values.update(fields)
    return LifecycleRequest(lifecycle_name=lifecycle, **values)


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rfind(")") + 2] not in "ZX"


def wait_for(path: Path) -> None:
    for _ in range(500):
        if path.exists():
            return
        time.sleep(0.01)
    raise AssertionError(f"{path} never appeared")
