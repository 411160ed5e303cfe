"""The chaos run (``make chaos``, ``lienthong chaos``): dossiers of every procedure through several
hub workers on a three-broker cluster while workers are SIGKILLed, a broker is kill -9ed, agencies
go down and malformed or forged messages pour in; then every dossier must reach a final status in
the citizen's view, every agency effect must have happened once, every injected message must be in
the dead-letter topic with a reason. It ends with one line::

    chaos: N filed, N final, N lost, N doubled, N dead letters, N worker restarts

and exits 1 on any loss, double, injected message not dead-lettered, or legitimate message that
was. ``SMALL`` (one of each fault, a few dozen dossiers) runs in ``make test``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import random
import shutil
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
from aiohttp import web

from connectors.http_server import HttpServer, problem
from contracts.topics import Topics
from infra.dlq import read_all as read_dead_letters
from infra.harness import injector
from infra.harness.broker import ClientFiles, LocalCluster
from infra.harness.net import free_port
from infra.harness.worker_process import WorkerProcess
from infra.sandbox.agencies import SandboxAgencies
from infra.sandbox.samples import (
    birth_filing,
    business_filing,
    criminal_record_filing,
    death_filing,
    dossier_code,
    land_transfer_filing,
)
from infra.topics import provision
from streams.settings import ClusterSettings, HubSettings


@dataclass(frozen=True)
class Plan:
    dossiers: int  # filed evenly over the window, across the five procedures
    workers: int  # hub workers in one group
    worker_kills: int  # SIGKILLs of a random worker, each restarted a few seconds later
    population_outage_s: float  # the population registry's REST server stopped this long
    insurance_outage_s: float  # the insurance SOAP server stopped this long
    injected: int  # malformed or forged messages written to agency outboxes
    window_s: float  # filings, faults and injections happen in this window
    settle_s: float  # then every dossier must be final within this
    seed: int = 2026


FULL = Plan(
    dossiers=2000,
    workers=2,
    worker_kills=5,
    population_outage_s=120,
    insurance_outage_s=60,
    injected=10_000,
    window_s=360,
    settle_s=900,
)
SMALL = Plan(
    dossiers=30,
    workers=2,
    worker_kills=1,
    population_outage_s=6,
    insurance_outage_s=4,
    injected=60,
    window_s=25,
    settle_s=240,
)


@dataclass(frozen=True)
class Report:
    filed: int
    final: int
    doubled: int
    dead_letters: int
    worker_restarts: int
    injected_missing: int  # injected messages not in the dead-letter topic with a reason
    unexpected_dead_letters: int  # legitimate messages that were dead-lettered

    @property
    def lost(self) -> int:
        return self.filed - self.final

    @property
    def ok(self) -> bool:
        return not (self.lost or self.doubled or self.injected_missing or self.unexpected_dead_letters)

    def line(self) -> str:
        return (
            f"chaos: {self.filed} filed, {self.final} final, {self.lost} lost, {self.doubled} doubled, "
            f"{self.dead_letters} dead letters, {self.worker_restarts} worker restarts"
        )


class CallbackProxy:
    """The load balancer in front of the workers' callback endpoints: the payment gateway calls one
    address, and each call goes to the first live worker, starting with the next in turn."""

    def __init__(self, ports: list[int]) -> None:
        self._ports = ports
        self._turn = itertools.count()
        self._http = httpx.AsyncClient(timeout=10)
        app = web.Application()
        app.add_routes([web.post("/{path:.*}", self._forward)])
        self.server = HttpServer(app)

    async def start(self) -> None:
        await self.server.start()

    async def stop(self) -> None:
        await self.server.stop()
        await self._http.aclose()

    async def _forward(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        first = next(self._turn)
        for i in range(len(self._ports)):
            port = self._ports[(first + i) % len(self._ports)]
            try:
                answer = await self._http.post(f"http://127.0.0.1:{port}{request.path}", content=body, headers=headers)
            except httpx.TransportError:
                continue
            return web.Response(status=answer.status_code, body=answer.content, headers=answer.headers)
        return problem(502, "Bad Gateway", "no hub worker answers")


class ChaosRun:
    """One run of ``plan`` on ``cluster``, with its data in ``run_dir``; ``out`` prints progress."""

    def __init__(self, plan: Plan, cluster: LocalCluster, run_dir: Path, out: Callable[[str], None]) -> None:
        self.plan, self.cluster, self.run_dir, self.out = plan, cluster, run_dir, out
        self.rng = random.Random(plan.seed)
        self.run_id = f"{os.getpid()}-{int(time.time())}"
        self.topics = Topics(namespace=f"chaos-{self.run_id}.", replication=3)
        self.clients: ClientFiles = cluster.clients
        self.filed: list[str] = []
        self.restarts = 0
        self.exits: list[int] = []  # exit codes of workers that stopped by themselves
        self._killed: set[int] = set()  # workers down on purpose, restarted by the fault itself
        self.faults: Counter[str] = Counter()
        self.t0 = time.monotonic()

    def say(self, line: str) -> None:
        self.out(f"  [{time.monotonic() - self.t0:6.1f}s] {line}")

    async def run(self) -> Report:
        connection = {"kafka_client_properties": self.clients.file("hub"), "bootstrap_servers": self.cluster.bootstrap}
        group = ClusterSettings.from_env(**connection, topic_namespace=self.topics.namespace).group_id
        await provision(self.clients.client("admin"), self.topics, group)
        self.sandbox = SandboxAgencies(
            self.clients, self.topics, citizens=max(300, 2 * self.plan.dossiers), effects_dir=self.run_dir / "effects"
        )
        await self.sandbox.start()
        callback_ports = [free_port() for _ in range(self.plan.workers)]
        proxy = CallbackProxy(callback_ports)
        await proxy.start()
        self.workers = [
            WorkerProcess(
                HubSettings.from_env(
                    **connection,
                    topic_namespace=self.topics.namespace,
                    **self.sandbox.hub_settings(),
                    callback_port=port,
                    metrics_port=free_port(),
                    callback_url=f"{proxy.server.base_url}/callbacks/payment",
                    data_dir=self.run_dir / f"worker-{n}",
                    replication_factor=3,
                    retry_first_delay_s=1,
                    retry_max_delay_s=15,
                    breaker_reset_s=5,
                    step_timeout_s=20,
                    session_timeout_s=10,
                    sweep_interval_s=1,
                ),
                self.run_dir / f"worker-{n}.log",
            )
            for n, port in enumerate(callback_ports, 1)
        ]
        for worker in self.workers:
            worker.start()
        try:
            self.say(
                f"{self.plan.workers} workers, {self.plan.dossiers} dossiers and {self.plan.injected} bad messages "
                f"over {self.plan.window_s:.0f} s"
            )
            known = await self._first_dossier()  # forged withdrawals of it must change nothing
            progress = asyncio.create_task(self._progress())
            supervisor = asyncio.create_task(self._supervise())
            expected, *_ = await asyncio.gather(
                injector.inject(
                    self.clients,
                    self.topics,
                    self.sandbox.keyring,
                    self.plan.injected,
                    self.run_id,
                    rate_per_s=self.plan.injected / self.plan.window_s,
                    known_dossier=known,
                ),
                self._file_all(),
                self._faults(),
            )
            faults = ", ".join(f"{what} ×{n}" for what, n in self.faults.items())
            self.say(f"window over ({faults}): waiting for every dossier to be final")
            final = await self._settle()
            for dossier in [d for d in self.filed if not self._is_final(d)][:10]:
                shown = self.sandbox.portal.current(dossier)
                self.say(f"not final: {dossier} (portal shows {shown.status if shown else 'nothing'})")
            progress.cancel()
            supervisor.cancel()
            if self.exits:
                self.say(f"{len(self.exits)} worker exits the supervisor restarted, codes {sorted(set(self.exits))}")
            injected = await injector.check_dead_letters(self.clients, self.topics, self.run_id, expected, 300)
            if not injected.ok:
                self.say(injected.summary())
            letters = await read_dead_letters(self.clients.client("operator"), self.topics)
            unexpected = [d for d in letters if not injector.is_injected(d.key, d.value, self.run_id)]
            for letter in unexpected[:10]:
                self.say(f"unexpected dead letter {letter.key!r}: {letter.headers.get('reason')}")
            return Report(
                filed=len(self.filed),
                final=final,
                doubled=self._doubled(),
                dead_letters=len(letters),
                worker_restarts=self.restarts,
                injected_missing=sum(map(len, injected.missing.values())) + len(injected.misfiled),
                unexpected_dead_letters=len(unexpected),
            )
        finally:
            for worker in self.workers:
                if worker.stop() not in (0, None):
                    self.say(f"a worker exited badly:\n{worker.tail()}")
            await proxy.stop()
            await self.sandbox.stop()

    # --- traffic ------------------------------------------------------------------------------

    async def _first_dossier(self) -> str:
        """File dossier 1 (a land transfer, from the portal) and wait until the hub has opened it."""
        code = await self._file(3)
        self.filed.append(code)
        deadline = time.monotonic() + 120
        while self.sandbox.portal.current(code) is None:
            if time.monotonic() > deadline:
                raise TimeoutError("the hub did not open the first dossier within 120 s")
            await asyncio.sleep(0.2)
        return code

    async def _file_all(self) -> None:
        gap, started = self.plan.window_s / max(self.plan.dossiers, 1), time.monotonic()
        for n, seq in enumerate(range(4, self.plan.dossiers + 3), 1):
            self.filed.append(await self._file(seq))
            await asyncio.sleep(max(0.0, started + n * gap - time.monotonic()))  # evenly over the window

    async def _file(self, seq: int) -> str:
        population, portal, rng = self.sandbox.population, self.sandbox.portal, self.rng
        kind = seq % 5
        if kind == 0:
            filing = birth_filing(population, rng, seq)
            await self.sandbox.justice.file_birth(filing)
            return str(filing["ma_ho_so"])
        code = dossier_code(seq)
        if kind == 1:
            await portal.file("death_bundle", code, death_filing(population, rng, insured=rng.random() < 0.7))
        elif kind == 2:
            await portal.file("business_registration", code, business_filing(population, rng))
        elif kind == 3:
            await portal.file("land_transfer", code, land_transfer_filing(population, rng))
        else:
            await portal.file("criminal_record", code, criminal_record_filing(population, rng, vneid_level=2))
        return code

    # --- faults -------------------------------------------------------------------------------

    async def _faults(self) -> None:
        """Every fault at a random moment of the window (the first fifth is left calm)."""
        window, rng = self.plan.window_s, self.rng

        def at() -> float:
            return rng.uniform(0.2 * window, 0.8 * window)

        faults: list[tuple[float, Callable[[], Coroutine[Any, Any, None]]]] = [
            (at(), self._kill_worker) for _ in range(self.plan.worker_kills)
        ]
        faults += [
            (at(), self._kill_broker),
            (at(), lambda: self._outage("population", self.plan.population_outage_s)),
            (at(), lambda: self._outage("insurance", self.plan.insurance_outage_s)),
        ]
        started = time.monotonic()
        running: list[asyncio.Task[None]] = []
        for moment, fault in sorted(faults, key=lambda f: f[0]):
            await asyncio.sleep(max(0.0, moment - (time.monotonic() - started)))
            running.append(asyncio.create_task(fault()))
        await asyncio.gather(*running)

    async def _supervise(self) -> None:
        """Start again a worker that stopped by itself (as systemd's Restart=always would): it stops
        on purpose when it cannot write what an event caused (exit 70), and Faust gives up starting
        when the broker it asks to create its changelog topic is the one just killed."""
        while True:
            await asyncio.sleep(1)
            for n, worker in enumerate(self.workers):
                if n in self._killed or (code := worker.exit_code) is None:
                    continue
                self.exits.append(code)
                self.say(f"worker {n + 1} exited with code {code}; starting it again")
                worker.start()
                self.restarts += 1

    async def _kill_worker(self) -> None:
        n = self.rng.choice([n for n in range(len(self.workers)) if n not in self._killed])
        self._killed.add(n)
        self.workers[n].kill()
        self.faults["worker killed"] += 1
        self.say(f"SIGKILL worker {n + 1}")
        await asyncio.sleep(self.rng.uniform(2, 6))
        self.workers[n].start()
        self._killed.discard(n)
        self.restarts += 1
        self.say(f"worker {n + 1} started again")

    async def _kill_broker(self) -> None:
        node = self.rng.randrange(1, 4)
        await asyncio.to_thread(self.cluster.kill, node)
        self.faults["broker killed"] += 1
        self.say(f"kill -9 broker {node}")
        await asyncio.sleep(15)
        await asyncio.to_thread(self.cluster.restart, node)
        self.say(f"broker {node} back")

    async def _outage(self, agency: str, seconds: float) -> None:
        service = getattr(self.sandbox, agency)
        port = urlparse(service.server.base_url).port
        await service.stop()
        self.faults[f"{agency} down"] += 1
        self.say(f"{agency} down for {seconds:.0f} s")
        await asyncio.sleep(seconds)
        await service.start(port)
        self.say(f"{agency} back")

    # --- outcome ------------------------------------------------------------------------------

    def _is_final(self, dossier: str) -> bool:
        shown = self.sandbox.portal.current(dossier)
        return shown is not None and shown.status.is_final

    def _final(self) -> int:
        return sum(map(self._is_final, self.filed))

    async def _progress(self) -> None:
        while True:
            await asyncio.sleep(10)
            alive = sum(w.running for w in self.workers)
            self.say(f"filed {len(self.filed)}, final {self._final()}, workers alive {alive}/{len(self.workers)}")

    async def _settle(self) -> int:
        deadline = time.monotonic() + self.plan.settle_s
        while (final := self._final()) < len(self.filed) and time.monotonic() < deadline:
            await asyncio.sleep(1)
        return final

    def _doubled(self) -> int:
        """Dossiers with a step performed twice at an agency (under two idempotency keys), or more
        than one final status in the citizen's view."""
        doubled: set[str] = set()
        for agency in ("population", "justice", "tax", "portal", "insurance", "payment"):
            keys: dict[tuple[str, str], set[str]] = defaultdict(set)
            for effect in getattr(self.sandbox, agency).effects.all():
                key = effect.key.split(":", 1)[-1]  # payment's are "paid:<key>", "refund:<key>"
                dossier, _, step = key.partition("/")
                keys[dossier, f"{effect.kind}/{step.split('/r')[0]}"].add(key)
            doubled |= {dossier for (dossier, _), seen in keys.items() if len(seen) > 1}
        for dossier in self.filed:
            finals = [u for u in self.sandbox.portal.timelines.get(dossier, []) if u.status.is_final]
            if len(finals) > 1:
                doubled.add(dossier)
        return len(doubled)


async def chaos(plan: Plan, cluster: LocalCluster, run_dir: Path, out: Callable[[str], None] = print) -> Report:
    """Run ``plan`` on a started ``cluster``; prints progress and the summary line."""
    report = await ChaosRun(plan, cluster, run_dir, out).run()
    out(report.line())
    if report.injected_missing:
        out(f"chaos: {report.injected_missing} injected messages were not dead-lettered with a reason")
    if report.unexpected_dead_letters:
        out(f"chaos: {report.unexpected_dead_letters} legitimate messages were dead-lettered")
    return report


def run(small: bool = False, dossiers: int | None = None) -> int:
    """``lienthong chaos``: start a local three-broker cluster, run the plan, stop the cluster. The
    workers' logs and the agencies' effect logs stay in ``.lienthong/chaos/<time>/``."""
    plan = SMALL if small else FULL
    if dossiers is not None:
        plan = replace(plan, dossiers=dossiers)
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # the sandbox's clients, during the broker kill
    run_dir = Path(".lienthong", "chaos", time.strftime("%Y%m%d-%H%M%S")).resolve()
    print(f"• starting a three-broker cluster; logs in {run_dir}", flush=True)
    cluster = LocalCluster([free_port() for _ in range(3)], run_dir / "cluster", [free_port() for _ in range(3)])
    try:
        cluster.start()
        report = asyncio.run(chaos(plan, cluster, run_dir, lambda line: print(line, flush=True)))
    finally:
        cluster.stop()
        shutil.rmtree(run_dir / "cluster", ignore_errors=True)  # the brokers' data: large, and done with
    print(f"• worker logs and agency effect logs: {run_dir}", flush=True)
    return 0 if report.ok else 1
