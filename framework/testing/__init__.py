"""The kit plugin authors' tests import: conformance checks, plugins called as nfvd calls them."""

from framework.discovery import HPA_MAX_BYTES, HpaReport, run_hpa_discover
from framework.plugins.calls import run_coordinate
from framework.plugins.fake import FakeResourceDriver
from framework.testing.conformance import check_plugin
from framework.testing.resource import find_reference, run_lifecycle
from framework.testing.server import AppServer, app_server

__all__ = [
    "HPA_MAX_BYTES",
    "AppServer",
    "FakeResourceDriver",
    "HpaReport",
    "app_server",
    "check_plugin",
    "find_reference",
    "run_coordinate",
    "run_hpa_discover",
    "run_lifecycle",
]
