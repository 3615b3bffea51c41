"""Settings: defaults, then an optional YAML file, then ``NFVD_*`` environment variables."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from framework.errors import SettingsError

log = logging.getLogger(__name__)

ENV_PREFIX = "NFVD_"
CONFIG_ENV = "NFVD_CONFIG"
#: ``NFVD_*`` names that are not settings but are read by nfvd or its tools.
RESERVED_ENV = (CONFIG_ENV, "NFVD_TEST_", "NFVD_PROP_", "NFVD_BENCH_", "NFVD_PLUGIN_",
                "NFVD_COORDINATION_SERVER_")
AUTH_SCHEMES = ("basic", "bearer")
#: librdkafka properties whose values are secrets.
SECRET_KAFKA_KEYS = ("sasl.password", "ssl.key.password", "ssl.keystore.password")


def _as_str(value: Any) -> str:
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise ValueError(f"expected a string, got {type(value).__name__}")
    return str(value).strip()


def _number(cast: type[int] | type[float], low: float, high: float) -> Callable[[Any], Any]:
    kind = "an integer" if cast is int else "a number"

    def show(number: float) -> str:
        return str(int(number)) if cast is int else f"{number:g}"

    def parse(value: Any) -> Any:
        try:
            number = cast(str(value).strip())
        except ValueError:
            raise ValueError(f"expected {kind}, got {value!r}") from None
        if not low <= number <= high:
            raise ValueError(f"expected {kind} from {show(low)} to {show(high)}, "
                             f"got {show(number)}")
        return number

    return parse


def _optional_name(value: Any) -> str | None:
    text = _as_str(value).strip()
    return text or None


def _as_int(low: int, high: int) -> Callable[[Any], int]:
    return _number(int, low, high)


def _as_float(low: float, high: float) -> Callable[[Any], float]:
    return _number(float, low, high)


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = _as_str(value).lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def _one_of(*choices: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        text = _as_str(value).lower()
        if text not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {value!r}")
        return text

    return parse


def _optional_file(value: Any) -> str | None:
    if value is None or str(value).strip() == "":
        return None
    path = Path(_as_str(value)).expanduser()
    if not path.is_file():
        raise ValueError(f"no such file: {path}")
    return str(path.resolve())


def _optional_dir(value: Any) -> str | None:
    if value is None or str(value).strip() == "":
        return None
    path = Path(_as_str(value)).expanduser()
    if not path.is_dir():
        raise ValueError(f"no such directory: {path}")
    return str(path.resolve())


def _database_url(value: Any) -> str:
    url = _as_str(value)
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if not (scheme.startswith("sqlite") or scheme.startswith("postgresql")):
        raise ValueError(
            "expected sqlite:///PATH or postgresql+psycopg://USER@HOST:PORT/DB, "
            f"got a URL with scheme {scheme or 'none'!r}"
        )
    return url


def _log_level(value: Any) -> str:
    level = _as_str(value).upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ValueError(f"expected DEBUG, INFO, WARNING, ERROR or CRITICAL, got {value!r}")
    return level


def _auth_schemes(value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list | tuple) else _as_str(value).split(",")
    names = tuple(dict.fromkeys(_as_str(item).lower() for item in items if str(item).strip()))
    if names in ((), ("none",)):
        return ()
    unknown = [name for name in names if name not in AUTH_SCHEMES]
    if unknown:
        raise ValueError(f"expected none or a list of {', '.join(AUTH_SCHEMES)}, got {unknown}")
    return names


def _users(value: Any) -> dict[str, str]:
    """``{user: password}`` from a mapping, or ``user:password,user2:password2`` text.

    A password may be given as ``sha256:<hex digest>`` so that files never hold it in clear.
    """
    if isinstance(value, Mapping):
        pairs = [(str(k), _as_str(v)) for k, v in value.items()]
    else:
        pairs = []
        for item in _as_str(value).split(","):
            if not item.strip():
                continue
            user, sep, password = item.partition(":")
            if not sep or not user.strip() or not password:
                raise ValueError("expected user:password pairs separated by commas")
            pairs.append((user.strip(), password))
    return dict(pairs)


def _tokens(value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list | tuple) else _as_str(value).split(",")
    return tuple(_as_str(item) for item in items if str(item).strip())


def _kafka_properties(value: Any) -> dict[str, str]:
    """Extra librdkafka properties, as a mapping or as a JSON object in the environment."""
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except json.JSONDecodeError as exc:
            raise ValueError(f"expected a JSON object: {exc.msg}") from None
    if not isinstance(value, Mapping):
        raise ValueError("expected a mapping of librdkafka property names to values")
    return {str(k): str(v) for k, v in value.items()}


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
    Setting("database_url", _database_url,
            "SQLAlchemy URL of the store: sqlite:///nfvd.db (default, in the working "
            "directory) or postgresql+psycopg://USER@HOST:PORT/DB for several replicas.",
            secret=True),
    Setting("kafka_bootstrap_servers", _as_str,
            "Kafka bootstrap servers (host:port,...), or `embedded` to start the bundled "
            "Kafka-compatible broker on 127.0.0.1."),
    Setting("kafka_embedded_port", _as_int(1, 65535),
            "Port of the embedded broker on 127.0.0.1."),
    Setting("kafka_properties", _kafka_properties,
            "Extra librdkafka properties (JSON object), e.g. security.protocol, sasl.*.",
            secret=True),
    Setting("host", _as_str, "Address the HTTP server binds to."),
    Setting("port", _as_int(1, 65535), "Port the HTTP server listens on."),
    Setting("workers", _as_int(1, 64), "Number of server worker processes."),
    Setting("max_body_bytes", _as_int(1, 2**31),
            "Largest request body accepted; larger ones get 413 before they are parsed."),
    Setting("driver_files_max_bytes", _as_int(1, 2**30),
            "Largest resource package (zipped driverFiles) accepted; the body limit of the "
            "resource driver API grows to fit it."),
    Setting("default_resource_driver", _optional_name,
            "Resource driver for requests whose deploymentLocation.type no driver declares."),
    Setting("hpa_timeout_seconds", _as_float(0.01, 600.0),
            "How long one HPA plugin may take for one flavor before its result is dropped."),
    Setting("log_format", _one_of("text", "json"), "`text` or `json` (one object per line)."),
    Setting("log_level", _log_level, "DEBUG, INFO, WARNING, ERROR or CRITICAL."),
    Setting("tls_cert", _optional_file, "Server certificate (PEM); enables HTTPS with tls_key."),
    Setting("tls_key", _optional_file, "Private key of the server certificate (PEM)."),
    Setting("tls_client_ca", _optional_file,
            "CA bundle (PEM); when set, clients must present a certificate it signed."),
    Setting("engine_workers", _as_int(1, 256),
            "Lifecycle tasks run at once by each process."),
    Setting("engine_lease_seconds", _as_float(1.0, 3600.0),
            "How long a claimed task stays with its worker without a heartbeat; then "
            "another process recovers it."),
    Setting("engine_cancel_grace_seconds", _as_float(0.0, 3600.0),
            "How long a cancelled task may run on before it is abandoned."),
    Setting("kafka_intake", _as_bool,
            "Read operation requests from the nfvd_lcm_requests topic (true/false)."),
    Setting("auth", _auth_schemes,
            "`none` (default) or the accepted schemes: `basic`, `bearer`, `basic,bearer`."),
    Setting("auth_users", _users,
            "Basic auth users, user:password,... (password may be sha256:HEX).", secret=True),
    Setting("auth_tokens", _tokens,
            "Accepted bearer tokens, comma-separated (each may be sha256:HEX).", secret=True),
    Setting("coordination_timeout_seconds", _as_float(0.1, 86400.0),
            "How long one LCM coordination (one VNFC) may take, retries and polling included, "
            "when the request gives no timeout."),
    Setting("coordination_ca_file", _optional_file,
            "CA bundle (PEM) that signed the coordination servers' certificates; default: "
            "the system's CAs."),
    Setting("coordination_client_certs", _optional_dir,
            "Directory of client certificates for OAUTH2_CLIENT_CERT: NAME.pem/.crt with "
            "the key inside or in NAME.key, picked by x5t#S256 fingerprint."),
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
    default_resource_driver: str | None = None
    hpa_timeout_seconds: float = 5.0
    log_format: str = "text"
    log_level: str = "INFO"
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_client_ca: str | None = None
    engine_workers: int = 4
    engine_lease_seconds: float = 15.0
    engine_cancel_grace_seconds: float = 5.0
    kafka_intake: bool = True
    auth: tuple[str, ...] = ()
    auth_users: dict[str, str] = dataclasses.field(default_factory=dict)
    auth_tokens: tuple[str, ...] = ()
    coordination_timeout_seconds: float = 60.0
    coordination_ca_file: str | None = None
    coordination_client_certs: str | None = None

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

    def secrets(self) -> list[str]:
        """Every secret value held here, for the log masker."""
        found: list[str] = list(self.auth_users.values()) + list(self.auth_tokens)
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
