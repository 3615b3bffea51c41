"""Coordinate scripts: the CoordinateVNF step of a rolling update for one VNFC.

A script is named by the update request. The plugin of group ``nfvd.coordinate_scripts``
that owns the name answers (pluggy's first non-None result wins); the built-in one is
``sol002``, which asks the coordination server of the VNFC with the SOL002 client. A name
no plugin owns that is a file of the operation's VNF package is run as Tacker runs its
CoordinateVNF scripts: the VNFC's parameters as JSON on stdin, exit status 0 to go on.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import posixpath
import signal
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from framework import hookimpl
from framework.coordination.client import ClientTls, coordinate
from framework.lifecycle import REDACTED, SECRET_MEMBERS
from framework.packages import stored_directory
from framework.plugins.calls import call, describe
from framework.plugins.registry import COORDINATE_GROUP, PluginRegistry

log = logging.getLogger("framework.coordination")

#: The built-in script's name: coordinate with the VNFC's SOL002 coordination server.
SOL002 = "sol002"
RESULTS = ("CONTINUE", "ABORT", "CANCELLED")
#: Bytes of a package script's stdout and stderr that are kept.
OUTPUT_LIMIT = 64 * 1024


class ScriptFailed(RuntimeError):
    """A coordinate script could not give an answer (not the same as answering ABORT)."""


def side_param(vnfc: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
    """The VNFC parameters of the side being coordinated: ``old_vnfc_param`` or
    ``new_vnfc_param`` of the ``vdu_params`` entry, by ``context["side"]``."""
    value = vnfc.get(f"{context.get('side', 'new')}_vnfc_param")
    return dict(value) if isinstance(value, Mapping) else {}


class Sol002Script:
    """The ``sol002`` coordinate script: one LCM coordination with the VNFC's server.

    It sends ``context["LcmCoordRequest"]`` (its ``coordinationActionName`` and
    ``inputParams`` completed from the VNFC's parameters) to the side's ``endpoint`` with
    its ``authentication``, within ``context["timeout"]`` seconds, and answers the final
    ``LcmCoord`` whatever its ``coordinationResult``.
    """

    @hookimpl
    def coordinate_vnfc(self, script: str, vnfc: dict[str, Any],
                        context: dict[str, Any]) -> dict[str, Any] | None:
        if script != SOL002:
            return None
        side = context.get("side", "new")
        param = side_param(vnfc, context)
        endpoint = param.get("endpoint")
        if not isinstance(endpoint, str) or not endpoint:
            raise ValueError(f"{side}_vnfc_param.endpoint: missing; the sol002 script needs "
                             "the URL of the VNFC's coordination server")
        request = dict(context["LcmCoordRequest"])
        if param.get("coordinationActionName"):
            request["coordinationActionName"] = param["coordinationActionName"]
        if isinstance(param.get("inputParams"), Mapping):
            request["inputParams"] = {**request.get("inputParams", {}), **param["inputParams"]}
        tls = context.get("tls") or {}
        return coordinate(endpoint, request, authentication=param.get("authentication"),
                          timeout=float(context["timeout"]),
                          tls=ClientTls(ca_file=tls.get("caFile"),
                                        client_certs=tls.get("clientCerts")))


def secrets_in(value: Any) -> set[str]:
    """Every string value of a member named in SECRET_MEMBERS, at any depth."""
    found: set[str] = set()
    if isinstance(value, Mapping):
        for name, item in value.items():
            if name in SECRET_MEMBERS and isinstance(item, str) and item:
                found.add(item)
            else:
                found |= secrets_in(item)
    elif isinstance(value, list):
        for item in value:
            found |= secrets_in(item)
    return found


def mask(text: str, secrets: Iterable[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def package_member(script: str) -> str | None:
    """The package path ``script`` names (``./Scripts/a.py`` is ``Scripts/a.py``), or None
    when it is a plugin's name: no slash and no file extension."""
    if "/" not in script and "." not in script:
        return None
    path = posixpath.normpath(script.replace("\\", "/"))
    if path.startswith(("/", "../")) or path in ("..", "."):
        raise ValueError(f"{script!r}: a script file must be a path inside the VNF package")
    return path


@dataclasses.dataclass(frozen=True)
class CoordinationSettings:
    """What the rolling update needs from the settings."""

    timeout: float = 60.0
    ca_file: str | None = None
    client_certs: str | None = None


class Coordinator:
    """Runs one coordinate step: the plugin owning the script's name, else the package file."""

    def __init__(self, plugins: PluginRegistry, settings: CoordinationSettings,
                 work_dir: Path | None = None) -> None:
        self.plugins = plugins
        self.settings = settings
        self.work_dir = work_dir

    def run(self, script: str, vnfc: Mapping[str, Any], context: Mapping[str, Any],
            package: Callable[[], bytes | None]) -> dict[str, Any]:
        """The final ``LcmCoord`` of the step; ScriptFailed when there is none.

        ``context`` gets ``timeout`` (the side's ``timeout`` or the default) and ``tls``;
        ``package`` gives the operation's VNF package, read only for a script file.
        """
        timeout = float(side_param(vnfc, context).get("timeout") or self.settings.timeout)
        full = {**context, "timeout": timeout,
                "tls": {"caFile": self.settings.ca_file,
                        "clientCerts": self.settings.client_certs}}
        hook = self.plugins.manager.hook.coordinate_vnfc
        # the plugin bounds its own calls by the timeout; a few seconds more for it to say so
        outcome, value = call(lambda: hook(script=script, vnfc=json_copy(vnfc),
                                           context=json_copy(full)), timeout + 5)
        if outcome == "timeout":
            raise ScriptFailed(f"coordinate script {script!r} gave no answer in {timeout:g}s")
        if outcome == "raised":
            raise ScriptFailed(f"coordinate script {script!r} raised {describe(value)}")
        if value is None:
            value = self._run_file(script, vnfc, full, package())
        return lcm_coord(script, value)

    def _run_file(self, script: str, vnfc: Mapping[str, Any], context: Mapping[str, Any],
                  package: bytes | None) -> dict[str, Any]:
        member = package_member(script)
        if member is None or package is None:
            owners = ", ".join(sorted(self.plugins.hook_plugins(COORDINATE_GROUP))) or "none"
            raise ScriptFailed(f"no coordinate script {script!r}: no plugin answers for it "
                               f"(installed: {owners}) and it is not a file of the VNF "
                               "package")
        stdin = {**side_param(vnfc, context), "LcmCoordRequest": context["LcmCoordRequest"],
                 "vduId": context.get("vduId"), "vnfcInstanceId": context.get("vnfcInstanceId"),
                 "side": context.get("side"), "rollback": context.get("rollback", False)}
        with stored_directory(package, self.work_dir) as directory:
            path = directory.path / member
            if not path.is_file():
                raise ScriptFailed(f"coordinate script {script!r} is not a file of the VNF "
                                   "package")
            return run_script(path, stdin, float(context["timeout"]), context)


def command(path: Path) -> list[str]:
    """How a package script is run: Python and shell by their extension, else executed."""
    if path.suffix == ".py":
        return [sys.executable, str(path)]
    if path.suffix == ".sh":
        return ["/bin/sh", str(path)]
    if os.access(path, os.X_OK):
        return [str(path)]
    raise ScriptFailed(f"coordinate script {path.name!r} is neither .py, .sh nor executable")


def run_script(path: Path, stdin: Mapping[str, Any], timeout: float,
               context: Mapping[str, Any]) -> dict[str, Any]:
    """Run a package script in its package directory, ``stdin`` as JSON on its standard input.

    Exit 0 is CONTINUE (or the LcmCoord the script prints as JSON); any other status is
    ABORT, with the end of its standard error (secrets of ``stdin`` masked) as the detail.
    The process group is killed when ``timeout`` passes (ScriptFailed).
    """
    process = subprocess.Popen(  # noqa: S603 - a script of the operation's own VNF package
        command(path), cwd=path.parent if path.parent.exists() else None,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True)
    try:
        out, err = process.communicate(json.dumps(stdin).encode(), timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise ScriptFailed(f"coordinate script {path.name!r} did not finish in "
                           f"{timeout:g}s and was killed") from None
    ids = {"vnfInstanceId": context["LcmCoordRequest"].get("vnfInstanceId"),
           "vnfLcmOpOccId": context["LcmCoordRequest"].get("vnfLcmOpOccId"),
           "coordinationActionName": path.name}
    if process.returncode == 0:
        printed = _json_object(out[:OUTPUT_LIMIT])
        if printed is not None and printed.get("coordinationResult") in RESULTS:
            return printed
        return {**ids, "coordinationResult": "CONTINUE"}
    tail = mask(err[-OUTPUT_LIMIT:].decode(errors="replace"), secrets_in(stdin))
    tail = "\n".join(tail.strip().splitlines()[-5:])[-500:]
    log.info("coordinate script %s exited with status %s", path.name, process.returncode)
    return {**ids, "coordinationResult": "ABORT",
            "error": {"status": 422, "title": "Coordinate script refused",
                      "detail": f"{path.name} exited with status {process.returncode}"
                                + (f": {tail}" if tail else "")}}


def _json_object(data: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(data.decode() or "null")
    except (UnicodeDecodeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def json_copy(value: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy through JSON: a plugin can change nothing of the caller's."""
    copied: dict[str, Any] = json.loads(json.dumps(value))
    return copied


def lcm_coord(script: str, value: Any) -> dict[str, Any]:
    """``value`` if it is an LcmCoord with a known ``coordinationResult``; ScriptFailed else."""
    if not isinstance(value, Mapping) or value.get("coordinationResult") not in RESULTS:
        shown = value.get("coordinationResult") if isinstance(value, Mapping) else value
        raise ScriptFailed(f"coordinate script {script!r} answered {type(value).__name__} "
                           f"with coordinationResult {shown!r}, not one of "
                           f"{', '.join(RESULTS)}")
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ScriptFailed(f"coordinate script {script!r} answered what is not JSON: "
                           f"{exc}") from None
    if len(text) > OUTPUT_LIMIT:
        raise ScriptFailed(f"coordinate script {script!r} answered {len(text)} bytes, more "
                           f"than {OUTPUT_LIMIT}")
    result: dict[str, Any] = json.loads(text)
    return result
