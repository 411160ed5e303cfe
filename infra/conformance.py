"""The conformance suite: drive an agency's own system through the cases its actions require.

A Kafka-native agency is reached through the broker, exactly as the hub reaches it: commands
signed with the hub's key on its inbox, replies read from its outbox. A REST or SOAP agency is
called through the hub's own bridge connector at its endpoint. For every action the registry
says it serves, the suite checks it

* answers with a schema-valid reply (a Kafka agency's signed by one of its registered keys),
* within the step's reply timeout,
* performs the effect once under a repeated idempotency key and answers the repeat with the
  first result,
* refuses on the facts, with a reason, rather than failing technically (when the cases give
  parameters it must refuse);

and that a Kafka agency ignores commands not addressed to it and commands not signed by the hub
(unsigned, forged, replayed). Each check is one row of the report; the suite exits non-zero when
any row fails.

The parameters of each action come from a cases file (TOML, one ``[actions.<name>]`` table with
``accepted`` and optionally ``refused`` parameters), because only the agency's team knows which
citizens its test system holds. A value ``"$<action>.<field>"`` is taken from that action's
accepted result (confirm_obligations confirms the notice compute_land_obligations issued).
"""

from __future__ import annotations

import asyncio
import re
import time
import tomllib
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import ConsumerRecord
from pydantic import ValidationError

from connectors.base import Connector
from connectors.kafka_client import KafkaClient
from connectors.rest import PopulationConnector
from connectors.soap import InsuranceConnector
from contracts.actions import ACTIONS
from contracts.agencies import REGISTRY, Agency
from contracts.envelope import Envelope, describe_error, envelope_headers
from contracts.errors import AgencyRejected, AgencyUnavailable, ReplyLater, SettingsError, SignatureRefused
from contracts.events import STEP_COMMAND, STEP_REPLY, Outcome, StepCommand, StepReply
from contracts.record_signing import Signer, TrustStore
from contracts.topics import Topics
from infra.topics import partitions_of

SIGNATURE_WINDOW = timedelta(minutes=15)  # the hub's window for what agencies write
DOSSIER_PREFIX = "000.00.00.H00"  # the dossier codes of conformance commands: no real one-stop shop's
_REFERENCE = re.compile(r"^\$([a-z][a-z0-9_]*)\.([a-z][a-z0-9_.]*)$")

ANSWERS = "answers with a schema-valid reply"
SIGNED = "signs its reply with its registered key"
IN_TIME = "answers within the reply timeout"
ONCE = "answers a repeated idempotency key with the first result"
REFUSES = "refuses on the facts, with a reason"
NOT_ADDRESSED = "ignores a command addressed to another agency"
UNSIGNED = "ignores an unsigned command"
FORGED = "ignores a command with a forged hub signature"
REPLAYED = "ignores a hub command signed outside the signature window"


@dataclass(frozen=True)
class Case:
    """The parameters an agency's test system accepts for one action, and (optionally) ones it refuses."""

    accepted: dict[str, Any]
    refused: dict[str, Any] | None = None

    def needs(self) -> set[str]:
        """The actions whose results this case's parameters use."""
        return {m.group(1) for v in _values(self.accepted, self.refused) if (m := _REFERENCE.match(str(v)))}


def _values(*params: Mapping[str, Any] | None) -> Iterable[Any]:
    for p in params:
        for value in (p or {}).values():
            yield from (_values(value) if isinstance(value, Mapping) else [value])


def load_cases(path: Path) -> dict[str, Case]:
    """Read a cases file; a broken one raises SettingsError naming the action and the problem."""
    try:
        tables = tomllib.loads(path.read_text(encoding="utf-8")).get("actions", {})
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"cases file {path}: {exc}") from None
    cases = {}
    for action, table in tables.items():
        if not isinstance(table, dict) or not isinstance(table.get("accepted"), dict):
            raise SettingsError(f"cases file {path}: actions.{action}: needs an `accepted` table of parameters")
        unknown = set(table) - {"accepted", "refused"}
        if unknown:
            raise SettingsError(f"cases file {path}: actions.{action}: unknown key(s) {', '.join(sorted(unknown))}")
        cases[action] = Case(table["accepted"], table.get("refused"))
    return cases


