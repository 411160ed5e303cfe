"""Start and stop the local Apache Kafka broker through ``infra/kafka/kafka.sh``, and find the
client properties files it generates (one per principal)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from connectors.kafka_client import KafkaClient

KAFKA_SH = Path(__file__).resolve().parents[1] / "kafka" / "kafka.sh"
DEFAULT_DATA_DIR = KAFKA_SH.parent / "run"


class BrokerError(RuntimeError):
    pass


@dataclass(frozen=True)
class ClientFiles:
    """A folder of ``<principal>.properties`` Kafka client files, as ``kafka.sh start`` writes them;
    ``bootstrap_servers`` (when given) overrides theirs."""

    folder: Path
    bootstrap_servers: str | None = None

    @classmethod
    def from_env(cls) -> ClientFiles | None:
        """The cluster named by ``KAFKA_CLIENTS_DIR`` (and ``KAFKA_BOOTSTRAP_SERVERS``), if any."""
        folder = os.environ.get("KAFKA_CLIENTS_DIR")
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if bootstrap and not folder:
            raise BrokerError(
                "KAFKA_BOOTSTRAP_SERVERS names a cluster but KAFKA_CLIENTS_DIR (its client properties) is not set"
            )
        return cls(Path(folder), bootstrap) if folder else None

    def file(self, principal: str) -> Path:
        return self.folder / f"{principal}.properties"

    def client(self, principal: str) -> KafkaClient:
        return KafkaClient.load(self.file(principal), self.bootstrap_servers)


class LocalBroker:
    """A single-node broker on 127.0.0.1:``port`` with its data in ``data_dir``."""

    def __init__(self, port: int = 9092, data_dir: Path | None = None, controller_port: int | None = None) -> None:
        self.port = port
        self.data_dir = data_dir or DEFAULT_DATA_DIR
        self.controller_port = controller_port
        self.started = False  # True when this object started it (False when it reused one)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def clients(self) -> ClientFiles:
        """The client properties of every principal (admin, hub, operator, each agency)."""
        return ClientFiles(self.data_dir / "clients")

    def _run(self, command: str) -> str:
        env = dict(os.environ, KAFKA_PORT=str(self.port), KAFKA_DATA_DIR=str(self.data_dir))
        env["KAFKA_PYTHON"] = sys.executable  # generates the credentials (infra/harness/broker_security.py)
        if self.controller_port is not None:
            env["KAFKA_CONTROLLER_PORT"] = str(self.controller_port)
        proc = subprocess.run(["bash", str(KAFKA_SH), command], env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise BrokerError(f"kafka.sh {command} failed:\n{proc.stderr.strip()}")
        return proc.stderr

    def start(self) -> LocalBroker:
        output = self._run("start")
        self.started = "reusing" not in output
        return self

    def stop(self) -> None:
        """Stop the broker if this object started it."""
        if self.started:
            self._run("stop")
            self.started = False
