"""nfvd's OpenStack driver: Heat workloads for MultiCloud and a resource driver for Brent."""

from nfvd_driver_openstack.driver import OpenStackDriver
from nfvd_driver_openstack.heat import HeatClient
from nfvd_driver_openstack.keystone import KeystoneClient, KeystoneSession, Token
from nfvd_driver_openstack.location import LocationError, cloud_region
from nfvd_driver_openstack.workload import HeatWorkload

__version__ = "0.1.0"

__all__ = ["HeatClient", "HeatWorkload", "KeystoneClient", "KeystoneSession", "LocationError",
           "OpenStackDriver", "Token", "__version__", "cloud_region"]
