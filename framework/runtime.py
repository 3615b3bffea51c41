"""The live parts of one nfvd process: store, Kafka producer, embedded broker, plugins, metrics."""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from framework.config import Settings, redact_url
from framework.metrics import Labels, Registry
from framework.plugins.registry import PluginRegistry

if TYPE_CHECKING:
    from confluent_kafka import Message

    from framework.alarms import Alarms
    from framework.coordination.rolling import RollingUpdates
    from framework.coordination.scripts import Coordinator
    from framework.discovery import Discovery
    from framework.engine import Engine, TaskCatalog
    from framework.executions import Executions
    from framework.infra_workload import InfraWorkloads
    from framework.lifecycle import Lifecycles
    from framework.messaging import EmbeddedBroker, EventProducer
    from framework.messaging.intake import RequestIntake
    from framework.messaging.relay import OutboxRelay
    from framework.multicloud import RegionRegistry
    from framework.store import Store
    from framework.store.outbox_rows import Written
    from framework.workload_tasks import WorkloadContext

log = logging.getLogger(__name__)


class Runtime:
    """Owns what the app needs while it serves; :meth:`start` and :meth:`stop` bracket a run.

    Building a Runtime does no I/O except loading plugins, so ``create_app``
    stays cheap; the store, the broker and the producer open in :meth:`start`.
    """

    def __init__(self, settings: Settings, plugins: PluginRegistry | None = None) -> None:
        self.settings = settings
        self.plugins = plugins if plugins is not None else PluginRegistry.discover()
        self.metrics = Registry()
        self.http_requests = self.metrics.counter(
            "nfvd_http_requests_total", "HTTP requests answered, by method, route and status.")
        self.http_duration = self.metrics.histogram(
            "nfvd_http_request_duration_seconds", "Time to answer an HTTP request.")
        self.metrics.gauge("nfvd_plugins", "Installed plugins by group and status.",
                           self._plugin_counts)
        self.alarm_count = self.metrics.counter(
            "nfvd_alarms_total", "Alarms raised, by kind and key (e.g. an HPA plugin dropped).")
        self.metrics.gauge("nfvd_outbox_events", "Events in the outbox: waiting for Kafka, "
                           "or set aside because Kafka refused them for good.",
                           lambda: self._outbox()[0])
        self.metrics.gauge("nfvd_outbox_oldest_waiting_seconds", "How long the oldest event "
                           "waiting for Kafka has waited (0: none waits).",
                           lambda: self._outbox()[1])
        self.store: Store | None = None
        self.producer: EventProducer | None = None
        self.broker: EmbeddedBroker | None = None
        self.lifecycles: Lifecycles | None = None
        self.executions: Executions | None = None
        self.rolling_updates: RollingUpdates | None = None
        self.registry: RegionRegistry | None = None
        self.workloads: InfraWorkloads | None = None
        self.discovery: Discovery | None = None
        self.relay: OutboxRelay | None = None
        self.intake: RequestIntake | None = None
        #: The rendering of the metrics the outbox was last read for, and what was found:
        #: its two gauges come from one read.
        self._outbox_read: tuple[int, tuple[dict[Labels, float], dict[Labels, float]]] = (
            -1, ({}, {}))

    def _plugin_counts(self) -> dict[Labels, float]:
        counts: dict[Labels, float] = {}
        for record in self.plugins.records:
            key = (("group", record.group), ("status", record.status))
            counts[key] = counts.get(key, 0) + 1
        return counts

    def _outbox(self) -> tuple[dict[Labels, float], dict[Labels, float]]:
        """The outbox's gauges, read from the store once per rendering of the metrics."""
        read_for, found = self._outbox_read
        if read_for != self.metrics.renders:
            found = self._read_outbox()
            self._outbox_read = (self.metrics.renders, found)
        return found

    def _read_outbox(self) -> tuple[dict[Labels, float], dict[Labels, float]]:
        """The outbox's gauges, read from the store (nothing while it is not open)."""
        from framework.messaging.refused import status

        if self.store is None:
            return {}, {}
        try:
            found = status(self.store)
        except Exception as exc:  # the store is away: /ready says so; the gauges are left out
            log.debug("metrics: the outbox cannot be read: %s", exc)
            return {}, {}
        return ({(("state", "waiting"),): found["waiting"],
                 (("state", "refused"),): found["refused"]},
                {(): found["oldestWaitingSeconds"]})

    @property
    def kafka_servers(self) -> str:
        if self.broker is not None:
            return self.broker.bootstrap_servers
        return self.settings.kafka_bootstrap_servers

    def start(self) -> None:
        """Opens the store (migrating it), starts the embedded broker if asked, and the producer.

        Raises :class:`framework.errors.StartupError` with one clear line.
        """
        from framework.alarms import Alarms
        from framework.messaging import EmbeddedBroker, EventProducer
        from framework.messaging.intake import RequestIntake
        from framework.messaging.relay import OutboxRelay
        from framework.packages import remove_stale
        from framework.store import open_store

        try:
            self.store = open_store(self.settings.database_url)
            if self.settings.kafka_embedded:
                self.broker = EmbeddedBroker(self.settings.kafka_embedded_port)
                self.broker.start()
            self.producer = EventProducer(self.kafka_servers, self.settings.kafka_properties)
            self.relay = OutboxRelay(self.store, self.producer,
                                     kafka_properties=self.settings.kafka_properties)
            # the one source of alarms; the relay writes its own in its set-aside transaction
            alarms = Alarms(self.alarm_count, self.store, self.relay.notify)
            self.relay.alarms = alarms
            # every commit may have added outbox rows: publish them now, not at the next poll
            self.lifecycles = _lifecycles(self.settings, self.store, self.plugins,
                                          on_commit=self.relay.notify,
                                          handoff=self.relay.handoff,
                                          discovery=lambda: self._discovery())
            self.executions = _executions(self.settings, self.lifecycles)
            self.rolling_updates = _rolling_updates(self.settings, self.lifecycles)
            self.discovery = discovery(self.plugins, alarms,
                                       timeout=self.settings.hpa_timeout_seconds)
            self.registry = _registry(self.settings, self.store, self.lifecycles)
            self.workloads = _workloads(self.settings, self.lifecycles,
                                        self.lifecycles.workload_context)
            remove_stale()  # driver directories of a process killed while a driver ran
            self.lifecycles.engine.start()
            self.relay.start()
            if self.settings.kafka_intake:
                self.intake = RequestIntake(
                    self.kafka_servers, self._take_request,
                    properties=self.settings.kafka_properties, transient=store_unavailable,
                    on_skipped=functools.partial(_request_skipped, alarms))
                self.intake.start()
        except BaseException:
            self.stop()
            raise
        log.info("store %s, kafka %s%s", redact_url(self.settings.database_url),
                 self.kafka_servers, " (embedded)" if self.broker else "")

    def _discovery(self) -> Discovery:
        # HPA discovery of registrations raises the same alarms as the API's
        if self.discovery is None:
            from framework.discovery import Discovery

            return Discovery(self.plugins, timeout=self.settings.hpa_timeout_seconds)
        return self.discovery

    def _take_request(self, body: dict[str, Any]) -> None:
        from framework.errors import FrameworkError
        from framework.messaging.intake import RejectedRequest
        from framework.validation import validate_request

        assert self.lifecycles is not None  # noqa: S101 - the intake starts after it
        try:
            validate_request(body)
            self.lifecycles.submit(body)
        except FrameworkError as exc:
            if exc.status >= 500:
                raise
            raise RejectedRequest(exc.detail) from exc

    def stop(self) -> None:
        """Closes whatever :meth:`start` opened, in reverse order; safe to call twice."""
        if self.intake is not None:
            self.intake.stop()
            self.intake = None
        self.executions = self.discovery = self.rolling_updates = self.registry = None
        self.workloads = None
        if self.lifecycles is not None:
            self.lifecycles.engine.stop()
            self.lifecycles = None
        if self.relay is not None:
            self.relay.stop()
            self.relay = None
        if self.producer is not None:
            self.producer.close()
            self.producer = None
        if self.broker is not None:
            self.broker.stop()
            self.broker = None
        if self.store is not None:
            self.store.close()
            self.store = None


