"""Settings: defaults, then the YAML file, then NFVD_* variables; bad values name the setting."""

from pathlib import Path

import pytest

from framework.config import SETTINGS, Settings, load_settings
from framework.errors import SettingsError


def test_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(environ={})
    assert settings.database_url == f"sqlite:///{tmp_path / 'nfvd.db'}"
    assert settings.kafka_bootstrap_servers == "embedded" and settings.kafka_embedded
    assert (settings.host, settings.port, settings.workers) == ("127.0.0.1", 8296, 1)
    assert settings.max_body_bytes == 1024 * 1024
    assert settings.auth == () and not settings.tls


def test_file_then_environment(tmp_path: Path) -> None:
    config = tmp_path / "nfvd.yaml"
    config.write_text("port: 9000\nhost: 127.0.0.2\nlog_format: json\n"
                      "kafka_properties: {security.protocol: SSL}\n")
    settings = load_settings(str(config), {"NFVD_PORT": "9100", "NFVD_MAX_BODY_BYTES": "2048"})
    assert settings.port == 9100  # the environment wins over the file
    assert settings.host == "127.0.0.2"
    assert settings.log_format == "json"
    assert settings.max_body_bytes == 2048
    assert settings.kafka_properties == {"security.protocol": "SSL"}


def test_config_file_from_environment(tmp_path: Path) -> None:
    config = tmp_path / "nfvd.yaml"
    config.write_text("workers: 3\n")
    assert load_settings(environ={"NFVD_CONFIG": str(config)}).workers == 3


@pytest.mark.parametrize(("env", "named"), [
    ({"NFVD_PORT": "http"}, "NFVD_PORT: expected an integer, got 'http'"),
    ({"NFVD_PORT": "70000"}, "NFVD_PORT: expected an integer from 1 to 65535, got 70000"),
    ({"NFVD_MAX_BODY_BYTES": "0"}, "NFVD_MAX_BODY_BYTES"),
    ({"NFVD_LOG_FORMAT": "xml"}, "NFVD_LOG_FORMAT: expected one of text, json"),
    ({"NFVD_DATABASE_URL": "mysql://x/y"}, "NFVD_DATABASE_URL"),
    ({"NFVD_TLS_CERT": "/no/such.pem"}, "NFVD_TLS_CERT: no such file"),
    ({"NFVD_AUTH": "kerberos"}, "NFVD_AUTH"),
    ({"NFVD_AUTH": "basic"}, "NFVD_AUTH_USERS: basic auth is on but no user is configured"),
    ({"NFVD_AUTH": "bearer"}, "NFVD_AUTH_TOKENS"),
    ({"NFVD_AUTH_USERS": "alice"}, "NFVD_AUTH_USERS: expected user:password pairs"),
    ({"NFVD_KAFKA_PROPERTIES": "{not json"}, "NFVD_KAFKA_PROPERTIES: expected a JSON object"),
    ({"NFVD_EXECUTION_EVENTS_TOPIC": "brent events"},
     "NFVD_EXECUTION_EVENTS_TOPIC: expected a Kafka topic name"),
])
def test_bad_setting_names_it(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ=env)
    assert named in str(caught.value)
    assert "\n" not in str(caught.value)


def test_tls_needs_cert_and_key(tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    with pytest.raises(SettingsError, match="NFVD_TLS_KEY"):
        load_settings(environ={"NFVD_TLS_CERT": str(cert)})


@pytest.mark.parametrize(("text", "message"), [
    ("port: [1, 2]\n", "setting 'port': expected an integer"),
    ("prot: 1\n", "unknown setting 'prot'"),
    ("- a list\n", "expected a mapping"),
    ("port: : :\n", "not valid YAML"),
])
def test_bad_file_names_it(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(text)
    with pytest.raises(SettingsError, match=message) as caught:
        load_settings(str(config), {})
    assert str(config) in str(caught.value)


def test_missing_file() -> None:
    with pytest.raises(SettingsError, match="cannot read it"):
        load_settings("/no/such/nfvd.yaml", {})


def test_unknown_variable_is_reported_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    settings = load_settings(environ={"NFVD_PROT": "1", "NFVD_TEST_POSTGRES_URL": "x"})
    assert settings.port == 8296
    assert "ignoring unknown setting NFVD_PROT" in caplog.text
    assert "NFVD_TEST_POSTGRES_URL" not in caplog.text


def test_users_tokens_and_auth_lists() -> None:
    settings = load_settings(environ={
        "NFVD_AUTH": "basic, bearer", "NFVD_AUTH_USERS": "alice:pa:ss,bob:sha256:ab12",
        "NFVD_AUTH_TOKENS": "t0k3n-1,t0k3n-2"})
    assert settings.auth == ("basic", "bearer")
    assert settings.auth_users == {"alice": "pa:ss", "bob": "sha256:ab12"}
    assert settings.auth_tokens == ("t0k3n-1", "t0k3n-2")


def test_secrets_are_listed_and_never_shown() -> None:
    settings = Settings(
        database_url="postgresql+psycopg://nfvd:db-pass-1@db:5432/nfvd",
        auth=("basic", "bearer"), auth_users={"alice": "alice-pass"},
        auth_tokens=("token-abc",), kafka_properties={"sasl.password": "kafka-pass",
                                                       "sasl.username": "svc"})
    assert set(settings.secrets()) == {"db-pass-1", "alice-pass", "token-abc", "kafka-pass"}
    shown = repr(settings) + str(settings.public())
    for secret in settings.secrets():
        assert secret not in shown
    assert "postgresql+psycopg://nfvd:***@db:5432/nfvd" in shown
    assert "svc" in shown


def test_every_setting_has_an_env_name_and_help() -> None:
    names = {setting.name for setting in SETTINGS}
    assert names == set(Settings.__dataclass_fields__)
    assert all(setting.env.startswith("NFVD_") and setting.help for setting in SETTINGS)
