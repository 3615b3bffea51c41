"""nfvd resource driver that runs the lifecycle scripts shipped in a resource package."""

from nfvd_driver_script.driver import ScriptDriver

__version__ = "0.1.0"

__all__ = ["ScriptDriver", "__version__"]
