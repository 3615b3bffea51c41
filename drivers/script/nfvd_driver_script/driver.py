"""ScriptDriver: runs the resource package's ``scripts/<lifecycleName>.sh`` for each transition."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import re
import signal
from collections.abc import Iterator, Mapping
from typing import Any

from framework import (
    FindReferenceRequest,
    FindReferenceResult,
    LifecycleRequest,
    LifecycleResult,
    ResourceDriver,
    ResourceDriverError,
)

from nfvd_driver_script import process, results
from nfvd_driver_script.environment import (
    find_environment,
    lifecycle_environment,
    property_entry,
)
from nfvd_driver_script.masking import Masker
from nfvd_driver_script.rundir import RunDir

#: Every script runs with this shell: zip members may have lost their exec bit.
SHELL = "/bin/sh"

#: A lifecycle name usable as a file name: no path separator, no leading dot.
SCRIPT_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}")

#: How much of stderr's end goes into a failure description.
DESCRIPTION_LINES = 20
DESCRIPTION_CHARS = 2000


@dataclasses.dataclass(frozen=True)
class _Script:
    directory: str
    name: str

    @property
    def label(self) -> str:
        """The script's path relative to the driver directory, as messages show it."""
        return f"scripts/{self.name}.sh"

    def exists(self) -> bool:
        return os.path.isfile(os.path.join(self.directory, self.label))


class ScriptDriver(ResourceDriver):
    """Runs ``scripts/<lifecycleName>.sh`` from the driver files of the resource package.

    The contract a script author relies on is in this package's README: the
    environment (a minimal base, ``NFVD_PROP_*``, ``NFVD_DL_*``, key files, the request
    file), the files a script may write (outputs, topology, failure, resource id), and
    how exit status, timeout and cancellation become results and failure codes.

    Settings, read once when the driver is made (a bad value raises ``ValueError``
    naming the variable): ``NFVD_PLUGIN_SCRIPT_TIMEOUT`` (seconds a lifecycle script
    may run, default 600; a ``scriptTimeout`` request or resource property overrides
    it), ``NFVD_PLUGIN_SCRIPT_FIND_TIMEOUT`` (``FindReference.sh``, default 60),
    ``NFVD_PLUGIN_SCRIPT_KILL_GRACE`` (seconds between SIGTERM and SIGKILL, default 5)
    and ``NFVD_PLUGIN_SCRIPT_TYPES`` (comma-separated infrastructure types served,
    default ``Script``).
    """

    infrastructure_types: tuple[str, ...] = ("Script",)

    def __init__(self) -> None:
        self.timeout = _seconds("NFVD_PLUGIN_SCRIPT_TIMEOUT", 600.0)
        self.find_timeout = _seconds("NFVD_PLUGIN_SCRIPT_FIND_TIMEOUT", 60.0)
        self.kill_grace = _seconds("NFVD_PLUGIN_SCRIPT_KILL_GRACE", 5.0, zero_ok=True)
        # The contract declares the types on the class; one process may serve other
        # types than the class default, so this instance shadows it.
        self.infrastructure_types = _types(
            "NFVD_PLUGIN_SCRIPT_TYPES", type(self).infrastructure_types)

    def execute_lifecycle(self, request: LifecycleRequest) -> LifecycleResult:
        """Run ``scripts/<lifecycleName>.sh``; its outputs and topology files are the result.

        ``INTERNAL_ERROR`` when there are no driver files, the name is not a valid script
        name, the script is missing, it wrote an invalid file, or it was cancelled;
        ``INFRASTRUCTURE_ERROR`` (or the code of its failure file) when it failed or
        timed out. ``details`` holds the exit code, the end of stdout and stderr (secrets
        masked) and the duration.
        """
        script = _script(request.driver_dir, request.lifecycle_name)
        if not script.exists():
            raise ResourceDriverError(
                f"no script for lifecycle {request.lifecycle_name!r}: the driver files have "
                f"no {script.label}", "INTERNAL_ERROR")
        return self._run_lifecycle(script, request)

    def rollback_lifecycle(self, request: LifecycleRequest) -> None:
        """Run ``scripts/Rollback<lifecycleName>.sh`` like a lifecycle script.

        Raises ``NotImplementedError`` naming that file when the driver files do not
        have it, and fails like :meth:`execute_lifecycle` otherwise; what the script
        writes to the outputs and topology files is checked and then not used.
        """
        name = "Rollback" + request.lifecycle_name
        if request.driver_dir is None:
            raise NotImplementedError(
                f"cannot undo {request.lifecycle_name!r}: no driver files, so no "
                f"scripts/{name}.sh")
        script = _script(request.driver_dir, name)
        if not script.exists():
            raise NotImplementedError(
                f"cannot undo {request.lifecycle_name!r}: the driver files have no "
                f"{script.label}")
        self._run_lifecycle(script, request)

    def find_reference(self, request: FindReferenceRequest) -> FindReferenceResult | None:
        """Run ``scripts/FindReference.sh`` if the driver files have it, else ``None``.

        Found when the script exits 0 having written a non-blank
        ``$NFVD_RESOURCE_ID_FILE``; not found (``None``) when it exits 0 without one.
        Any failure raises :class:`ResourceDriverError` as for a lifecycle.
        """
        if request.driver_dir is None:
            return None
        script = _Script(request.driver_dir, "FindReference")
        if not script.exists():
            return None
        location = request.deployment_location
        masker = Masker.for_properties(_location_properties(location))
        with RunDir(script.directory) as run:
            completed = process.run(
                [SHELL, script.label], cwd=script.directory,
                env=find_environment(request.instance_name, location, run),
                timeout=self.find_timeout, grace=self.kill_grace, cancelled=lambda: False)
            _check(script, completed, self.find_timeout, masker, run.failure_file)
            with _masking(masker):
                resource_id = results.read_resource_id(run.resource_id_file, script.label)
                if resource_id is None:
                    return None
                return FindReferenceResult(
                    resource_id=resource_id,
                    associated_topology=results.read_topology(run.topology_file, script.label),
                    outputs=results.read_outputs(run.outputs_file, script.label))

    def _run_lifecycle(self, script: _Script, request: LifecycleRequest) -> LifecycleResult:
        timeout = self._timeout(request)
        masker = Masker.for_properties(
            request.system_properties, request.resource_properties,
            request.request_properties, _location_properties(request.deployment_location))
        if request.cancelled():
            raise ResourceDriverError(f"{script.label} cancelled", "INTERNAL_ERROR")
        with RunDir(script.directory) as run:
            completed = process.run(
                [SHELL, script.label], cwd=script.directory,
                env=lifecycle_environment(request, run), timeout=timeout,
                grace=self.kill_grace, cancelled=request.cancelled)
            _check(script, completed, timeout, masker, run.failure_file)
            with _masking(masker):
                outputs = results.read_outputs(run.outputs_file, script.label)
                topology = results.read_topology(run.topology_file, script.label)
        return LifecycleResult(
            outputs=outputs, associated_topology=topology,
            details={"exitCode": completed.returncode,
                     "stdout": masker.mask(completed.stdout),
                     "stderr": masker.mask(completed.stderr),
                     "durationSeconds": round(completed.duration, 3)})

    def _timeout(self, request: LifecycleRequest) -> float:
        """``scriptTimeout`` of the request, else of the resource, else the default."""
        for properties in (request.request_properties, request.resource_properties):
            raw = property_entry(properties.get("scriptTimeout")).get("value")
            if raw is None or raw == "":
                continue
            try:
                value = math.nan if isinstance(raw, bool) else float(raw)
            except (TypeError, ValueError):
                value = math.nan
            if not (math.isfinite(value) and value > 0):
                raise ResourceDriverError(
                    f"scriptTimeout must be a positive number of seconds, not {raw!r}",
                    "INTERNAL_ERROR")
            return value
        return self.timeout


