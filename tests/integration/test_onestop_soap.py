"""A legacy one-stop system files a procedure through the hub's SOAP gateway with zeep, signed in
with a WS-Security UsernameToken (PasswordDigest), and follows it by SOAP until it is done; codes the
gateway issues never collide across gateway instances or restarts."""

from __future__ import annotations

import asyncio
import json
import re
import time
from contextlib import asynccontextmanager
from datetime import datetime

import httpx
import pytest
import zeep
import zeep.exceptions
from aiokafka import AIOKafkaProducer
from zeep.proxy import AsyncServiceProxy
from zeep.transports import AsyncTransport
from zeep.wsse.username import UsernameToken

from connectors.soap_filing import NS, FilingGateway
from connectors.wsse import Caller, write_callers
from contracts.catalog import builtin_catalog
from contracts.dates import VIETNAM_TIME
from contracts.record_signing import Signer
from infra.harness.broker import ClientFiles
from infra.pytest_plugin import Hub, read_topic
from infra.sandbox.samples import business_filing, death_filing

PREFIX, OTHER_PREFIX = "000.00.41.H26", "000.00.42.H26"
"""Prefixes no other test files under: the portal's and the civil-status system's sample codes use
000.00.31.H26 (infra.sandbox.samples), and a code they took would make the hub ignore a filing here."""


@pytest.fixture
def callers(tmp_path) -> dict[str, Caller]:
    """A callers file generated for this test, with fresh random secrets."""
    return write_callers(tmp_path / "callers.toml", {"vithanh": PREFIX, "chauthanha": OTHER_PREFIX})


@asynccontextmanager
async def soap_client(address: str, caller: Caller, wsdl: str):
    """A zeep client of the gateway at ``address``, signing in as ``caller``."""
    transport = AsyncTransport(client=httpx.AsyncClient(timeout=10))
    client = zeep.AsyncClient(
        wsdl, transport=transport, wsse=UsernameToken(caller.username, caller.secret, use_digest=True)
    )
    try:
        yield AsyncServiceProxy(client, client.wsdl.bindings[f"{{{NS}}}FilingBinding"], address=address)
    finally:
        await transport.aclose()
        transport.wsdl_client.close()


@pytest.fixture
async def gateway(hub: Hub, kafka: ClientFiles, callers):
    gateway = FilingGateway(
        kafka.client("onestop"), hub.topics, builtin_catalog(), callers, keyring=hub.sandbox.keyring
    )
    await gateway.start()
    yield gateway
    await gateway.stop()


@pytest.fixture
async def wsdl(gateway: FilingGateway, tmp_path) -> str:
    async with httpx.AsyncClient() as http:  # the WSDL as the gateway serves it
        (tmp_path / "filing.wsdl").write_text((await http.get(f"{gateway.address}?wsdl")).text)
    return str(tmp_path / "filing.wsdl")


@pytest.fixture
async def onestop(gateway: FilingGateway, wsdl: str, callers):
    async with soap_client(gateway.address, callers["vithanh"], wsdl) as service:
        yield service


async def poll_until_final(service, dossier_id: str, timeout_s: float = 60):
    deadline = time.monotonic() + timeout_s
    while True:
        answer = await service.GetDossierStatus(DossierCode=dossier_id)
        if answer.Final or time.monotonic() > deadline:
            return answer
        await asyncio.sleep(0.2)


async def test_a_legacy_one_stop_files_by_soap_and_follows_the_status_to_the_end(hub: Hub, onestop, rng):
    filing = business_filing(hub.sandbox.population, rng)
    filed = await onestop.FileDossier(Procedure="business_registration", FilingJson=json.dumps(filing), Channel=1)
    assert filed.Status == 1 and filed.Label == "Mới đăng ký"
    dossier = filed.DossierCode

    final = await poll_until_final(onestop, dossier)
    assert (final.Status, final.Label, final.Final) == (10, "Đã trả kết quả", True)
    code = hub.sandbox.portal.documents[dossier]["enterprise_code"]
    assert hub.sandbox.insurance.employers[code]


async def test_the_gateway_keeps_a_code_the_one_stop_gave_under_its_prefix_and_refuses_it_reused(
    hub: Hub, onestop, rng
):
    filing = death_filing(hub.sandbox.population, rng, insured=False, funeral_allowance=False)
    code = f"{PREFIX}-261126-{rng.randrange(5000, 9999):04d}"
    filed = await onestop.FileDossier(Procedure="death_bundle", DossierCode=code, FilingJson=json.dumps(filing))
    assert filed.DossierCode == code
    again = await onestop.FileDossier(Procedure="death_bundle", DossierCode=code, FilingJson=json.dumps(filing))
    assert (again.DossierCode, again.Status) == (code, filed.Status)  # the same filing: the same answer
    other = death_filing(hub.sandbox.population, rng, insured=False, funeral_allowance=False)
    with pytest.raises(zeep.exceptions.Fault, match=re.escape(f"DossierCode: {code} was already filed with other")):
        await onestop.FileDossier(Procedure="death_bundle", DossierCode=code, FilingJson=json.dumps(other))
    with pytest.raises(zeep.exceptions.Fault, match=f"is not under your prefix {PREFIX}"):
        await onestop.FileDossier(
            Procedure="death_bundle", DossierCode=f"{OTHER_PREFIX}-261126-0001", FilingJson=json.dumps(filing)
        )
    assert (await poll_until_final(onestop, code)).Status == 10
    assert len(hub.sandbox.justice.effects.for_dossier(code)) == 1  # one death registered, not two


