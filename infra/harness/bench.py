"""``lienthong bench``: throughput figures on a real local broker.

1. **Bare relay**: Kafka's own ``ProducerPerformance`` and ``ConsumerPerformance`` (the physical
   ceiling), then an aiokafka consume → produce loop (no Faust, no validation) moving
   ``--messages`` records of ~600 bytes from one topic to another: what the hub is compared
   against.
2. **Hub, end to end**: after an untimed warm-up run (the broker's first minutes of the hub's own
   traffic cost it about twice the CPU per record of the runs after them, even once Kafka's tools
   have run), ``--dossiers`` birth dossiers filed at once on the justice outbox and run
   through one hub worker and the sandbox agencies (7 steps, REST, SOAP and Kafka agencies each);
   dossiers per second, Kafka records per second through the hub's topics, and the filing-to-final
   latency percentiles, the CPU per dossier of each process and the records per dossier by topic;
   then the same with two workers in the group, and with one worker at a constant rate of half
   the burst's, timing every hop from its records (:mod:`infra.harness.bench_hops`).
3. **Signing and verification**: the CPU time of :meth:`Signer.headers` and :meth:`TrustStore.verify`
   on one step-command envelope (in this process, no broker), and how many records the hub and
   the agencies signed and verified per dossier in run 2 (counted from its topics' headers).
4. **TLS**: the cipher the broker negotiates, and OpenSSL's CPU cost for that cipher in this
   process. The broker's share of TLS is not isolated: no broker the project starts accepts a
   client without TLS, so docs/benchmarks.md compares 1 and 2 with the figures measured before.
5. **The dashboard at scale**: ``--dashboard-dossiers`` dossiers' worth of monitoring records
   (:mod:`infra.harness.bench_dashboard`): the board's ingest rate and memory, its summary's cost
   and size, and how long :func:`infra.dashboard.follow` takes to catch up from the broker.

Figures depend on the machine; docs/benchmarks.md records a run and how to read it.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import ssl
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID

from connectors.kafka_client import KafkaClient
from contracts.agencies import AGENCIES, REGISTRY, Transport
from contracts.envelope import Envelope
from contracts.events import STEP_COMMAND, StepCommand
from contracts.record_signing import KEYID_HEADER, Signer, TrustStore
from contracts.status import DossierStatus
from contracts.topics import Topics
from infra.harness import bench_dashboard, bench_hops
from infra.harness.broker import ClientFiles, LocalBroker
from infra.harness.net import free_port
from infra.harness.worker_process import WorkerProcess
from infra.lag import lag_report
from infra.sandbox.agencies import SandboxAgencies
from infra.sandbox.samples import birth_filing
from infra.topics import partitions_of, provision, read_to_end
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


KAFKA_LIBS = Path(__file__).resolve().parents[1] / "kafka" / "target" / "libs"
CEILING_RECORDS = 200_000
"""Enough for the tools' own JVM start-up not to dominate (at 20,000 it did: 14,124 against 56,054
records/s produced)."""
OFFSETS_TOPIC = "__consumer_offsets"
WARM_UP_DOSSIERS = 300
"""Dossiers run through the hub before the timed runs, to warm the broker up (not counted)."""


async def kafka_ceiling(clients: ClientFiles, records: int, partitions: int = 4) -> tuple[float, float]:
    """Records per second Kafka's own ProducerPerformance (acks=all) and ConsumerPerformance move
    through a fresh topic of 600-byte records, over the same TLS and SASL, as admin: the physical
    ceiling the relay and the hub are compared against."""
    topic = f"bench.perf.{os.getpid()}-{int(time.time())}"
    admin = AIOKafkaAdminClient(**clients.client("admin").aiokafka())
    await admin.start()
    await admin.create_topics([NewTopic(topic, partitions, 1)])
    await admin.close()
    config = str(clients.file("admin"))
    produced = await _java_tool(
        "ProducerPerformance", "--topic", topic, "--num-records", str(records), "--record-size", "600",
        "--throughput", "-1", "--command-config", config, "--command-property", "acks=all",
    )  # fmt: skip
    # "N records sent, R records/sec (M MB/sec), ..." is its last line
    produce_rate = float(produced.strip().splitlines()[-1].split(" records/sec")[0].split(", ")[-1])
    bootstrap = clients.client("admin").bootstrap_servers
    consumed = await _java_tool(
        "ConsumerPerformance", "--bootstrap-server", bootstrap, "--topic", topic, "--num-records", str(records),
        "--command-config", config, "--group", f"{topic}.perf", "--hide-header",
    )  # fmt: skip
    # start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, ...
    consume_rate = float(consumed.strip().splitlines()[-1].split(",")[5])
    return produce_rate, consume_rate


async def _java_tool(tool: str, *args: str) -> str:
    """Run org.apache.kafka.tools.``tool`` from the broker's jars; its standard output."""
    process = await asyncio.create_subprocess_exec(
        "java", "-Xmx512m", "-cp", f"{KAFKA_LIBS}/*", f"org.apache.kafka.tools.{tool}", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"{tool} exited {process.returncode}: {output.decode(errors='replace')[-2000:]}")
    return output.decode(errors="replace")


