"""Builds the connexion app that serves the specs in ``specs/`` (all but the EM side's)."""

from __future__ import annotations

import contextlib
import copy
import functools
import gc
import importlib.resources
from collections.abc import AsyncIterator
from typing import Any

import yaml
from connexion import AsyncApp
from connexion.exceptions import ProblemException
from connexion.middleware import MiddlewarePosition
from starlette.exceptions import HTTPException

from framework.config import Settings, load_settings
from framework.errors import FrameworkError
from framework.logs import lean_records
from framework.runtime import Runtime
from framework.web.fast import FastDriverApi
from framework.web.middleware import (
    AccessLogMiddleware,
    BodyLimitMiddleware,
    DriverPrefixMiddleware,
)
from framework.web.problems import (
    connexion_problem,
    framework_error,
    http_error,
    unexpected_error,
)
from framework.web.schemas import VALIDATORS
from framework.web.security import Authenticator

RUNTIME_KEY = "nfvd.runtime"
#: Specs of ``specs/`` that nfvd ships but does not serve: the EM side of LCM coordination is
#: served by ``nfvd coordination-server`` (framework.coordination.server).
SERVED_ELSEWHERE = frozenset({"lcm-coordination.yaml"})


@functools.cache
def load_specs() -> dict[str, dict[str, Any]]:
    """Every OpenAPI document shipped in ``framework.specs``, by file name, parsed once.

    Shared: callers copy a document before changing it.
    """
    specs = {}
    for entry in sorted(importlib.resources.files("framework.specs").iterdir(),
                        key=lambda e: e.name):
        if entry.name.endswith((".yaml", ".yml")):
            specs[entry.name] = yaml.safe_load(entry.read_text(encoding="utf-8"))
    return specs


def _base_path(spec: dict[str, Any]) -> str:
    servers = spec.get("servers") or [{"url": "/"}]
    return str(servers[0]["url"]).rstrip("/")


def served_specs() -> dict[str, dict[str, Any]]:
    """The specs the app serves, by base path: specs that share one are served as one API.

    Two mounts at the same path would shadow each other, so their paths and components are
    merged; a path or a component defined differently by two specs is a packaging error.
    """
    served: dict[str, dict[str, Any]] = {}
    for name, spec in load_specs().items():
        if name in SERVED_ELSEWHERE:
            continue
        base = _base_path(spec)
        if base not in served:
            served[base] = copy.deepcopy(spec)
            continue
        merged = served[base]
        for path, item in spec.get("paths", {}).items():
            if path in merged.setdefault("paths", {}):
                raise ValueError(f"{name}: path {base}{path} is also defined by another spec")
            merged["paths"][path] = item
        for section, entries in spec.get("components", {}).items():
            known = merged.setdefault("components", {}).setdefault(section, {})
            for key, value in entries.items():
                if key in known and known[key] != value:
                    raise ValueError(f"{name}: components.{section}.{key} differs from the "
                                     f"one of another spec served at {base}")
                known[key] = value
    return served


class _RuntimeMiddleware:
    """Puts the runtime in every request's scope, where handlers find it."""

    def __init__(self, app: Any, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        scope[RUNTIME_KEY] = self.runtime
        await self.app(scope, receive, send)


def create_app(settings: Settings | None = None, runtime: Runtime | None = None, *,
               fast_path: bool = True) -> AsyncApp:
    """The nfvd ASGI app. Nothing starts until the server runs its lifespan.

    ``settings`` default to :func:`framework.config.load_settings` (file, then
    ``NFVD_*``). Plugins are discovered here; the store, the broker and the
    Kafka producer open when the server starts and close when it stops.
    ``fast_path=False`` leaves every request to connexion
    (:class:`framework.web.fast.FastDriverApi` serves the hot ones otherwise).
    """
    settings = settings if settings is not None else load_settings()
    runtime = runtime if runtime is not None else Runtime(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        # Start on the server's own thread, not in the thread pool: the embedded broker is
        # bound to the thread that starts it (parent-death signal), and pool threads come and go.
        runtime.start()
        try:
            yield
        finally:
            runtime.stop()

    app = AsyncApp(__name__, lifespan=lifespan, validator_map=VALIDATORS)
    authenticator = Authenticator(settings)
    apis = [(_base_path(spec), authenticator.apply(copy.deepcopy(spec)))
            for spec in served_specs().values()]
    for base_path, spec in apis:
        # connexion orders mounts by the base_path argument, not by the spec's server URL; left
        # out, "/" (health, metrics) can shadow "/api/..."
        app.add_api(copy.deepcopy(spec), base_path=base_path,
                    security_map=authenticator.security_map(),
                    strict_validation=True, validate_responses=False, swagger_ui_options=None)
    app.add_error_handler(FrameworkError, framework_error)
    app.add_error_handler(ProblemException, connexion_problem)
    app.add_error_handler(HTTPException, http_error)
    app.add_error_handler(Exception, unexpected_error)
    app.add_middleware(_RuntimeMiddleware, position=MiddlewarePosition.BEFORE_EXCEPTION,
                       runtime=runtime)
    # a package travels as base64 (4/3 of its size) inside a JSON body
    driver_api_bytes = settings.driver_files_max_bytes * 4 // 3 + settings.max_body_bytes
    app.add_middleware(BodyLimitMiddleware, position=MiddlewarePosition.BEFORE_EXCEPTION,
                       max_bytes=settings.max_body_bytes,
                       larger={"/api/driver/": driver_api_bytes, "/drivers/": driver_api_bytes,
                               "/api/lcm/rolling-updates": driver_api_bytes})
    app.add_middleware(DriverPrefixMiddleware, position=MiddlewarePosition.BEFORE_EXCEPTION)
    app.add_middleware(AccessLogMiddleware, position=MiddlewarePosition.BEFORE_EXCEPTION,
                       requests=runtime.http_requests, durations=runtime.http_duration)
    if fast_path:
        app.add_middleware(FastDriverApi, position=MiddlewarePosition.BEFORE_EXCEPTION,
                           runtime=runtime, apis=apis)
    return app


def runtime_of(scope: Any) -> Runtime:
    """The runtime of the app serving this request (handlers pass ``request.scope``)."""
    runtime: Runtime = scope[RUNTIME_KEY]
    return runtime


def create_served_app(settings: Settings | None = None) -> AsyncApp:
    """:func:`create_app` as ``nfvd serve`` runs it in each worker process, with the garbage
    collector set for a long-running server (:func:`settle_collector`) and log records
    that carry only what its log shows (:func:`framework.logs.lean_records`)."""
    settings = settings if settings is not None else load_settings()
    app = create_app(settings)
    settle_collector(settings.gc_threshold)
    lean_records()
    return app


def settle_collector(threshold: int) -> None:
    """Keeps what start-up made (modules, specs, plugins: about 100,000 objects that live as
    long as the process) out of the garbage collector's work, and, unless ``threshold`` is 0,
    makes a young collection wait for ``threshold`` new objects instead of CPython's 700.

    Under load a server holds many requests and operations in flight for a moment. At 700,
    young collections found them alive so often that they climbed to the oldest generation,
    whose full collections then walked the whole heap, start-up included: tens of
    milliseconds each, during which nothing was served (``benchmarks/README.md``).
    """
    gc.collect()
    gc.freeze()
    if threshold:
        gc.set_threshold(threshold, *gc.get_threshold()[1:])
