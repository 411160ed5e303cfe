"""Each bridge alone against its real sandbox server on 127.0.0.1 (no broker needed)."""

from __future__ import annotations

import random
import socket
from datetime import date, timedelta

import pytest

from connectors.base import perform
from connectors.rest import PopulationConnector
from connectors.soap import InsuranceConnector
from contracts.events import Outcome, StepCommand
from infra.sandbox.insurance import InsuranceService
from infra.sandbox.population import PopulationRegistry
from infra.sandbox.samples import unknown_mother_id

VERIFY = "POST /v1/citizens/verify"  # how the sandboxes count the requests they received
SOAP_CALL = "POST /soap"


@pytest.fixture
async def population():
    registry = PopulationRegistry(seed=11, count=50)
    await registry.start()
    connector = PopulationConnector(registry.server.base_url, timeout_s=2)
    yield registry, connector
    await connector.aclose()
    await registry.stop()


@pytest.fixture
async def insurance():
    service = InsuranceService()
    await service.start()
    connector = InsuranceConnector(service.address, timeout_s=2)
    yield service, connector
    await connector.aclose()
    await service.stop()


def command(agency: str, action: str, **params) -> StepCommand:
    return StepCommand(step=action, action=action, agency=agency, params=params, purpose="test")


def card_params(days_old: int = 3) -> dict:
    return {
        "personal_id": "092226000042",
        "full_name": "Lê Minh Khang",
        "date_of_birth": (date.today() - timedelta(days=days_old)).isoformat(),
        "sex": "male",
        "province_code": "92",
    }


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_population_verifies_a_registered_citizen(population):
    registry, connector = population
    citizen = next(iter(registry.citizens.values()))
    ok = await perform(
        connector,
        command("population", "verify_citizen", personal_id=citizen.personal_id, full_name=citizen.full_name.upper()),
        "k1",
        attempts=2,
        backoff_s=0,
    )
    assert ok.outcome is Outcome.SUCCEEDED and ok.result["date_of_birth"] == citizen.date_of_birth.isoformat()
    assert registry.requests[VERIFY] == 1


async def test_population_refusal_is_not_retried(population):
    registry, connector = population
    unknown = unknown_mother_id(registry, random.Random(1))
    refused = await perform(
        connector,
        command("population", "verify_citizen", personal_id=unknown, full_name="Trần Thị Lan"),
        "k2",
        attempts=3,
        backoff_s=0,
    )
    assert refused.outcome is Outcome.REJECTED
    assert refused.reason == f"personal ID {unknown} is not in the population registry"
    assert registry.requests[VERIFY] == 1

    citizen = next(iter(registry.citizens.values()))
    wrong_name = await perform(
        connector,
        command("population", "verify_citizen", personal_id=citizen.personal_id, full_name="Ai Đó"),
        "k3",
        attempts=3,
        backoff_s=0,
    )
    assert wrong_name.outcome is Outcome.REJECTED and "does not match the registry" in wrong_name.reason
    assert registry.requests[VERIFY] == 2


async def test_population_write_repeated_with_the_same_key_is_performed_once(population):
    registry, connector = population
    params = {
        "full_name": "Lê Minh Khang",
        "date_of_birth": date.today().isoformat(),
        "sex": "female",
        "province_code": "92",
        "birth_certificate_no": "KS-1",
    }
    cmd = command("population", "assign_personal_id", **params)
    first = await perform(connector, cmd, "d/1", attempts=1, backoff_s=0)
    again = await perform(connector, cmd, "d/1", attempts=1, backoff_s=0)
    assert first.outcome is Outcome.SUCCEEDED and first.result == again.result
    assert first.result["personal_id"][3] == "3"  # a girl born in the 2000s
    assert len(registry.effects) == 1 and registry.effects.repeats == 1


async def test_population_outage_is_retried_then_reported(population):
    registry, connector = population
    citizen = next(iter(registry.citizens.values()))
    cmd = command("population", "verify_citizen", personal_id=citizen.personal_id, full_name=citizen.full_name)
    registry.unavailable_for = 2
    assert (await perform(connector, cmd, "k", attempts=3, backoff_s=0.01)).outcome is Outcome.SUCCEEDED
    assert registry.requests[VERIFY] == 3
    registry.unavailable_for = 5
    failed = await perform(connector, cmd, "k", attempts=3, backoff_s=0.01)
    assert failed.outcome is Outcome.FAILED and registry.requests[VERIFY] == 6
    assert failed.reason == (
        "population unavailable after 3 attempts: HTTP 503: population registry is under maintenance"
    )