def step_command() -> Envelope:
    """A register_birth command as the hub sends it to justice (the largest step of the bundle)."""
    params = {
        "birth_notice_no": "GCS-000123",
        "child_full_name": "Nguyễn Thị Minh Anh",
        "child_date_of_birth": "2026-11-20",
        "child_sex": "female",
        "place_of_birth": "Bệnh viện Phụ sản Trung ương, 43 Tràng Thi, Hoàn Kiếm, Hà Nội",
        "child_ethnicity": "01",
        "child_nationality": "VN",
        "mother": {"full_name": "Trần Thị Lan", "personal_id": "001190012345"},
        "father": {"full_name": "Nguyễn Văn Hùng", "personal_id": "001088054321"},
        "requester": {"full_name": "Trần Thị Lan", "personal_id": "001190012345", "relationship": "mẹ"},
        "commune_code": "00070",
    }
    command = StepCommand(
        step="register_birth",
        action="register_birth",
        agency="justice",
        params=params,
        purpose="Register the birth and issue the e-birth certificate",
    )
    return Envelope(
        source="/hub/orchestrate",
        type=STEP_COMMAND,
        subject="000.00.31.H26-261126-0123",
        correlationid="6f1c2a9e-3b7d-4c55-9d8e-2f4a1b0c7e91",
        causationid="0b9d8e7f-1a2b-4c3d-8e9f-a0b1c2d3e4f5",
        idempotencykey="000.00.31.H26-261126-0123/register_birth",
        data=command.model_dump(mode="json"),
    )


def _cpu_us(operation: Callable[[], object], iterations: int, rounds: int = 5) -> list[float]:
    """CPU microseconds per call of ``operation``, one figure per round, after a warm-up."""
    for _ in range(iterations // 10):
        operation()
    figures = []
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(iterations):
            operation()
        figures.append((time.process_time() - started) / iterations * 1e6)
    return figures


def signing_cost(iterations: int = 2000) -> dict[str, list[float]]:
    """Per-record CPU cost (µs, one figure per round) of signing and verifying a step command,
    and of parsing it (``Envelope.from_bytes``) for scale."""
    key = Ed25519PrivateKey.generate()
    signer, trust = Signer("hub-1", key), TrustStore({"hub-1": key.public_key()})
    value = step_command().to_bytes()
    headers = signer.headers(value)
    window = timedelta(minutes=15)
    return {
        "sign": _cpu_us(lambda: signer.headers(value), iterations),
        "verify": _cpu_us(lambda: trust.verify(value, headers, ["hub-1"], window), iterations),
        "parse": _cpu_us(lambda: Envelope.from_bytes(value), iterations),
    }


def tls_cost(folder: Path, megabytes: int = 256) -> tuple[str, float]:
    """The TLS cipher OpenSSL picks here and its CPU cost (µs) to encrypt and decrypt 600 bytes of
    a stream in 16 KiB writes: both ends of a TLS connection in this process, no broker, no socket."""
    key = ec.generate_private_key(ec.SECP256R1())  # like the local broker's
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench")])
    now = datetime.now(UTC)
    builder = x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
    builder = builder.serial_number(1).not_valid_before(now - timedelta(minutes=1)).not_valid_after(now + timedelta(1))
    pem = folder / "tls-bench.pem"
    pem.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        + builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
    )
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(pem)
    client_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_context.load_verify_locations(pem)
    to_server, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_context.wrap_bio(to_client, to_server, server_hostname="bench")
    server = server_context.wrap_bio(to_server, to_client, server_side=True)
    for _ in range(4):  # the handshake: each end in turn until neither waits for the other
        for end in (client, server):
            try:
                end.do_handshake()
            except ssl.SSLWantReadError:
                pass
    chunk, rounds = b"v" * 16384, megabytes * 64
    started = time.process_time()
    for _ in range(rounds):
        client.write(chunk)
        received = 0
        while received < len(chunk):
            received += len(server.read(len(chunk)))
    elapsed = time.process_time() - started
    cipher = client.cipher()
    return cipher[0] if cipher else "none", elapsed / (rounds * len(chunk)) * 600 * 1e6


