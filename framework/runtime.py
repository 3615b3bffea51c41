"""The live parts of one nfvd process: store, Kafka producer, embedded broker, plugins, metrics."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from framework.config import Settings, redact_url
from framework.metrics import Labels, Registry
from framework.plugins.registry import PluginRegistry

if TYPE_CHECKING:
    from framework.messaging import EmbeddedBroker, EventProducer
    from framework.store import Store

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
        self.store: Store | None = None
        self.producer: EventProducer | None = None
        self.broker: EmbeddedBroker | None = None

    def _plugin_counts(self) -> dict[Labels, float]:
        counts: dict[Labels, float] = {}
        for record in self.plugins.records:
            key = (("group", record.group), ("status", record.status))
            counts[key] = counts.get(key, 0) + 1
        return counts

    @property
    def kafka_servers(self) -> str:
        if self.broker is not None:
            return self.broker.bootstrap_servers
        return self.settings.kafka_bootstrap_servers

    def start(self) -> None:
        """Opens the store (migrating it), starts the embedded broker if asked, and the producer.

        Raises :class:`framework.errors.StartupError` with one clear line.
        """
        from framework.messaging import EmbeddedBroker, EventProducer
        from framework.store import open_store

        try:
            self.store = open_store(self.settings.database_url)
            if self.settings.kafka_embedded:
                self.broker = EmbeddedBroker(self.settings.kafka_embedded_port)
                self.broker.start()
            self.producer = EventProducer(self.kafka_servers, self.settings.kafka_properties)
        except BaseException:
            self.stop()
            raise
        log.info("store %s, kafka %s%s", redact_url(self.settings.database_url),
                 self.kafka_servers, " (embedded)" if self.broker else "")

    def stop(self) -> None:
        """Closes whatever :meth:`start` opened, in reverse order; safe to call twice."""
        if self.producer is not None:
            self.producer.close()
            self.producer = None
        if self.broker is not None:
            self.broker.stop()
            self.broker = None
        if self.store is not None:
            self.store.close()
            self.store = None
