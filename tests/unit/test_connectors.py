"""Connectors alone, without a broker. The REST and SOAP bridges talk to an agency played by an
``httpx.MockTransport`` (no server, no socket) that answers like the real one and keeps every
request it received, so the tests assert what the agency was sent and what reply the hub got back.
The inbound filing desk runs on aiohttp's test server with a list standing in for Kafka."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from lxml import etree
from zeep.wsse.username import UsernameToken

from connectors.base import perform
from connectors.dossier_codes import CodeLedger, MemoryClaimLog
from connectors.http_server import HttpServer, problem
from connectors.rest import PaymentConnector, PopulationConnector
from connectors.soap import InsuranceConnector
from connectors.soap_filing import FilingDesk
from connectors.wsse import CALLERS_SETTING, Caller, load_callers, write_callers
from contracts.actions import IssueHealthCard
from contracts.catalog import builtin_catalog
from contracts.dates import VIETNAM_TIME
from contracts.envelope import Envelope
from contracts.errors import AgencyRejected, Refused, SettingsError
from contracts.events import (
    DOSSIER_FILED,
    STEP_COMMAND,
    DossierFiled,
    FilingRefused,
    Outcome,
    StatusUpdate,
    StepCommand,
)
from contracts.status import DossierStatus
from streams.bridges import command_of
from tests.unit.fakes import Outbox

Answer = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


class Agency:
    """An agency behind an httpx.MockTransport: gives its answers in turn (the last one for every
    further request) and keeps each request it received."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []
        self.transport = httpx.MockTransport(self._answer)

    def _answer(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers[min(len(self.requests), len(self.answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            return answer(request)
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    def body(self, index: int = -1) -> dict:
        return json.loads(self.requests[index].content)


def problem_answer(status: int, detail: str) -> httpx.Response:
    """An agency's RFC 9457 problem document."""
    return httpx.Response(
        status,
        json={"type": "about:blank", "title": "Refused", "status": status, "detail": detail},
        headers={"Content-Type": "application/problem+json"},
    )


def command(agency: str, action: str, **params) -> StepCommand:
    return StepCommand(step=action, action=action, agency=agency, params=params, purpose="test")


CITIZEN = {"personal_id": "093195000123", "full_name": "Trần Thị Lan"}
RECORD = CITIZEN | {"date_of_birth": "1995-03-14", "sex": "female", "commune_code": "31333"}
VERIFY = command("population", "verify_citizen", **CITIZEN)
CARD = {
    "personal_id": "092226000042",
    "full_name": "Lê Minh Khang",
    "date_of_birth": "2026-01-01",
    "sex": "male",
    "province_code": "92",
}


async def population(agency: Agency, verify: StepCommand = VERIFY, *, attempts: int = 3, backoff_s: float = 0):
    connector = PopulationConnector("http://population.test", 2, transport=agency.transport)
    try:
        return await perform(
            connector, verify, "000.00.31.H26-261126-0777/verify", attempts=attempts, backoff_s=backoff_s
        )
    finally:
        await connector.aclose()


# REST: the population registry


async def test_a_2xx_answer_is_the_result_and_the_request_carries_the_idempotency_key():
    agency = Agency(httpx.Response(200, json=RECORD))
    reply = await population(agency)
    assert reply.outcome is Outcome.SUCCEEDED and reply.result == RECORD
    [request] = agency.requests
    assert (request.method, str(request.url)) == ("POST", "http://population.test/v1/citizens/verify")
    assert request.headers["Idempotency-Key"] == "000.00.31.H26-261126-0777/verify"
    assert agency.body() == CITIZEN


@pytest.mark.parametrize("status", [400, 404, 409, 422])
async def test_a_refusal_is_rejected_with_the_problem_detail_and_sent_once(status):
    agency = Agency(problem_answer(status, "personal ID 093195000123 is not in the population registry"))
    reply = await population(agency, attempts=3)
    assert reply.outcome is Outcome.REJECTED
    assert reply.reason == "personal ID 093195000123 is not in the population registry"
    assert len(agency.requests) == 1


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (
            problem_answer(503, "population registry is under maintenance"),
            "HTTP 503: population registry is under maintenance",
        ),
        (httpx.Response(502, text="Bad Gateway from the proxy"), "HTTP 502: Bad Gateway from the proxy"),
        (httpx.Response(500), "HTTP 500: Internal Server Error"),
        (httpx.ConnectError("connection refused"), "ConnectError: connection refused"),
        (httpx.ReadTimeout("timed out"), "ReadTimeout: timed out"),
        (
            httpx.Response(200, text="<html>maintenance</html>"),
            "HTTP 200 without a JSON body: '<html>maintenance</html>'",
        ),
    ],
)
async def test_an_exchange_that_keeps_failing_is_tried_each_attempt_then_reported(answer, reason):
    agency = Agency(answer)
    reply = await population(agency, attempts=3)
    assert reply.outcome is Outcome.FAILED
    assert reply.reason == f"population unavailable after 3 attempts: {reason}"
    assert len(agency.requests) == 3


async def test_a_failed_exchange_is_retried_with_growing_backoff_until_it_succeeds():
    agency = Agency(problem_answer(503, "maintenance"), httpx.ConnectError("refused"), httpx.Response(200, json=RECORD))
    started = time.monotonic()
    reply = await population(agency, attempts=3, backoff_s=0.05)
    assert reply.outcome is Outcome.SUCCEEDED and reply.result == RECORD
    assert len(agency.requests) == 3
    assert {r.headers["Idempotency-Key"] for r in agency.requests} == {"000.00.31.H26-261126-0777/verify"}
    assert time.monotonic() - started >= 0.05 + 0.1  # waited backoff, then twice backoff


async def test_invalid_params_are_rejected_without_calling_the_agency():
    agency = Agency(httpx.Response(200, json=RECORD))
    reply = await population(agency, command("population", "verify_citizen", personal_id="123", full_name="X"))
    assert reply.outcome is Outcome.REJECTED
    assert reply.reason.startswith("invalid verify_citizen request: personal_id: personal ID number must be 12 digits")
    assert agency.requests == []


@pytest.mark.parametrize(
    ("cmd", "reason"),
    [
        (command("population", "issue_health_card", **CARD), "population does not perform 'issue_health_card'"),
        (command("population", "fly_to_the_moon"), "population does not perform 'fly_to_the_moon'"),
    ],
)
async def test_an_action_of_another_agency_is_rejected_without_calling_the_agency(cmd, reason):
    agency = Agency(httpx.Response(200, json=RECORD))
    reply = await population(agency, cmd)
    assert (reply.outcome, reply.reason) == (Outcome.REJECTED, reason)
    assert agency.requests == []


# REST: the payment gateway


async def payment(agency: Agency, cmd: StepCommand, key: str = "000.00.31.H26-261126-0777/collect_fee"):
    connector = PaymentConnector(
        "http://payment.test", 2, "http://hub.test/callbacks/payment", transport=agency.transport
    )
    try:
        return await perform(connector, cmd, key, attempts=3, backoff_s=0)
    finally:
        await connector.aclose()


async def test_a_payment_request_is_created_and_answered_later_by_callback():
    agency = Agency(httpx.Response(201, json={"transaction_id": "PG00000001", "status": "pending"}))
    reply = await payment(agency, command("payment", "collect_payment", amount_vnd=50_000, description="Lệ phí"))
    assert reply is None
    [request] = agency.requests
    assert str(request.url) == "http://payment.test/v1/payments"
    assert agency.body() == {
        "amount_vnd": 50_000,
        "description": "Lệ phí",
        "reference": "000.00.31.H26-261126-0777/collect_fee",
        "callback_url": "http://hub.test/callbacks/payment",
    }


async def test_a_refused_payment_request_is_rejected_not_awaited():
    agency = Agency(problem_answer(409, "reference was created for 40000 VND, not 50000"))
    reply = await payment(agency, command("payment", "collect_payment", amount_vnd=50_000, description="Lệ phí"))
    assert reply.outcome is Outcome.REJECTED and reply.reason == "reference was created for 40000 VND, not 50000"
    assert len(agency.requests) == 1


async def test_a_refund_goes_to_the_transaction_and_its_answer_is_the_result():
    refunded = {"refund_id": "RF-PG1", "refunded_at": "2026-11-26T03:00:00+00:00"}
    agency = Agency(httpx.Response(201, json=refunded))
    reply = await payment(
        agency,
        command("payment", "refund_payment", transaction_id="PG/../1", amount_vnd=50_000),
        key="000.00.31.H26-261126-0777/refund_fee",
    )
    assert reply.outcome is Outcome.SUCCEEDED and reply.result == refunded
    [request] = agency.requests
    assert request.url.raw_path == b"/v1/payments/PG%2F..%2F1/refunds"  # the id cannot leave its path segment
    assert request.headers["Idempotency-Key"] == "000.00.31.H26-261126-0777/refund_fee"
    assert agency.body()["amount_vnd"] == 50_000


# SOAP: the insurance service

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
INSURANCE_NS = "urn:lienthong:insurance:v1"


def soap(status: int, body: str) -> httpx.Response:
    envelope = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<soap:Envelope xmlns:soap="{SOAP_ENV}">'
        f"<soap:Body>{body}</soap:Body></soap:Envelope>"
    )
    return httpx.Response(status, text=envelope, headers={"Content-Type": "text/xml; charset=utf-8"})


def soap_answer(element: str, **fields: str) -> httpx.Response:
    inner = "".join(f"<tns:{k}>{v}</tns:{k}>" for k, v in fields.items())
    return soap(200, f'<tns:{element} xmlns:tns="{INSURANCE_NS}">{inner}</tns:{element}>')


def soap_fault(code: str, message: str) -> httpx.Response:
    return soap(500, f"<soap:Fault><faultcode>{code}</faultcode><faultstring>{message}</faultstring></soap:Fault>")


def soap_request(request: httpx.Request) -> tuple[str, dict[str, str]]:
    """The operation a SOAP request asks for and its fields, as the agency reads them."""
    operation = etree.fromstring(request.content).find(f"{{{SOAP_ENV}}}Body")[0]
    return etree.QName(operation).localname, {etree.QName(f).localname: f.text for f in operation}


async def insurance(agency: Agency, cmd: StepCommand, *, attempts: int = 3):
    connector = InsuranceConnector("http://insurance.test/soap", 2, transport=agency.transport)
    try:
        return await perform(connector, cmd, "000.00.31.H26-261126-0777/card", attempts=attempts, backoff_s=0)
    finally:
        await connector.aclose()


CARD_ISSUED = soap_answer(
    "IssueHealthInsuranceCardResponse",
    CardNumber="TE1922226000042",
    BeneficiaryGroup="TE",
    ValidFrom="2026-01-01",
    ValidTo="2031-12-31",
)


@pytest.mark.parametrize(
    ("cmd", "answer", "sent", "result"),
    [
        (
            command("insurance", "issue_health_card", **CARD),
            CARD_ISSUED,
            (
                "IssueHealthInsuranceCardRequest",
                {
                    "PersonalId": "092226000042",
                    "FullName": "Lê Minh Khang",
                    "DateOfBirth": "2026-01-01",
                    "Sex": "male",
                    "ProvinceCode": "92",
                },
            ),
            {
                "card_number": "TE1922226000042",
                "beneficiary_group": "TE",
                "valid_from": "2026-01-01",
                "valid_to": "2031-12-31",
            },
        ),
        (
            command("insurance", "register_employer", unit_code="0100100079", unit_name="Công ty TNHH A", employees=3),
            soap_answer("RegisterEmployerResponse", UnitCode="0100100079", RegisteredAt="2026-11-26T03:00:00+00:00"),
            ("RegisterEmployerRequest", {"UnitCode": "0100100079", "UnitName": "Công ty TNHH A", "Employees": "3"}),
            {"unit_code": "0100100079", "registered_at": "2026-11-26T03:00:00+00:00"},
        ),
        (
            command(
                "insurance",
                "pay_funeral_allowance",
                deceased_id="093195000123",
                death_certificate_no="KT-1",
                beneficiary_id="092226000042",
                beneficiary_name="Lê Minh Khang",
            ),
            soap_answer("PayFuneralAllowanceResponse", PaymentRef="MT-000001", AmountVnd="23400000"),
            (
                "PayFuneralAllowanceRequest",
                {
                    "DeceasedId": "093195000123",
                    "DeathCertificateNo": "KT-1",
                    "BeneficiaryId": "092226000042",
                    "BeneficiaryName": "Lê Minh Khang",
                },
            ),
            {"payment_ref": "MT-000001", "amount_vnd": 23_400_000},
        ),
    ],
    ids=["issue_health_card", "register_employer", "pay_funeral_allowance"],
)
async def test_a_soap_answer_is_mapped_to_the_result(cmd, answer, sent, result):
    agency = Agency(answer)
    reply = await insurance(agency, cmd)
    assert reply.outcome is Outcome.SUCCEEDED and reply.result == result
    [request] = agency.requests
    operation, fields = soap_request(request)
    assert str(request.url) == "http://insurance.test/soap"
    assert request.headers["SOAPAction"] == f'"{INSURANCE_NS}#{operation.removesuffix("Request")}"'
    assert (operation, fields) == (sent[0], {"IdempotencyKey": "000.00.31.H26-261126-0777/card"} | sent[1])


@pytest.mark.parametrize("code", ["soap:Client", "soapenv:Client.Validation"])
async def test_a_soap_client_fault_is_a_refusal_sent_once(code):
    agency = Agency(soap_fault(code, "DateOfBirth: 2019-01-01 - group TE cards are only for children under 6"))
    reply = await insurance(agency, command("insurance", "issue_health_card", **CARD))
    assert reply.outcome is Outcome.REJECTED
    assert reply.reason == "DateOfBirth: 2019-01-01 - group TE cards are only for children under 6"
    assert len(agency.requests) == 1


async def test_a_soap_server_fault_is_retried_until_the_card_is_issued():
    agency = Agency(soap_fault("soap:Server", "registry temporarily unavailable"), CARD_ISSUED)
    reply = await insurance(agency, command("insurance", "issue_health_card", **CARD))
    assert reply.outcome is Outcome.SUCCEEDED and reply.result["card_number"] == "TE1922226000042"
    assert len(agency.requests) == 2


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (
            soap_fault("soap:Server", "registry temporarily unavailable"),
            "SOAP fault soap:Server: registry temporarily unavailable",
        ),
        (httpx.ConnectError("connection refused"), "ConnectError: connection refused"),
        (httpx.Response(503, text="Service Unavailable"), "TransportError: Server returned response (503)"),
    ],
)
async def test_a_failing_soap_exchange_is_reported_after_its_attempts(answer, reason):
    agency = Agency(answer)
    reply = await insurance(agency, command("insurance", "issue_health_card", **CARD), attempts=2)
    assert reply.outcome is Outcome.FAILED
    assert reply.reason.startswith(f"insurance unavailable after 2 attempts: {reason}")
    assert len(agency.requests) == 2