async def broker_cipher(client: KafkaClient) -> str:
    """The TLS version and cipher the (first) broker negotiates with ``client``'s TLS settings
    (a TLS handshake only: the connection closes before any SASL exchange)."""
    if (context := client.ssl_context()) is None:
        return f"no TLS ({client.security_protocol})"
    host, _, port = client.bootstrap_servers.split(",")[0].strip().rpartition(":")
    _, writer = await asyncio.open_connection(host, int(port), ssl=context)
    try:
        name, version, _ = writer.get_extra_info("cipher")
        return f"{version} {name}"
    finally:
        writer.close()
        await writer.wait_closed()


async def signature_counts(client: KafkaClient, topics: Topics, timeout_s: float = 120) -> Counter[str]:
    """Signatures and verifications on the hub's topics, from the records' headers: ``hub signs``
    (every record signed with a hub key, plus the ``audit checkpoints`` it signs), ``agencies sign``,
    ``hub verifies`` (ingest verifies every outbox record) and ``agencies verify`` (Kafka-native
    agencies verify every record on their inbox). Dead letters keep their original signature
    and are not counted."""
    outboxes = {topics.outbox(code) for code in AGENCIES}
    verifying_inboxes = {topics.inbox(code) for code, a in AGENCIES.items() if a.transport is Transport.KAFKA}
    names = [spec.name for spec in topics.specs() if spec.name != topics.deadletter]
    counts: Counter[str] = Counter()
    async for record in read_to_end(client, names, timeout_s):
        keyid = dict(record.headers).get(KEYID_HEADER, b"").decode()
        if keyid:
            counts["hub signs" if keyid in REGISTRY.hub.keys else "agencies sign"] += 1
            counts["signed bytes"] += len(record.value or b"")
        elif record.topic == topics.audit and json.loads(record.value or b"{}").get("kind") == "checkpoint":
            counts["hub signs"] += 1
            counts["audit checkpoints"] += 1
        if record.topic in outboxes:
            counts["hub verifies"] += 1
        elif record.topic in verifying_inboxes:
            counts["agencies verify"] += 1
    return counts


def cpu_s(pid: int | None) -> float:
    """CPU seconds (user and system) process ``pid`` has used so far; this process's if None."""
    if pid is None:
        return time.process_time()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


async def all_ready(workers: list[WorkerProcess], timeout_s: float = 120) -> None:
    """Wait until every worker says it is ready (partitions assigned, tables recovered): with two
    or more, the group's rebalance is over before anything is timed."""
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=2) as http:
        for worker in workers:
            url = f"http://{worker.settings.metrics_host}:{worker.settings.metrics_port}/readyz"
            while True:
                try:
                    if (await http.get(url)).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or not worker.running:
                    raise TimeoutError(f"a worker was not ready within {timeout_s:.0f} s ({worker.log_path})")
                await asyncio.sleep(0.5)


