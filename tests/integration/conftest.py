"""Integration fixtures: a real broker, the sandbox agencies and hub workers.

Set KAFKA_CLIENTS_DIR (a folder of ``<principal>.properties`` client files, and optionally
KAFKA_BOOTSTRAP_SERVERS) to use an existing cluster; otherwise a broker is started on free ports in a
temporary folder (SASL_SSL, ACLs, a client file per principal) and stopped afterwards. Every hub
gets a topic namespace of its own, so runs (and the hubs of one run) never see each other's messages.

``hub`` is shared by the session and its clock never moves; tests that move time take
``clock_hub``, a second worker with its own topics, sandbox agencies and clock. Each test draws its
sample data from its own ``rng`` and sets fault switches through ``switch``, which undoes them after
the test, pass or fail.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka.structs import ConsumerRecord
from prometheus_client.parser import text_string_to_metric_families
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from connectors.kafka_client import KafkaClient
from contracts.envelope import Envelope
from contracts.events import STEP_COMMAND
from contracts.status import DossierStatus
from contracts.topics import Topics
from infra.harness.broker import ClientFiles, LocalBroker
from infra.harness.net import free_port
from infra.harness.worker_process import WorkerProcess
from infra.sandbox.agencies import SandboxAgencies
from infra.topics import partitions_of, provision, reader
from infra.watch import HubWatcher
from streams.settings import ClusterSettings, HubSettings

OUTCOME_TIMEOUT_S = 60
FIXTURE_PROCEDURES = Path(__file__).parent / "procedures"
CLOCK_HUB_STEP_TIMEOUT_S = 30
"""``clock_hub`` re-sends an unanswered step only after this long, unless the step sets its own
``reply_timeout_s``: longer than any wait in its tests, so a quicker re-send is the step's own."""
SCREENSHOTS = Path(__file__).resolve().parents[2] / ".lienthong" / "screenshots"
CLOCK_REREAD_S = 1.0  # streams.clock.Clock caches the offset file for 0.5 s


@pytest.fixture(scope="session")
def kafka(tmp_path_factory) -> ClientFiles:
    """The client properties of every principal on the cluster the tests run on."""
    existing = ClientFiles.from_env()
    if existing:
        yield existing
        return
    broker = LocalBroker(free_port(), tmp_path_factory.mktemp("kafka"), controller_port=free_port()).start()
    try:
        yield broker.clients
    finally:
        broker.stop()


async def read_topic(client: KafkaClient, topic: str, key: str) -> list[ConsumerRecord]:
    """Every record on ``topic`` keyed ``key``, from the start to the end the topic has now."""
    consumer = reader(client)
    await consumer.start()
    try:
        tps = await partitions_of(consumer, topic)
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        records = []
        for tp in tps:
            while await consumer.position(tp) < end[tp]:
                batch = await consumer.getmany(tp, timeout_ms=500)
                records += [r for r in batch.get(tp, []) if r.key == key.encode()]
        return records
    finally:
        await consumer.stop()


@dataclass
class Hub:
    operator: KafkaClient  # reads every topic of the hub's namespace
    topics: Topics
    sandbox: SandboxAgencies
    watcher: HubWatcher
    worker: WorkerProcess
    clock_offset_file: Path | None = None  # None: this hub's clock cannot be moved
    next_seq: int = 1

    async def move_clock(self, seconds: float) -> None:
        """Set the hub worker's clock ``seconds`` ahead of real time (deadlines and reply timeouts are
        judged against it); returns once the worker has read it (it re-reads at most every 0.5 s)."""
        assert self.clock_offset_file is not None, "this hub's clock is shared by the session: use clock_hub"
        self.clock_offset_file.write_text(str(seconds))
        await asyncio.sleep(CLOCK_REREAD_S)

    async def metrics(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        """The worker's Prometheus samples now, by (name, labels)."""
        settings = self.worker.settings
        async with httpx.AsyncClient() as http:
            response = await http.get(f"http://{settings.metrics_host}:{settings.metrics_port}/metrics")
        response.raise_for_status()
        return {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples
        }

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
                lambda: self.watcher.final_status(dossier_id) is not None, timeout_s, f"{dossier_id} to finish"
            )
            await wait_until(final, timeout_s, f"the portal to show {dossier_id} finished")
        except TimeoutError:
            pytest.fail(f"{dossier_id} did not finish; worker log tail:\n{self.worker.tail()}")
        return portal.current(dossier_id).status

    async def commands_sent(self, agency: str, dossier_id: str) -> dict[str, list[Envelope]]:
        """The step commands the hub wrote to ``agency``'s inbox about the dossier: step -> every send,
        in order (read from the topic itself, not from what the agency chose to perform)."""
        sends: dict[str, list[Envelope]] = defaultdict(list)
        for record in await read_topic(self.operator, self.topics.inbox(agency), dossier_id):
            envelope = Envelope.from_bytes(record.value)
            if envelope.type == STEP_COMMAND:
                sends[envelope.data["step"]].append(envelope)
        return dict(sends)

    async def assert_each_step_performed_once(self, dossier_id: str, expected: dict[str, dict[str, int]]) -> None:
        """For each agency -> {step: effects}: the step's command was sent at least once, every send
        carried the same idempotency key, and the agency performed it ``effects`` times under that key."""
        for agency, steps in expected.items():
            sent = await self.commands_sent(agency, dossier_id)
            effects = getattr(self.sandbox, agency).effects.for_dossier(dossier_id)
            for step, count in steps.items():
                keys = [e.idempotencykey for e in sent.get(step, [])]
                assert keys, f"{agency} never received {step} for {dossier_id}"
                assert len(set(keys)) == 1, f"{step} was sent under different keys: {keys}"
                performed = [e for e in effects if e.key == keys[0]]
                assert len(performed) == count, (
                    f"{agency} performed {step} {len(performed)} times for {len(keys)} sends"
                )


