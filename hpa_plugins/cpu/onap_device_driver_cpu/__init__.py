"""nfvd HPA discovery plugin for CPU pinning, CPU topology and instruction set extensions."""

from .discovery import CpuDiscovery

__version__ = "0.1.0"

__all__ = ["CpuDiscovery", "__version__"]