def _resolve(params: Mapping[str, Any], results: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """``params`` with each ``$<action>.<field>`` replaced by that field of the action's result."""

    def value(v: Any) -> Any:
        if isinstance(v, Mapping):
            return {k: value(x) for k, x in v.items()}
        if isinstance(v, str) and (m := _REFERENCE.match(v)):
            found: Any = results.get(m.group(1))
            for part in m.group(2).split("."):
                found = found.get(part) if isinstance(found, Mapping) else None
            if found is None:
                raise LookupError(f"{v}: {m.group(1)} gave no such result")
            return found
        return v

    return {k: value(v) for k, v in params.items()}


@dataclass
class Row:
    check: str
    action: str  # "" for a check of the agency as a whole
    passed: bool | None  # None: not run (the detail says why)
    detail: str = ""

    @property
    def verdict(self) -> str:
        return {True: "pass", False: "FAIL", None: "skip"}[self.passed]


@dataclass
class Report:
    agency: str
    transport: str
    rows: list[Row] = field(default_factory=list)
    listener: Callable[[Row], None] | None = None  # told of each row as it is decided (progress)

    def add(self, row: Row) -> None:
        self.rows.append(row)
        if self.listener is not None:
            self.listener(row)

    @property
    def passed(self) -> bool:
        return all(row.passed is not False for row in self.rows)

    def lines(self) -> list[str]:
        """The report as a table, then one summary line."""
        width = max(len(r.check) for r in self.rows) + 2 if self.rows else 10
        awidth = max([len(r.action) for r in self.rows] + [6]) + 2
        out = [
            f"conformance of {self.agency} ({self.transport})",
            f"{'check':<{width}}{'action':<{awidth}}result  detail",
        ]
        out += [f"{r.check:<{width}}{r.action or '-':<{awidth}}{r.verdict:<8}{r.detail}" for r in self.rows]
        counts = {v: sum(1 for r in self.rows if r.verdict == v) for v in ("pass", "FAIL", "skip")}
        out.append(
            f"{self.agency}: {counts['pass']} passed, {counts['FAIL']} failed, {counts['skip']} skipped"
            f" — {'conforms' if self.passed else 'does not conform'}"
        )
        return out


def _order(actions: Iterable[str], cases: Mapping[str, Case]) -> list[str]:
    """The actions, each after those whose results its case uses."""
    ordered: list[str] = []

    def visit(action: str, path: tuple[str, ...]) -> None:
        if action in ordered or action in path:
            return
        for needed in sorted(cases[action].needs() if action in cases else ()):
            visit(needed, (*path, action))
        ordered.append(action)

    for action in sorted(actions):
        visit(action, ())
    return ordered


@dataclass(frozen=True)
class Answer:
    """What came back for one command: the reply (None: nothing in time) and how long it took."""

    reply: StepReply | None
    seconds: float
    problem: str = ""  # why the answer is not a valid reply (unsigned, not an envelope…)
    signed: bool | None = None  # a Kafka agency's answer: signed by one of its keys (None: no answer)
    key_id: str = ""  # the key that signed it


class KafkaProbe:
    """Writes commands to an agency's inbox as the hub does and reads what it writes to its outbox."""

    def __init__(self, client: KafkaClient, topics: Topics, agency: Agency, signer: Signer, trust: TrustStore) -> None:
        self._client, self._topics, self._agency = client, topics, agency
        self._signer, self._trust = signer, trust
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task | None = None
        self._answers: dict[str, list[tuple[ConsumerRecord, float]]] = defaultdict(list)
        self._arrived = asyncio.Event()
        self._dossiers: dict[str, tuple[str, str]] = {}  # idempotency key -> (dossier code, correlation id)

    async def __aenter__(self) -> KafkaProbe:
        try:
            await self._start()
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def _start(self) -> None:
        self._producer = AIOKafkaProducer(**self._client.aiokafka(), acks="all", enable_idempotence=True)
        await self._producer.start()
        self._consumer = AIOKafkaConsumer(**self._client.aiokafka(), enable_auto_commit=False)
        await self._consumer.start()
        name = self._topics.outbox(self._agency.code)
        outbox = await partitions_of(self._consumer, name)
        if not outbox:
            raise SettingsError(f"topic {name} does not exist: check LIENTHONG_TOPIC_NAMESPACE, or provision it")
        self._consumer.assign(outbox)
        await self._consumer.seek_to_end(*outbox)
        for tp in outbox:  # fix the start now: only what the agency writes from here on counts
            await self._consumer.position(tp)
        self._task = asyncio.create_task(self._read(), name="conformance-outbox")

    async def __aexit__(self, *_: object) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for client in (self._consumer, self._producer):
            if client is not None:
                await client.stop()

    async def _read(self) -> None:
        assert self._consumer is not None
        while True:
            batch = await self._consumer.getmany(timeout_ms=200)
            for records in batch.values():
                for record in records:
                    try:
                        cause = Envelope.from_bytes(record.value).causationid or ""
                    except (ValidationError, ValueError, TypeError):
                        cause = ""
                    self._answers[cause].append((record, time.monotonic()))
            if batch:
                self._arrived.set()

    def command(self, action: str, params: Mapping[str, Any], key: str, *, agency: str | None = None) -> Envelope:
        """A step command as the hub writes it, for a dossier of its own; a repeated ``key`` is the
        same command sent again (same dossier and correlation, a new event id), as the hub re-sends."""
        if key not in self._dossiers:
            dossier = f"{DOSSIER_PREFIX}-{datetime.now(UTC):%y%m%d}-{uuid.uuid4().int % 10_000:04d}"
            self._dossiers[key] = (dossier, str(uuid.uuid4()))
        dossier, correlation = self._dossiers[key]
        data = StepCommand(
            step=f"conformance_{action}",
            action=action,
            agency=agency or self._agency.code,
            params=dict(params),
            purpose="lienthong conformance suite: a test command, not a citizen's dossier",
        )
        return Envelope(
            source="/hub/conformance",
            type=STEP_COMMAND,
            subject=dossier,
            correlationid=correlation,
            idempotencykey=key,
            data=data.model_dump(mode="json"),
        )

    async def send(self, command: Envelope, signing: str = "hub") -> None:
        """Write ``command`` to the inbox signed by the hub, or ``unsigned``, ``forged`` or ``replayed``."""
        assert self._producer is not None
        value = command.to_bytes()
        if signing == "hub":
            headers = self._signer.headers(value)
        elif signing == "forged":  # the hub's key id, another key's signature
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

            headers = Signer(self._signer.key_id, Ed25519PrivateKey.generate()).headers(value)
        elif signing == "replayed":
            headers = self._signer.headers(value, datetime.now(UTC) - 4 * SIGNATURE_WINDOW)
        else:
            headers = []
        await self._producer.send_and_wait(
            self._topics.inbox(self._agency.code),
            key=command.subject.encode(),
            value=value,
            headers=[*envelope_headers(), *headers],
        )

    async def ask(self, command: Envelope, timeout_s: float) -> Answer:
        """Send ``command``, signed by the hub, and wait for the agency's reply to it."""
        sent = time.monotonic()
        await self.send(command)
        deadline = sent + timeout_s
        while not self._answers.get(command.id):
            if self._task is not None and self._task.done():
                self._task.result()  # the outbox reader died: say why, rather than time out on every row
            self._arrived.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return Answer(None, time.monotonic() - sent, f"no reply within {timeout_s:g} s")
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                pass
        record, at = self._answers[command.id][0]
        return self._answer(record, at - sent)

    def _answer(self, record: ConsumerRecord, seconds: float) -> Answer:
        """The reply in ``record``, or the problem that keeps it from being one."""
        try:
            key_id = self._trust.verify(
                record.value, record.headers, REGISTRY.outbox_keys(self._agency.code), SIGNATURE_WINDOW
            )
        except SignatureRefused as exc:
            return Answer(None, seconds, f"the hub would refuse the reply: {exc}", signed=False)
        try:
            envelope = Envelope.from_bytes(record.value)
            if envelope.type != STEP_REPLY:
                return Answer(None, seconds, f"a {envelope.type!r} event, not {STEP_REPLY!r}", True, key_id)
            return Answer(envelope.payload(StepReply), seconds, signed=True, key_id=key_id)
        except ValidationError as exc:
            return Answer(None, seconds, f"not a step reply: {describe_error(exc)}", True, key_id)

    def answered(self, commands: Iterable[Envelope]) -> list[str]:
        """The ids of ``commands`` the agency answered."""
        return [c.id for c in commands if self._answers.get(c.id)]


Exchange = Callable[[str, dict[str, Any], str], Awaitable[Answer]]
"""(action, params, idempotency key) -> the agency's :class:`Answer`."""


def _reply_problem(answer: Answer, action: str, agency: str) -> str | None:
    """Why ``answer`` is not a successful, schema-valid reply to ``action``; None when it is."""
    reply = answer.reply
    if reply is None:
        return answer.problem
    if (reply.action, reply.agency) != (action, agency):
        return f"the reply names action {reply.action!r} of {reply.agency!r}"
    if reply.outcome is not Outcome.SUCCEEDED:
        return _describe(answer)
    try:
        ACTIONS[action].result.model_validate(reply.result)
    except ValidationError as exc:
        return f"the result does not match its schema: {describe_error(exc)}"
    return None


def _describe(answer: Answer) -> str:
    if answer.reply is None:
        return answer.problem
    reason = answer.reply.reason
    return f"{answer.reply.outcome.value}: {reason}" if reason else f"{answer.reply.outcome.value}, no reason given"


async def _check_action(
    report: Report,
    exchange: Exchange,
    agency: Agency,
    action: str,
    case: Case | None,
    results: dict[str, dict],
    timeout_s: float,
) -> None:
    """The rows of one action: answered, (signed,) in time, once per key, refused on the facts."""
    spec = ACTIONS.get(action)
    if spec is None:
        return report.add(Row(ANSWERS, action, False, "not in the action catalog: load the procedures that declare it"))
    if case is None:
        return report.add(Row(ANSWERS, action, None, "no case for this action: give its parameters in a cases file"))
    try:
        params = _resolve(case.accepted, results)
        spec.params.model_validate(params)
    except LookupError as exc:
        return report.add(Row(ANSWERS, action, None, str(exc)))
    except ValidationError as exc:
        return report.add(Row(ANSWERS, action, None, f"the case's parameters are invalid: {describe_error(exc)}"))
    key = f"conformance-{uuid.uuid4()}"
    first = await exchange(action, params, key)
    if not agency.bridged:
        report.add(Row(SIGNED, action, first.signed, f"by {first.key_id}" if first.signed else first.problem))
    problem = _reply_problem(first, action, agency.code)
    report.add(Row(ANSWERS, action, problem is None, problem or "succeeded"))
    in_time = first.reply is not None and first.seconds <= timeout_s
    report.add(Row(IN_TIME, action, in_time, f"{first.seconds:.2f} s (timeout {timeout_s:g} s)"))
    if problem is None and first.reply is not None:
        results[action] = first.reply.result
        again = await exchange(action, params, key)
        report.add(_repeat_row(action, first.reply, again))
    else:
        report.add(Row(ONCE, action, None, "the first command did not succeed"))
    if case.refused is None:
        return report.add(Row(REFUSES, action, None, "the cases give no parameters it must refuse"))
    try:
        refused = _resolve(case.refused, results)
    except LookupError as exc:
        return report.add(Row(REFUSES, action, None, str(exc)))
    answer = await exchange(action, refused, f"conformance-{uuid.uuid4()}")
    reply = answer.reply
    ok = reply is not None and reply.outcome in (Outcome.REJECTED, Outcome.DOCUMENTS_REQUESTED)
    ok = ok and reply is not None and bool((reply.reason or "").strip())
    report.add(Row(REFUSES, action, ok, _describe(answer)))


def _repeat_row(action: str, first: StepReply, again: Answer) -> Row:
    """Whether the repeat of a command got the first command's answer."""
    if again.reply is None or again.reply.outcome is not Outcome.SUCCEEDED:
        return Row(ONCE, action, False, f"the repeat: {_describe(again)}")
    before, after = first.result, again.reply.result
    differ = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    if differ:
        verb = "differs" if len(differ) == 1 else "differ"
        return Row(ONCE, action, False, f"performed again: {', '.join(differ)} {verb} from the first answer")
    return Row(ONCE, action, True, "same result")


async def _check_actions(
    report: Report, exchange: Exchange, agency: Agency, cases: Mapping[str, Case], timeout_s: float
) -> dict[str, dict]:
    """The rows of every action the agency serves; returns the accepted results by action."""
    results: dict[str, dict] = {}
    for action in _order(agency.serves, cases):
        if action in agency.serves:
            await _check_action(report, exchange, agency, action, cases.get(action), results, timeout_s)
    return results


async def check_kafka_agency(
    report: Report, probe: KafkaProbe, agency: Agency, cases: Mapping[str, Case], timeout_s: float, quiet_s: float
) -> None:
    """Every row for a Kafka-native agency: its actions, then the commands it must ignore."""

    async def exchange(action: str, params: dict[str, Any], key: str) -> Answer:
        return await probe.ask(probe.command(action, params, key), timeout_s)

    results = await _check_actions(report, exchange, agency, cases, timeout_s)
    checks = {NOT_ADDRESSED: "hub", UNSIGNED: "unsigned", FORGED: "forged", REPLAYED: "replayed"}
    answered = next((action for action in results if action in cases), None)
    if answered is None:
        for check in checks:
            report.add(Row(check, "", None, "no command was answered, so silence would prove nothing"))
        return
    params = _resolve(cases[answered].accepted, results)
    other = next(code for code in sorted(REGISTRY.agencies) if code != agency.code)
    sent = {}
    for check, signing in checks.items():
        addressed = other if check == NOT_ADDRESSED else None
        sent[check] = probe.command(answered, params, f"conformance-{uuid.uuid4()}", agency=addressed)
        await probe.send(sent[check], signing)
    await asyncio.sleep(quiet_s)
    replied = set(probe.answered(sent.values()))
    for check, command in sent.items():
        done = command.id in replied
        report.add(Row(check, answered, not done, "it answered" if done else f"no reply in {quiet_s:g} s"))


async def check_bridged_agency(
    report: Report, connector: Connector, agency: Agency, cases: Mapping[str, Case], timeout_s: float
) -> None:
    """Every row for a REST or SOAP agency, called through the hub's bridge connector."""

    async def exchange(action: str, params: dict[str, Any], key: str) -> Answer:
        def reply(outcome: Outcome, result: dict | None = None, reason: str | None = None) -> StepReply:
            return StepReply(
                step="conformance",
                action=action,
                agency=agency.code,
                outcome=outcome,
                result=result or {},
                reason=reason,
            )

        started = time.monotonic()
        try:
            model = ACTIONS[action].params.model_validate(params)
            answer = reply(Outcome.SUCCEEDED, await asyncio.wait_for(connector.call(action, model, key), timeout_s))
        except ValidationError as exc:
            return Answer(None, 0, f"the case's parameters are invalid: {describe_error(exc)}")
        except AgencyRejected as exc:
            answer = reply(Outcome.REJECTED, reason=str(exc))
        except AgencyUnavailable as exc:
            answer = reply(Outcome.FAILED, reason=str(exc))
        except ReplyLater:
            return Answer(None, time.monotonic() - started, "it answers later, through its callback: not covered")
        except TimeoutError:
            return Answer(None, time.monotonic() - started, f"no answer within {timeout_s:g} s")
        return Answer(answer, time.monotonic() - started)

    await _check_actions(report, exchange, agency, cases, timeout_s)


BRIDGE_CONNECTORS: dict[str, Callable[[str, float], Connector]] = {
    "population": PopulationConnector,
    "insurance": InsuranceConnector,
}
"""The bridged agencies the suite can call: their answer comes back on the call (the payment
gateway's comes later, through the signed callback, which the suite does not cover)."""


@dataclass(frozen=True)
class Reach:
    """How the suite reaches the agency: the hub's Kafka client, topics and keyring, or an endpoint."""

    client: KafkaClient | None = None
    topics: Topics | None = None
    keyring: Path | None = None
    endpoint: str | None = None


async def conform(
    agency: Agency,
    cases: Mapping[str, Case],
    reach: Reach,
    *,
    timeout_s: float,
    quiet_s: float,
    listener: Callable[[Row], None] | None = None,
) -> Report:
    """Run every case for ``agency``; SettingsError when it cannot be reached as its transport says."""
    report = Report(agency.code, agency.transport.value, listener=listener)
    if agency.bridged:
        factory = BRIDGE_CONNECTORS.get(agency.code)
        if factory is None:
            raise SettingsError(f"{agency.code}: its answers come through a callback; the suite does not cover it")
        if not reach.endpoint:
            raise SettingsError(f"{agency.code} is called by the hub's bridge: give its endpoint (--endpoint)")
        connector = factory(reach.endpoint, timeout_s)
        try:
            await check_bridged_agency(report, connector, agency, cases, timeout_s)
        finally:
            await connector.aclose()
        return report
    if not agency.serves:
        raise SettingsError(f"{agency.code} serves no action: the hub never sends it commands")
    if reach.client is None or reach.topics is None or reach.keyring is None:
        raise SettingsError(f"{agency.code} is reached through Kafka: give the hub's client properties and keyring")
    signer = Signer.load(reach.keyring, REGISTRY.hub.keys[0])
    trust = TrustStore.load(reach.keyring)
    async with KafkaProbe(reach.client, reach.topics, agency, signer, trust) as probe:
        await check_kafka_agency(report, probe, agency, cases, timeout_s, quiet_s)
    return report