async def test_an_action_without_a_soap_operation_is_refused_without_a_request():
    agency = Agency(CARD_ISSUED)
    connector = InsuranceConnector("http://insurance.test/soap", 2, transport=agency.transport)
    try:
        with pytest.raises(AgencyRejected, match="insurance SOAP service has no operation for 'renew_card'"):
            await connector.call("renew_card", IssueHealthCard.model_validate(CARD), "k")
    finally:
        await connector.aclose()
    assert agency.requests == []


# The bridge's reading of an inbox record

STEP = {
    "step": "verify_mother",
    "action": "verify_citizen",
    "agency": "population",
    "params": CITIZEN,
    "purpose": "test",
}


def inbox_record(**changes) -> bytes:
    fields = {
        "source": "/hub/route",
        "type": STEP_COMMAND,
        "subject": "000.00.31.H26-261126-0777",
        "correlationid": "c-1",
        "idempotencykey": "000.00.31.H26-261126-0777/verify_mother",
        "data": STEP,
    }
    return Envelope(**fields | changes).to_bytes()


def test_an_inbox_record_gives_the_envelope_and_its_step_command():
    envelope, cmd = command_of("population", inbox_record())
    assert envelope.idempotencykey == "000.00.31.H26-261126-0777/verify_mother"
    assert (cmd.step, cmd.action, cmd.params) == ("verify_mother", "verify_citizen", CITIZEN)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json", "invalid command: Invalid JSON"),
        (inbox_record(type=DOSSIER_FILED), "population accepts only step commands, got 'vn.lienthong.dossier.filed'"),
        (inbox_record(data={"step": "verify_mother"}), "invalid command: action: Field required"),
        (inbox_record(idempotencykey=None), "command has no idempotencykey"),
    ],
)
def test_an_inbox_record_that_is_no_command_is_refused_with_the_reason(raw, reason):
    with pytest.raises(Refused) as info:
        command_of("population", raw)
    assert str(info.value).startswith(reason)


