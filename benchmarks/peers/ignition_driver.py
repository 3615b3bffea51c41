"""A resource driver built on IBM's Ignition framework, to measure nfvd against and to check
that nfvd answers as Ignition does. It runs in a virtualenv of its own holding
``ignition-framework`` (never in nfvd's), as Ignition's generated drivers do: the Ignition app,
its Kafka messaging and one uvicorn worker.

    python ignition_driver.py PORT BOOTSTRAP WORKSPACE [--no-op]

The driver runs in Ignition's direct mode (``async_messaging_enabled: false``): its
``execute_lifecycle`` runs ``scripts/<lifecycleName>.sh`` of the driver files, if there is one,
with the part of nfvd's script driver contract that does not depend on who runs it
(``NFVD_LIFECYCLE``, ``NFVD_PROP_<name>``, ``NFVD_DL_<name>``, outputs and associated topology
read back from ``$NFVD_OUTPUTS_FILE`` and ``$NFVD_TOPOLOGY_FILE``) and
returns the finished execution, which Ignition publishes on
``lm_vnfc_lifecycle_execution_events`` at once. Without a script, or with ``--no-op``, the
lifecycle completes with no outputs and runs nothing: a no-op driver, as in the benchmark.
``find_reference`` runs ``scripts/FindReference.sh`` the same way, with
``NFVD_INSTANCE_NAME``; it finds the resource whose id the script wrote to
``$NFVD_RESOURCE_ID_FILE``, and nothing without the script or that file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import uuid

import ignition.boot.api as ignition
import ignition.model.lifecycle as lifecycle_model
import ignition.model.references as reference_model
from ignition.model.associated_topology import AssociatedTopology
from ignition.model.failure import FailureDetails
from ignition.service.framework import Service
from ignition.service.resourcedriver import ResourceDriverHandlerCapability


def _run(driver_files, lifecycle, properties, location, extra=None):
    """Run ``scripts/<lifecycle>.sh`` of the driver files as nfvd's script driver does (the
    variables below); None without the script, else ``(outputs, topology, resource id)``, or
    ``(None, description, None)`` when it failed."""
    path = os.path.join(driver_files.get_path(), "scripts", f"{lifecycle}.sh")
    if not os.path.isfile(path):
        return None
    with tempfile.TemporaryDirectory() as scratch:
        files = {name: os.path.join(scratch, f"{name}.out")
                 for name in ("OUTPUTS", "TOPOLOGY", "RESOURCE_ID")}
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "NFVD_LIFECYCLE": lifecycle,
               **{f"NFVD_{name}_FILE": file for name, file in files.items()},
               **{f"NFVD_DL_{name}": str(value)
                  for name, value in (location.get("properties") or {}).items()},
               **(extra or {})}
        for props in properties:  # request over resource over system, as nfvd's driver
            for name, value in props.items_with_types():
                env[f"NFVD_PROP_{name}"] = "" if value is None else str(value.get("value"))
        done = subprocess.run(["/bin/sh", path], cwd=driver_files.get_path(), env=env,
                              capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            return None, done.stderr.strip()[-500:] or f"exit {done.returncode}", None
        read = {}
        for name, file in files.items():
            if os.path.exists(file):
                with open(file, encoding="utf-8") as handle:
                    text = handle.read()
                read[name] = text.strip() if name == "RESOURCE_ID" else json.loads(text)
        return read.get("OUTPUTS", {}), read.get("TOPOLOGY", {}), read.get("RESOURCE_ID")


class ScriptDriverHandler(Service, ResourceDriverHandlerCapability):

    #: Complete every lifecycle at once, without running its script.
    no_op = False

    def execute_lifecycle(self, lifecycle_name, driver_files, system_properties,
                          resource_properties, request_properties, associated_topology,
                          deployment_location):
        request_id = str(uuid.uuid4())
        try:
            ran = None if self.no_op else _run(
                driver_files, lifecycle_name,
                (system_properties, resource_properties, request_properties),
                deployment_location)
        finally:
            driver_files.remove_all()
        if ran is None:
            return lifecycle_model.LifecycleExecution(request_id, lifecycle_model.STATUS_COMPLETE)
        outputs, topology, _ = ran
        if outputs is None:
            return lifecycle_model.LifecycleExecution(
                request_id, lifecycle_model.STATUS_FAILED,
                FailureDetails("INFRASTRUCTURE_ERROR", topology))
        return lifecycle_model.LifecycleExecution(
            request_id, lifecycle_model.STATUS_COMPLETE, outputs=outputs,
            associated_topology=AssociatedTopology.from_dict(topology))

    def get_lifecycle_execution(self, request_id, deployment_location):
        raise NotImplementedError("direct mode: executions are published when they finish")

    def find_reference(self, instance_name, driver_files, deployment_location):
        try:
            ran = _run(driver_files, "FindReference", (), deployment_location,
                       {"NFVD_INSTANCE_NAME": instance_name})
        finally:
            driver_files.remove_all()
        if ran is None or not ran[2]:
            return reference_model.FindReferenceResponse()
        outputs, topology, resource_id = ran
        return reference_model.FindReferenceResponse(reference_model.FindReferenceResult(
            resource_id, AssociatedTopology.from_dict(topology), outputs))


def main() -> None:
    port, bootstrap, workspace = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    ScriptDriverHandler.no_op = "--no-op" in sys.argv[4:]
    config = os.path.join(workspace, "ignition.yml")
    with open(config, "w", encoding="utf-8") as handle:
        json.dump({  # YAML is a superset of JSON
            # direct mode needs neither Ignition's job queue nor its inbox (whose consumer
            # group kafka-python 2.0.2 cannot join on the Kafka-compatible broker used here)
            "bootstrap": {"job_queue": {"service_enabled": False},
                          "messaging": {"inbox_enabled": False},
                          "resource_driver": {"lifecycle_monitoring_service_enabled": False}},
            "application": {"port": port, "connexion_runtime_props": {"host": "127.0.0.1"}},
            "messaging": {"connection_address": bootstrap,
                          "topics": {"job_queue": {"name": f"peer_job_queue_{port}"}}},
            "resource_driver": {"async_messaging_enabled": False,
                                "scripts_workspace": os.path.join(workspace, "scripts")},
        }, handle)
    builder = ignition.build_resource_driver("ignition-peer")
    builder.include_file_config_properties(config, required=True)
    builder.add_service(ScriptDriverHandler)
    builder.configure().run()


if __name__ == "__main__":
    main()