def _lifecycles(settings: Settings, store: Store, plugins: PluginRegistry,
                on_commit: Callable[[], None] | None = None,
                discovery: Callable[[], Discovery] | None = None,
                handoff: Callable[[Written], bool] | None = None) -> Lifecycles:
    from framework.coordination import rolling
    from framework.engine import Engine
    from framework.execution_events import ExecutionNotifier
    from framework.executions import KIND
    from framework.lifecycle import Lifecycles, build_catalog
    from framework.store.lcm import SqlRepository

    notifier = ExecutionNotifier(settings.execution_events_topic,
                                 settings.driver_result_max_bytes)
    repository = SqlRepository(store, on_commit, notifiers={KIND: notifier}, handoff=handoff)
    catalog = build_catalog(plugins, settings.driver_result_max_bytes)
    rolling.register(catalog, plugins, _coordinator(settings, plugins))
    _register_multicloud(catalog, settings, store, plugins, discovery)
    workload_context = _register_workloads(catalog, settings, store, plugins)
    engine: Engine = Engine(repository, catalog,
                            workers=settings.engine_workers,
                            lease_seconds=settings.engine_lease_seconds,
                            cancel_grace=settings.engine_cancel_grace_seconds)
    lifecycles = Lifecycles(engine, plugins)
    lifecycles.workload_context = workload_context
    return lifecycles


