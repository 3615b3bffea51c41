"""nfvd HPA discovery plugin: the OVS-DPDK library of a cloud region, as ONAP's ovsDpdk."""

from .discovery import OvsDpdkDiscovery

__version__ = "0.1.0"

__all__ = ["OvsDpdkDiscovery", "__version__"]