def _script(driver_dir: str | None, name: str) -> _Script:
    """The script for ``name``, or ``INTERNAL_ERROR`` when there can be none."""
    if not SCRIPT_NAME.fullmatch(name):
        raise ResourceDriverError(f"{name!r} is not a valid script name", "INTERNAL_ERROR")
    if driver_dir is None:
        raise ResourceDriverError(
            f"no driver files: the resource package has no scripts/{name}.sh to run",
            "INTERNAL_ERROR")
    return _Script(driver_dir, name)


def _check(script: _Script, completed: process.Completed, timeout: float, masker: Masker,
           failure_file: str) -> None:
    """Raise the :class:`ResourceDriverError` that says why ``completed`` did not succeed."""
    if completed.stopped == "timeout":
        raise ResourceDriverError(f"{script.label} timed out after {timeout:g}s",
                                  "INFRASTRUCTURE_ERROR")
    if completed.stopped == "cancelled":
        raise ResourceDriverError(f"{script.label} cancelled", "INTERNAL_ERROR")
    status = completed.returncode
    if status == 0:
        return
    if status is not None and status < 0:
        what = f"was killed by {_signal_name(-status)}"
    else:
        what = f"exited with status {status}"
    code, description = results.read_failure(failure_file)
    if description is None:
        tail = _tail(masker.mask(completed.stderr))
        description = f"{script.label} {what}: {tail}" if tail else f"{script.label} {what}"
    description = masker.mask(description)[:DESCRIPTION_CHARS]
    try:
        error = ResourceDriverError(description, code or "INFRASTRUCTURE_ERROR")
    except ValueError:  # a code the orchestrator does not know
        error = ResourceDriverError(f"{description} (unknown failureCode {code!r})",
                                    "INFRASTRUCTURE_ERROR")
    raise error


@contextlib.contextmanager
def _masking(masker: Masker) -> Iterator[None]:
    """Mask the message of a :class:`ResourceDriverError` raised in the block (a file's
    problem may quote what the script wrote)."""
    try:
        yield
    except ResourceDriverError as exc:
        raise ResourceDriverError(masker.mask(str(exc)), exc.failure_code) from None


def _tail(text: str) -> str:
    """The last :data:`DESCRIPTION_LINES` lines of ``text``, at most about
    :data:`DESCRIPTION_CHARS` characters."""
    tail = "\n".join(text.strip().splitlines()[-DESCRIPTION_LINES:])
    if len(tail) > DESCRIPTION_CHARS:
        tail = "..." + tail[-(DESCRIPTION_CHARS - 3):]
    return tail


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _location_properties(location: Mapping[str, Any]) -> Mapping[str, Any]:
    properties = location.get("properties")
    return properties if isinstance(properties, dict) else {}


def _seconds(variable: str, default: float, *, zero_ok: bool = False) -> float:
    raw = os.environ.get(variable)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{variable} must be a number of seconds, not {raw!r}") from None
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero_ok):
        raise ValueError(f"{variable} must be a {'non-negative' if zero_ok else 'positive'} "
                         f"number of seconds, not {raw!r}")
    return value


def _types(variable: str, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = os.environ.get(variable)
    if raw is None:
        return default
    types = tuple(name.strip() for name in raw.split(",") if name.strip())
    if not types:
        raise ValueError(f"{variable} names no infrastructure type: {raw!r}")
    return types