async def hub_end_to_end(
    clients: ClientFiles,
    dossiers: int,
    run_dir: Path,
    guarantee: str = "at_least_once",
    broker_pid: int | None = None,
    workers: int = 1,
    rate: float | None = None,
) -> dict[str, Any]:
    """Birth dossiers through ``workers`` workers (Faust's ``guarantee``) and the sandbox agencies,
    all at once or, given ``rate``, that many a second (then with the latency of every hop, see
    :mod:`infra.harness.bench_hops`); with ``broker_pid``, the broker's CPU per dossier too."""
    topics = Topics(namespace=f"bench-{guarantee}-{workers}-{os.getpid()}-{int(time.time())}.")
    connection = {"kafka_client_properties": clients.file("hub"), "bootstrap_servers": clients.bootstrap_servers}
    hub_group = ClusterSettings.from_env(**connection, topic_namespace=topics.namespace).group_id
    await provision(clients.client("admin"), topics, hub_group)
    sandbox = SandboxAgencies(clients, topics, citizens=max(300, dossiers * 3))
    await sandbox.start()
    operator = clients.client("operator")
    watcher = HubWatcher(operator, topics)
    await watcher.start()
    hubs = [
        WorkerProcess(
            HubSettings.from_env(
                **connection,
                topic_namespace=topics.namespace,
                **sandbox.hub_settings(),
                callback_port=free_port(),
                metrics_port=free_port(),
                log_level="warning",
                processing_guarantee=guarantee,
                data_dir=run_dir / f"hub-{guarantee}-{workers}-{n}",
            ),
            run_dir / f"worker-{guarantee}-{workers}-{n}.log",
        )
        for n in range(workers)
    ]
    settings = hubs[0].settings
    for worker in hubs:
        worker.start()
    try:
        await all_ready(hubs)
        # Warm up: one dossier, so worker start-up is not counted.
        rng = random.Random(1)
        warm = birth_filing(sandbox.population, rng, 1)
        await sandbox.justice.file_birth(warm)
        await watcher.wait_for(lambda: watcher.final_status(warm["ma_ho_so"]) is not None, 120, "the warm-up dossier")
        filings = [birth_filing(sandbox.population, rng, 100 + i) for i in range(dossiers)]
        filed_at: dict[str, float] = {}
        processes = {f"worker{n}": w.pid for n, w in enumerate(hubs)} | {"bench": None}
        processes |= {"broker": broker_pid} if broker_pid else {}
        cpu_before = {name: cpu_s(pid) for name, pid in processes.items()}
        commits_before = await offset_commit_records(clients.client("admin"))
        started = time.monotonic()
        for n, filing in enumerate(filings):
            if rate:
                await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))
            await sandbox.justice.file_birth(filing)
            filed_at[filing["ma_ho_so"]] = time.time()
        ids = list(filed_at)
        await watcher.wait_for(lambda: all(watcher.final_status(d) for d in ids), 600, f"{dossiers} dossiers")
        elapsed = time.monotonic() - started
        used = {name: (cpu_s(pid) - cpu_before[name]) * 1e3 / dossiers for name, pid in processes.items()}
        commits = await offset_commit_records(clients.client("admin")) - commits_before
        cpu_ms = {f"{name}_cpu_ms": ms for name, ms in used.items() if not name.startswith("worker")}
        cpu_ms["worker_cpu_ms"] = sum(ms for name, ms in used.items() if name.startswith("worker"))
        finals = {d: t for d in ids if (t := watcher.final_status(d)) is not None}
        latencies = sorted(t.at.timestamp() - filed_at[d] for d, t in finals.items())
        completed = sum(t.status is DossierStatus.RESULT_RETURNED for t in finals.values())
        by_topic = {name: written for name, written, _ in await lag_report(operator, settings.group_id, topics)}
        records = sum(by_topic.values())
        by_topic |= await changelog_records(clients.client("admin"), settings.group_id)
        signatures = await signature_counts(operator, topics)
        timed = await bench_hops.run_hops(operator, topics, set(ids)) if rate else {}
        return {
            "hops": timed,
            **{name: count / (dossiers + 1) for name, count in signatures.items()},  # per dossier, warm-up too
            **cpu_ms,
            **{f"records:{name.removeprefix(topics.namespace)}": n / (dossiers + 1) for name, n in by_topic.items()},
            "records_per_dossier": records / (dossiers + 1),
            f"records:{OFFSETS_TOPIC} (offset commits, every group)": commits / dossiers,
            "dossiers_per_s": dossiers / elapsed,
            "elapsed_s": elapsed,
            "completed": completed,
            "records_per_s": records / elapsed,
            "p50_s": statistics.median(latencies),
            "p95_s": latencies[int(0.95 * (len(latencies) - 1))],
            "p99_s": bench_hops.percentile(latencies, 0.99),
        }
    finally:
        for worker in hubs:
            worker.stop()
        await watcher.stop()
        await sandbox.stop()


async def changelog_records(client: KafkaClient, app_id: str) -> dict[str, int]:
    """Records written to each changelog topic of the worker's tables (``<app id>-<table>-changelog``)."""
    consumer = AIOKafkaConsumer(**client.aiokafka(), group_id=None)
    await consumer.start()
    try:
        names = [t for t in await consumer.topics() if t.startswith(f"{app_id}-") and t.endswith("-changelog")]
        return {name.removeprefix(f"{app_id}-"): await _written(consumer, name) for name in names}
    finally:
        await consumer.stop()