# The inbound SOAP filing desk (the one-stop gateway without Kafka)

FILING_NS = "urn:lienthong:filing:v1"
BUSINESS = {
    "enterprise_name": "Công ty TNHH Nông sản Lan Hậu Giang",
    "enterprise_type": "TNHH",
    "head_office": {"commune_code": "31360", "province_code": "92", "street": "Quốc lộ 1A"},
    "legal_representative": {
        "full_name": "Trần Thị Lan",
        "personal_id": "093195000123",
        "date_of_birth": "05/05/1995",
        "sex": "female",
        "title": "Giám đốc",
        "contact_address": {"commune_code": "31360"},
    },
    "main_business_line": {"code": "0118", "name": "Trồng rau, đậu các loại và trồng hoa"},
    "vat_method": "deduction",
    "charter_capital_vnd": 2_000_000_000,
    "employees": 12,
}
VI_THANH, CHAU_THANH_A = "000.00.31.H26", "000.00.32.H26"  # the two callers' dossier-code prefixes


@pytest.fixture
def callers(tmp_path) -> dict[str, Caller]:
    return write_callers(tmp_path / "callers.toml", {"vithanh": VI_THANH, "chauthanha": CHAU_THANH_A})


def filing_desk(callers: dict[str, Caller], claims: MemoryClaimLog, outbox: Outbox) -> FilingDesk:
    return FilingDesk(builtin_catalog(), "agency.onestop.outbox", outbox.send, callers, CodeLedger(claims))


