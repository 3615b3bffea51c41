"""The environment a script runs with, and the request and key files beside it."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Any

from framework import LifecycleRequest

from nfvd_driver_script.rundir import RunDir

#: Variables taken from nfvd's own environment; nothing else of it reaches a script.
INHERITED = ("PATH", "HOME", "LANG", "LC_ALL")

_NOT_IN_NAME = re.compile(r"[^A-Za-z0-9_]")


def env_name(name: str) -> str:
    """``name`` made fit for a variable name: each character not in ``[A-Za-z0-9_]`` → ``_``."""
    return _NOT_IN_NAME.sub("_", name) or "_"


def property_entry(raw: Any) -> dict[str, Any]:
    """One property as a ``{"type": ..., "value": ...}`` map.

    A map with a ``type`` or ``value`` key is taken as it is; anything else is a bare
    value, given as ``{"type": "string", "value": raw}``.
    """
    if isinstance(raw, dict) and ("type" in raw or "value" in raw):
        return raw
    return {"type": "string", "value": raw}


def render(value: Any) -> str:
    """A property value as a variable's text: strings as they are, ``None`` as ``""``,
    anything else (numbers, booleans, lists, maps) as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), default=str)


def base_environment(run: RunDir) -> dict[str, str]:
    """What every script gets: :data:`INHERITED`, its own ``TMPDIR`` and the file paths."""
    env = {name: os.environ[name] for name in INHERITED if name in os.environ}
    env.setdefault("PATH", os.defpath)
    env.update(TMPDIR=run.tmp,
               NFVD_REQUEST_FILE=run.request_file,
               NFVD_OUTPUTS_FILE=run.outputs_file,
               NFVD_TOPOLOGY_FILE=run.topology_file,
               NFVD_FAILURE_FILE=run.failure_file)
    return env


def location_environment(location: Mapping[str, Any]) -> dict[str, str]:
    """``NFVD_DEPLOYMENT_LOCATION``, ``..._TYPE`` and ``NFVD_DL_<name>`` for each property."""
    env = {"NFVD_DEPLOYMENT_LOCATION": render(location.get("name")),
           "NFVD_DEPLOYMENT_LOCATION_TYPE": render(location.get("type"))}
    properties = location.get("properties")
    if isinstance(properties, dict):
        for name, raw in properties.items():
            env[f"NFVD_DL_{env_name(str(name))}"] = render(property_entry(raw).get("value"))
    return env


def lifecycle_environment(request: LifecycleRequest, run: RunDir) -> dict[str, str]:
    """The whole environment of a lifecycle script; writes its key files and request file.

    Properties are merged system, then resource, then request (a later one wins on the
    same name) into ``NFVD_PROP_<name>``. A ``key`` property gives its ``keyName`` there,
    its private key goes to ``keys/<name>`` (mode 0600, named in ``NFVD_KEYFILE_<name>``)
    and its public key, if any, to ``keys/<name>.pub``.
    """
    layers = {"systemProperties": request.system_properties,
              "resourceProperties": request.resource_properties,
              "requestProperties": request.request_properties}
    merged: dict[str, dict[str, Any]] = {}
    for properties in layers.values():
        merged.update((name, property_entry(raw)) for name, raw in properties.items())

    env = base_environment(run)
    key_files: dict[str, tuple[str, str]] = {}
    for name, entry in merged.items():
        var = env_name(name)
        if entry.get("type") != "key":
            env[f"NFVD_PROP_{var}"] = render(entry.get("value"))
            continue
        env[f"NFVD_PROP_{var}"] = render(entry.get("keyName", entry.get("value")))
        private = entry.get("privateKey")
        if isinstance(private, str) and private:
            path = os.path.join(run.keys, var)
            # ssh refuses a key file whose last line has no newline.
            run.write_private(path, private if private.endswith("\n") else private + "\n")
            public = entry.get("publicKey")
            if isinstance(public, str) and public:
                run.write_private(path + ".pub", public)
            env[f"NFVD_KEYFILE_{var}"] = path
            key_files[var] = (path, private)

    env.update(location_environment(request.deployment_location))
    env.update(NFVD_LIFECYCLE=request.lifecycle_name, NFVD_REQUEST_ID=request.request_id)
    if request.tenant_id:
        env["NFVD_TENANT_ID"] = request.tenant_id

    body: dict[str, Any] = {"lifecycleName": request.lifecycle_name,
                            "requestId": request.request_id,
                            "tenantId": request.tenant_id}
    for layer, properties in layers.items():
        body[layer] = {name: _without_private_key(name, property_entry(raw), key_files)
                       for name, raw in properties.items()}
    body["associatedTopology"] = request.associated_topology
    body["deploymentLocation"] = request.deployment_location
    run.write_private(run.request_file, json.dumps(body, indent=2, default=str))
    return env


def _without_private_key(name: str, entry: dict[str, Any],
                         key_files: Mapping[str, tuple[str, str]]) -> dict[str, Any]:
    """``entry`` with a key's ``privateKey`` replaced by the path of the file that holds it.

    A key that has no file of its own (overridden by a later layer, or by a property
    whose name reads the same once made fit for a variable) gets ``None`` instead: the
    secret is never copied into the request file.
    """
    if entry.get("type") != "key" or "privateKey" not in entry:
        return entry
    found = key_files.get(env_name(name))
    path = found[0] if found is not None and found[1] == entry["privateKey"] else None
    return {**entry, "privateKey": path}


def find_environment(instance_name: str, location: Mapping[str, Any],
                     run: RunDir) -> dict[str, str]:
    """The environment of ``FindReference.sh``; writes its request file."""
    env = base_environment(run)
    env.update(location_environment(location))
    env.update(NFVD_LIFECYCLE="FindReference", NFVD_INSTANCE_NAME=instance_name,
               NFVD_RESOURCE_ID_FILE=run.resource_id_file)
    body = {"instanceName": instance_name, "deploymentLocation": location}
    run.write_private(run.request_file, json.dumps(body, indent=2, default=str))
    return env
