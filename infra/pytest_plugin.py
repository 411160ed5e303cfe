"""lienthong's pytest plugin: a real local hub to test an agency's integration against.

Installed with the package's ``testing`` extra and loaded by pytest through the ``pytest11``
entry point, so a test only names the fixtures:

* ``lienthong_kafka`` (session): the client files of every principal on a real broker with
  security on (SASL_SSL, ACLs). With ``KAFKA_CLIENTS_DIR`` set (a folder of
  ``<principal>.properties``, and optionally ``KAFKA_BOOTSTRAP_SERVERS``) the tests use that
  cluster; otherwise one broker is started on free ports in a temporary folder and stopped after
  the session (it needs Java 17 and the Kafka jars: ``make jars`` in a source checkout, Maven
  otherwise).
* ``lienthong_agency`` (module): the code of the agency under test (``None`` by default: every
  sandbox agency runs). Override it, module-scoped, in the test module or a ``conftest.py``.
* ``lienthong_registry`` and ``lienthong_procedures`` (module): a deployment's registry file
  adding agencies to the shipped ones, and procedure files declaring their actions; each added
  Kafka-native agency is onboarded with ``lienthong agency add`` before the hub starts.
* ``lienthong_agency_endpoint`` (module): for a REST or SOAP agency under test (population,
  insurance, payment), the base URL or SOAP address of the team's own server, which the hub's
  bridge calls; ``lienthong_payment_secret`` (module) is the secret a payment gateway under test
  signs its callbacks with.
* ``lienthong_hub`` (module): topics of their own, a hub worker, and the sandbox agencies except
  the one under test; its ``agency`` holds that agency's credentials, signing key and topics
  (:class:`AgencyUnderTest`), or the endpoint the hub calls (:class:`BridgedAgencyUnderTest`).

The helpers on :class:`Hub` file dossiers, read topics as any principal would and wait for a
dossier's final status. docs/agencies.md has a complete example test.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import pytest_asyncio

from contracts.agencies import AGENCIES, Agency, load_registry
from contracts.envelope import Envelope
from contracts.events import STEP_COMMAND
from contracts.record_signing import Signer, TrustStore
from contracts.topics import Topics

if TYPE_CHECKING:  # the hub's own modules load with the fixtures, not the plugin: pytest imports
    # plugins before coverage starts, and a module imported then would count as not covered
    from aiokafka.structs import ConsumerRecord

    from connectors.kafka_client import KafkaClient
    from contracts.status import DossierStatus
    from infra.harness.broker import ClientFiles
    from infra.harness.worker_process import WorkerProcess
    from infra.sandbox.agencies import SandboxAgencies
    from infra.watch import HubWatcher

OUTCOME_TIMEOUT_S = 60
CLOCK_REREAD_S = 1.0  # streams.clock.Clock caches the offset file for 0.5 s


@pytest.fixture(scope="session")
def lienthong_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClientFiles]:
    """The client properties of every principal on the cluster the tests run on."""
    from infra.harness.broker import ClientFiles, LocalBroker
    from infra.harness.net import free_port

    existing = ClientFiles.from_env()
    if existing:
        yield existing
        return
    broker = LocalBroker(free_port(), tmp_path_factory.mktemp("kafka"), controller_port=free_port()).start()
    try:
        yield broker.clients
    finally:
        broker.stop()


@pytest.fixture(scope="module")
def lienthong_agency() -> str | None:
    """The agency under test: the sandbox does not run it (override this module-scoped fixture to
    name it)."""
    return None


@pytest.fixture(scope="module")
def lienthong_registry() -> Path | None:
    """The deployment's registry file when it adds agencies to the shipped ones (``extends_shipped``):
    the hub runs with it, and each added Kafka-native agency is onboarded as ``lienthong agency add``
    does it (override this module-scoped fixture to give it)."""
    return None


@pytest.fixture(scope="module")
def lienthong_procedures() -> Path | None:
    """A folder of procedure files the hub loads besides the shipped ones (they may declare actions
    for the registry's added agencies); override this module-scoped fixture to give it."""
    return None


@pytest.fixture(scope="module")
def lienthong_payment_secret() -> str:
    """The secret the payment gateway signs its callbacks with, fresh per module: a payment gateway
    under test signs with it, and the hub verifies with it."""
    return secrets.token_hex(16)


@pytest.fixture(scope="module")
def lienthong_agency_endpoint() -> str | None:
    """Where the hub's bridge reaches the agency under test when it is a REST or SOAP agency: its
    REST base URL or its SOAP address (override this module-scoped fixture to give it)."""
    return None


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def lienthong_hub(
    lienthong_kafka: ClientFiles,
    lienthong_agency: str | None,
    lienthong_agency_endpoint: str | None,
    lienthong_registry: Path | None,
    lienthong_procedures: Path | None,
    lienthong_payment_secret: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Hub]:
    """A hub worker and the sandbox agencies, except the agency under test, on topics of their own."""
    from infra.sandbox.agencies import BRIDGE_URL_SETTINGS

    run_dir = tmp_path_factory.mktemp("lienthong-hub")
    settings: dict[str, Any] = {"payment_secret": lienthong_payment_secret}
    if lienthong_agency in BRIDGE_URL_SETTINGS and lienthong_agency_endpoint:
        settings[BRIDGE_URL_SETTINGS[lienthong_agency]] = lienthong_agency_endpoint
    if lienthong_registry is not None:
        settings["registry_file"] = lienthong_registry
    if lienthong_procedures is not None:
        settings["procedures_dir"] = lienthong_procedures
    async with running_hub(lienthong_kafka, run_dir, "plugin", without=lienthong_agency, **settings) as hub:
        yield hub


@dataclass(frozen=True)
class AgencyUnderTest:
    """What the hub's operators hand an agency's team: its principal's client file, its signing
    key and the topics it reads and writes."""

    code: str
    client: KafkaClient  # connects as the agency's own principal
    client_properties: Path
    signer: Signer  # signs what the agency writes on its outbox with one of its registered keys
    trust: TrustStore  # verifies that what is on its inbox was signed by the hub (REGISTRY.hub.keys)
    inbox: str
    outbox: str
    group: str  # a consumer group its principal may join (any name under agency.<code>.)
    handover: Path | None = None  # an onboarded agency: the folder `lienthong agency add` wrote for its team


@dataclass(frozen=True)
class BridgedAgencyUnderTest:
    """A REST or SOAP agency under test: the hub's bridge calls its ``endpoint`` and plays its part
    on Kafka. The payment gateway answers on the hub's ``callback_url``, signed with the module's
    ``lienthong_payment_secret``."""

    code: str
    endpoint: str
    callback_url: str | None = None


async def read_topic(client: KafkaClient, topic: str, key: str) -> list[ConsumerRecord]:
    """Every record on ``topic`` keyed ``key``, from the start to the end the topic has now (in
    order: a key's records are on one partition)."""
    from infra.topics import read_to_end

    return [record async for record in read_to_end(client, [topic]) if record.key == key.encode()]


async def records_arriving(
    client: KafkaClient, topic: str, key: str, timeout_s: float, what: str
) -> list[ConsumerRecord]:
    """:func:`read_topic`, read again until ``topic`` holds a record keyed ``key`` or the deadline."""
    deadline = time.monotonic() + timeout_s
    while not (records := await read_topic(client, topic, key)):
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        await asyncio.sleep(0.5)
    return records


async def wait_until(condition: Any, timeout_s: float, what: str) -> None:
    """Poll ``condition`` (state held by another task in this loop) until it holds or the deadline."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        await asyncio.sleep(0.05)


@dataclass
class Hub:
    """A running hub worker, the sandbox agencies with it, and what a test reads them with."""

    operator: KafkaClient  # reads every topic of the hub's namespace
    topics: Topics
    sandbox: SandboxAgencies
    watcher: HubWatcher
    worker: WorkerProcess
    agency: AgencyUnderTest | BridgedAgencyUnderTest | None = None  # the agency the sandbox does not run
    clock_offset_file: Path | None = None  # None: this hub's clock cannot be moved
    next_seq: int = 1

    async def file(self, procedure: str, dossier_id: str, filing: dict[str, Any]) -> Envelope:
        """File a dossier in ``procedure`` through the portal, as a citizen filing online would."""
        if self.agency is not None and self.agency.code == "portal":
            raise RuntimeError("the portal is the agency under test: file through it")
        return await self.sandbox.portal.file(procedure, dossier_id, filing)

    async def move_clock(self, seconds: float) -> None:
        """Set the hub worker's clock ``seconds`` ahead of real time (deadlines and reply timeouts are
        judged against it); returns once the worker has read it (it re-reads at most every 0.5 s)."""
        assert self.clock_offset_file is not None, "this hub's clock cannot be moved: start it with clock_offset_file"
        self.clock_offset_file.write_text(str(seconds))
        await asyncio.sleep(CLOCK_REREAD_S)

    async def metrics(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        """The worker's Prometheus samples now, by (name, labels)."""
        from prometheus_client.parser import text_string_to_metric_families

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
        """Wait until the dossier reaches a final status (and, when the sandbox runs the portal,
        until the portal shows it); return it."""
        portal_runs = self.agency is None or self.agency.code != "portal"

        def shown() -> bool:
            current = self.sandbox.portal.current(dossier_id)
            return current is not None and current.status.is_final

        try:
            await self.watcher.wait_for(
                lambda: self.watcher.final_status(dossier_id) is not None, timeout_s, f"{dossier_id} to finish"
            )
            if portal_runs:
                await wait_until(shown, timeout_s, f"the portal to show {dossier_id} finished")
        except TimeoutError:
            pytest.fail(f"{dossier_id} did not finish; worker log tail:\n{self.worker.tail()}")
        final = self.watcher.final_status(dossier_id)
        assert final is not None and final.status is not None
        return final.status

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