@pytest.fixture
async def desk(callers):
    outbox = Outbox()
    desk = filing_desk(callers, MemoryClaimLog(), outbox)
    async with TestClient(TestServer(desk.app)) as client:
        desk.address = str(client.make_url("/soap/filing"))
        yield desk, client, outbox


def soap_request_body(operation: str, token: UsernameToken | None, **fields: str) -> bytes:
    """A SOAP 1.1 request, with ``token``'s WS-Security header as zeep writes it."""
    inner = "".join(f"<f:{k}>{v}</f:{k}>" for k, v in fields.items())
    envelope = etree.fromstring(
        f'<soap:Envelope xmlns:soap="{SOAP_ENV}" xmlns:f="{FILING_NS}"><soap:Body>'
        f"<f:{operation}Request>{inner}</f:{operation}Request></soap:Body></soap:Envelope>".encode()
    )
    if token is not None:
        token.apply(envelope, {})
    return etree.tostring(envelope)


def token_of(caller: Caller, **options) -> UsernameToken:
    return UsernameToken(caller.username, caller.secret, use_digest=True, **options)


async def post_soap(client: TestClient, body: bytes) -> tuple[int, dict[str, str]]:
    """POST a SOAP request; the HTTP status and the answer's fields (faultcode, faultstring on a fault)."""
    response = await client.post("/soap/filing", data=body, headers={"Content-Type": "text/xml"})
    answer = etree.fromstring(await response.read()).find(f"{{{SOAP_ENV}}}Body")[0]
    return response.status, {etree.QName(f).localname: f.text for f in answer}


