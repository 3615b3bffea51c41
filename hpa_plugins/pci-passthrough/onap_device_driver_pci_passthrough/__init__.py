"""nfvd HPA discovery plugin: the PCI passthrough device of a flavor, as ONAP's pciePassthrough."""

from .discovery import PciPassthroughDiscovery

__version__ = "0.1.0"

__all__ = ["PciPassthroughDiscovery", "__version__"]
