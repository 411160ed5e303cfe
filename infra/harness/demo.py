"""``lienthong demo``: every catalog procedure end to end on a real broker, with live progress.

Starts (or reuses) a local broker, creates the topics, starts the sandbox agencies, the legacy
one-stop SOAP gateway, one hub worker and the operator dashboard, files sample dossiers (births in
the civil-status system's own format, the other procedures through the portal and over SOAP, two
malformed messages and a forged payment reply), prints each transition as it happens, then every
dossier's timeline, a summary and where to look further, and shuts down what it started (with
``keep``, only once interrupted).
"""

from __future__ import annotations

import asyncio
import os
import random
import shlex
import shutil
import signal
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from connectors.kafka_client import KafkaClient
from connectors.soap_filing import FilingGateway, file_over_soap
from connectors.wsse import write_callers
from contracts.catalog import builtin_catalog
from contracts.envelope import Envelope
from contracts.events import STEP_REPLY, Outcome, StepReply, Transition
from contracts.redact import mask_identifiers
from contracts.status import DossierStatus
from contracts.topics import Topics
from infra.dashboard import Dashboard
from infra.harness.broker import BrokerError, ClientFiles, LocalBroker
from infra.harness.net import free_port
from infra.harness.worker_process import WorkerProcess
from infra.lag import lag_report
from infra.sandbox.agencies import SandboxAgencies
from infra.sandbox.samples import (
    birth_filing,
    business_filing,
    criminal_record_filing,
    death_filing,
    dossier_code,
    land_transfer_filing,
    unknown_mother_id,
)
from infra.timeline import status_number, timeline_lines
from infra.topics import provision
from infra.watch import DeadLetter, HubWatcher
from streams.diagnostics import dump_tasks
from streams.settings import ClusterSettings, HubSettings

DEMO_CALLER, DEMO_PREFIX = "onestop-demo", "000.00.32.H26"
"""The demo's legacy one-stop caller and the dossier-code prefix it files under (the portal's
sample codes use 000.00.31.H26)."""


@dataclass(frozen=True)
class Sample:
    label: str
    dossier_id: str | None  # None: not a dossier (the malformed message)
    expect: DossierStatus | None
    told: str | None = None  # the code of a filing refused to justice, its filer, with the reason


def out(line: str = "") -> None:
    print(line, flush=True)


def shown(path: Path) -> str:
    """``path`` relative to the working directory when under it, quoted for a shell."""
    return shlex.quote(os.path.relpath(path) if path.is_relative_to(Path.cwd()) else str(path))


async def until_signalled() -> None:
    """Wait for SIGINT or SIGTERM."""
    loop, stop = asyncio.get_running_loop(), asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