async def soap_call(client: TestClient, caller: Caller, operation: str, **fields: str) -> tuple[int, dict[str, str]]:
    """``operation`` called by ``caller`` with a fresh UsernameToken (PasswordDigest)."""
    return await post_soap(client, soap_request_body(operation, token_of(caller), **fields))


def vietnam_today() -> str:
    return f"{datetime.now(VIETNAM_TIME):%y%m%d}"


async def test_a_valid_filing_is_sent_as_a_filed_dossier_and_its_status_can_be_asked(desk, callers):
    desk, client, outbox = desk
    vithanh = callers["vithanh"]
    status, filed = await soap_call(
        client, vithanh, "FileDossier", Procedure="business_registration", FilingJson=json.dumps(BUSINESS), Channel="2"
    )
    assert status == 200 and (filed["Status"], filed["Label"]) == ("1", "Mới đăng ký")
    dossier = filed["DossierCode"]
    assert dossier == f"{VI_THANH}-{vietnam_today()}-0001"  # the caller's prefix, today, the first number

    [(topic, key, value)] = outbox.records
    envelope = Envelope.from_bytes(value)
    assert (topic, key, envelope.type, envelope.subject) == (
        "agency.onestop.outbox",
        dossier.encode(),
        DOSSIER_FILED,
        dossier,
    )
    assert envelope.idempotencykey == f"filing/{dossier}"
    event = envelope.payload(DossierFiled)
    assert (event.procedure, event.channel, event.filed_by) == ("business_registration", 2, "onestop")
    assert event.filing["legal_representative"]["personal_id"] == "093195000123"

    assert await soap_call(client, vithanh, "GetDossierStatus", DossierCode=dossier) == (
        200,
        {"DossierCode": dossier, "Status": "1", "Label": "Mới đăng ký", "Final": "false"},
    )
    stopped = DossierStatus.PROCESSING_STOPPED
    desk.note(
        StatusUpdate(
            dossier_id=dossier,
            procedure="business_registration",
            status=stopped,
            label=stopped.label,
            reason="enterprise name already taken",
        )
    )
    assert await soap_call(client, vithanh, "GetDossierStatus", DossierCode=dossier) == (
        200,
        {
            "DossierCode": dossier,
            "Status": "8",
            "Label": "Dừng xử lý",
            "Reason": "enterprise name already taken",
            "Final": "true",
        },
    )
    _, fault = await soap_call(client, callers["chauthanha"], "GetDossierStatus", DossierCode=dossier)
    assert fault["faultstring"] == f"DossierCode: {dossier} is not under your prefix {CHAU_THANH_A}"


