"""nfvd HPA discovery plugin: the SR-IOV NIC of a flavor, as ONAP's sriovNICNetwork."""

from .discovery import SriovNicDiscovery

__version__ = "0.1.0"

__all__ = ["SriovNicDiscovery", "__version__"]
