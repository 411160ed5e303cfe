"""Start and stop the local Apache Kafka broker through ``infra/kafka/kafka.sh``."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

KAFKA_SH = Path(__file__).resolve().parents[1] / "kafka" / "kafka.sh"


class BrokerError(RuntimeError):
    pass


class LocalBroker:
    """A single-node broker on 127.0.0.1:``port`` with its data in ``data_dir``."""

    def __init__(self, port: int = 9092, data_dir: Path | None = None, controller_port: int | None = None) -> None:
        self.port = port
        self.data_dir = data_dir
        self.controller_port = controller_port
        self.started = False  # True when this object started it (False when it reused one)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _run(self, command: str) -> str:
        env = dict(os.environ, KAFKA_PORT=str(self.port))
        if self.data_dir is not None:
            env["KAFKA_DATA_DIR"] = str(self.data_dir)
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