async def test_a_filing_the_hub_refused_is_a_fault_with_the_hubs_reason(desk, callers):
    desk, client, _ = desk
    vithanh = callers["vithanh"]
    _, filed = await soap_call(
        client, vithanh, "FileDossier", Procedure="business_registration", FilingJson=json.dumps(BUSINESS), Channel="2"
    )
    dossier = filed["DossierCode"]
    reason = f"dossier code {dossier} was already filed with other content: file under a new code"
    desk.note_refusal(FilingRefused(dossier_id=dossier, procedure="business_registration", reason=reason))
    status, fault = await soap_call(client, vithanh, "GetDossierStatus", DossierCode=dossier)
    assert status == 500 and fault["faultstring"] == f"DossierCode: the hub did not take this filing: {reason}"


async def test_a_dossier_code_the_one_stop_gave_under_its_prefix_is_kept(desk, callers):
    _, client, outbox = desk
    code = f"{VI_THANH}-261126-0777"
    _, filed = await soap_call(
        client,
        callers["vithanh"],
        "FileDossier",
        Procedure="business_registration",
        DossierCode=code,
        FilingJson=json.dumps(BUSINESS),
    )
    assert filed["DossierCode"] == code
    assert [key for _, key, _ in outbox.records] == [code.encode()]


async def test_the_same_code_again_is_answered_alike_and_with_other_content_is_a_fault(desk, callers):
    _, client, outbox = desk
    vithanh, code = callers["vithanh"], f"{VI_THANH}-261126-0777"
    fields = {"Procedure": "business_registration", "DossierCode": code, "FilingJson": json.dumps(BUSINESS)}
    first = await soap_call(client, vithanh, "FileDossier", **fields)
    assert (
        await soap_call(client, vithanh, "FileDossier", **fields)
        == first
        == (
            200,
            {"DossierCode": code, "Status": "1", "Label": "Mới đăng ký"},
        )
    )
    assert len({Envelope.from_bytes(v).idempotencykey for _, _, v in outbox.records}) == 1  # one dossier for the hub

    written = len(outbox.records)
    other = fields | {"FilingJson": json.dumps(BUSINESS | {"employees": 13})}
    status, fault = await soap_call(client, vithanh, "FileDossier", **other)
    assert (status, fault["faultcode"]) == (500, "soap:Client")
    assert fault["faultstring"] == f"DossierCode: {code} was already filed with other content; file under a new code"
    assert len(outbox.records) == written


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"Procedure": "marriage", "FilingJson": "{}"}, "Procedure: unknown procedure 'marriage' (known: "),
        ({"Procedure": "business_registration", "FilingJson": "{not json"}, "FilingJson: not JSON: "),
        (
            {"Procedure": "business_registration", "FilingJson": json.dumps({"enterprise_name": "X Y Z"})},
            "FilingJson: enterprise_type: Field required",
        ),
        (
            {"Procedure": "business_registration", "FilingJson": json.dumps(BUSINESS), "DossierCode": "HS-1"},
            "DossierCode: dossier code must look like",
        ),
        (
            {
                "Procedure": "business_registration",
                "FilingJson": json.dumps(BUSINESS),
                "DossierCode": f"{CHAU_THANH_A}-261126-0001",
            },
            f"DossierCode: {CHAU_THANH_A}-261126-0001 is not under your prefix {VI_THANH}",
        ),
        (
            {"Procedure": "business_registration", "FilingJson": json.dumps(BUSINESS), "Channel": "9"},
            "Channel: '9' is not a channel (1, 2 or 3)",
        ),
    ],
)
async def test_a_refused_filing_is_a_client_fault_naming_the_element_and_nothing_is_sent(
    desk, callers, fields, message
):
    _, client, outbox = desk
    status, fault = await soap_call(client, callers["vithanh"], "FileDossier", **fields)
    assert (status, fault["faultcode"]) == (500, "soap:Client")
    assert fault["faultstring"].startswith(message)
    assert outbox.records == []


