"""Cloud regions: the clouds the infra_workload API drives, read from ``NFVD_CLOUD_REGIONS_FILE``.

The file is YAML (or JSON), a list of regions or ``{"regions": [...]}``; each region is::

    cloudOwner: CloudOwner          # with cloudRegionId, the key of the API's paths
    cloudRegionId: RegionOne
    authUrl: https://keystone.example:5000/v3
    username: nfvd                  # with password, or an application credential instead:
    password: secret                #   applicationCredentialId, applicationCredentialSecret
    userDomainName: Default         # optional, Default
    projectDomainName: Default      # optional, Default: the domain of projects given by name
    defaultProject: nfv             # the project (name or id) of calls without a Project header
    catalogRegion: RegionOne        # optional: the region in the Keystone catalog
    interface: public               # optional: the catalog interface
    caFile: /etc/ssl/cloud-ca.pem   # optional: CA bundle of the cloud's HTTPS endpoints
    timeoutSeconds: 30              # optional: per request

Errors name the file, the region and the field, never a secret's value.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from framework.errors import SettingsError
from framework.workloads import CloudRegion

__all__ = ["load_cloud_regions"]

_TEXT = {"cloudOwner": "owner", "cloudRegionId": "region", "authUrl": "auth_url",
         "username": "username", "password": "password",
         "applicationCredentialId": "application_credential_id",
         "applicationCredentialSecret": "application_credential_secret",
         "userDomainName": "user_domain", "projectDomainName": "project_domain",
         "defaultProject": "default_project", "catalogRegion": "catalog_region",
         "interface": "interface", "caFile": "ca_file"}
_REQUIRED = ("cloudOwner", "cloudRegionId", "authUrl")
_INTERFACES = ("public", "internal", "admin")


def load_cloud_regions(path: str | None) -> dict[tuple[str, str], CloudRegion]:
    """The regions of the file at ``path`` by (cloud owner, cloud region id); none for None.

    Raises :class:`SettingsError` with one line naming what is wrong.
    """
    if path is None:
        return {}
    where = f"NFVD_CLOUD_REGIONS_FILE {path}"
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsError(f"{where}: cannot read it ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise SettingsError(f"{where}: not valid YAML ({exc})") from None
    if isinstance(data, Mapping) and set(data) == {"regions"}:
        data = data["regions"]
    if not isinstance(data, list):
        raise SettingsError(f"{where}: expected a list of regions (or a 'regions' list)")
    regions: dict[tuple[str, str], CloudRegion] = {}
    for index, item in enumerate(data):
        region = _region(item, f"{where}: regions[{index}]")
        key = (region.owner, region.region)
        if key in regions:
            raise SettingsError(f"{where}: regions[{index}]: cloud region {key[0]}/{key[1]} "
                                "is given twice")
        regions[key] = region
    return regions


def _region(item: Any, where: str) -> CloudRegion:
    if not isinstance(item, Mapping):
        raise SettingsError(f"{where}: expected a mapping")
    unknown = sorted(set(map(str, item)) - set(_TEXT) - {"timeoutSeconds"})
    if unknown:
        raise SettingsError(f"{where}: unknown field {unknown[0]!r}")
    values: dict[str, Any] = {}
    for field, attribute in _TEXT.items():
        if field in item:
            value = item[field]
            if not isinstance(value, str) or not value.strip():
                raise SettingsError(f"{where}: {field} must be a non-empty string")
            values[attribute] = value.strip()
    for field in _REQUIRED:
        if field not in item:
            raise SettingsError(f"{where}: {field} is required")
    if not values["auth_url"].startswith(("http://", "https://")):
        raise SettingsError(f"{where}: authUrl must be an http:// or https:// URL")
    with_password = "password" in values
    with_credential = "application_credential_id" in values
    if with_password == with_credential:
        raise SettingsError(f"{where}: give username and password, or "
                            "applicationCredentialId and applicationCredentialSecret")
    if with_password and "username" not in values:
        raise SettingsError(f"{where}: password needs username")
    if with_credential and "application_credential_secret" not in values:
        raise SettingsError(f"{where}: applicationCredentialId needs "
                            "applicationCredentialSecret")
    if values.get("interface", "public") not in _INTERFACES:
        raise SettingsError(f"{where}: interface must be one of {', '.join(_INTERFACES)}")
    if "ca_file" in values and not Path(values["ca_file"]).is_file():
        raise SettingsError(f"{where}: caFile {values['ca_file']} is not a file")
    timeout = item.get("timeoutSeconds", 30)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 600:
        raise SettingsError(f"{where}: timeoutSeconds must be a number of seconds in (0, 600]")
    return CloudRegion(**values, timeout=float(timeout))
