"""nfvd: an NFV driver framework. Plugin authors import from here and nowhere else."""

from framework.engine.model import TaskSpec, Verdict
from framework.engine.task import TaskContext, TaskType
from framework.errors import (
    BadRequest,
    Conflict,
    DriverFailed,
    FrameworkError,
    NotFound,
    StartupError,
    UnprocessableContent,
)
from framework.plugins.hookspecs import hookimpl
from framework.plugins.hpa import (
    cloud_extra_info,
    hpa_attribute,
    hpa_capability,
    hpa_count,
)
from framework.plugins.resource import (
    FAILURE_CODES,
    FindReferenceRequest,
    FindReferenceResult,
    LifecycleRequest,
    LifecycleResult,
    ResourceDriver,
    ResourceDriverError,
)

__version__ = "0.1.0"

__all__ = [
    "FAILURE_CODES",
    "BadRequest",
    "Conflict",
    "DriverFailed",
    "FindReferenceRequest",
    "FindReferenceResult",
    "FrameworkError",
    "LifecycleRequest",
    "LifecycleResult",
    "NotFound",
    "ResourceDriver",
    "ResourceDriverError",
    "StartupError",
    "TaskContext",
    "TaskSpec",
    "TaskType",
    "UnprocessableContent",
    "Verdict",
    "__version__",
    "cloud_extra_info",
    "hookimpl",
    "hpa_attribute",
    "hpa_capability",
    "hpa_count",
]
