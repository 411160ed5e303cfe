"""Malformed and forged messages for the chaos run, and the check that each was dead-lettered.

:func:`inject` writes records an attacker or a broken agency system could write to the
Kafka-native agencies' outboxes, as each agency's own principal (so the broker's ACLs let them
in): garbage, invalid envelopes, hostile JSON, bad signatures, oversize records, events the
sender may not send, replies and requests about dossiers the hub does not know. Each
:class:`Kind` says the ``lienthong.dlq.code`` it must get, the stage that must refuse it and
words its reason must contain, as ingest (:mod:`streams.ingest`) and the router
(:mod:`streams.router`, :mod:`streams.saga`) decide them; :func:`check_dead_letters` then reads
the dead-letter topic as the operator and reports any record missing or refused for the wrong
reason.

Record ``seq`` of a run is of kind ``kinds[seq % len(kinds)]``, its "chaos id" is
``chaos-<run id>-<seq>`` and it is found in the dead-letter topic by it: ingest dead-letters a
record under its own key, which is the chaos id; orchestrate dead-letters the event ingest
forwarded, keyed by its dossier code, so the kinds refused there carry the chaos id as their
envelope id (ingest keeps it) and a dossier code of their own, ``CHAOS.<RUN>.<seq>-<yyMMdd>-NNNN``.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from aiokafka import AIOKafkaProducer
from pydantic import BaseModel

from contracts.agencies import AGENCIES, Transport
from contracts.envelope import Envelope, Headers, envelope_headers
from contracts.events import (
    DOSSIER_FILED,
    DOSSIER_WITHDRAWN,
    PAYMENT_NOTIFIED,
    STEP_REPLY,
    DossierFiled,
    DossierWithdrawn,
    Outcome,
    StepReply,
)
from contracts.record_signing import Signer
from contracts.topics import Topics, dlq_fields
from infra.harness.broker import ClientFiles
from infra.topics import partitions_of, reader
from streams.settings import HubSettings

OUTBOX_WRITERS = tuple(code for code, agency in AGENCIES.items() if agency.transport is Transport.KAFKA)
"""The agencies that write their own outbox (justice, tax, portal); bridged agencies' are the hub's."""
MAX_RECORD_BYTES: int = HubSettings.model_fields["max_record_bytes"].default
CLOCK_OFF_BY = timedelta(hours=1)  # well outside the hub's signature window (15 minutes by default)
PROGRESS_EVERY = 1000


class Record(NamedTuple):
    key: bytes
    value: bytes
    headers: Headers


@dataclass(frozen=True)
class Forge:
    """What the kinds build records from: the run, each outbox writer's signer, and (for the kinds
    that need one) a dossier the hub knows, filed by the portal."""

    run_id: str
    signers: Mapping[str, Signer]
    known_dossier: str | None = None

    def chaos_id(self, seq: int) -> str:
        return chaos_id(self.run_id, seq)

    def dossier(self, seq: int) -> str:
        """A dossier code of this record alone, which no agency ever filed."""
        tag = re.sub(r"[^0-9A-Z]", "", self.run_id.upper())[:16]
        return f"CHAOS.{tag}.{seq}-{date.today():%y%m%d}-{seq % 10_000:04d}"

    def sign(self, agency: str, value: bytes, at: datetime | None = None) -> Headers:
        return self.signers[agency].headers(value, at)

    def envelope(self, seq: int, agency: str, type_: str, data: BaseModel | dict[str, Any], subject: str) -> bytes:
        """An envelope from ``agency`` whose id is the record's chaos id."""
        return Envelope(
            id=self.chaos_id(seq),
            source=f"/agency/{agency}",
            type=type_,
            subject=subject,
            correlationid=f"chaos-{self.run_id}",
            data=data.model_dump(mode="json") if isinstance(data, BaseModel) else data,
        ).to_bytes()

    def reply(self, seq: int, agency: str) -> bytes:
        """A well-formed reply from ``agency`` about this record's (unknown) dossier."""
        reply = StepReply(step="chaos", action="chaos", agency=agency, outcome=Outcome.SUCCEEDED)
        return self.envelope(seq, agency, STEP_REPLY, reply, self.dossier(seq))

    def signed(self, seq: int, agency: str, value: bytes) -> Record:
        """``value`` under the chaos id, correctly signed by ``agency``: only its content is wrong."""
        return Record(self.chaos_id(seq).encode(), value, self.sign(agency, value))


