"""Inbound SOAP gateway for legacy one-stop systems (agency code ``onestop``).

Legacy one-stop software files dossiers for any catalog procedure with ``FileDossier`` and asks
``GetDossierStatus`` (WSDL: ``contracts/wsdl/filing.wsdl``, served at ``?wsdl``). The gateway plays
the ``onestop`` agency's part on Kafka, like every connector: filings go to
``agency.onestop.outbox`` as ``vn.lienthong.dossier.filed`` envelopes, and the status updates the
hub sends to ``agency.onestop.inbox`` feed the answers to status queries.

A filing is checked before it is accepted — procedure known, filing JSON valid for it — and
refused with a ``soap:Client`` fault naming the SOAP element and the rule. :class:`FilingDesk` is
that SOAP endpoint alone, writing through an injected ``send``; :class:`FilingGateway` serves it
with the Kafka producer and the status consumer.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from importlib import resources

import structlog
from aiohttp import web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pydantic import ValidationError

from connectors.http_server import HttpServer
from connectors.soap_server import request_element, soap_fault, soap_response
from contracts.catalog import Procedure, canonical_filing, procedure_for
from contracts.envelope import Envelope, filing_envelope
from contracts.errors import FilingRejected, IdentifierError, SoapClientFault
from contracts.events import DOSSIER_STATUS, DossierFiled, StatusUpdate
from contracts.identifiers import check_dossier_code
from contracts.status import Channel, DossierStatus
from contracts.topics import Send, Topics

log = structlog.get_logger("lienthong.onestop")
NS = "urn:lienthong:filing:v1"
AGENCY = "onestop"
PATH = "/soap/filing"
_WSDL = (resources.files("contracts") / "wsdl" / "filing.wsdl").read_text("utf-8")  # served with this desk's address


@dataclass
class KnownStatus:
    status: DossierStatus
    reason: str | None = None


class FilingDesk:
    """The SOAP endpoint: checks filings, writes accepted ones with ``send`` to ``outbox`` and
    answers status queries from ``statuses``."""

    def __init__(
        self, catalog: Mapping[str, Procedure], outbox: str, send: Send, agency_eid: str = "000.00.31.H26"
    ) -> None:
        self._catalog = catalog
        self._outbox = outbox
        self._send = send
        self._agency_eid = agency_eid
        self._sequence = random.Random().randrange(5000, 9000)
        self.statuses: dict[str, KnownStatus] = {}
        self.address = ""  # where the desk is served; the WSDL it hands out points there
        self.app = web.Application()
        self.app.add_routes([web.get(PATH, self._wsdl), web.post(PATH, self._call)])

    def note(self, update: StatusUpdate) -> None:
        """Remember the hub's latest status of a dossier, for status queries."""
        self.statuses[update.dossier_id] = KnownStatus(update.status, update.reason)

    async def _wsdl(self, _: web.Request) -> web.Response:
        return web.Response(
            text=_WSDL.replace("http://127.0.0.1:8091/soap/filing", self.address), content_type="text/xml"
        )

    async def _call(self, request: web.Request) -> web.Response:
        try:
            operation, fields = request_element(await request.read(), NS)
            if operation == "FileDossierRequest":
                return soap_response(NS, "FileDossierResponse", await self._file(fields))
            if operation == "GetDossierStatusRequest":
                return soap_response(NS, "GetDossierStatusResponse", self._status(fields))
            raise SoapClientFault(
                f"unknown operation {operation}; this service offers FileDossier and GetDossierStatus"
            )
        except SoapClientFault as exc:
            return soap_fault("soap:Client", str(exc))

    async def _file(self, fields: dict[str, str]) -> dict[str, str]:
        try:
            procedure = procedure_for(self._catalog, fields.get("Procedure", ""))
        except FilingRejected as exc:  # the catalog names the field "procedure"; the filer wrote <Procedure>
            raise SoapClientFault(f"Procedure: {str(exc).removeprefix('procedure: ')}") from None
        try:
            filing = json.loads(fields.get("FilingJson") or "")
        except ValueError as exc:
            raise SoapClientFault(f"FilingJson: not JSON: {exc}") from None
        try:
            canonical = canonical_filing(procedure, filing)
        except FilingRejected as exc:
            raise SoapClientFault(f"FilingJson: {exc}") from None
        dossier_id = fields.get("DossierCode") or self._new_code()
        try:
            check_dossier_code(dossier_id)
        except IdentifierError as exc:
            raise SoapClientFault(f"DossierCode: {exc}") from None
        try:
            channel = Channel(int(fields.get("Channel") or Channel.IN_PERSON))
        except ValueError:
            raise SoapClientFault(f"Channel: {fields.get('Channel')!r} is not a channel (1, 2 or 3)") from None
        filed = DossierFiled(
            dossier_id=dossier_id,
            procedure=procedure.id,
            received_at=datetime.now(UTC),
            channel=channel,
            filed_by=AGENCY,
            filing=canonical.model_dump(mode="json"),
        )
        envelope = filing_envelope(filed, "/connector/onestop")
        await self._send(self._outbox, dossier_id.encode(), envelope.to_bytes())
        status = self.statuses.setdefault(dossier_id, KnownStatus(DossierStatus.NEWLY_REGISTERED)).status
        log.info("dossier filed over SOAP", dossier_id=dossier_id, procedure=procedure.id)
        return {"DossierCode": dossier_id, "Status": str(int(status)), "Label": status.label}

    def _status(self, fields: dict[str, str]) -> dict[str, str]:
        dossier_id = fields.get("DossierCode", "")
        known = self.statuses.get(dossier_id)
        if known is None:
            raise SoapClientFault(f"DossierCode: no dossier {dossier_id!r} was filed through this gateway")
        answer = {"DossierCode": dossier_id, "Status": str(int(known.status)), "Label": known.status.label}
        if known.reason:
            answer["Reason"] = known.reason
        return answer | {"Final": "true" if known.status.is_final else "false"}

    def _new_code(self) -> str:
        self._sequence += 1
        return f"{self._agency_eid}-{date.today():%y%m%d}-{self._sequence % 10000:04d}"


