"""The Kafka client properties reader: one file per principal, for aiokafka, Faust and Kafka's tools."""

from __future__ import annotations

import ssl
import stat
from pathlib import Path

import faust
import pytest

from connectors.kafka_client import KafkaClient
from contracts.errors import SettingsError
from infra.harness.broker_security import format_argfile, principals, setup
from streams.settings import ClusterSettings, HubSettings

JAAS = 'org.apache.kafka.common.security.scram.ScramLoginModule required username="hub" password="p4ss";'


def write(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def ca(tmp_path) -> Path:
    """A real CA certificate, as ``kafka.sh start`` generates it."""
    setup(tmp_path / "broker", 19092)
    return tmp_path / "broker" / "security" / "ca.pem"


def hub_file(tmp_path: Path, ca: Path, *extra: str) -> Path:
    return write(
        tmp_path / "hub.properties",
        "# the hub",
        "bootstrap.servers = 127.0.0.1:9093",
        "security.protocol=SASL_SSL",
        "sasl.mechanism=SCRAM-SHA-512",
        f"sasl.jaas.config={JAAS}",
        "ssl.truststore.type=PEM",
        f"ssl.truststore.location={ca}",
        *extra,
    )


def test_a_sasl_ssl_file_gives_aiokafka_its_login_and_a_context_trusting_the_ca(tmp_path, ca):
    client = KafkaClient.load(hub_file(tmp_path, ca))
    kwargs = client.aiokafka()
    context = kwargs.pop("ssl_context")
    assert kwargs == {
        "bootstrap_servers": "127.0.0.1:9093",
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "hub",
        "sasl_plain_password": "p4ss",
    }
    assert isinstance(context, ssl.SSLContext) and context.verify_mode is ssl.CERT_REQUIRED
    assert context.get_ca_certs()[0]["subject"] == ((("commonName", "lienthong local CA"),),)
    assert "p4ss" not in repr(client)


def test_faust_gets_the_same_login_as_sasl_credentials_over_tls(tmp_path, ca):
    settings = KafkaClient.load(hub_file(tmp_path, ca), "10.0.0.1:9092,10.0.0.2:9092").faust()
    credentials = settings["broker_credentials"]
    assert settings["broker"] == "kafka://10.0.0.1:9092,kafka://10.0.0.2:9092"
    assert isinstance(credentials, faust.SASLCredentials)
    assert (credentials.protocol.value, credentials.mechanism.value) == ("SASL_SSL", "SCRAM-SHA-512")
    assert (credentials.username, credentials.password) == ("hub", "p4ss")
    assert isinstance(credentials.ssl_context, ssl.SSLContext)


def test_a_plaintext_file_needs_only_the_bootstrap(tmp_path):
    client = KafkaClient.load(write(tmp_path / "dev.properties", "bootstrap.servers=127.0.0.1:9092"))
    assert client.aiokafka() == {"bootstrap_servers": "127.0.0.1:9092", "security_protocol": "PLAINTEXT"}
    assert client.faust()["broker_credentials"] is None


@pytest.mark.parametrize(
    ("drop", "replace_with", "message"),
    [
        ("sasl.jaas.config", None, "sasl.jaas.config is missing"),
        ("sasl.mechanism", None, "sasl.mechanism is missing"),
        ("bootstrap.servers", None, "bootstrap.servers is missing"),
        ("sasl.mechanism", "sasl.mechanism=GSSAPI", "sasl.mechanism=GSSAPI is not one of"),
        ("sasl.jaas.config", "sasl.jaas.config=x required;", 'needs username="…" password="…"'),
        ("security.protocol", "security.protocol=SASL_TLS", "security.protocol=SASL_TLS is not supported"),
        ("ssl.truststore.type", "ssl.truststore.type=JKS", "ssl.truststore.type must be PEM"),
        ("ssl.truststore.location", "ssl.truststore.location=nowhere.pem", "nowhere.pem is not a file"),
    ],
)
def test_a_broken_file_is_refused_naming_the_file_and_the_key(tmp_path, ca, drop, replace_with, message):
    path = hub_file(tmp_path, ca)
    lines = [line for line in path.read_text().splitlines() if not line.startswith(drop)]
    write(path, *lines, *([replace_with] if replace_with else []))
    with pytest.raises(SettingsError, match=message) as info:
        KafkaClient.load(path)
    assert str(path) in str(info.value)


def test_a_missing_file_is_refused_naming_it(tmp_path):
    with pytest.raises(SettingsError, match=r"nothing\.properties: No such file"):
        KafkaClient.load(tmp_path / "nothing.properties")


def test_the_worker_needs_a_client_file_and_names_its_variable(monkeypatch, tmp_path, ca):
    monkeypatch.delenv("LIENTHONG_KAFKA_CLIENT_PROPERTIES", raising=False)
    with pytest.raises(SettingsError, match="LIENTHONG_KAFKA_CLIENT_PROPERTIES: Field required"):
        HubSettings.from_env()
    with pytest.raises(SettingsError, match="LIENTHONG_KAFKA_CLIENT_PROPERTIES: no Kafka client properties"):
        ClusterSettings.from_env().kafka_client()
    monkeypatch.setenv("LIENTHONG_KAFKA_CLIENT_PROPERTIES", str(hub_file(tmp_path, ca)))
    assert ClusterSettings.from_env().kafka_client().bootstrap_servers == "127.0.0.1:9093"
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "10.0.0.1:9092")
    assert ClusterSettings.from_env().kafka_client().bootstrap_servers == "10.0.0.1:9092"


def test_broker_setup_writes_a_private_client_file_per_principal_and_keeps_passwords(tmp_path):
    data = tmp_path / "broker"
    setup(data, 19092)
    files = {p.stem: p for p in (data / "clients").iterdir()}
    assert set(files) == set(principals()) == {"admin", "hub", "operator", "justice", "tax", "portal", "onestop"}
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files.values())
    assert stat.S_IMODE((data / "security" / "broker.pem").stat().st_mode) == 0o600
    assert not list((data / "security").glob("ca-key*")), "the CA key is never written"
    clients = {name: KafkaClient.load(path) for name, path in files.items()}
    assert {c.username for c in clients.values()} == set(files)
    assert len({c.password for c in clients.values()}) == len(files), "one random password each"
    setup(data, 29092)  # a restart on another port: same passwords, new bootstrap
    again = KafkaClient.load(files["hub"])
    assert (again.password, again.bootstrap_servers) == (clients["hub"].password, "127.0.0.1:29092")
    argfile = format_argfile(data)  # the passwords reach the storage tool, never a command line
    assert stat.S_IMODE(argfile.stat().st_mode) == 0o600
    lines = argfile.read_text().splitlines()
    assert lines[:2] == ["kafka.tools.StorageTool", "format"] and lines.count('"--add-scram"') == len(files)
    assert f'"SCRAM-SHA-512=[name=hub,password={again.password}]"' in lines
