"""Credentials of a local broker, generated into its data folder by ``kafka.sh start`` (or ``cluster-start``).

``python -m infra.harness.broker_security setup DATA_DIR PORT[,PORT...]`` writes, once per data folder
(one port for the single broker, one per broker for the three-node cluster of ``kafka.sh cluster-start``,
whose brokers share the CA, the certificate and the client files):

- ``security/ca.pem``: a local CA's certificate (its key is never written: nothing else can be
  signed by it), and ``security/broker.pem``: the broker's key and certificate (CN=admin, for
  127.0.0.1 and localhost), which it presents to clients and, on the controller listener, to itself;
- ``security/server.properties``: the broker's own SCRAM login (the ``admin`` super user);
- ``clients/<principal>.properties``: standard Kafka client properties (SASL_SSL, SCRAM-SHA-512, a
  random password) for ``admin`` and every principal of the agency registry.

Run again on the same folder it keeps the passwords and rewrites the bootstrap port(s).
``format-argfile DATA_DIR`` writes ``security/format.args``, a Java argument file naming Kafka's
storage tool and its ``format --add-scram`` arguments that create those users, and prints its path:
``java -cp … @<file> --config …`` keeps the passwords off the command line, where any local user
could read them (``ps``, ``/proc/<pid>/cmdline``). Every secret file is readable by its owner only.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from connectors.kafka_client import KafkaClient
from contracts.agencies import REGISTRY

ADMIN = "admin"
MECHANISM = "SCRAM-SHA-512"
VALID_DAYS = 365


def principals() -> list[str]:
    """The broker's own admin, then every principal of the agency registry."""
    parties = [REGISTRY.hub.principal, REGISTRY.operator.principal]
    return [ADMIN, *parties, *(a.principal for a in REGISTRY.agencies.values() if a.principal)]


def write_secret(path: Path, data: bytes) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.chmod(path, 0o600)  # an existing file keeps its old mode through os.open


def _certificates(security: Path) -> None:
    """A CA and the broker's certificate signed by it; the CA key is dropped."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lienthong local CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),  # cert and CRL signing
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    usage = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]  # client: to its own controller
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ADMIN)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage(usage), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (security / "ca.pem").write_bytes(ca.public_bytes(pem))
    private = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    write_secret(security / "broker.pem", private + cert.public_bytes(pem) + ca.public_bytes(pem))


def _jaas(principal: str, password: str) -> str:
    login = "org.apache.kafka.common.security.scram.ScramLoginModule required"
    return f'{login} username="{principal}" password="{password}";'


def bootstrap_servers(port: int | Sequence[int]) -> str:
    """``127.0.0.1:<port>`` for each local broker, comma-separated."""
    ports = [port] if isinstance(port, int) else list(port)
    return ",".join(f"127.0.0.1:{p}" for p in ports)


def client_properties(principal: str, password: str, bootstrap: str, ca: Path, origin: str = "kafka.sh") -> str:
    """A Kafka client properties file for ``principal`` on the brokers ``bootstrap``."""
    return "\n".join(
        [
            f"# {principal} on the lienthong cluster (generated by {origin}; do not share)",
            f"bootstrap.servers={bootstrap}",
            "security.protocol=SASL_SSL",
            f"sasl.mechanism={MECHANISM}",
            f"sasl.jaas.config={_jaas(principal, password)}",
            "ssl.truststore.type=PEM",
            f"ssl.truststore.location={ca}",
            "",
        ]
    )


def _passwords(clients: Path) -> dict[str, str]:
    """The passwords already issued in ``clients`` (none when the folder is new)."""
    issued = {}
    for principal in principals():
        path = clients / f"{principal}.properties"
        if path.exists():
            issued[principal] = KafkaClient.load(path).password or ""
    return issued


def setup(data_dir: Path, port: int | Sequence[int]) -> None:
    security, clients = data_dir / "security", data_dir / "clients"
    security.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not (security / "broker.pem").exists():
        _certificates(security)
    passwords = _passwords(clients)
    for principal in principals():
        password = passwords.get(principal) or secrets.token_urlsafe(24)
        text = client_properties(principal, password, bootstrap_servers(port), security / "ca.pem")
        write_secret(clients / f"{principal}.properties", text.encode())
        if principal == ADMIN:
            # The broker logs in as admin on its own SASL_SSL listener (inter-broker traffic).
            line = f"listener.name.client.{MECHANISM.lower()}.sasl.jaas.config={_jaas(principal, password)}\n"
            write_secret(security / "server.properties", line.encode())


def scram_args(data_dir: Path) -> list[str]:
    """``--add-scram`` arguments for ``kafka-storage format``: every issued principal."""
    args = []
    for principal, password in _passwords(data_dir / "clients").items():
        args += ["--add-scram", f"{MECHANISM}=[name={principal},password={password}]"]
    return args


def format_argfile(data_dir: Path) -> Path:
    """A Java argument file (owner-only) with the storage tool's main class, ``format`` and
    :func:`scram_args`; the caller appends the other options after ``@<file>``."""
    quoted = ['"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"' for arg in scram_args(data_dir)]
    path = data_dir / "security" / "format.args"
    write_secret(path, "\n".join(["kafka.tools.StorageTool", "format", *quoted, ""]).encode())
    return path


def main(argv: list[str]) -> int:
    match argv:
        case ["setup", data_dir, port]:
            setup(Path(data_dir), [int(p) for p in port.split(",")])
        case ["format-argfile", data_dir]:
            print(format_argfile(Path(data_dir)))
        case _:
            print("usage: broker_security setup DATA_DIR PORT[,PORT...] | format-argfile DATA_DIR", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