async def offset_commit_records(client: KafkaClient) -> int:
    """Records the broker has written to ``__consumer_offsets``: every group's offset commits (one
    record per partition committed) and group changes; on the bench's own broker, all of them
    come from the bench's workers and agencies."""
    consumer = AIOKafkaConsumer(**client.aiokafka(), group_id=None)
    await consumer.start()
    try:
        return await _written(consumer, OFFSETS_TOPIC)
    finally:
        await consumer.stop()


async def _written(consumer: AIOKafkaConsumer, topic: str) -> int:
    return sum((await consumer.end_offsets(await partitions_of(consumer, topic))).values())


def records_report(hub: dict[str, Any]) -> str:
    """Records per dossier by topic, the largest first (the warm-up dossier counted too)."""
    rows = sorted(
        ((k.removeprefix("records:"), v) for k, v in hub.items() if k.startswith("records:")), key=lambda r: -r[1]
    )
    return "records per dossier: " + ", ".join(f"{name} {n:.1f}" for name, n in rows if n >= 0.05)


def cpu_report(hub: dict[str, Any]) -> str:
    """CPU per dossier of each measured process, from /proc over the timed run."""
    names = {"worker": "the hub's workers", "broker": "the broker", "bench": "sandbox agencies and bench clients"}
    measured = [f"{names[name]} {hub[f'{name}_cpu_ms']:.1f} ms" for name in names if f"{name}_cpu_ms" in hub]
    return "CPU per dossier: " + ", ".join(measured)


def signatures_report(crypto: dict[str, list[float]], hub: dict[str, Any]) -> list[str]:
    """The signing section of the output: CPU per record, and per dossier from the run's counts."""
    cost = {name: statistics.median(rounds) for name, rounds in crypto.items()}
    lines = [f"• Ed25519 signatures, CPU per record on a {len(step_command().to_bytes())}-byte step command"]
    for name, label in (("sign", "Signer.headers"), ("verify", "TrustStore.verify"), ("parse", "Envelope.from_bytes")):
        lines.append(
            f"  {label}: {cost[name]:.1f} µs (median of {len(crypto[name])} rounds; "
            f"{min(crypto[name]):.1f}–{max(crypto[name]):.1f})"
        )
    records = hub.get("hub signs", 0.0) + hub.get("agencies sign", 0.0) - hub.get("audit checkpoints", 0.0)
    lines.append(
        "  per birth dossier, counted from the headers of the end-to-end run's records "
        f"(signed records average {hub.get('signed bytes', 0.0) / max(records, 1.0):.0f} bytes):"
    )
    for party, signs, verifies in (
        ("hub", "hub signs", "hub verifies"),
        ("agencies", "agencies sign", "agencies verify"),
    ):
        signed, verified = hub.get(signs, 0.0), hub.get(verifies, 0.0)
        micros = signed * cost["sign"] + verified * cost["verify"]
        lines.append(f"  {party}: signs {signed:.1f} records, verifies {verified:.1f}: {micros:,.0f} µs of CPU")
    lines[-2] += f" (signs include {hub.get('audit checkpoints', 0.0):.2f} audit checkpoints)"
    return lines


