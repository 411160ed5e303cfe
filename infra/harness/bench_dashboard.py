"""The dashboard at scale (``lienthong bench --dashboard-dossiers N``): N dossiers' worth of
monitoring records, written the way the hub writes them (:class:`Transition` in an
:class:`Envelope`, keyed by the dossier code, on ``hub.monitor.transitions``), fed to a
:class:`Board` in this process and read back from a real broker by :func:`follow`.

Groups of ten consecutive dossiers take the five procedures in turn. In each group, seven end
with their result returned (9 records: three statuses, two steps started and ended, two
more statuses), one is not accepted (2 records) and two are still in flight and overdue (6
records: the last step also overdue). That is 7.7 records and 0.2 overdue dossiers a dossier.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from aiokafka import AIOKafkaProducer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contracts.catalog import builtin_catalog
from contracts.envelope import Envelope, envelope_headers
from contracts.events import TRANSITIONS, Transition, Transitions
from contracts.record_signing import Signer
from contracts.status import DossierStatus as S
from contracts.topics import Topics
from infra.dashboard import Board, apply_record, follow
from infra.harness.broker import ClientFiles
from infra.topics import provision
from streams.effects import SOURCE

FIRST_DAY = date(2026, 11, 2)
PER_DAY = 10_000  # a dossier code's sequence has four digits


@dataclass(frozen=True)
class Figures:
    records: int
    overdue: int
    ingest_per_s: float
    memory_bytes: int
    summary_ms: float
    summary_bytes: int
    written_s: float
    catch_up_s: float


def dossier_code(i: int) -> str:
    return f"000.00.31.H26-{FIRST_DAY + timedelta(days=i // PER_DAY):%y%m%d}-{i % PER_DAY:04d}"


def dossier_transitions(i: int, procedure: str, steps: list[tuple[str, str]], at: datetime) -> list[Transition]:
    """The monitoring records of dossier ``i`` (see the module's docstring)."""
    code, kind = dossier_code(i), i % 10

    def status(value: S, reason: str | None = None) -> Transition:
        return Transition(dossier_id=code, procedure=procedure, state=value.label, status=value, reason=reason, at=at)

    def step(name: str, agency: str, state: str, reason: str | None = None, took: int | None = None) -> Transition:
        return Transition(
            dossier_id=code,
            procedure=procedure,
            step=name,
            agency=agency,
            state=state,
            reason=reason,
            at=at,
            duration_ms=took,
        )

    if kind == 7:
        return [status(S.NEWLY_REGISTERED), status(S.NOT_ACCEPTED, "mother not found in the population registry")]
    out = [status(S.NEWLY_REGISTERED), status(S.ACCEPTED), status(S.PROCESSING)]
    if kind < 7:
        for name, agency in steps[:2]:
            out += [step(name, agency, "running"), step(name, agency, "succeeded", took=180)]
        return [*out, status(S.PROCESSED), status(S.RESULT_RETURNED)]
    due = FIRST_DAY - timedelta(days=1 + i % 30)
    return [
        *out,
        step(*steps[0], "running"),
        step(*steps[0], "overdue", f"step due {due}"),
        Transition(
            dossier_id=code,
            procedure=procedure,
            state="overdue",
            reason=f"due {due}; apology sent, new date {due + timedelta(days=3)}",
            at=at,
        ),
    ]


def monitor_records(dossiers: int) -> list[tuple[bytes, bytes]]:
    """(key, value) of every monitoring record of ``dossiers`` dossiers, each dossier's in order."""
    procedures = [(p.id, [(s.id, s.agency) for s in p.steps]) for p in builtin_catalog().values()]
    at = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    out = []
    for i in range(dossiers):
        procedure, steps = procedures[(i // 10) % len(procedures)]
        code = dossier_code(i)
        correlation = f"bench-{i}"
        for t in dossier_transitions(i, procedure, steps, at):
            batch = Transitions(transitions=[t]).model_dump(mode="json")  # one per record: the most records
            envelope = Envelope(source=SOURCE, type=TRANSITIONS, subject=code, correlationid=correlation, data=batch)
            out.append((code.encode(), envelope.to_bytes()))
    return out


def resident_bytes() -> int:
    """This process's resident memory now (Linux)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def ingest(records: list[tuple[bytes, bytes]], topics: Topics) -> tuple[Board, float, int]:
    """A board fed ``records`` in this process, the CPU seconds it took and how much the resident
    memory grew meanwhile (the board, and what the allocator keeps of the parsing)."""
    board, before = Board(), resident_bytes()
    started = time.process_time()
    for _, value in records:
        apply_record(board, topics, topics.monitor, value, [])
    return board, time.process_time() - started, resident_bytes() - before


def summary_cost(board: Board, rounds: int = 20) -> tuple[float, int]:
    """Median milliseconds of ``summary()`` plus its JSON encoding (as the SSE stream sends it),
    and that JSON's size in bytes."""
    times, size = [], 0
    for _ in range(rounds):
        started = time.perf_counter()
        size = len(json.dumps(board.summary(), ensure_ascii=False).encode())
        times.append(time.perf_counter() - started)
    return sorted(times)[len(times) // 2] * 1000, size


async def catch_up(
    clients: ClientFiles, records: list[tuple[bytes, bytes]], expected: Board, timeout_s: float = 300
) -> tuple[float, float]:
    """Write ``records`` to a fresh monitoring topic as the hub (with a signature's headers, so
    they have the hub's size; :func:`follow` does not verify them), then the seconds that took and
    the seconds :func:`follow`, as the operator, takes from its start until its board has made as
    many changes as ``expected`` (and then holds the same dossiers)."""
    topics = Topics(namespace=f"bench-dashboard-{os.getpid()}-{int(time.time())}.")
    await provision(clients.client("admin"), topics, f"{topics.namespace}hub")
    headers = envelope_headers() + Signer("hub-bench", Ed25519PrivateKey.generate()).headers(records[0][1])
    producer = AIOKafkaProducer(**clients.client("hub").aiokafka(), acks="all", linger_ms=20, max_batch_size=256 * 1024)
    await producer.start()
    started = time.monotonic()
    try:
        for key, value in records:
            await producer.send(topics.monitor, key=key, value=value, headers=headers)
        await producer.flush()
    finally:
        await producer.stop()
    written = time.monotonic() - started
    board = Board()
    started = time.monotonic()
    reader = asyncio.create_task(follow(clients.client("operator"), topics, board))
    try:
        while board.version < expected.version:
            if reader.done():
                reader.result()  # raises what stopped it
            if time.monotonic() - started > timeout_s:
                raise TimeoutError(f"follow() made {board.version} of {expected.version} changes in {timeout_s:.0f} s")
            await asyncio.sleep(0.05)
        caught_up = time.monotonic() - started
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
    if (board.dossiers, board.overdue) != (expected.dossiers, expected.overdue):
        raise RuntimeError("the board follow() filled differs from the one fed in this process")
    return written, caught_up


def measure(dossiers: int, clients: ClientFiles) -> Figures:
    records = monitor_records(dossiers)
    board, cpu_s, grown = ingest(records, Topics())
    summary_ms, summary_size = summary_cost(board)
    written_s, catch_up_s = asyncio.run(catch_up(clients, records, board))
    return Figures(
        records=len(records),
        overdue=len(board.overdue),
        ingest_per_s=len(records) / cpu_s,
        memory_bytes=grown,
        summary_ms=summary_ms,
        summary_bytes=summary_size,
        written_s=written_s,
        catch_up_s=catch_up_s,
    )


def report(dossiers: int, f: Figures) -> list[str]:
    return [
        f"• dashboard, {dossiers:,} dossiers: {f.records:,} records on hub.monitor.transitions, {f.overdue:,} overdue",
        f"  Board ingest in this process: {f.ingest_per_s:,.0f} records/s (CPU); resident memory grew "
        f"{f.memory_bytes / 2**20:.1f} MiB",
        f"  summary() and its JSON: {f.summary_ms:.2f} ms (median of 20), {f.summary_bytes:,} bytes",
        f"  written as the hub in {f.written_s:.1f} s; follow() as the operator caught up in {f.catch_up_s:.1f} s "
        f"({f.records / f.catch_up_s:,.0f} records/s)",
    ]
