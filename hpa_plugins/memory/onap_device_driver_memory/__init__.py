"""nfvd HPA discovery plugin for the hugePages and numa flavor features."""

from .discovery import MemoryDiscovery

__version__ = "0.1.0"

__all__ = ["MemoryDiscovery", "__version__"]