async def test_unreachable_agency_fails_after_its_attempts():
    connector = PopulationConnector(f"http://127.0.0.1:{closed_port()}", timeout_s=1)
    try:
        reply = await perform(
            connector,
            command("population", "verify_citizen", personal_id="093195000123", full_name="Trần Thị Lan"),
            "k",
            attempts=2,
            backoff_s=0.01,
        )
    finally:
        await connector.aclose()
    assert reply.outcome is Outcome.FAILED
    refused = "population unavailable after 2 attempts: ClientConnectorError: Cannot connect to host"
    assert reply.reason.startswith(refused)


async def test_invalid_command_is_refused_without_calling_the_agency(population):
    registry, connector = population
    reply = await perform(
        connector,
        command("population", "verify_citizen", personal_id="123", full_name="X"),
        "k",
        attempts=1,
        backoff_s=0,
    )
    assert reply.outcome is Outcome.REJECTED
    assert reply.reason.startswith("invalid verify_citizen request: personal_id: personal ID number must be 12 digits")
    wrong = await perform(
        connector, command("population", "issue_health_card", **card_params()), "k", attempts=1, backoff_s=0
    )
    assert wrong.reason == "population does not perform 'issue_health_card'"
    assert sum(registry.requests.values()) == 0


async def test_insurance_issues_one_te_card_over_soap_even_when_asked_twice(insurance):
    service, connector = insurance
    first = await perform(
        connector, command("insurance", "issue_health_card", **card_params()), "d/card", attempts=1, backoff_s=0
    )
    again = await perform(
        connector, command("insurance", "issue_health_card", **card_params()), "d/card", attempts=1, backoff_s=0
    )
    assert first.outcome is Outcome.SUCCEEDED and first.result == again.result
    assert first.result["card_number"] == "TE1922226000042" and first.result["beneficiary_group"] == "TE"
    assert len(service.effects) == 1 and service.effects.repeats == 1


async def test_insurance_refusal_is_a_soap_client_fault_and_is_not_retried(insurance):
    service, connector = insurance
    reply = await perform(
        connector,
        command("insurance", "issue_health_card", **card_params(days_old=7 * 365)),
        "d/old",
        attempts=3,
        backoff_s=0,
    )
    assert reply.outcome is Outcome.REJECTED
    assert "group TE cards are only for children under 6" in reply.reason
    assert service.requests[SOAP_CALL] == 1 and len(service.effects) == 0


async def test_insurance_server_fault_is_retried(insurance):
    service, connector = insurance
    service.server_faults_for = 2
    reply = await perform(
        connector, command("insurance", "issue_health_card", **card_params()), "d/retry", attempts=3, backoff_s=0.01
    )
    assert reply.outcome is Outcome.SUCCEEDED and service.requests[SOAP_CALL] == 3 and len(service.effects) == 1


async def test_insurance_serves_its_wsdl_with_its_own_address(insurance):
    import httpx

    service, _ = insurance
    async with httpx.AsyncClient() as client:
        wsdl = (await client.get(f"{service.address}?wsdl")).text
    assert f'location="{service.address}"' in wsdl and "IssueHealthInsuranceCard" in wsdl


async def test_insurance_registers_an_employer_once_under_its_enterprise_code(insurance):
    service, connector = insurance
    cmd = command("insurance", "register_employer", unit_code="0100100079", unit_name="Công ty TNHH A", employees=3)
    first = await perform(connector, cmd, "d/emp", attempts=1, backoff_s=0)
    again = await perform(connector, cmd, "d/emp", attempts=1, backoff_s=0)
    assert first.outcome is Outcome.SUCCEEDED and first.result == again.result
    assert first.result["unit_code"] == "0100100079" and len(service.effects) == 1 and service.effects.repeats == 1
    bad = await perform(
        connector,
        command("insurance", "register_employer", unit_code="0100100078", unit_name="X Y Z", employees=1),
        "d/bad",
        attempts=1,
        backoff_s=0,
    )
    assert bad.outcome is Outcome.REJECTED and "wrong check digit" in bad.reason