HUB_TEST_SETTINGS: dict[str, Any] = {
    "agency_backoff_s": 0.05,
    "step_timeout_s": 2,
    "retry_first_delay_s": 0.5,
    "retry_max_delay_s": 3,
    "breaker_reset_s": 2,
    "session_timeout_s": 6,
    "sweep_interval_s": 0.5,
    "health_window_s": 2,
    "audit_checkpoint_every": 5,
}
"""Worker settings for tests: retries, re-sends, sweeps and health windows in seconds, not minutes."""


@asynccontextmanager
async def running_hub(
    kafka: ClientFiles, run_dir: Path, name: str, *, without: str | None = None, **overrides: Any
) -> AsyncIterator[Hub]:
    """Topics in a namespace of their own with their ACLs, the sandbox agencies on them (each as its
    own principal) except ``without``, a watcher (as operator) and one hub worker (as hub) with
    ``overrides`` of :data:`HUB_TEST_SETTINGS` and any other :class:`HubSettings` field."""
    from infra.harness.net import free_port
    from infra.harness.worker_process import WorkerProcess
    from infra.sandbox.agencies import BRIDGE_URL_SETTINGS, SandboxAgencies
    from infra.topics import provision
    from infra.watch import HubWatcher
    from streams.settings import ClusterSettings, HubSettings

    if (setting := BRIDGE_URL_SETTINGS.get(without or "")) and setting not in overrides:
        raise ValueError(f"{without} is reached through the hub's bridge: give its endpoint ({setting})")
    topics = Topics(namespace=f"it-{name}-{os.getpid()}-{int(time.time())}.")
    await provision(kafka.client("admin"), topics, ClusterSettings(topic_namespace=topics.namespace).group_id)
    added = _added_agencies(overrides.get("registry_file"))
    if without is not None and without not in AGENCIES and without not in added:
        raise ValueError(f"no agency {without!r} in the registry")
    sandbox_without = without if without in AGENCIES else None  # an added agency has no sandbox double
    secret = overrides.get("payment_secret")
    sandbox = SandboxAgencies(
        kafka,
        topics,
        effects_dir=run_dir / "effects",
        without=sandbox_without,
        payment_secret=secret.encode() if secret else None,
    )
    for joining in added:
        await onboard(
            kafka, topics, overrides["registry_file"], joining, sandbox.keyring, run_dir / "handover" / joining
        )
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
        )
        | HUB_TEST_SETTINGS
        | overrides
    )
    worker = WorkerProcess(HubSettings(**settings), run_dir / "worker.log")
    worker.start()
    try:
        yield Hub(
            operator,
            topics,
            sandbox,
            watcher,
            worker,
            _under_test(kafka, sandbox, topics, without, settings, run_dir / "handover"),
            settings.get("clock_offset_file"),
        )
    finally:
        code = worker.stop()
        await watcher.stop()
        await sandbox.stop()
        assert code == 0, f"the {name} hub worker exited with {code}:\n{worker.tail()}"