async def wait_until(condition, timeout_s: float, what: str) -> None:
    """Poll ``condition`` (state held by another task in this loop) until it holds or the deadline."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        await asyncio.sleep(0.05)


@asynccontextmanager
async def running_hub(kafka: ClientFiles, run_dir: Path, name: str, **overrides: Any) -> AsyncIterator[Hub]:
    """Topics in a namespace of their own with their ACLs, the sandbox agencies on them (each as its
    own principal), a watcher (as operator) and one hub worker (as hub)."""
    topics = Topics(namespace=f"it-{name}-{os.getpid()}-{int(time.time())}.")
    await provision(kafka.client("admin"), topics, ClusterSettings(topic_namespace=topics.namespace).group_id)
    sandbox = SandboxAgencies(kafka, topics, effects_dir=run_dir / "effects")
    await sandbox.start()
    operator = kafka.client("operator")
    watcher = HubWatcher(operator, topics)
    await watcher.start()
    settings = (
        dict(
            kafka_client_properties=kafka.file("hub"),
            bootstrap_servers=kafka.bootstrap_servers,
            topic_namespace=topics.namespace,
            **sandbox.hub_settings(),
            callback_port=free_port(),
            metrics_port=free_port(),
            data_dir=run_dir / "worker",
            agency_backoff_s=0.05,
            step_timeout_s=2,
            retry_first_delay_s=0.5,
            retry_max_delay_s=3,
            breaker_reset_s=2,
            session_timeout_s=6,
            procedures_dir=FIXTURE_PROCEDURES,
            sweep_interval_s=0.5,
            health_window_s=2,
            audit_checkpoint_every=5,
        )
        | overrides
    )
    worker = WorkerProcess(HubSettings(**settings), run_dir / "worker.log")
    worker.start()
    try:
        yield Hub(operator, topics, sandbox, watcher, worker, settings.get("clock_offset_file"))
    finally:
        code = worker.stop()
        await watcher.stop()
        await sandbox.stop()
        assert code == 0, f"the {name} hub worker exited with {code}:\n{worker.tail()}"


@pytest.fixture(scope="session")
async def hub(kafka, tmp_path_factory) -> Hub:
    """The hub most tests share. Its clock never moves: every dossier of the session is in flight on it."""
    async with running_hub(kafka, tmp_path_factory.mktemp("hub"), "shared") as shared:
        yield shared


@pytest.fixture(scope="module")
async def clock_hub(kafka, tmp_path_factory) -> Hub:
    """A hub whose clock a test may move, with its own topics and sandbox agencies; unanswered steps
    are sent again after ``CLOCK_HUB_STEP_TIMEOUT_S`` unless their procedure says otherwise."""
    run_dir = tmp_path_factory.mktemp("clock-hub")
    async with running_hub(
        kafka,
        run_dir,
        "clock",
        clock_offset_file=run_dir / "clock-offset",
        step_timeout_s=CLOCK_HUB_STEP_TIMEOUT_S,
    ) as own:
        try:
            yield own
        finally:
            await own.move_clock(0)


@pytest.fixture
def rng(request) -> random.Random:
    """Sample data for this test alone, the same whichever tests run with it (seeded by the node id)."""
    return random.Random(request.node.nodeid)


@pytest.fixture
def switch(monkeypatch) -> Callable[[object, str, Any], None]:
    """Set a sandbox fault switch for this test, e.g. ``switch(hub.sandbox.tax, "refuse_confirmations", 1)``;
    the old value is back after the test, pass or fail. A misspelt switch is an error."""

    def set_switch(target: object, name: str, value: Any) -> None:
        monkeypatch.setattr(target, name, value, raising=True)

    return set_switch


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    """Debian's headless chromium, driven through its chromedriver."""
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.fail("chromium and chromium-driver are needed (make browser installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1600"):
        options.add_argument(flag)
    chrome = webdriver.Chrome(service=Service(driver), options=options)
    try:
        yield chrome
    finally:
        chrome.quit()


def cells(browser: webdriver.Chrome, table: str) -> list[list[str]]:
    """The text of each cell of the page's table ``table``, row by row, without the header. Read in
    one script: the page rewrites its tables on every update, so elements found one call earlier
    may be gone (stale) by the next."""
    script = (
        "return Array.from(document.querySelectorAll(arguments[0] + ' tr')).slice(1)"
        ".map(row => Array.from(row.querySelectorAll('td')).map(cell => cell.innerText.trim()));"
    )
    return browser.execute_script(script, f"#{table}")


def screenshot(browser: webdriver.Chrome, name: str) -> None:
    """Save the page as .lienthong/screenshots/``name`` and say where, for the test output."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(SCREENSHOTS / name))
    print(f"dashboard screenshot: {SCREENSHOTS / name}")
