"""nfvd HPA discovery plugin for the basicCapabilities and localStorage flavor features."""

from .discovery import BasicDiscovery

__version__ = "0.1.0"

__all__ = ["BasicDiscovery", "__version__"]