class Demo:
    def __init__(self, run_dir: Path, timeout_s: float, dashboard_port: int = 0, keep: bool = False) -> None:
        self.run_dir = run_dir
        self.timeout_s = timeout_s
        self.dashboard_port = dashboard_port
        self.keep = keep
        self.t0 = time.monotonic()

    def elapsed(self) -> str:
        return f"{time.monotonic() - self.t0:6.1f}s"

    def show_transition(self, t: Transition) -> None:
        if t.step is None:
            what = f"status {status_number(t)} {t.state}" + (f" — {t.reason}" if t.reason else "")
        else:
            took = f" ({t.duration_ms} ms)" if t.duration_ms is not None else ""
            what = f"{t.step:<32} {t.agency:<10} {t.state}{took}" + (f" — {t.reason}" if t.reason else "")
        out(f"  [{self.elapsed()}] {t.dossier_id}  {mask_identifiers(what)}")

    def show_dead_letter(self, letter: DeadLetter) -> None:
        where, code = letter.headers.get("topic"), letter.headers.get("code")
        out(f"  [{self.elapsed()}] dead-lettered from {where} ({code}): {letter.reason}")

    async def run(self, clients: ClientFiles) -> int:
        topics = Topics()
        connection = {"kafka_client_properties": clients.file("hub"), "bootstrap_servers": clients.bootstrap_servers}
        out("• creating topics and the agency registry's ACLs (as admin)")
        hub_group = ClusterSettings.from_env(**connection).group_id
        created = await provision(clients.client("admin"), topics, hub_group)
        out(f"  {len(created)} created" if created else "  all present")
        sandbox = SandboxAgencies(clients, topics, effects_dir=self.run_dir / "effects")
        await sandbox.start()
        out(
            f"• sandbox agencies up: population REST {sandbox.population_url}, "
            f"insurance SOAP {sandbox.insurance_address}, justice and portal on Kafka"
        )
        settings = HubSettings.from_env(
            **connection,
            **sandbox.hub_settings(),
            callback_port=free_port(),
            metrics_port=free_port(),
            data_dir=self.run_dir / "hub",
        )
        worker = WorkerProcess(settings, self.run_dir / "worker.log")
        operator = clients.client("operator")
        watcher = HubWatcher(operator, topics, self.show_transition, self.show_dead_letter)
        # The one-stop's caller, with a fresh secret per run (production: `lienthong onestop-callers`).
        callers = write_callers(self.run_dir / "onestop-callers.toml", {DEMO_CALLER: DEMO_PREFIX})
        gateway = FilingGateway(clients.client("onestop"), topics, builtin_catalog(), callers, keyring=sandbox.keyring)
        await gateway.start()
        out(f"• one-stop SOAP gateway up: {gateway.address} (callers must sign in with a WS-Security digest)")
        dashboard = Dashboard(operator, topics, settings.group_id)
        try:
            await watcher.start()
            await dashboard.start(self.dashboard_port)
            worker.start()
            out(f"• hub worker started (log: {worker.log_path})")
            health = f"http://{settings.metrics_host}:{settings.metrics_port}"
            out(f"  its metrics: {health}/metrics, health: {health}/healthz and {health}/readyz")
            out(f"• operator dashboard: {dashboard.url}")
            samples = await self.file_samples(sandbox, gateway, watcher)
            dossiers = [s for s in samples if s.dossier_id]
            ids = [s.dossier_id for s in dossiers if s.dossier_id]
            letters = len(samples) - len(dossiers)
            out("• progress (live from hub.monitor.transitions and hub.deadletter)")
            try:
                told = [s.told for s in samples if s.told]
                await watcher.wait_for(
                    lambda: (
                        all(watcher.final_status(d) for d in ids)
                        and len(watcher.dead_letters) >= letters
                        and all(code in sandbox.justice.refusals for code in told)
                    ),
                    self.timeout_s,
                    "every dossier to reach a final status",
                )
            except TimeoutError as exc:
                out(f"\n✗ {exc}")
                await self.diagnose(worker, operator)
                if not worker.running:
                    out("  the hub worker exited; last lines of its log:")
                    out(worker.tail())
            self.print_timelines(watcher, dossiers)
            exit_code = self.print_summary(watcher, samples, sandbox)
            self.print_views(clients, dashboard.url, health, ids[0])
            if self.keep:
                await until_signalled()
            return exit_code
        finally:
            if problem := await dashboard.stop():
                out(f"  the dashboard had stopped reading the monitoring streams: {problem!r}")
            out("• operator dashboard stopped")
            await watcher.stop()
            code = worker.stop()
            out(f"• hub worker stopped (exit code {code})")
            await gateway.stop()
            await sandbox.stop()
            out("• sandbox agencies and the SOAP gateway stopped")

    def print_views(self, clients: ClientFiles, dashboard: str, health: str, example: str) -> None:
        """Where to look further: the dashboard, the worker's metrics, a dossier's timeline."""
        if self.keep:
            out("\n• the broker, sandbox agencies, SOAP gateway, hub worker and dashboard stay up:")
        else:
            out("\n• where to look (all of it stops now; `make demo KEEP=1` or `lienthong demo --keep` keeps it up):")
        lienthong = Path(sys.executable).with_name("lienthong")
        status = [shown(lienthong) if lienthong.exists() else "lienthong", "status"]
        status += ["--client-properties", shown(clients.file("operator"))]
        if clients.bootstrap_servers:
            status += ["--bootstrap", shlex.quote(clients.bootstrap_servers)]
        out(f"  operator dashboard  {dashboard}")
        out(f"  hub worker metrics  {health}/metrics (health: /healthz, readiness: /readyz)")
        out(f"  a dossier timeline  {' '.join(status)} {example}")
        out(f"  client properties   {shown(clients.folder)}/<principal>.properties (admin, hub, operator, each agency)")
        if self.keep:
            out("  Ctrl-C to stop")

    async def diagnose(self, worker: WorkerProcess, operator: KafkaClient) -> None:
        """Say where messages stopped: per-topic backlog of the hub, and every task's await chain."""
        worker.dump_tasks()  # the worker writes its tasks to its log
        with (self.run_dir / "demo-tasks.log").open("w") as tasks_log:
            dump_tasks(tasks_log)
        out("  hub backlog per topic (written / committed by the hub's consumer group):")
        for name, written, committed in await lag_report(operator, worker.settings.group_id, worker.settings.topics):
            if written:
                out(f"    {name:<32} {written:>5} / {committed:<5}{'  ← behind' if committed < written else ''}")
        out(f"  task dumps: {worker.log_path} and {self.run_dir / 'demo-tasks.log'}")

    async def file_samples(self, sandbox: SandboxAgencies, gateway: FilingGateway, watcher: HubWatcher) -> list[Sample]:
        rng = random.Random()
        seq = rng.randrange(1000, 8000)
        registry = sandbox.population
        samples: list[Sample] = []

        def filed(
            label: str, dossier_id: str | None, expect: DossierStatus | None, via: str, told: str | None = None
        ) -> None:
            samples.append(Sample(label, dossier_id, expect, told))
            out(f"  {dossier_id or '(no dossier)':<27} {via:<17} {label}")

        out(
            "• filing sample dossiers: births in the civil-status system's own format on Kafka, other "
            "procedures through the portal and through the legacy one-stop SOAP gateway"
        )
        births = [
            ("birth bundle, both parents", birth_filing(registry, rng, seq)),
            (
                "birth bundle, parents filed under pre-2025 Hậu Giang codes (ma_tinh 93, ma_xa 31359)",
                birth_filing(registry, rng, seq + 1, pre_merger_units=True),
            ),
            ("birth bundle, mother only", birth_filing(registry, rng, seq + 2, with_father=False)),
        ]
        for label, filing in births:
            await sandbox.justice.file_birth(filing)
            filed(label, filing["ma_ho_so"], DossierStatus.RESULT_RETURNED, "justice (Kafka)")
        unknown = birth_filing(registry, rng, seq + 3, mother_id=unknown_mother_id(registry, rng))
        await sandbox.justice.file_birth(unknown)
        filed(
            "birth bundle, mother unknown to the population registry",
            unknown["ma_ho_so"],
            DossierStatus.NOT_ACCEPTED,
            "justice (Kafka)",
        )

        portal = [
            (
                "death bundle: registration, residence removal, funeral allowance",
                "death_bundle",
                death_filing(registry, rng, insured=True),
                DossierStatus.RESULT_RETURNED,
            ),
            (
                "land-use right transfer: tax notice, payment, confirmation",
                "land_transfer",
                land_transfer_filing(registry, rng),
                DossierStatus.RESULT_RETURNED,
            ),
            (
                "criminal-record certificate, VNeID level 2",
                "criminal_record",
                criminal_record_filing(registry, rng, vneid_level=2),
                DossierStatus.RESULT_RETURNED,
            ),
            (
                "criminal-record certificate, VNeID level 1",
                "criminal_record",
                criminal_record_filing(registry, rng, vneid_level=1),
                DossierStatus.NOT_ACCEPTED,
            ),
        ]
        for offset, (label, procedure, filing, expect) in enumerate(portal, start=10):
            await sandbox.portal.file(procedure, dossier_code(seq + offset), filing)
            filed(label, dossier_code(seq + offset), expect, "portal (Kafka)")

        # A compromised tax system, signing with its own key, claims the land transfer was paid 1 đồng
        # (once the hub knows the dossier, so the refusal is about who may say it).
        land = dossier_code(seq + 11)
        await watcher.wait_for(lambda: bool(watcher.transitions.get(land)), 30, "the land transfer to be registered")
        forged = StepReply(
            step="collect_obligations",
            action="collect_payment",
            agency="tax",
            outcome=Outcome.SUCCEEDED,
            result={"transaction_id": "FAKE", "amount_vnd": 1, "paid_at": "2026-11-26T03:00:00Z"},
        )
        await sandbox.tax.send_envelope(
            Envelope(
                source="/agency/tax",
                type=STEP_REPLY,
                subject=land,
                correlationid="forged",
                idempotencykey=f"{land}/collect_obligations",
                data=forged.model_dump(mode="json"),
            )
        )
        filed(f"forgery: tax says land transfer {land} was paid 1 đồng", None, None, "tax (Kafka)")

        caller = gateway.callers[DEMO_CALLER]
        answer = await file_over_soap(gateway.address, caller, "business_registration", business_filing(registry, rng))
        filed(
            "business registration: enterprise code, insurance unit",
            answer,
            DossierStatus.RESULT_RETURNED,
            "one-stop (SOAP)",
        )

        bad_id = birth_filing(registry, rng, seq + 4) | {"so_dinh_danh_me": "09319500012"}
        await sandbox.justice.file_birth(bad_id)
        filed("malformed: mother's ID has 11 digits", None, None, "justice (Kafka)", told=bad_id["ma_ho_so"])
        await sandbox.justice.send_outbox(dossier_code(seq + 5), b'{"loai_ho_so": "khai_sinh", "ma_ho_so": ')
        filed("malformed: truncated JSON", None, None, "justice (Kafka)")
        return samples

    def print_timelines(self, watcher: HubWatcher, dossiers: list[Sample]) -> None:
        out("\n• timelines (any dossier's: `lienthong status`, as below)")
        for sample in dossiers:
            if sample.dossier_id is None:
                continue
            out(f"\n  {sample.dossier_id} — {sample.label}")
            for line in timeline_lines(watcher.transitions.get(sample.dossier_id, [])):
                out(f"    {line}")

    def print_summary(self, watcher: HubWatcher, samples: list[Sample], sandbox: SandboxAgencies) -> int:
        out("\n• summary")
        failures = 0
        for sample in samples:
            if sample.dossier_id is None:
                continue
            final = watcher.final_status(sample.dossier_id)
            got = f"{status_number(final)} {final.state}" if final else "no final status"
            ok = final is not None and final.status == sample.expect
            failures += not ok
            out(f"  {'✓' if ok else '✗'} {sample.dossier_id}  {got:<28} {sample.label}")
        expected_letters = sum(1 for s in samples if s.dossier_id is None)
        for letter in watcher.dead_letters:
            out(f"  ✓ dead letter  {letter.headers.get('code')}: {letter.reason}")
        if len(watcher.dead_letters) < expected_letters:
            failures += 1
            out(f"  ✗ expected {expected_letters} dead letters, saw {len(watcher.dead_letters)}")
        for code in [s.told for s in samples if s.told]:
            notices = sandbox.justice.refusals.get(code, [])
            failures += not notices
            told = f"told: {notices[0].reason}" if notices else "its filer was never told why it was refused"
            out(f"  {'✓' if notices else '✗'} filing {code}  {told}")
        out("\n  agency records (one per effect, keyed by idempotency key):")
        for agency in ("justice", "population", "insurance", "tax", "payment", "portal"):
            effects = getattr(sandbox, agency).effects
            kinds = Counter(e.kind for e in effects.all())
            listed = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items())) or "none"
            out(f"    {agency:<11} {listed}")
        out(f"  effect logs in {self.run_dir / 'effects'}")
        if failures:
            out(f"\n✗ {failures} expectation(s) not met — see above and {self.run_dir / 'worker.log'}")
            return 1
        out(f"\n✓ every dossier reached its final state in {self.elapsed().strip()}")
        return 0


def run(timeout_s: float = 90, port: int = 9092, dashboard_port: int = 0, keep: bool = False) -> int:
    """Run the demo; returns the process exit code (the summary's, also with ``keep``)."""
    run_dir = Path(".lienthong/demo").resolve()
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    broker = None
    demo = Demo(run_dir, timeout_s, dashboard_port, keep)
    try:
        clients = ClientFiles.from_env()
        if clients:
            out(f"• using the Kafka cluster whose client properties are in {clients.folder} (KAFKA_CLIENTS_DIR)")
        else:
            out(f"• starting a local Apache Kafka broker on 127.0.0.1:{port} (SASL_SSL, ACLs)")
            broker = LocalBroker(port, run_dir / "kafka").start()
            clients = broker.clients
            out("  started" if broker.started else "  reusing the healthy broker already running there")
            out(f"  client properties of every principal in {clients.folder}")
        return asyncio.run(demo.run(clients))
    except BrokerError as exc:
        out(f"✗ could not start the broker: {exc}")
        return 2
    except KeyboardInterrupt:
        out("✗ interrupted")
        return 130
    finally:
        if broker is not None and broker.started:
            broker.stop()
            out("• local broker stopped")
        sys.stdout.flush()