def run(messages: int, dossiers: int, dashboard_dossiers: int = 100_000) -> int:
    crypto = signing_cost()
    with tempfile.TemporaryDirectory(prefix="lienthong-bench-") as tmp:
        run_dir = Path(tmp)
        cipher, tls_micros = tls_cost(run_dir)
        broker = None
        clients = ClientFiles.from_env()
        if clients is None:
            broker = LocalBroker(free_port(), run_dir / "kafka", free_port()).start()
            clients = broker.clients
        try:
            _out(f"• Kafka's own tools, {CEILING_RECORDS:,} records of 600 bytes, 4 partitions, SASL_SSL: the ceiling")
            produce_rate, consume_rate = asyncio.run(kafka_ceiling(clients, CEILING_RECORDS))
            _out(f"  ProducerPerformance (acks=all) {produce_rate:,.0f} records/s")
            _out(f"  ConsumerPerformance {consume_rate:,.0f} records/s")
            _out(f"• bare aiokafka relay, {messages} records of ~600 bytes, 4 partitions, SASL_SSL")
            relay = asyncio.run(bare_relay(clients.client("admin"), messages))
            _out(f"  {relay:,.0f} records/s")
            warm_up = min(dossiers, WARM_UP_DOSSIERS)
            _out(f"• warming the broker up with the hub's own traffic: {warm_up} dossiers, not counted")
            warmed = asyncio.run(hub_end_to_end(clients, warm_up, run_dir))
            _out(f"  {warmed['dossiers_per_s']:.1f} dossiers/s")
            _out(f"• hub end to end, {dossiers} birth dossiers (7 steps each) filed at once")
            broker_pid = broker.pid if broker is not None else None
            hub = asyncio.run(hub_end_to_end(clients, dossiers, run_dir, broker_pid=broker_pid))
            _out(
                f"  {hub['completed']:.0f}/{dossiers} completed in {hub['elapsed_s']:.1f} s: "
                f"{hub['dossiers_per_s']:.1f} dossiers/s, {hub['records_per_s']:,.0f} records/s through the "
                f"hub's topics ({hub['records_per_s'] / relay:.1%} of the bare relay); "
                f"filing to final p50 {hub['p50_s']:.1f} s, p95 {hub['p95_s']:.1f} s"
            )
            _out(f"  {cpu_report(hub)}; {hub['records_per_dossier']:.0f} records per dossier on the hub's topics")
            _out(f"  {records_report(hub)}")
            for line in signatures_report(crypto, hub):
                _out(line)
            _out(f"• the same with two workers in the group, {dossiers} dossiers")
            two = asyncio.run(hub_end_to_end(clients, dossiers, run_dir, broker_pid=broker_pid, workers=2))
            _out(
                f"  {two['completed']:.0f}/{dossiers} completed in {two['elapsed_s']:.1f} s: "
                f"{two['dossiers_per_s']:.1f} dossiers/s ({two['dossiers_per_s'] / hub['dossiers_per_s']:.0%} of one "
                f"worker); filing to final p50 {two['p50_s']:.1f} s, p95 {two['p95_s']:.1f} s"
            )
            _out(f"  {cpu_report(two)}")
            rate = hub["dossiers_per_s"] / 2
            _out(f"• one worker at a constant rate, half the burst's: {dossiers} dossiers at {rate:.1f} a second")
            steady = asyncio.run(hub_end_to_end(clients, dossiers, run_dir, broker_pid=broker_pid, rate=rate))
            _out(
                f"  {steady['completed']:.0f}/{dossiers} completed: filing to final p50 {steady['p50_s']:.2f} s, "
                f"p99 {steady['p99_s']:.2f} s; {cpu_report(steady)}"
            )
            _out(f"  {bench_hops.report(steady['hops'])}")
            _out("• the same with Faust's processing_guarantee=exactly_once (transactions per partition)")
            exactly = asyncio.run(hub_end_to_end(clients, dossiers, run_dir, "exactly_once"))
            _out(
                f"  {exactly['completed']:.0f}/{dossiers} completed in {exactly['elapsed_s']:.1f} s: "
                f"{exactly['dossiers_per_s']:.1f} dossiers/s ({exactly['dossiers_per_s'] / hub['dossiers_per_s']:.0%} "
                f"of at_least_once); filing to final p50 {exactly['p50_s']:.1f} s, p95 {exactly['p95_s']:.1f} s"
            )
            _out(f"• TLS: the broker negotiates {asyncio.run(broker_cipher(clients.client('admin')))}")
            _out(
                f"  OpenSSL in this process ({cipher}): {tls_micros:.2f} µs of CPU to encrypt and decrypt 600 bytes; "
                "the broker's side is not measured (docs/benchmarks.md compares with the figures before TLS)"
            )
            if dashboard_dossiers:
                for line in bench_dashboard.report(
                    dashboard_dossiers, bench_dashboard.measure(dashboard_dossiers, clients)
                ):
                    _out(line)
            _out(
                f"bench: {hub['dossiers_per_s']:.1f} dossiers/s end to end, {hub['worker_cpu_ms']:.1f} ms worker CPU "
                f"per dossier, {hub['records_per_dossier']:.0f} records per dossier, "
                f"{hub['records_per_s'] / relay:.1%} of bare relay, "
                f"p99 hop {bench_hops.p99_hub_hop(steady['hops']):.0f} ms"
            )
            runs = (hub, two, steady, exactly)
            return 0 if all(r["completed"] == dossiers for r in runs) else 1
        finally:
            if broker is not None:
                broker.stop()
