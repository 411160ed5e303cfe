"""lienthong's pytest plugin as an agency's team uses it: the tax office tests its own system.

The module names the agency under test (``lienthong_agency``); ``lienthong_hub`` then runs a hub
worker and every sandbox agency but the tax office, and hands the test the tax office's
credentials, signing key and topics. The tax office's "system" here is written from the
contracts alone (:mod:`contracts.envelope`, :mod:`contracts.events`, :mod:`contracts.actions`).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from contracts.actions import EnterpriseCodeIssued
from contracts.agencies import REGISTRY
from contracts.envelope import Envelope, envelope_headers
from contracts.events import STEP_COMMAND, STEP_REPLY, Outcome, StepCommand, StepReply
from contracts.identifiers import tax_check_digit
from contracts.status import DossierStatus as S
from infra.pytest_plugin import AgencyUnderTest, Hub
from infra.sandbox.samples import business_filing, dossier_code


@pytest.fixture(scope="module")
def lienthong_agency() -> str:
    return "tax"


class TaxOffice:
    """The team's system, as small as it gets: an enterprise code for every command, the same one
    for a command repeated under its idempotency key."""

    def __init__(self, tax: AgencyUnderTest) -> None:
        self.tax = tax
        self.issued: dict[str, str] = {}  # idempotency key -> enterprise code
        self.refused_unsigned = 0

    def code_for(self, key: str, province: str) -> str:
        if key not in self.issued:
            n = len(self.issued) + 1  # the sequence part runs from 0000001
            while (check := tax_check_digit(f"{province}{n:07d}")) is None:
                n += 1
            self.issued[key] = f"{province}{n:07d}{check}"
        return self.issued[key]

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            self.tax.inbox, **self.tax.client.aiokafka(), group_id=self.tax.group, auto_offset_reset="earliest"
        )
        producer = AIOKafkaProducer(**self.tax.client.aiokafka())
        await consumer.start()
        await producer.start()
        try:
            async for record in consumer:
                try:  # only what the hub signed counts
                    self.tax.trust.verify(record.value, record.headers, REGISTRY.hub.keys, timedelta(minutes=15))
                except Exception:
                    self.refused_unsigned += 1
                    continue
                command = Envelope.from_bytes(record.value)
                if command.type != STEP_COMMAND:
                    continue  # status updates about dossiers it worked on
                step = command.payload(StepCommand)
                code = self.code_for(command.idempotencykey or "", step.params["province_code"])
                result = EnterpriseCodeIssued(enterprise_code=code, issued_at=datetime.now(UTC))
                reply = StepReply(
                    step=step.step,
                    action=step.action,
                    agency="tax",
                    outcome=Outcome.SUCCEEDED,
                    result=result.model_dump(mode="json"),
                )
                out = command.caused(
                    source="/agency/tax", type=STEP_REPLY, data=reply, idempotencykey=command.idempotencykey
                )
                value = out.to_bytes()
                headers = envelope_headers() + self.tax.signer.headers(value)
                await producer.send_and_wait(self.tax.outbox, key=record.key, value=value, headers=headers)
                await consumer.commit()
        finally:
            await producer.stop()
            await consumer.stop()


@pytest.fixture(scope="module")
async def tax_office(lienthong_hub: Hub) -> AsyncIterator[TaxOffice]:
    assert lienthong_hub.agency is not None
    office = TaxOffice(lienthong_hub.agency)
    task = asyncio.create_task(office.run())
    try:
        yield office
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_dossier_completes_through_the_agency_under_test_and_not_the_sandboxs(
    lienthong_hub: Hub, tax_office: TaxOffice, rng: random.Random
):
    hub = lienthong_hub
    assert hub.agency is not None and hub.agency.code == "tax"
    assert hub.agency.client_properties.read_text().count("tax") >= 1  # the file to hand the team
    dossier = dossier_code(hub.seq())
    await hub.file("business_registration", dossier, business_filing(hub.sandbox.population, rng))

    assert await hub.wait_final(dossier) is S.RESULT_RETURNED
    code = hub.sandbox.portal.documents[dossier]["enterprise_code"]
    assert code in tax_office.issued.values()  # issued by the team's system
    assert hub.sandbox.insurance.employers[code]["Employees"] == "12"
    assert hub.sandbox.tax.effects.for_dossier(dossier) == []  # the sandbox's tax office never ran
    assert tax_office.refused_unsigned == 0