Build = Callable[[Forge, str, int], Record]


@dataclass(frozen=True)
class Kind:
    """One way to send the hub what it must refuse, and how it must refuse it."""

    name: str
    code: str  # lienthong.dlq.code
    stage: str  # lienthong.dlq.stage starts with it: "ingest" or "orchestrate"
    reason_has: str  # lienthong.dlq.reason contains it
    build: Build  # (forge, agency, seq) -> the record
    agencies: tuple[str, ...] = OUTBOX_WRITERS  # whose outboxes it goes to, in turn
    needs_known_dossier: bool = False


def _next_agency(agency: str) -> str:
    return OUTBOX_WRITERS[(OUTBOX_WRITERS.index(agency) + 1) % len(OUTBOX_WRITERS)]


def _foreign_key(f: Forge, agency: str, seq: int) -> Record:
    value = f.reply(seq, agency)
    return Record(f.chaos_id(seq).encode(), value, f.sign(_next_agency(agency), value))


def _tampered(f: Forge, agency: str, seq: int) -> Record:
    value = f.reply(seq, agency)
    return Record(f.chaos_id(seq).encode(), value.replace(b'"succeeded"', b'"rejected"'), f.sign(agency, value))


def _signed_at(offset: timedelta) -> Build:
    def build(f: Forge, agency: str, seq: int) -> Record:
        value = f.reply(seq, agency)
        return Record(f.chaos_id(seq).encode(), value, f.sign(agency, value, datetime.now(UTC) + offset))

    return build


def _oversize(f: Forge, agency: str, seq: int) -> Record:
    # Over the hub's limit, well under the broker's 1 MB, signed: only the size is wrong.
    return f.signed(seq, agency, b'{"chaos": "' + b"x" * MAX_RECORD_BYTES + b'"}')


def _filing(f: Forge, agency: str, seq: int) -> Record:
    filed = DossierFiled(
        dossier_id=f.dossier(seq),
        procedure="land_transfer",
        received_at=datetime.now(UTC),
        channel=2,
        filed_by=agency,
        filing={},
    )
    return f.signed(seq, agency, f.envelope(seq, agency, DOSSIER_FILED, filed, f.dossier(seq)))


def _payment_notice(f: Forge, agency: str, seq: int) -> Record:
    return f.signed(seq, agency, f.envelope(seq, agency, PAYMENT_NOTIFIED, {}, f.dossier(seq)))


def _to_orchestrate(f: Forge, agency: str, seq: int, value: bytes) -> Record:
    """A valid, signed event keyed by its dossier code, as the Kafka binding says: ingest
    forwards it and orchestrate refuses it."""
    return Record(Envelope.from_bytes(value).subject.encode(), value, envelope_headers() + f.sign(agency, value))


def _reply_unknown(f: Forge, agency: str, seq: int) -> Record:
    return _to_orchestrate(f, agency, seq, f.reply(seq, agency))


def _withdraw_unknown(f: Forge, agency: str, seq: int) -> Record:
    value = f.envelope(seq, agency, DOSSIER_WITHDRAWN, DossierWithdrawn(reason="chaos"), f.dossier(seq))
    return _to_orchestrate(f, agency, seq, value)


def _withdraw_known(f: Forge, agency: str, seq: int) -> Record:
    assert f.known_dossier is not None
    value = f.envelope(seq, agency, DOSSIER_WITHDRAWN, DossierWithdrawn(reason="chaos"), f.known_dossier)
    return _to_orchestrate(f, agency, seq, value)


def _value(raw: bytes) -> Build:
    return lambda f, agency, seq: f.signed(seq, agency, raw)


