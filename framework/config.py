"""Settings: defaults, then an optional YAML file, then ``NFVD_*`` environment variables."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from framework.config_values import (
    as_bool,
    as_float,
    as_int,
    as_str,
    auth_schemes,
    database_url,
    kafka_properties,
    log_level,
    matching,
    one_of,
    optional_dir,
    optional_file,
    optional_name,
    optional_url,
    tokens,
    users,
)
from framework.errors import SettingsError

log = logging.getLogger(__name__)

ENV_PREFIX = "NFVD_"
CONFIG_ENV = "NFVD_CONFIG"
#: ``NFVD_*`` names that are not settings but are read by nfvd or its tools.
RESERVED_ENV = (CONFIG_ENV, "NFVD_TEST_", "NFVD_PROP_", "NFVD_BENCH_", "NFVD_PLUGIN_",
                "NFVD_COORDINATION_SERVER_")
#: librdkafka properties whose values are secrets.
SECRET_KAFKA_KEYS = ("sasl.password", "ssl.key.password", "ssl.keystore.password")


@dataclasses.dataclass(frozen=True)
class Setting:
    """How one setting is named, parsed and documented."""

    name: str
    parse: Callable[[Any], Any]
    help: str
    secret: bool = False

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()


SETTINGS: tuple[Setting, ...] = (
    Setting("database_url", database_url,
            "SQLAlchemy URL of the store: sqlite:///nfvd.db (default, in the working "
            "directory) or postgresql+psycopg://USER@HOST:PORT/DB for several replicas.",
            secret=True),
    Setting("kafka_bootstrap_servers", as_str,
            "Kafka bootstrap servers (host:port,...), or `embedded` to start the bundled "
            "Kafka-compatible broker on 127.0.0.1."),
    Setting("kafka_embedded_port", as_int(1, 65535),
            "Port of the embedded broker on 127.0.0.1."),
    Setting("kafka_properties", kafka_properties,
            "Extra librdkafka properties (JSON object), e.g. security.protocol, sasl.*.",
            secret=True),
    Setting("host", as_str, "Address the HTTP server binds to."),
    Setting("port", as_int(1, 65535), "Port the HTTP server listens on."),
    Setting("workers", as_int(1, 64), "Number of server worker processes."),
    Setting("max_body_bytes", as_int(1, 2**31),
            "Largest request body accepted; larger ones get 413 before they are parsed."),
    Setting("driver_files_max_bytes", as_int(1, 2**30),
            "Largest resource package (zipped driverFiles) accepted; the body limit of the "
            "resource driver API grows to fit it."),
    Setting("driver_result_max_bytes", as_int(1024, 2**30),
            "Largest outputs and associatedTopology (compact JSON) a resource driver may "
            "return from one execution; a larger result fails it with INTERNAL_ERROR. Its "
            "completion message must fit the Kafka producer's message.max.bytes."),
    Setting("default_resource_driver", optional_name,
            "Resource driver for requests whose deploymentLocation.type no driver declares."),
    Setting("hpa_timeout_seconds", as_float(0.01, 600.0),
            "How long one HPA plugin may take for one flavor before its result is dropped."),
    Setting("log_format", one_of("text", "json"), "`text` or `json` (one object per line)."),
    Setting("log_level", log_level, "DEBUG, INFO, WARNING, ERROR or CRITICAL."),
    Setting("tls_cert", optional_file, "Server certificate (PEM); enables HTTPS with tls_key."),
    Setting("tls_key", optional_file, "Private key of the server certificate (PEM)."),
    Setting("tls_client_ca", optional_file,
            "CA bundle (PEM); when set, clients must present a certificate it signed."),
    Setting("gc_threshold", as_int(0, 10_000_000),
            "New objects between two young garbage collections in a server process (0: "
            "CPython's own, 700). Start-up's objects are kept out of collections either way."),
    Setting("engine_workers", as_int(1, 256),
            "Lifecycle tasks run at once by each process."),
    Setting("engine_lease_seconds", as_float(1.0, 3600.0),
            "How long a claimed task stays with its worker without a heartbeat; then "
            "another process recovers it."),
    Setting("engine_cancel_grace_seconds", as_float(0.0, 3600.0),
            "How long a cancelled task may run on before it is abandoned."),
    Setting("kafka_intake", as_bool,
            "Read operation requests from the nfvd_lcm_requests topic (true/false)."),
    Setting("execution_events_topic", matching(r"[A-Za-z0-9._-]{1,249}",
                                               "a Kafka topic name: letters, digits, . _ -"),
            "Topic of the resource driver API's completion messages, for a lifecycle "
            "manager configured with another name (Ignition's "
            "messaging.topics.lifecycle_execution_events.name)."),
    Setting("auth", auth_schemes,
            "`none` (default) or the accepted schemes: `basic`, `bearer`, `basic,bearer`."),
    Setting("auth_users", users,
            "Basic auth users, user:password,... (password may be sha256:HEX).", secret=True),
    Setting("auth_tokens", tokens,
            "Accepted bearer tokens, comma-separated (each may be sha256:HEX).", secret=True),
    Setting("coordination_timeout_seconds", as_float(0.1, 86400.0),
            "How long one LCM coordination (one VNFC) may take, retries and polling included, "
            "when the request gives no timeout."),
    Setting("coordination_ca_file", optional_file,
            "CA bundle (PEM) that signed the coordination servers' certificates; default: "
            "the system's CAs."),
    Setting("coordination_client_certs", optional_dir,
            "Directory of client certificates for OAUTH2_CLIENT_CERT: NAME.pem/.crt with "
            "the key inside or in NAME.key, picked by x5t#S256 fingerprint."),
    Setting("aai_url", optional_url,
            "A&AI base URL, e.g. https://aai.example:8443/aai (the schema version is appended); "
            "unset: nothing is written to A&AI and an HPA registration is refused."),
    Setting("aai_username", optional_name, "A&AI user (HTTP Basic auth); unset: no auth."),
    Setting("aai_password", optional_name, "Password of the A&AI user.", secret=True),
    Setting("aai_schema_version", matching(r"v[0-9]+", "a version such as v13"),
            "A&AI schema version, the path segment after the base URL."),
    Setting("aai_app_id", matching(r"[!-~]+", "printable ASCII without spaces"),
            "X-FromAppId header sent on every A&AI request."),
    Setting("aai_timeout_seconds", as_float(0.1, 600.0),
            "Connect and read timeout of one A&AI request."),
    Setting("aai_concurrency", as_int(1, 64),
            "Flavors written to A&AI at once during an HPA registration."),
    Setting("aai_ca_file", optional_file,
            "CA bundle (PEM) that signed A&AI's certificate; default: the system's CAs."),
    Setting("hpa_flavor_prefix", as_str,
            "Only flavors whose name starts with it get HPA discovery when a region is "
            "registered (ONAP's rule); the others are registered without capabilities."),
    Setting("cloud_regions_file", optional_file,
            "YAML file of the cloud regions the infra_workload API drives (Keystone URL, "
            "credentials, default project); see docs/infra-workload.md. Keep it private: it "
            "holds passwords."),
    Setting("workload_accept_seconds", as_float(1.0, 3600.0),
            "How long an infra_workload create waits for the cloud to accept the workload "
            "before answering 504 (the create goes on)."),
    Setting("workload_delete_wait_seconds", as_float(0.0, 600.0),
            "How long an infra_workload DELETE waits for the workload to be gone before "
            "answering 202 instead of 204."),
    Setting("workload_poll_seconds", as_float(0.05, 60.0),
            "Interval between two reads of a workload's status while nfvd follows it."),
    Setting("workload_timeout_seconds", as_float(1.0, 86400.0),
            "How long nfvd follows a workload's create or delete before failing the step."),
)
_BY_NAME = {setting.name: setting for setting in SETTINGS}


@dataclasses.dataclass(frozen=True)
class Settings:
    """The settings of one nfvd process, read once at start."""

    database_url: str = ""
    kafka_bootstrap_servers: str = "embedded"
    kafka_embedded_port: int = 9092
    kafka_properties: dict[str, str] = dataclasses.field(default_factory=dict)
    host: str = "127.0.0.1"
    port: int = 8296
    workers: int = 1
    max_body_bytes: int = 1024 * 1024
    driver_files_max_bytes: int = 10 * 1024 * 1024
    driver_result_max_bytes: int = 256 * 1024
    default_resource_driver: str | None = None
    hpa_timeout_seconds: float = 5.0
    log_format: str = "text"
    log_level: str = "INFO"
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_client_ca: str | None = None
    gc_threshold: int = 10_000
    engine_workers: int = 4
    engine_lease_seconds: float = 15.0
    engine_cancel_grace_seconds: float = 5.0
    kafka_intake: bool = True
    execution_events_topic: str = "lm_vnfc_lifecycle_execution_events"
    auth: tuple[str, ...] = ()
    auth_users: dict[str, str] = dataclasses.field(default_factory=dict)
    auth_tokens: tuple[str, ...] = ()
    coordination_timeout_seconds: float = 60.0
    coordination_ca_file: str | None = None
    coordination_client_certs: str | None = None
    aai_url: str | None = None
    aai_username: str | None = None
    aai_password: str | None = None
    aai_schema_version: str = "v13"
    aai_app_id: str = "nfvd"
    aai_timeout_seconds: float = 10.0
    aai_concurrency: int = 8
    aai_ca_file: str | None = None
    hpa_flavor_prefix: str = "onap."
    cloud_regions_file: str | None = None
    workload_accept_seconds: float = 60.0
    workload_delete_wait_seconds: float = 5.0
    workload_poll_seconds: float = 1.0
    workload_timeout_seconds: float = 3600.0

    def __post_init__(self) -> None:
        if not self.database_url:
            default = "sqlite:///" + str(Path.cwd() / "nfvd.db")
            object.__setattr__(self, "database_url", default)
        _check_consistency(self)

    @property
    def kafka_embedded(self) -> bool:
        return self.kafka_bootstrap_servers == "embedded"

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    def replace(self, **changes: Any) -> Settings:
        """A copy with some settings changed (values already parsed)."""
        return dataclasses.replace(self, **changes)

    def _cloud_secrets(self) -> list[str]:
        """The passwords and credential secrets of the cloud regions file (none if unreadable:
        the start then fails on it with the reason)."""
        from framework.cloud_regions import load_cloud_regions

        try:
            regions = load_cloud_regions(self.cloud_regions_file)
        except SettingsError:
            return []
        return [secret for region in regions.values() for secret in region.secrets]

    def secrets(self) -> list[str]:
        """Every secret value held here, for the log masker."""
        found = [*self.auth_users.values(), *self.auth_tokens, self.aai_password or ""]
        found += self._cloud_secrets()
        found += [v for k, v in self.kafka_properties.items() if k in SECRET_KAFKA_KEYS]
        password = _url_password(self.database_url)
        if password:
            found.append(password)
        return [value for value in found if value]

    def public(self) -> dict[str, Any]:
        """The settings with every secret replaced by ``***``, safe to print or log."""
        shown: dict[str, Any] = {}
        for setting in SETTINGS:
            value = getattr(self, setting.name)
            if setting.name == "database_url":
                value = redact_url(value)
            elif setting.name == "kafka_properties":
                value = {k: "***" if k in SECRET_KAFKA_KEYS else v for k, v in value.items()}
            elif setting.secret and value:
                value = "***"
            shown[setting.name] = value
        return shown

    def __repr__(self) -> str:
        return f"Settings({self.public()!r})"


def _url_password(url: str) -> str | None:
    head = url.split("://", 1)[-1].split("/", 1)[0]
    if "@" not in head:
        return None
    credentials = head.rsplit("@", 1)[0]
    return credentials.partition(":")[2] or None


def redact_url(url: str) -> str:
    """``url`` with its password, if any, replaced by ``***``."""
    password = _url_password(url)
    return url.replace(":" + password + "@", ":***@", 1) if password else url


def _check_consistency(settings: Settings) -> None:
    if bool(settings.tls_cert) != bool(settings.tls_key):
        missing = "NFVD_TLS_KEY" if settings.tls_cert else "NFVD_TLS_CERT"
        raise SettingsError(f"{missing}: TLS needs both a certificate and its key")
    if settings.tls_client_ca and not settings.tls_cert:
        raise SettingsError("NFVD_TLS_CLIENT_CA: client certificates need TLS (NFVD_TLS_CERT)")
    if "basic" in settings.auth and not settings.auth_users:
        raise SettingsError("NFVD_AUTH_USERS: basic auth is on but no user is configured")
    if "bearer" in settings.auth and not settings.auth_tokens:
        raise SettingsError("NFVD_AUTH_TOKENS: bearer auth is on but no token is configured")
    if settings.aai_password and not settings.aai_username:
        raise SettingsError("NFVD_AAI_PASSWORD: a password without NFVD_AAI_USERNAME")


def _parse(setting: Setting, value: Any, where: str) -> Any:
    try:
        return setting.parse(value)
    except ValueError as exc:
        raise SettingsError(f"{where}: {exc}") from None


def _read_file(path: str) -> dict[str, Any]:
    file = Path(path).expanduser()
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsError(f"config file {file}: cannot read it ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise SettingsError(f"config file {file}: not valid YAML ({exc})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SettingsError(f"config file {file}: expected a mapping of settings at the top")
    values: dict[str, Any] = {}
    for key, value in data.items():
        setting = _BY_NAME.get(str(key).lower())
        if setting is None:
            raise SettingsError(f"config file {file}: unknown setting {key!r}")
        values[setting.name] = _parse(setting, value, f"config file {file}: setting {key!r}")
    return values


def load_settings(
    config_file: str | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read the settings: defaults, then ``config_file`` (or ``$NFVD_CONFIG``), then ``NFVD_*``.

    Raises :class:`SettingsError` with one line naming the first bad setting.
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    config_file = config_file or env.get(CONFIG_ENV) or None
    if config_file:
        values.update(_read_file(config_file))
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX) or name.startswith(RESERVED_ENV):
            continue
        setting = _BY_NAME.get(name[len(ENV_PREFIX):].lower())
        if setting is None:
            log.warning("ignoring unknown setting %s", name)
            continue
        values[setting.name] = _parse(setting, raw, setting.env)
    return Settings(**values)