def _unknown_caller() -> Caller:
    return Caller("nobody", "a-secret-nobody-was-given", VI_THANH)


@pytest.mark.parametrize(
    ("token", "message"),
    [
        (lambda c: None, "Security: a WS-Security UsernameToken with a PasswordDigest, Nonce and wsu:Created"),
        (lambda c: UsernameToken(c.username, c.secret), "Security: a WS-Security UsernameToken with a PasswordDigest"),
        (lambda c: token_of(replace(c, secret="the-wrong-password-entirely")), "authentication failed"),
        (lambda c: token_of(_unknown_caller()), "authentication failed"),
        (lambda c: token_of(c, created=datetime.now(UTC) - timedelta(minutes=6)), "Security: Created "),
        (lambda c: token_of(c, created=datetime.now(UTC) + timedelta(minutes=6)), "Security: Created "),
    ],
    ids=["no token", "password text", "wrong password", "unknown user", "created too early", "created too late"],
)
async def test_a_caller_that_does_not_authenticate_gets_a_fault_and_files_nothing(desk, callers, token, message):
    _, client, outbox = desk
    body = soap_request_body(
        "FileDossier", token(callers["vithanh"]), Procedure="business_registration", FilingJson=json.dumps(BUSINESS)
    )
    status, fault = await post_soap(client, body)
    assert (status, fault["faultcode"]) == (500, "soap:Client")
    assert fault["faultstring"].startswith(message)
    if message == "authentication failed":  # the same words whichever part of the credential was wrong
        assert fault["faultstring"] == message
    assert outbox.records == []


async def test_a_replayed_request_is_a_fault_and_files_nothing_more(desk, callers):
    _, client, outbox = desk
    body = soap_request_body(
        "FileDossier", token_of(callers["vithanh"]), Procedure="business_registration", FilingJson=json.dumps(BUSINESS)
    )
    assert (await post_soap(client, body))[0] == 200
    status, fault = await post_soap(client, body)
    assert (status, fault["faultstring"]) == (
        500,
        "Security: this Nonce was already used; a replayed request is refused",
    )
    assert len(outbox.records) == 1


async def test_codes_from_two_gateways_and_after_a_restart_never_collide(callers):
    claims, outbox = MemoryClaimLog(), Outbox()  # one claim topic, as two instances and a restart share it
    first, second = filing_desk(callers, claims, outbox), filing_desk(callers, claims, outbox)
    vithanh, fields = callers["vithanh"], {"Procedure": "business_registration", "FilingJson": json.dumps(BUSINESS)}
    async with TestClient(TestServer(first.app)) as one, TestClient(TestServer(second.app)) as two:
        answers = await asyncio.gather(*(soap_call(c, vithanh, "FileDossier", **fields) for c in [one, two] * 5))
        _, own = await soap_call(
            one, vithanh, "FileDossier", **fields, DossierCode=f"{VI_THANH}-{vietnam_today()}-0050"
        )
    restarted = filing_desk(callers, claims, outbox)
    async with TestClient(TestServer(restarted.app)) as three:
        answers += [await soap_call(three, vithanh, "FileDossier", **fields) for _ in range(2)]
        answers.append(await soap_call(three, callers["chauthanha"], "FileDossier", **fields))
    codes = [answer["DossierCode"] for _, answer in answers]
    today = vietnam_today()
    assert sorted(codes[:10]) == [f"{VI_THANH}-{today}-{n:04d}" for n in range(1, 11)]
    assert own["DossierCode"] == f"{VI_THANH}-{today}-0050"
    assert codes[10:] == [f"{VI_THANH}-{today}-0051", f"{VI_THANH}-{today}-0052", f"{CHAU_THANH_A}-{today}-0001"]
    assert len({key for _, key, _ in outbox.records}) == len(outbox.records) == 14