KINDS: list[Kind] = [
    Kind("not_json", "rejected", "ingest", "not JSON", _value(b"chaos: this is not JSON {")),
    Kind("json_array", "rejected", "ingest", "expected a JSON object", _value(b"[1, 2, 3]")),
    Kind(
        "invalid_envelope",
        "rejected",
        "ingest",
        "invalid envelope",
        lambda f, agency, seq: f.signed(seq, agency, json.dumps({"specversion": "1.0", "chaos": seq}).encode()),
    ),
    Kind("deep_nesting", "rejected", "ingest", "nested too deeply", _value(b"[" * 100_000)),
    Kind("nan", "rejected", "ingest", "NaN is not a number", _value(b'{"amount_vnd": NaN}')),
    Kind("infinity", "rejected", "ingest", "Infinity is not a number", _value(b'{"amount_vnd": -Infinity}')),
    Kind(
        "unsigned",
        "signature",
        "ingest",
        "unsigned record",
        lambda f, agency, seq: Record(f.chaos_id(seq).encode(), f.reply(seq, agency), envelope_headers()),
    ),
    Kind("foreign_key", "signature", "ingest", "does not sign for this sender", _foreign_key),
    Kind("tampered", "signature", "ingest", "does not match the record", _tampered),
    Kind("stale", "stale", "ingest", "outside the", _signed_at(-CLOCK_OFF_BY)),
    Kind("signed_in_future", "stale", "ingest", "outside the", _signed_at(CLOCK_OFF_BY)),
    Kind("oversize", "rejected", "ingest", "-byte limit", _oversize),
    Kind("filing_not_allowed", "rejected", "ingest", "justice may not file 'land_transfer'", _filing, ("justice",)),
    Kind("payment_notice_not_allowed", "rejected", "ingest", "unexpected event type", _payment_notice),
    Kind("reply_unknown_dossier", "unprocessable", "orchestrate", "the hub does not know", _reply_unknown),
    Kind(
        "withdraw_unknown_dossier",
        "unprocessable",
        "orchestrate",
        "the hub does not know",
        _withdraw_unknown,
        ("justice", "portal"),
    ),
    Kind(
        "withdraw_not_entitled",
        "not_entitled",
        "orchestrate",
        "justice may not withdraw",
        _withdraw_known,
        ("justice",),
        needs_known_dossier=True,
    ),
]


def chaos_prefix(run_id: str) -> str:
    return f"chaos-{run_id}-"


def chaos_id(run_id: str, seq: int) -> str:
    return f"{chaos_prefix(run_id)}{seq}"


def kinds_for(known_dossier: str | None) -> list[Kind]:
    """The kinds a run injects: those needing a known dossier only when it has one."""
    return [k for k in KINDS if known_dossier or not k.needs_known_dossier]


