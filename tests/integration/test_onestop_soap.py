"""A legacy one-stop system files a procedure through the hub's SOAP gateway with zeep and
follows it by SOAP until it is done."""

from __future__ import annotations

import asyncio
import json
import re
import time

import httpx
import pytest
import zeep
import zeep.exceptions
from zeep.proxy import AsyncServiceProxy
from zeep.transports import AsyncTransport

from connectors.soap_filing import FilingGateway
from contracts.catalog import builtin_catalog
from infra.sandbox.samples import business_filing, death_filing
from tests.integration.conftest import Hub


@pytest.fixture
async def onestop(hub: Hub, kafka: str, tmp_path):
    gateway = FilingGateway(kafka, hub.topics, builtin_catalog())
    await gateway.start()
    async with httpx.AsyncClient() as http:  # the WSDL as the gateway serves it
        (tmp_path / "filing.wsdl").write_text((await http.get(f"{gateway.address}?wsdl")).text)
    transport = AsyncTransport(client=httpx.AsyncClient(timeout=10))
    client = zeep.AsyncClient(str(tmp_path / "filing.wsdl"), transport=transport)
    service = AsyncServiceProxy(
        client, client.wsdl.bindings["{urn:lienthong:filing:v1}FilingBinding"], address=gateway.address
    )
    yield service
    await transport.aclose()
    transport.wsdl_client.close()
    await gateway.stop()


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


async def test_the_gateway_keeps_a_dossier_code_the_one_stop_already_gave(hub: Hub, onestop, rng):
    filing = death_filing(hub.sandbox.population, rng, insured=False, funeral_allowance=False)
    filed = await onestop.FileDossier(
        Procedure="death_bundle", DossierCode="000.00.31.H26-261126-0777", FilingJson=json.dumps(filing)
    )
    assert filed.DossierCode == "000.00.31.H26-261126-0777"
    assert (await poll_until_final(onestop, filed.DossierCode)).Status == 10


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
    with pytest.raises(zeep.exceptions.Fault, match=re.escape("no dossier '000.00.31.H26-261126-0001' was filed")):
        await onestop.GetDossierStatus(DossierCode="000.00.31.H26-261126-0001")
