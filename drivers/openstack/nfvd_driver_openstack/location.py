"""A Brent deployment location of type ``Openstack``, read as a :class:`CloudRegion`.

The property names are those of Ignition's OpenStack VIM driver (``os_api_url``,
``os_auth_api``, ``os_auth_*``, ``os_cacert``), so that a deployment location made for it
works here; ``os_auth_url`` (the whole Keystone v3 URL) may stand for the first two.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from collections.abc import Mapping
from typing import Any

from framework.workloads import CloudRegion

__all__ = ["LocationError", "UNSUPPORTED", "cloud_region", "location_properties"]

#: Ignition's properties this driver cannot honour, and what to give instead
UNSUPPORTED: Mapping[str, str] = {
    "os_auth_user_id": "os_auth_username",
    "os_auth_user_domain_id": "os_auth_user_domain_name",
    "os_auth_project_domain_id": "os_auth_project_domain_name",
    "os_auth_domain_id": "os_auth_project_id or os_auth_project_name",
    "os_auth_domain_name": "os_auth_project_id or os_auth_project_name",
    "os_auth_trust_id": "os_auth_project_id or os_auth_project_name",
    "os_auth_unscoped": "os_auth_project_id or os_auth_project_name",
    "os_cert": "a CA bundle (os_cacert) and a password or an application credential",
    "os_key": "a CA bundle (os_cacert) and a password or an application credential",
}


class LocationError(ValueError):
    """The deployment location cannot be used; the message names the property and holds no
    secret."""


def location_properties(location: Mapping[str, Any]) -> dict[str, Any]:
    """The location's properties as plain values (a ``{"type", "value"}`` map gives its
    value)."""
    properties = location.get("properties")
    if not isinstance(properties, Mapping):
        return {}
    return {str(name): value.get("value")
            if isinstance(value, Mapping) and "value" in value else value
            for name, value in properties.items()}


def cloud_region(location: Mapping[str, Any]) -> CloudRegion:
    """The cloud region a deployment location describes; :class:`LocationError` if it cannot.

    ``os_auth_url``, or ``os_api_url`` with ``os_auth_api`` (joined by ``/``, as Ignition
    does); ``os_auth_username`` and ``os_auth_password`` with ``os_auth_user_domain_name``
    (``Default``), or ``os_auth_application_credential_id`` and
    ``os_auth_application_credential_secret``; ``os_auth_project_id`` or
    ``os_auth_project_name`` with ``os_auth_project_domain_name`` (``Default``);
    ``os_region_name`` (the catalog region), ``os_interface`` (``public``), ``os_cacert``
    (a CA bundle: PEM text or a file path) and ``os_request_timeout`` (seconds, 30).
    """
    properties = location_properties(location)
    name = str(location.get("name") or "")
    for key, instead in UNSUPPORTED.items():
        if properties.get(key) not in (None, "", False):
            raise LocationError(f"deployment location {name}: {key} is not supported; "
                                f"use {instead}")
    if properties.get("os_auth_enabled") in (False, "false", "False"):
        raise LocationError(f"deployment location {name}: os_auth_enabled false is not "
                            "supported: Heat needs a Keystone token")
    auth_url = _text(properties, "os_auth_url")
    if auth_url is None:
        api_url = _text(properties, "os_api_url")
        if api_url is None:
            raise LocationError(f"deployment location {name}: os_auth_url (Keystone's v3 URL), "
                                "or os_api_url and os_auth_api, is required")
        auth_api = _text(properties, "os_auth_api")
        auth_url = api_url.rstrip("/") + ("/" + auth_api.lstrip("/") if auth_api else "")
    project = _text(properties, "os_auth_project_id") or _text(properties,
                                                                "os_auth_project_name")
    if project is None:
        raise LocationError(f"deployment location {name}: os_auth_project_id or "
                            "os_auth_project_name is required")
    username = _text(properties, "os_auth_username")
    password = _text(properties, "os_auth_password")
    credential_id = _text(properties, "os_auth_application_credential_id")
    credential_secret = _text(properties, "os_auth_application_credential_secret")
    if not (username and password) and not (credential_id and credential_secret):
        raise LocationError(f"deployment location {name}: os_auth_username and "
                            "os_auth_password, or os_auth_application_credential_id and "
                            "os_auth_application_credential_secret, are required")
    region_name = _text(properties, "os_region_name")
    return CloudRegion(
        owner=name or "Openstack", region=region_name or name or "Openstack",
        auth_url=auth_url, username=username, password=password,
        application_credential_id=credential_id,
        application_credential_secret=credential_secret,
        user_domain=_text(properties, "os_auth_user_domain_name") or "Default",
        project_domain=_text(properties, "os_auth_project_domain_name") or "Default",
        default_project=project, catalog_region=region_name,
        interface=_text(properties, "os_interface") or "public",
        ca_file=_ca_file(name, _text(properties, "os_cacert")),
        timeout=_timeout(name, properties.get("os_request_timeout")))


def _text(properties: Mapping[str, Any], key: str) -> str | None:
    value = properties.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise LocationError(f"deployment location property {key} must be a string")
    return value.strip() or None


def _timeout(name: str, raw: Any) -> float:
    if raw is None or raw == "":
        return 30.0
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = 0.0
    if isinstance(raw, bool) or not 0 < value < float("inf"):
        raise LocationError(f"deployment location {name}: os_request_timeout must be a "
                            f"positive number of seconds, not {raw!r}")
    return value


def _ca_file(name: str, cacert: str | None) -> str | None:
    """The path of the CA bundle: ``cacert`` itself, or a file holding its PEM text.

    The file is named by the text's digest, in a directory of the current user's that
    nobody else may write to, so a file planted in a shared temporary directory is never
    trusted.
    """
    if cacert is None:
        return None
    if "-----BEGIN" not in cacert:
        if not os.path.isfile(cacert):
            raise LocationError(f"deployment location {name}: os_cacert is neither PEM text "
                                f"nor a readable file: {cacert}")
        return cacert
    folder = os.path.join(tempfile.gettempdir(), f"nfvd-driver-openstack-{os.getuid()}")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    info = os.lstat(folder)
    if (not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid()
            or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)):
        raise LocationError(f"cannot keep the CA bundle of deployment location {name}: "
                            f"{folder} is not a private directory")
    content = cacert.strip() + "\n"
    path = os.path.join(folder, hashlib.sha256(content.encode()).hexdigest() + ".pem")
    try:
        with open(path, encoding="utf-8") as existing:
            if existing.read() == content:
                return path
    except OSError:
        pass
    handle, scratch = tempfile.mkstemp(dir=folder, suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(content)
    os.replace(scratch, path)
    return path