def _added_agencies(registry_file: Path | None) -> dict[str, Agency]:
    """The agencies a deployment's registry file adds to the shipped registry."""
    if registry_file is None:
        return {}
    return {code: a for code, a in load_registry(Path(registry_file)).agencies.items() if code not in AGENCIES}


async def onboard(
    kafka: ClientFiles, topics: Topics, registry_file: Path, code: str, keyring: Path, handover: Path
) -> None:
    """``lienthong agency add <code>`` against the running cluster, as its operators run it."""
    env = os.environ | {"LIENTHONG_REGISTRY_FILE": str(registry_file), "LIENTHONG_TOPIC_NAMESPACE": topics.namespace}
    args = ["agency", "add", code, "--handover", str(handover), "--keyring", str(keyring)]
    args += ["--client-properties", str(kafka.file("admin"))]
    if kafka.bootstrap_servers:
        args += ["--bootstrap", kafka.bootstrap_servers]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "infra.cli",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(), 120)
    if process.returncode != 0:
        raise RuntimeError(f"lienthong agency add {code} exited with {process.returncode}:\n{err.decode()}")


def _under_test(
    kafka: ClientFiles,
    sandbox: SandboxAgencies,
    topics: Topics,
    code: str | None,
    settings: dict[str, Any],
    handovers: Path,
) -> AgencyUnderTest | BridgedAgencyUnderTest | None:
    from connectors.kafka_client import KafkaClient
    from infra.sandbox.agencies import BRIDGE_URL_SETTINGS

    if code is None:
        return None
    if code in BRIDGE_URL_SETTINGS:
        callback = None
        if code == "payment":
            callback = settings.get("callback_url") or f"http://127.0.0.1:{settings['callback_port']}/callbacks/payment"
        return BridgedAgencyUnderTest(code, str(settings[BRIDGE_URL_SETTINGS[code]]), callback)
    if (added := _added_agencies(settings.get("registry_file")).get(code)) is not None:
        assert added.principal is not None
        handover = handovers / code
        properties = handover / f"{added.principal}.properties"
        return AgencyUnderTest(
            code=code,
            client=KafkaClient.load(properties, kafka.bootstrap_servers),
            client_properties=properties,
            signer=Signer.load(handover, added.keys[0]),
            trust=TrustStore.load(handover),
            inbox=topics.inbox(code),
            outbox=topics.outbox(code),
            group=topics.agency_group(code, "system"),
            handover=handover,
        )
    agency = AGENCIES[code]
    assert agency.principal is not None and agency.keys, f"{code} is not a Kafka-native agency"
    return AgencyUnderTest(
        code=code,
        client=kafka.client(agency.principal),
        client_properties=kafka.file(agency.principal),
        signer=Signer.load(sandbox.keyring, agency.keys[0]),
        trust=TrustStore.load(sandbox.keyring),
        inbox=topics.inbox(code),
        outbox=topics.outbox(code),
        group=topics.agency_group(code, "system"),
    )
