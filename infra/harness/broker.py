"""Start and stop the local Apache Kafka broker (or the local three-node cluster) through
``infra/kafka/kafka.sh``, and find the client properties files it generates (one per principal)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from connectors.kafka_client import KafkaClient

KAFKA_SH = Path(__file__).resolve().parents[1] / "kafka" / "kafka.sh"
DEFAULT_DATA_DIR = KAFKA_SH.parent / "run"
DEFAULT_CLUSTER_DIR = KAFKA_SH.parent / "run-cluster"
CLUSTER_PORTS = (19092, 19093, 19094)


class BrokerError(RuntimeError):
    pass


def _kafka_sh(env: dict[str, str], *command: str) -> str:
    """Run ``kafka.sh *command`` with ``env`` added to the environment; its messages (stderr)."""
    env = dict(os.environ, **env)
    env["KAFKA_PYTHON"] = sys.executable  # generates the credentials (infra/harness/broker_security.py)
    proc = subprocess.run(["bash", str(KAFKA_SH), *command], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BrokerError(f"kafka.sh {' '.join(command)} failed:\n{proc.stderr.strip()}")
    return proc.stderr


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
        env = {"KAFKA_PORT": str(self.port), "KAFKA_DATA_DIR": str(self.data_dir)}
        if self.controller_port is not None:
            env["KAFKA_CONTROLLER_PORT"] = str(self.controller_port)
        return _kafka_sh(env, command)

    @property
    def pid(self) -> int | None:
        """The broker's process id, while it runs."""
        try:
            return int((self.data_dir / "kafka.pid").read_text())
        except (OSError, ValueError):
            return None

    def start(self) -> LocalBroker:
        output = self._run("start")
        self.started = "reusing" not in output
        return self

    def stop(self) -> None:
        """Stop the broker if this object started it."""
        if self.started:
            self._run("stop")
            self.started = False


class LocalCluster:
    """Three KRaft nodes on 127.0.0.1 (``kafka.sh cluster-start``), each a broker and a controller:
    node ``n`` (1..3) serves clients on ``ports[n - 1]``, the cluster's data is in ``data_dir`` and
    one set of client files (their bootstrap lists all three brokers) is in ``data_dir/clients``.
    Node ``n`` is broker (and controller) id ``n``. The ports are fixed when ``data_dir`` is first formatted."""

    def __init__(
        self,
        ports: Sequence[int] = CLUSTER_PORTS,
        data_dir: Path | None = None,
        controller_ports: Sequence[int] | None = None,
        heap: str | None = None,
    ) -> None:
        if len(ports) != 3 or (controller_ports is not None and len(controller_ports) != 3):
            raise ValueError("a local cluster has three nodes: give three ports (and three controller ports)")
        self.ports = tuple(ports)
        self.data_dir = data_dir or DEFAULT_CLUSTER_DIR
        self.controller_ports = tuple(controller_ports) if controller_ports is not None else None
        self.heap = heap
        self.started = False  # True when this object started a node (False when it reused a running cluster)

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{port}" for port in self.ports)

    @property
    def clients(self) -> ClientFiles:
        """The client properties of every principal (admin, hub, operator, each agency)."""
        return ClientFiles(self.data_dir / "clients")

    def _run(self, *command: str) -> str:
        env = {"KAFKA_CLUSTER_PORTS": ",".join(map(str, self.ports)), "KAFKA_CLUSTER_DIR": str(self.data_dir)}
        if self.controller_ports is not None:
            env["KAFKA_CLUSTER_CONTROLLER_PORTS"] = ",".join(map(str, self.controller_ports))
        if self.heap is not None:
            env["KAFKA_HEAP"] = self.heap
        return _kafka_sh(env, *command)

    def start(self) -> LocalCluster:
        """Start the nodes that are down and wait until all three serve metadata."""
        try:
            output = self._run("cluster-start")
        except BrokerError:
            with contextlib.suppress(BrokerError):
                self._run("cluster-stop")  # leave no half-started cluster behind
            raise
        self.started = "reusing" not in output
        return self

    def stop(self) -> None:
        """Stop all three nodes if this object started the cluster."""
        if self.started:
            self._run("cluster-stop")
            self.started = False

    def kill(self, node: int) -> None:
        """``kill -9`` node ``node`` (1..3), as a crash would."""
        self._run("cluster-kill", self._node(node))

    def restart(self, node: int) -> None:
        """Start node ``node`` again (stopping it first if it runs); returns once it serves metadata."""
        self._run("cluster-restart", self._node(node))

    @staticmethod
    def _node(node: int) -> str:
        if node not in (1, 2, 3):
            raise ValueError(f"no node {node}: the nodes are 1, 2 and 3")
        return str(node)
