"""How a lienthong process connects to Kafka: one standard client properties file per principal.

The files are the ones Kafka's own tools read (``kafka-console-consumer --consumer.config``)::

    bootstrap.servers=127.0.0.1:9092
    security.protocol=SASL_SSL
    sasl.mechanism=SCRAM-SHA-512
    sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="hub" password="…";
    ssl.truststore.type=PEM
    ssl.truststore.location=/path/to/ca.pem

:meth:`KafkaClient.load` reads one into the keyword arguments of aiokafka's clients
(:meth:`KafkaClient.aiokafka`) and of a Faust app (:meth:`KafkaClient.faust`).
"""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from aiokafka.partitioner import DefaultPartitioner

from contracts.errors import SettingsError

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
_JAAS = re.compile(r'^\S+\s+required\s+username="([^"]+)"\s+password="([^"]*)"\s*;$')


def read_properties(path: Path) -> dict[str, str]:
    """``key=value`` (or ``key: value``) lines; ``#`` and ``!`` start comments."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SettingsError(f"Kafka client properties {path}: {exc.strerror or exc}") from None
    props = {}
    for line in text.splitlines():
        line = line.strip()
        if line and line[0] not in "#!":
            key, _, value = line.partition("=") if "=" in line else line.partition(":")
            props[key.strip()] = value.strip()
    return props


@dataclass(frozen=True)
class KafkaClient:
    """A principal's connection to a cluster, as a client properties file describes it."""

    bootstrap_servers: str
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: Path | None = None

    @classmethod
    def load(cls, path: Path, bootstrap_servers: str | None = None) -> KafkaClient:
        """Read ``path``; ``bootstrap_servers`` (when given) overrides the file's. A missing file or
        key, or a value lienthong cannot use, raises :class:`SettingsError` naming the file and key."""
        props = read_properties(path)

        def need(key: str, allowed: tuple[str, ...] | None = None) -> str:
            value = props.get(key)
            if not value:
                raise SettingsError(f"Kafka client properties {path}: {key} is missing")
            if allowed and value not in allowed:
                raise SettingsError(f"Kafka client properties {path}: {key}={value} is not one of {', '.join(allowed)}")
            return value

        bootstrap = bootstrap_servers or need("bootstrap.servers")
        protocol = props.get("security.protocol", "PLAINTEXT")
        if protocol not in PROTOCOLS:
            raise SettingsError(f"Kafka client properties {path}: security.protocol={protocol} is not supported")
        client = cls(bootstrap, protocol)
        if protocol.startswith("SASL_"):
            match = _JAAS.match(need("sasl.jaas.config"))
            if match is None:
                raise SettingsError(f'Kafka client properties {path}: sasl.jaas.config needs username="…" password="…"')
            client = replace(
                client,
                sasl_mechanism=need("sasl.mechanism", MECHANISMS),
                username=match[1],
                password=match[2],
            )
        if protocol.endswith("SSL"):
            if props.get("ssl.truststore.type", "PEM") != "PEM":
                raise SettingsError(f"Kafka client properties {path}: ssl.truststore.type must be PEM")
            location = props.get("ssl.truststore.location")
            ca_file = (path.parent / location) if location else None
            if ca_file is not None and not ca_file.is_file():
                raise SettingsError(f"Kafka client properties {path}: ssl.truststore.location {ca_file} is not a file")
            client = replace(client, ca_file=ca_file)
        return client

    def ssl_context(self) -> ssl.SSLContext | None:
        """Verifies the brokers against the truststore (the system's CAs without one)."""
        if not self.security_protocol.endswith("SSL"):
            return None
        return ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)

    def aiokafka(self) -> dict[str, Any]:
        """Keyword arguments for ``AIOKafkaProducer``, ``AIOKafkaConsumer`` and ``AIOKafkaAdminClient``."""
        kwargs: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
        }
        if self.sasl_mechanism:
            kwargs |= {
                "sasl_mechanism": self.sasl_mechanism,
                "sasl_plain_username": self.username,
                "sasl_plain_password": self.password,
            }
        if (context := self.ssl_context()) is not None:
            kwargs["ssl_context"] = context
        return kwargs

    def faust(self) -> dict[str, Any]:
        """Settings for ``faust.App``: the broker URL and its credentials."""
        import faust

        broker = ",".join(f"kafka://{host.strip()}" for host in self.bootstrap_servers.split(","))
        context = self.ssl_context()
        credentials: faust.types.auth.CredentialsT | None = None
        if self.sasl_mechanism:
            credentials = faust.SASLCredentials(
                username=self.username, password=self.password, ssl_context=context, mechanism=self.sasl_mechanism
            )
        elif context is not None:
            credentials = faust.SSLCredentials(context)
        return {"broker": broker, "broker_credentials": credentials}


def partition_for(key: bytes, partitions: int) -> int:
    """The partition a keyed record goes to: the producers' default partitioner (murmur2 of the key
    bytes, as Kafka's Java client). A dossier's events, saga, statuses and monitor records are all
    keyed by its code, so they share this partition number."""
    partition: int = DefaultPartitioner()(key, list(range(partitions)), [])
    return partition