async def test_a_wrong_password_gets_a_fault_and_files_nothing(hub: Hub, gateway, wsdl, callers, rng):
    impostor = Caller("vithanh", "not-the-secret-of-vithanh", PREFIX)
    code = f"{PREFIX}-261126-{rng.randrange(1000, 4999):04d}"
    filing = business_filing(hub.sandbox.population, rng)
    async with soap_client(gateway.address, impostor, wsdl) as service:
        with pytest.raises(zeep.exceptions.Fault) as info:
            await service.FileDossier(
                Procedure="business_registration", DossierCode=code, FilingJson=json.dumps(filing)
            )
    assert info.value.message == "authentication failed"
    assert await read_topic(hub.operator, hub.topics.outbox("onestop"), code) == []


async def test_codes_from_two_gateways_and_after_a_restart_never_collide(
    hub: Hub, kafka: ClientFiles, callers, wsdl, rng
):
    async def file_some(gateway: FilingGateway, caller: Caller, count: int) -> list[str]:
        async with soap_client(gateway.address, caller, wsdl) as service:
            return [
                (
                    await service.FileDossier(Procedure="business_registration", FilingJson=json.dumps(filing))
                ).DossierCode
                for filing in [business_filing(hub.sandbox.population, rng) for _ in range(count)]
            ]

    def gateway() -> FilingGateway:
        return FilingGateway(
            kafka.client("onestop"), hub.topics, builtin_catalog(), callers, keyring=hub.sandbox.keyring
        )

    vithanh = callers["vithanh"]
    one, two = gateway(), gateway()
    await one.start()
    await two.start()
    try:
        first, second = await asyncio.gather(file_some(one, vithanh, 6), file_some(two, vithanh, 6))
        codes = first + second
    finally:
        await one.stop()
    restarted = gateway()
    await restarted.start()
    try:
        codes += await file_some(restarted, vithanh, 3) + await file_some(two, vithanh, 3)
        other = await file_some(restarted, callers["chauthanha"], 1)
    finally:
        await restarted.stop()
        await two.stop()
    assert len(set(codes)) == len(codes) == 18
    today = f"{datetime.now(VIETNAM_TIME):%y%m%d}"
    assert all(code.startswith(f"{PREFIX}-{today}-") for code in codes)
    assert other[0].startswith(f"{OTHER_PREFIX}-{today}-")


@pytest.mark.parametrize(
    ("procedure", "filing_json", "message"),
    [
        ("marriage", "{}", "Procedure: unknown procedure 'marriage'"),
        ("business_registration", "{not json", "FilingJson: not JSON"),
        ("business_registration", json.dumps({"enterprise_name": "X"}), "enterprise_type: Field required"),
    ],
)
async def test_a_refused_filing_is_a_soap_fault_naming_the_field(onestop, procedure, filing_json, message):
    with pytest.raises(zeep.exceptions.Fault) as info:
        await onestop.FileDossier(Procedure=procedure, FilingJson=filing_json)
    assert message in info.value.message


async def test_status_of_an_unknown_dossier_is_a_fault(onestop):
    code = f"{PREFIX}-261126-0001"
    with pytest.raises(zeep.exceptions.Fault, match=re.escape(f"no dossier '{code}' was filed")):
        await onestop.GetDossierStatus(DossierCode=code)


async def test_the_status_follower_survives_records_it_cannot_read(hub: Hub, kafka: ClientFiles, onestop, rng):
    """Hub-signed but unreadable records on the one-stop's inbox (not JSON, not an envelope, a tombstone
    signed over nothing), on every partition: the gateway skips them and keeps following."""
    hub_key = Signer.load(hub.sandbox.keyring, "hub-1")
    producer = AIOKafkaProducer(**kafka.client("hub").aiokafka(), acks="all")
    await producer.start()
    try:
        inbox = hub.topics.inbox("onestop")
        for partition in range(hub.topics.partitions):
            for value in (b"\xff not json", b'{"specversion": "1.0"}', None):
                headers = hub_key.headers(value or b"")
                await producer.send_and_wait(inbox, key=b"junk", value=value, headers=headers, partition=partition)
    finally:
        await producer.stop()
    filing = business_filing(hub.sandbox.population, rng)
    filed = await onestop.FileDossier(Procedure="business_registration", FilingJson=json.dumps(filing))
    assert (await poll_until_final(onestop, filed.DossierCode)).Status == 10
