"""Integration fixtures: a real broker, the sandbox agencies and one hub worker, per test session.

Set KAFKA_BOOTSTRAP_SERVERS to use an existing cluster; otherwise a broker is started on free
ports in a temporary folder and stopped afterwards. Every topic gets a namespace unique to the
session, so runs never see each other's messages.
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from contracts.status import DossierStatus
from contracts.topics import Topics
from infra.broker import LocalBroker
from infra.net import free_port
from infra.sandbox.agencies import SandboxAgencies
from infra.topics import provision
from infra.watch import HubWatcher
from infra.worker_process import WorkerProcess
from streams.settings import HubSettings

OUTCOME_TIMEOUT_S = 60
FIXTURE_PROCEDURES = Path(__file__).parent / "procedures"



@pytest.fixture(scope="session")
def kafka(tmp_path_factory) -> str:
    existing = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if existing:
        yield existing
        return
    broker = LocalBroker(free_port(), tmp_path_factory.mktemp("kafka"), controller_port=free_port()).start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@dataclass
class Hub:
    sandbox: SandboxAgencies
    watcher: HubWatcher
    worker: WorkerProcess
    rng: random.Random
    clock_offset_file: Path
    topics: Topics
    next_seq: int = 1

    def move_clock(self, seconds: float) -> None:
        """Move the hub worker's clock (deadlines are judged against it)."""
        self.clock_offset_file.write_text(str(seconds))

    def seq(self) -> int:
        self.next_seq += 1
        return self.next_seq

    async def wait_final(self, dossier_id: str, timeout_s: float = OUTCOME_TIMEOUT_S) -> DossierStatus:
        """Wait until the portal shows a final status for the dossier; return it."""
        portal = self.sandbox.portal

        def final() -> bool:
            current = portal.current(dossier_id)
            return current is not None and current.status.is_final

        try:
            await self.watcher.wait_for(
                lambda: self.watcher.final_status(dossier_id) is not None, timeout_s, f"{dossier_id} to finish")
            await wait_until(final, timeout_s, f"the portal to show {dossier_id} finished")
        except TimeoutError:
            pytest.fail(f"{dossier_id} did not finish; worker log tail:\n{self.worker.tail()}")
        return portal.current(dossier_id).status


async def wait_until(condition, timeout_s: float, what: str) -> None:
    """Poll ``condition`` (state held by another task in this loop) until it holds or the deadline."""
    import asyncio

    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.fixture(scope="session")
async def hub(kafka, tmp_path_factory) -> Hub:
    topics = Topics(namespace=f"it-{os.getpid()}-{int(time.time())}.")
    await provision(kafka, topics.specs())
    run_dir: Path = tmp_path_factory.mktemp("hub")
    sandbox = SandboxAgencies(kafka, topics, effects_dir=run_dir / "effects")
    await sandbox.start()
    watcher = HubWatcher(kafka, topics)
    await watcher.start()
    settings = HubSettings(
        bootstrap_servers=kafka, topic_namespace=topics.namespace, **sandbox.hub_settings(),
        callback_port=free_port(), data_dir=run_dir / "worker", agency_backoff_s=0.05, step_timeout_s=2,
        step_attempts=10, session_timeout_s=6, procedures_dir=FIXTURE_PROCEDURES,
        clock_offset_file=run_dir / "clock-offset", sweep_interval_s=0.5)
    worker = WorkerProcess(settings, run_dir / "worker.log")
    worker.start()
    try:
        yield Hub(sandbox, watcher, worker, random.Random(7), run_dir / "clock-offset", topics)
    finally:
        code = worker.stop()
        await watcher.stop()
        await sandbox.stop()
        assert code == 0, f"the hub worker exited with {code}:\n{worker.tail()}"