class FilingGateway:
    """The filing desk served on 127.0.0.1, with its Kafka producer and status consumer."""

    def __init__(
        self, bootstrap: str, topics: Topics, catalog: Mapping[str, Procedure], agency_eid: str = "000.00.31.H26"
    ) -> None:
        self._bootstrap = bootstrap
        self._topics = topics
        self.desk = FilingDesk(catalog, topics.outbox(AGENCY), self._send, agency_eid)
        self._server = HttpServer(self.desk.app)
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task | None = None

    @property
    def address(self) -> str:
        return self.desk.address

    async def start(self, port: int = 0) -> None:
        self._producer = AIOKafkaProducer(bootstrap_servers=self._bootstrap, acks="all", enable_idempotence=True)
        await self._producer.start()
        self._consumer = AIOKafkaConsumer(
            self._topics.inbox(AGENCY),
            bootstrap_servers=self._bootstrap,
            group_id=f"{self._topics.namespace}onestop-gateway",
            auto_offset_reset="earliest",
        )
        await self._consumer.start()
        self._task = asyncio.create_task(self._follow_statuses(), name="onestop-statuses")
        await self._server.start(port)
        self.desk.address = f"{self._server.base_url}{PATH}"
        log.info("one-stop SOAP gateway listening", address=self.address)

    async def stop(self) -> None:
        await self._server.stop()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for client in (self._consumer, self._producer):
            if client is not None:
                await client.stop()

    async def _send(self, topic: str, key: bytes, value: bytes) -> None:
        assert self._producer is not None, "FilingGateway.start() has not run"
        await self._producer.send_and_wait(topic, key=key, value=value)

    async def _follow_statuses(self) -> None:
        assert self._consumer is not None
        async for record in self._consumer:
            try:
                envelope = Envelope.from_bytes(record.value)
                if envelope.type == DOSSIER_STATUS:
                    self.desk.note(envelope.payload(StatusUpdate))
            except ValidationError:
                continue


async def file_over_soap(gateway: FilingGateway, procedure: str, filing: dict) -> str:
    """File through the gateway as a legacy one-stop system would, with zeep; returns the dossier code."""
    import httpx
    import zeep
    from zeep.proxy import AsyncServiceProxy
    from zeep.transports import AsyncTransport

    transport = AsyncTransport(client=httpx.AsyncClient(timeout=10))
    try:
        client = zeep.AsyncClient(str(resources.files("contracts") / "wsdl" / "filing.wsdl"), transport=transport)
        service = AsyncServiceProxy(client, client.wsdl.bindings[f"{{{NS}}}FilingBinding"], address=gateway.address)
        answer = await service.FileDossier(Procedure=procedure, FilingJson=json.dumps(filing, ensure_ascii=False))
        return answer.DossierCode
    finally:
        await transport.aclose()
        transport.wsdl_client.close()
