"""Inbound SOAP gateway for legacy one-stop systems (agency code ``onestop``).

Legacy one-stop software files dossiers for any catalog procedure with ``FileDossier`` and asks
``GetDossierStatus`` (WSDL: ``contracts/wsdl/filing.wsdl``, served at ``?wsdl``). The gateway plays
the ``onestop`` agency's part on Kafka, like every connector: filings go to
``agency.onestop.outbox`` as ``vn.lienthong.dossier.filed`` envelopes, and the status updates the
hub sends to ``agency.onestop.inbox`` feed the answers to status queries.

Every request is authenticated first (WS-Security UsernameToken with PasswordDigest,
:mod:`connectors.wsse`); each caller files and asks only under its own dossier-code prefix. A
filing is then checked — procedure known, filing JSON valid for it — and its code claimed on the
durable sequence (:mod:`connectors.dossier_codes`): the caller's own ``DossierCode`` under its
prefix, or the next one issued. A code already filed with other content is refused; the same
content again is answered as the first time. Refusals are ``soap:Client`` faults naming the SOAP
element and the rule. :class:`FilingDesk` is that SOAP endpoint alone, writing through an injected
``send`` and claiming through an injected ledger; :class:`FilingGateway` serves it with Kafka.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import structlog
from aiohttp import web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from connectors.dossier_codes import CodeLedger, Outcome
from connectors.http_server import HttpServer
from connectors.kafka_client import KafkaClient
from connectors.soap_server import body_element, parse_envelope, soap_fault, soap_response
from connectors.wsse import Authenticator, Caller
from contracts import strict_json
from contracts.agencies import AGENCIES, REGISTRY
from contracts.catalog import Procedure, canonical_filing, procedure_for
from contracts.dates import VIETNAM_TIME
from contracts.envelope import Envelope, envelope_headers, filing_envelope
from contracts.errors import FilingRejected, IdentifierError, SignatureRefused, SoapClientFault
from contracts.events import DOSSIER_STATUS, FILING_REFUSED, DossierFiled, FilingRefused, StatusUpdate
from contracts.identifiers import check_dossier_code
from contracts.record_signing import Signer, TrustStore
from contracts.status import Channel, DossierStatus
from contracts.topics import Send, Topics

log = structlog.get_logger("lienthong.onestop")
NS = "urn:lienthong:filing:v1"
AGENCY = "onestop"
PATH = "/soap/filing"
_STATUS_WINDOW = timedelta(minutes=15)  # as the sandbox agencies judge the hub's signatures
_WSDL = (resources.files("contracts") / "wsdl" / "filing.wsdl").read_text("utf-8")  # served with this desk's address


@dataclass
class KnownStatus:
    status: DossierStatus
    reason: str | None = None


class FilingDesk:
    """The SOAP endpoint: authenticates the caller, checks filings, claims their codes on
    ``ledger``, writes accepted ones with ``send`` to ``outbox`` and answers status queries from
    ``statuses``. ``auth_window_s`` bounds how far a token's Created may be from ``clock``."""

    def __init__(
        self,
        catalog: Mapping[str, Procedure],
        outbox: str,
        send: Send,
        callers: Mapping[str, Caller],
        ledger: CodeLedger,
        auth_window_s: float = 300,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._catalog = catalog
        self._outbox = outbox
        self._send = send
        self._auth = Authenticator(callers, auth_window_s, clock)
        self._ledger = ledger
        self._clock = clock
        self.statuses: dict[str, KnownStatus] = {}
        self.refused: dict[str, str] = {}  # dossier code -> why the hub did not take its filing
        self.address = ""  # where the desk is served; the WSDL it hands out points there
        self.app = web.Application()
        self.app.add_routes([web.get(PATH, self._wsdl), web.post(PATH, self._call)])

    def note(self, update: StatusUpdate) -> None:
        """Remember the hub's latest status of a dossier, for status queries."""
        self.statuses[update.dossier_id] = KnownStatus(update.status, update.reason)

    def note_refusal(self, refused: FilingRefused) -> None:
        """Remember that the hub did not take a filing: status queries about it are refused with why."""
        self.refused[refused.dossier_id] = refused.reason

    async def _wsdl(self, _: web.Request) -> web.Response:
        return web.Response(
            text=_WSDL.replace("http://127.0.0.1:8091/soap/filing", self.address), content_type="text/xml"
        )

    async def _call(self, request: web.Request) -> web.Response:
        try:
            envelope = parse_envelope(await request.read())
            try:
                caller = self._auth.authenticate(envelope)
            except SoapClientFault as exc:
                log.warning("SOAP caller refused", problem=str(exc), remote=request.remote)
                raise
            operation, fields = body_element(envelope, NS)
            if operation == "FileDossierRequest":
                return soap_response(NS, "FileDossierResponse", await self._file(caller, fields))
            if operation == "GetDossierStatusRequest":
                return soap_response(NS, "GetDossierStatusResponse", self._status(caller, fields))
            raise SoapClientFault(
                f"unknown operation {operation}; this service offers FileDossier and GetDossierStatus"
            )
        except SoapClientFault as exc:
            return soap_fault("soap:Client", str(exc))
        except Exception:  # a broken broker, say: a fault the caller can retry, the traceback in our log
            log.exception("SOAP request failed")
            return soap_fault("soap:Server", "the gateway could not complete the request; try again later")

    async def _file(self, caller: Caller, fields: dict[str, str]) -> dict[str, str]:
        try:
            procedure = procedure_for(self._catalog, fields.get("Procedure", ""))
        except FilingRejected as exc:  # the catalog names the field "procedure"; the filer wrote <Procedure>
            raise SoapClientFault(f"Procedure: {str(exc).removeprefix('procedure: ')}") from None
        try:
            filing = strict_json.loads(fields.get("FilingJson") or "")
        except ValueError as exc:
            raise SoapClientFault(f"FilingJson: not JSON: {exc}") from None
        try:
            canonical = canonical_filing(procedure, filing).model_dump(mode="json")
        except FilingRejected as exc:
            raise SoapClientFault(f"FilingJson: {exc}") from None
        try:
            channel = Channel(int(fields.get("Channel") or Channel.IN_PERSON))
        except ValueError:
            raise SoapClientFault(f"Channel: {fields.get('Channel')!r} is not a channel (1, 2 or 3)") from None
        given = fields.get("DossierCode") or None
        if given is not None:
            self._check_own(caller, given)
        content = json.dumps([procedure.id, int(channel), canonical], sort_keys=True, ensure_ascii=False)
        day = given.split("-")[-2] if given else f"{datetime.fromtimestamp(self._clock(), VIETNAM_TIME):%y%m%d}"
        claimed = await self._ledger.claim(caller.prefix, day, hashlib.sha256(content.encode()).hexdigest(), given)
        if claimed.outcome is Outcome.CONFLICT:
            raise SoapClientFault(
                f"DossierCode: {claimed.code} was already filed with other content; file under a new code"
            )
        if claimed.outcome is Outcome.EXHAUSTED:
            raise SoapClientFault(f"DossierCode: every sequence number under {caller.prefix} for {day} is used")
        dossier_id = claimed.code
        filed = DossierFiled(
            dossier_id=dossier_id,
            procedure=procedure.id,
            received_at=datetime.now(UTC),
            channel=channel,
            filed_by=AGENCY,
            filing=canonical,
        )
        # A repeat is written again too: the first write may have been lost, and the hub ignores a
        # filing it already has (same idempotency key).
        await self._send(self._outbox, dossier_id.encode(), filing_envelope(filed, "/connector/onestop").to_bytes())
        status = self.statuses.setdefault(dossier_id, KnownStatus(DossierStatus.NEWLY_REGISTERED)).status
        log.info("dossier filed over SOAP", dossier_id=dossier_id, procedure=procedure.id, caller=caller.username)
        return {"DossierCode": dossier_id, "Status": str(int(status)), "Label": status.label}

    def _status(self, caller: Caller, fields: dict[str, str]) -> dict[str, str]:
        dossier_id = fields.get("DossierCode", "")
        self._check_own(caller, dossier_id)
        if (refusal := self.refused.get(dossier_id)) is not None:
            raise SoapClientFault(f"DossierCode: the hub did not take this filing: {refusal}")
        known = self.statuses.get(dossier_id)
        if known is None:
            raise SoapClientFault(f"DossierCode: no dossier {dossier_id!r} was filed through this gateway")
        answer = {"DossierCode": dossier_id, "Status": str(int(known.status)), "Label": known.status.label}
        if known.reason:
            answer["Reason"] = known.reason
        return answer | {"Final": "true" if known.status.is_final else "false"}

    @staticmethod
    def _check_own(caller: Caller, code: str) -> None:
        """A well-formed dossier code under the caller's prefix, or a fault."""
        try:
            check_dossier_code(code)
        except IdentifierError as exc:
            raise SoapClientFault(f"DossierCode: {exc}") from None
        if code.rsplit("-", 2)[0] != caller.prefix:
            raise SoapClientFault(f"DossierCode: {code} is not under your prefix {caller.prefix}")


class KafkaClaimLog:
    """The claim log on its single-partition topic (``Topics.onestop_sequence``), read without a
    consumer group: every gateway instance reads all of it."""

    def __init__(self, producer: AIOKafkaProducer, consumer: AIOKafkaConsumer, topic: str) -> None:
        self._producer = producer
        self._consumer = consumer
        self._partition = TopicPartition(topic, 0)
        consumer.assign([self._partition])

    async def append(self, value: bytes) -> int:
        written = await self._producer.send_and_wait(self._partition.topic, value=value, partition=0)
        return written.offset

    async def read(self, start: int) -> list[tuple[int, bytes]]:
        if await self._consumer.position(self._partition) != start:
            self._consumer.seek(self._partition, start)  # before the log start: reset to the earliest kept
        batch = await self._consumer.getmany(self._partition, timeout_ms=500)
        return [(r.offset, r.value) for r in batch.get(self._partition, []) if r.value is not None]


class FilingGateway:
    """The filing desk served on 127.0.0.1, with its Kafka producer, status consumer and claim log.
    It signs what it writes with the onestop key from ``keyring`` and believes only status updates
    the hub signed."""

    def __init__(
        self,
        client: KafkaClient,
        topics: Topics,
        catalog: Mapping[str, Procedure],
        callers: Mapping[str, Caller],
        auth_window_s: float = 300,
        *,
        keyring: Path,
    ) -> None:
        self._client = client  # connected as the onestop principal
        self._signer = Signer.load(keyring, AGENCIES[AGENCY].keys[0])  # signs the filings it writes
        self._trust = TrustStore.load(keyring)  # status updates count only when the hub signed them
        self._topics = topics
        self._catalog = catalog
        self.callers = callers
        self._auth_window_s = auth_window_s
        self.desk: FilingDesk | None = None
        self._server: HttpServer | None = None
        self._clients: list[AIOKafkaProducer | AIOKafkaConsumer] = []
        self._task: asyncio.Task | None = None

    @property
    def address(self) -> str:
        return self.desk.address if self.desk else ""

    async def start(self, port: int = 0) -> None:
        producer = AIOKafkaProducer(**self._client.aiokafka(), acks="all", enable_idempotence=True)
        statuses = AIOKafkaConsumer(
            self._topics.inbox(AGENCY),
            **self._client.aiokafka(),
            group_id=self._topics.agency_group(AGENCY, "gateway"),
            auto_offset_reset="earliest",
        )
        claims = AIOKafkaConsumer(
            **self._client.aiokafka(), group_id=None, enable_auto_commit=False, auto_offset_reset="earliest"
        )
        for client in (producer, statuses, claims):
            await client.start()
            self._clients.append(client)

        async def send(topic: str, key: bytes, value: bytes) -> None:
            headers = [*envelope_headers(), *self._signer.headers(value)]
            await producer.send_and_wait(topic, key=key, value=value, headers=headers)

        ledger = CodeLedger(KafkaClaimLog(producer, claims, self._topics.onestop_sequence))
        self.desk = FilingDesk(
            self._catalog, self._topics.outbox(AGENCY), send, self.callers, ledger, self._auth_window_s
        )
        self._task = asyncio.create_task(self._follow_statuses(statuses), name="onestop-statuses")
        self._server = HttpServer(self.desk.app)
        await self._server.start(port)
        self.desk.address = f"{self._server.base_url}{PATH}"
        log.info("one-stop SOAP gateway listening", address=self.address, callers=len(self.callers))

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for client in reversed(self._clients):
            await client.stop()
        self._clients.clear()

    async def _follow_statuses(self, consumer: AIOKafkaConsumer) -> None:
        assert self.desk is not None
        async for record in consumer:
            try:
                self._trust.verify(record.value, record.headers, REGISTRY.hub.keys, _STATUS_WINDOW)
                envelope = Envelope.from_bytes(record.value)
                if envelope.type == DOSSIER_STATUS:
                    self.desk.note(envelope.payload(StatusUpdate))
                elif envelope.type == FILING_REFUSED:
                    self.desk.note_refusal(envelope.payload(FilingRefused))
            except SignatureRefused as exc:
                log.warning("status update refused", reason=str(exc))
            except Exception:  # one bad record must never stop the follower: the next may be fine
                log.exception("unreadable status update skipped", partition=record.partition, offset=record.offset)


async def file_over_soap(address: str, caller: Caller, procedure: str, filing: dict) -> str:
    """File at ``address`` as a legacy one-stop system would, with zeep and a UsernameToken
    (PasswordDigest); returns the dossier code."""
    import httpx
    import zeep
    from zeep.proxy import AsyncServiceProxy
    from zeep.transports import AsyncTransport
    from zeep.wsse.username import UsernameToken

    transport = AsyncTransport(client=httpx.AsyncClient(timeout=10))
    try:
        client = zeep.AsyncClient(
            str(resources.files("contracts") / "wsdl" / "filing.wsdl"),
            transport=transport,
            wsse=UsernameToken(caller.username, caller.secret, use_digest=True),
        )
        service = AsyncServiceProxy(client, client.wsdl.bindings[f"{{{NS}}}FilingBinding"], address=address)
        answer = await service.FileDossier(Procedure=procedure, FilingJson=json.dumps(filing, ensure_ascii=False))
        return answer.DossierCode
    finally:
        await transport.aclose()
        transport.wsdl_client.close()
