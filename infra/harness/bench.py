"""``lienthong bench``: throughput figures on a real local broker.

1. **Bare relay**: an aiokafka consume → produce loop (no Faust, no validation) moving
   ``--messages`` records of ~600 bytes from one topic to another: the ceiling the hub is compared
   against.
2. **Hub, end to end**: ``--dossiers`` birth dossiers filed at once on the justice outbox and run
   through one hub worker and the sandbox agencies (7 steps, REST, SOAP and Kafka agencies each);
   dossiers per second, Kafka records per second through the hub's topics, and the filing-to-final
   latency percentiles.

Figures depend on the machine; docs/benchmarks.md records a run and how to read it.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from connectors.kafka_client import KafkaClient
from contracts.status import DossierStatus
from contracts.topics import Topics
from infra.harness.broker import ClientFiles, LocalBroker
from infra.harness.net import free_port
from infra.harness.worker_process import WorkerProcess
from infra.lag import lag_report
from infra.sandbox.agencies import SandboxAgencies
from infra.sandbox.samples import birth_filing
from infra.topics import provision
from infra.watch import HubWatcher
from streams.settings import ClusterSettings, HubSettings


def _out(line: str) -> None:
    print(line, flush=True)


async def bare_relay(client: KafkaClient, messages: int, partitions: int = 4) -> float:
    """Records per second through a plain aiokafka consume → produce loop (over the same TLS and
    SASL as the hub; as admin, who needs no ACL on these ad-hoc topics)."""
    suffix = f"{os.getpid()}-{int(time.time())}"
    source, target = f"bench.relay.in.{suffix}", f"bench.relay.out.{suffix}"
    admin = AIOKafkaAdminClient(**client.aiokafka())
    await admin.start()
    await admin.create_topics([NewTopic(source, partitions, 1), NewTopic(target, partitions, 1)])
    await admin.close()
    producer = AIOKafkaProducer(**client.aiokafka(), linger_ms=5, acks=1)
    await producer.start()
    payload = b'{"specversion":"1.0","type":"bench","data":{"x":"' + b"v" * 540 + b'"}}'
    for i in range(messages):
        await producer.send(source, key=str(i % 997).encode(), value=payload)
    await producer.flush()
    consumer = AIOKafkaConsumer(
        source,
        **client.aiokafka(),
        group_id=f"bench-{suffix}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_poll_records=500,
    )
    await consumer.start()
    relayed, started = 0, time.monotonic()
    while relayed < messages:
        batch = await consumer.getmany(timeout_ms=1000)
        for records in batch.values():
            for record in records:
                await producer.send(target, key=record.key, value=record.value)
            relayed += len(records)
        if batch:
            await producer.flush()
            await consumer.commit()
    elapsed = time.monotonic() - started
    await consumer.stop()
    await producer.stop()
    return messages / elapsed


async def hub_end_to_end(clients: ClientFiles, dossiers: int, run_dir: Path) -> dict[str, float]:
    """Birth dossiers through one worker and the sandbox agencies."""
    topics = Topics(namespace=f"bench-{os.getpid()}-{int(time.time())}.")
    connection = {"kafka_client_properties": clients.file("hub"), "bootstrap_servers": clients.bootstrap_servers}
    hub_group = ClusterSettings.from_env(**connection, topic_namespace=topics.namespace).group_id
    await provision(clients.client("admin"), topics, hub_group)
    sandbox = SandboxAgencies(clients, topics, citizens=max(300, dossiers * 3))
    await sandbox.start()
    operator = clients.client("operator")
    watcher = HubWatcher(operator, topics)
    await watcher.start()
    settings = HubSettings.from_env(
        **connection,
        topic_namespace=topics.namespace,
        **sandbox.hub_settings(),
        callback_port=free_port(),
        log_level="warning",
        data_dir=run_dir / "hub",
    )
    worker = WorkerProcess(settings, run_dir / "worker.log")
    worker.start()
    try:
        # Warm up: one dossier, so worker start-up is not counted.
        rng = random.Random(1)
        warm = birth_filing(sandbox.population, rng, 1)
        await sandbox.justice.file_birth(warm)
        await watcher.wait_for(lambda: watcher.final_status(warm["ma_ho_so"]) is not None, 120, "the warm-up dossier")
        filings = [birth_filing(sandbox.population, rng, 100 + i) for i in range(dossiers)]
        filed_at: dict[str, float] = {}
        started = time.monotonic()
        for filing in filings:
            await sandbox.justice.file_birth(filing)
            filed_at[filing["ma_ho_so"]] = time.time()
        ids = list(filed_at)
        await watcher.wait_for(lambda: all(watcher.final_status(d) for d in ids), 600, f"{dossiers} dossiers")
        elapsed = time.monotonic() - started
        finals = {d: t for d in ids if (t := watcher.final_status(d)) is not None}
        latencies = sorted(t.at.timestamp() - filed_at[d] for d, t in finals.items())
        completed = sum(t.status is DossierStatus.RESULT_RETURNED for t in finals.values())
        records = sum(written for _, written, _ in await lag_report(operator, settings.group_id, topics))
        return {
            "dossiers_per_s": dossiers / elapsed,
            "elapsed_s": elapsed,
            "completed": completed,
            "records_per_s": records / elapsed,
            "p50_s": statistics.median(latencies),
            "p95_s": latencies[int(0.95 * (len(latencies) - 1))],
        }
    finally:
        worker.stop()
        await watcher.stop()
        await sandbox.stop()


def run(messages: int, dossiers: int) -> int:
    with tempfile.TemporaryDirectory(prefix="lienthong-bench-") as tmp:
        run_dir = Path(tmp)
        broker = None
        clients = ClientFiles.from_env()
        if clients is None:
            broker = LocalBroker(free_port(), run_dir / "kafka", free_port()).start()
            clients = broker.clients
        try:
            _out(f"• bare aiokafka relay, {messages} records of ~600 bytes, 4 partitions, SASL_SSL")
            relay = asyncio.run(bare_relay(clients.client("admin"), messages))
            _out(f"  {relay:,.0f} records/s")
            _out(f"• hub end to end, {dossiers} birth dossiers (7 steps each) filed at once")
            hub = asyncio.run(hub_end_to_end(clients, dossiers, run_dir))
            _out(
                f"  {hub['completed']:.0f}/{dossiers} completed in {hub['elapsed_s']:.1f} s: "
                f"{hub['dossiers_per_s']:.1f} dossiers/s, {hub['records_per_s']:,.0f} records/s through the "
                f"hub's topics ({hub['records_per_s'] / relay:.1%} of the bare relay); "
                f"filing to final p50 {hub['p50_s']:.1f} s, p95 {hub['p95_s']:.1f} s"
            )
            return 0 if hub["completed"] == dossiers else 1
        finally:
            if broker is not None:
                broker.stop()