def plan(kinds: list[Kind], seq: int) -> tuple[Kind, str]:
    """Record ``seq``'s kind, and the agency whose outbox it goes to (each kind's in turn)."""
    kind = kinds[seq % len(kinds)]
    return kind, kind.agencies[(seq // len(kinds)) % len(kind.agencies)]


async def inject(
    clients: ClientFiles,
    topics: Topics,
    keyring: Path,
    count: int,
    run_id: str,
    rate_per_s: float | None = None,
    progress: Callable[[int], None] | None = None,
    known_dossier: str | None = None,
) -> dict[str, int]:
    """Write ``count`` records round-robin over the kinds and the outboxes, each as its agency's
    principal with acks=all; returns how many of each kind (zeros included), for
    :func:`check_dead_letters`. ``known_dossier``: a dossier the hub knows, filed by the portal,
    for the kinds that need one (left out without it). ``progress`` is called with the number of
    records the broker has confirmed about every thousand records."""
    kinds = kinds_for(known_dossier)
    forge = Forge(run_id, {a: Signer.load(keyring, AGENCIES[a].keys[0]) for a in OUTBOX_WRITERS}, known_dossier)
    producers = {
        a: AIOKafkaProducer(
            **clients.client(AGENCIES[a].principal or a).aiokafka(), acks="all", enable_idempotence=True, linger_ms=5
        )
        for a in OUTBOX_WRITERS
    }
    counts = {k.name: 0 for k in kinds}
    started = time.monotonic()
    try:
        for producer in producers.values():
            await producer.start()
        in_flight: list[asyncio.Future[Any]] = []
        for seq in range(count):
            kind, agency = plan(kinds, seq)
            record = kind.build(forge, agency, seq)
            in_flight.append(
                await producers[agency].send(
                    topics.outbox(agency), key=record.key, value=record.value, headers=record.headers
                )
            )
            counts[kind.name] += 1
            if len(in_flight) == PROGRESS_EVERY or seq == count - 1:
                await asyncio.gather(*in_flight)
                in_flight.clear()
                if progress is not None:
                    progress(seq + 1)
            if rate_per_s and (ahead := started + (seq + 1) / rate_per_s - time.monotonic()) > 0:
                await asyncio.sleep(ahead)
    finally:
        for producer in producers.values():
            await producer.stop()
    return counts


@dataclass(frozen=True)
class Misfiled:
    """A dead letter for an injected record without the code, stage or reason its kind must get."""

    chaos_id: str
    kind: str
    code: str | None
    stage: str | None
    reason: str | None


@dataclass
class InjectionReport:
    run_id: str
    expected: dict[str, int]
    found: dict[str, int]
    missing: dict[str, list[str]] = field(default_factory=dict)  # kind -> chaos ids never dead-lettered
    misfiled: list[Misfiled] = field(default_factory=list)
    duplicates: int = 0  # further dead letters for a record already found (at-least-once)
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.missing and not self.misfiled

    def summary(self) -> str:
        lines = [
            f"run {self.run_id}: {sum(self.found.values())} of {sum(self.expected.values())} injected records "
            f"dead-lettered in {self.elapsed_s:.1f} s, {len(self.misfiled)} misfiled, {self.duplicates} duplicates"
        ]
        lines += [f"  missing {kind}: {len(ids)} (e.g. {ids[0]})" for kind, ids in self.missing.items() if ids]
        lines += [f"  misfiled: {m}" for m in self.misfiled[:20]]
        return "\n".join(lines)


def is_injected(key: bytes | None, value: bytes | None, run_id: str) -> bool:
    """Whether a dead letter (its key and value) is for one of run ``run_id``'s injected records."""
    return _seq_of(key, value, chaos_prefix(run_id)) is not None


def _seq_of(key: bytes | None, value: bytes | None, prefix: str) -> int | None:
    """The seq of the injected record this dead letter is for, if it is one of this run's."""
    if key and key.startswith(prefix.encode()):
        tail = key[len(prefix) :].decode(errors="replace")
    elif value and prefix.encode() in value:  # refused at orchestrate: the chaos id is the envelope id
        try:
            doc = json.loads(value)
        except ValueError:
            return None
        found = doc.get("id") if isinstance(doc, dict) else None
        if not isinstance(found, str) or not found.startswith(prefix):
            return None
        tail = found[len(prefix) :]
    else:
        return None
    return int(tail) if tail.isdigit() else None


async def check_dead_letters(
    clients: ClientFiles, topics: Topics, run_id: str, expected: dict[str, int], timeout_s: float
) -> InjectionReport:
    """Read the dead-letter topic as the operator until every record :func:`inject` reported in
    ``expected`` is found, or ``timeout_s`` passes; check each letter's code, stage and reason."""
    kinds = [k for k in KINDS if k.name in expected]
    total = sum(expected.values())
    planned = [plan(kinds, seq)[0] for seq in range(total)]
    if {k.name: sum(p is k for p in planned) for k in kinds} != expected:
        raise ValueError(f"{expected} is not what inject reports for a run of {total} records")
    prefix = chaos_prefix(run_id)
    pending = set(range(total))
    report = InjectionReport(run_id, dict(expected), dict.fromkeys(expected, 0))
    started = time.monotonic()
    consumer = reader(clients.client("operator"))
    await consumer.start()
    try:
        tps = await partitions_of(consumer, topics.deadletter)
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        while pending and time.monotonic() - started < timeout_s:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    seq = _seq_of(record.key, record.value, prefix)
                    if seq is None or seq >= total:
                        continue
                    kind = planned[seq]
                    if seq in pending:
                        pending.discard(seq)
                        report.found[kind.name] += 1
                    else:
                        report.duplicates += 1
                    dlq = dlq_fields(record.headers)
                    code, stage, reason = dlq.get("code"), dlq.get("stage"), dlq.get("reason")
                    if (
                        code != kind.code
                        or not (stage or "").startswith(kind.stage)
                        or kind.reason_has not in (reason or "")
                    ):
                        report.misfiled.append(Misfiled(chaos_id(run_id, seq), kind.name, code, stage, reason))
    finally:
        await consumer.stop()
    for seq in sorted(pending):
        report.missing.setdefault(planned[seq].name, []).append(chaos_id(run_id, seq))
    report.elapsed_s = time.monotonic() - started
    return report