def _register_workloads(catalog: TaskCatalog, settings: Settings, store: Store,
                        plugins: PluginRegistry) -> WorkloadContext:
    """The infra_workload task types, over the cloud regions of the settings."""
    from framework.aai import AaiSettings
    from framework.cloud_regions import load_cloud_regions
    from framework.workload_tasks import (
        AAI_UPDATE,
        CREATE,
        DELETE,
        FOLLOW,
        CreateWorkload,
        DeleteWorkload,
        FollowWorkload,
        UpdateAai,
        WorkloadContext,
        WorkloadTable,
    )

    context = WorkloadContext(plugins.workload_types,
                              load_cloud_regions(settings.cloud_regions_file),
                              WorkloadTable(store),
                              AaiSettings.from_settings(settings) if settings.aai_url else None,
                              poll_seconds=settings.workload_poll_seconds,
                              timeout_seconds=settings.workload_timeout_seconds)
    catalog.register(CREATE, CreateWorkload(context))
    catalog.register(FOLLOW, FollowWorkload(context))
    catalog.register(AAI_UPDATE, UpdateAai(context))
    catalog.register(DELETE, DeleteWorkload(context))
    return context


def _workloads(settings: Settings, lifecycles: Lifecycles,
               context: WorkloadContext | None) -> InfraWorkloads:
    from framework.infra_workload import InfraWorkloads

    assert context is not None  # noqa: S101 - _lifecycles made it
    return InfraWorkloads(lifecycles.engine, context,
                          accept_seconds=settings.workload_accept_seconds,
                          delete_wait_seconds=settings.workload_delete_wait_seconds)


def _register_multicloud(catalog: TaskCatalog, settings: Settings, store: Store,
                         plugins: PluginRegistry,
                         discovery: Callable[[], Discovery] | None) -> None:
    from framework.aai import AaiClient, AaiSettings
    from framework.discovery import Discovery
    from framework.multicloud import LIST, WRITE, ListFlavors, RegionTable, WriteFlavors

    catalog.register(LIST, ListFlavors(plugins))
    catalog.register(WRITE, WriteFlavors(
        discovery or (lambda: Discovery(plugins, timeout=settings.hpa_timeout_seconds)),
        lambda: AaiClient(AaiSettings.from_settings(settings)), RegionTable(store),
        settings.aai_concurrency))


def _registry(settings: Settings, store: Store, lifecycles: Lifecycles) -> RegionRegistry:
    from framework.aai import AaiSettings
    from framework.multicloud import RegionRegistry, RegionTable

    return RegionRegistry(lifecycles.engine, lifecycles.plugins, RegionTable(store),
                    AaiSettings.from_settings(settings) if settings.aai_url else None,
                    prefix=settings.hpa_flavor_prefix, concurrency=settings.aai_concurrency)


def _coordinator(settings: Settings, plugins: PluginRegistry) -> Coordinator:
    """Runs the coordinate steps of rolling updates, with the coordination settings."""
    from framework.coordination.scripts import CoordinationSettings, Coordinator

    return Coordinator(plugins, CoordinationSettings(
        timeout=settings.coordination_timeout_seconds, ca_file=settings.coordination_ca_file,
        client_certs=settings.coordination_client_certs))


def _rolling_updates(settings: Settings, lifecycles: Lifecycles) -> RollingUpdates:
    from framework.coordination.rolling import RollingUpdates

    return RollingUpdates(lifecycles.engine, lifecycles.plugins,
                          timeout=settings.coordination_timeout_seconds,
                          max_package_bytes=settings.driver_files_max_bytes)


def _request_skipped(alarms: Alarms, message: Message, attempts: int, exc: Exception) -> None:
    """The alarm of a request the intake skipped: the error's type, not its text, which may
    quote the request."""
    alarms.raise_alarm("kafka-request-skipped", message.topic() or "", {
        "partition": message.partition(), "offset": message.offset(), "attempts": attempts,
        "error": type(exc).__name__,
        "reason": f"{type(exc).__name__} on each of {attempts} attempts"})


def store_unavailable(exc: Exception) -> bool:
    """Whether ``exc`` says the store cannot be reached now (rather than that the work at
    hand made something fail): what is refused for it may succeed once it is back."""
    from sqlalchemy.exc import InterfaceError, OperationalError

    from framework.errors import FrameworkError
    from framework.store import StoreUnavailable

    return isinstance(exc, (OperationalError, InterfaceError, StoreUnavailable)) \
        or (isinstance(exc, FrameworkError) and exc.status == 503)


def discovery(plugins: PluginRegistry, alarms: Alarms, timeout: float = 5.0) -> Discovery:
    """HPA discovery over the loaded plugins; a dropped result raises an alarm."""
    from framework.discovery import Discovery

    return Discovery(plugins, timeout=timeout, on_drop=lambda entry: alarms.raise_alarm(
        "hpa-plugin-dropped", str(entry["name"]), entry))


def _executions(settings: Settings, lifecycles: Lifecycles) -> Executions:
    from framework.executions import Executions

    return Executions(lifecycles.engine, lifecycles.plugins,
                      max_package_bytes=settings.driver_files_max_bytes,
                      default_driver=settings.default_resource_driver,
                      max_result_bytes=settings.driver_result_max_bytes)


@contextlib.contextmanager
def open_lifecycles(settings: Settings) -> Iterator[Lifecycles]:
    """The engine over the store, with no worker started: for inspection and controls.

    Controls are state changes in the store; the servers' workers act on them.
    """
    from framework.store import open_store

    store = open_store(settings.database_url)
    try:
        yield _lifecycles(settings, store, PluginRegistry.discover())
    finally:
        store.close()