async def test_requests_the_desk_cannot_serve_are_client_faults(desk, callers):
    _, client, _ = desk
    vithanh = callers["vithanh"]
    _, unknown = await soap_call(client, vithanh, "GetDossierStatus", DossierCode=f"{VI_THANH}-261126-0001")
    assert unknown["faultstring"] == (
        f"DossierCode: no dossier '{VI_THANH}-261126-0001' was filed through this gateway"
    )
    _, other = await soap_call(client, vithanh, "CancelDossier", DossierCode=f"{VI_THANH}-261126-0001")
    assert other["faultstring"].startswith("unknown operation CancelDossierRequest")
    response = await client.post("/soap/filing", data=b"<not-xml")
    assert response.status == 500 and b"request is not well-formed XML" in await response.read()


async def test_a_broken_claim_log_is_a_server_fault_without_a_traceback(callers):
    class Down(MemoryClaimLog):
        async def append(self, value: bytes) -> int:
            raise ConnectionError("broker unavailable")

    outbox = Outbox()
    async with TestClient(TestServer(filing_desk(callers, Down(), outbox).app)) as client:
        _, fault = await soap_call(
            client,
            callers["vithanh"],
            "FileDossier",
            Procedure="business_registration",
            FilingJson=json.dumps(BUSINESS),
        )
    assert fault == {
        "faultcode": "soap:Server",
        "faultstring": "the gateway could not complete the request; try again later",
    }
    assert outbox.records == []


def test_the_callers_file_is_required_and_generated_with_fresh_secrets(tmp_path):
    with pytest.raises(SettingsError, match=f"^{CALLERS_SETTING}: not set"):
        load_callers(None)
    with pytest.raises(SettingsError, match=f"^{CALLERS_SETTING}: cannot read"):
        load_callers(tmp_path / "missing.toml")
    one = write_callers(tmp_path / "one.toml", {"vithanh": VI_THANH})
    two = write_callers(tmp_path / "two.toml", {"vithanh": VI_THANH})
    assert one["vithanh"].prefix == VI_THANH and one["vithanh"].secret != two["vithanh"].secret
    assert (tmp_path / "one.toml").stat().st_mode & 0o777 == 0o600
    (tmp_path / "shared.toml").write_text(
        f'[a]\nsecret = "{"s" * 20}"\nprefix = "{VI_THANH}"\n[b]\nsecret = "{"t" * 20}"\nprefix = "{VI_THANH}"\n'
    )
    with pytest.raises(SettingsError, match=f"prefix {VI_THANH} is already bound to a"):
        load_callers(tmp_path / "shared.toml")


async def test_the_wsdl_points_at_the_desk(desk):
    desk, client, _ = desk
    wsdl = await (await client.get("/soap/filing", params={"wsdl": ""})).text()
    assert f'location="{desk.address}"' in wsdl and "FileDossier" in wsdl


# The shared HTTP server (callback endpoint, filing gateway, sandbox agencies)


async def test_the_http_server_serves_on_a_free_local_port_until_stopped():
    async def down(_: web.Request) -> web.Response:
        return problem(503, "Service Unavailable", "population registry is under maintenance")

    app = web.Application()
    app.add_routes([web.get("/healthz", down)])
    server = HttpServer(app)
    await server.start()
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        response = await client.get("/healthz")
        await server.stop()
        with pytest.raises(httpx.ConnectError):
            await client.get("/healthz")
    assert server.base_url == f"http://127.0.0.1:{server.port}" and server.port > 0
    assert (response.status_code, response.headers["Content-Type"]) == (503, "application/problem+json; charset=utf-8")
    assert response.json() == {
        "type": "about:blank",
        "title": "Service Unavailable",
        "status": 503,
        "detail": "population registry is under maintenance",
    }
