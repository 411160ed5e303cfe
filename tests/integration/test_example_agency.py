"""An agency joins in a day: a system written only from docs/agencies.md, for an action a procedure
file declares, onboarded with ``lienthong agency add``, passes ``lienthong conformance`` and
completes dossiers end to end through the pytest plugin's fixtures.

The Department of Home Affairs' funeral-support system (``example_agency/support_office.py``)
imports nothing of lienthong; the registry file adding it and the procedure declaring its action
are in ``example_agency/``.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from contracts.status import DossierStatus as S
from contracts.topics import Topics
from infra import conformance as c
from infra.pytest_plugin import Hub, onboard
from infra.sandbox.samples import death_filing, dossier_code
from tests.integration.example_agency.support_office import FuneralSupportOffice

EXAMPLE = Path(__file__).parent / "example_agency"
ON_THE_CASES_REGISTER = "093041120034"  # the deceased of the accepted case in example_agency/cases.toml


@pytest.fixture(scope="module")
def lienthong_agency() -> str:
    return "social"


@pytest.fixture(scope="module")
def lienthong_registry() -> Path:
    return EXAMPLE / "agencies.toml"


@pytest.fixture(scope="module")
def lienthong_procedures() -> Path:
    return EXAMPLE / "procedures"


@pytest.fixture(scope="module")
def beneficiaries() -> set[str]:
    return {ON_THE_CASES_REGISTER}


@pytest.fixture(scope="module")
async def office(lienthong_hub: Hub, beneficiaries) -> AsyncIterator[FuneralSupportOffice]:
    assert lienthong_hub.agency is not None and lienthong_hub.agency.handover is not None
    system = FuneralSupportOffice(lienthong_hub.agency.handover, lienthong_hub.topics.namespace, beneficiaries)
    task = asyncio.create_task(system.run())
    yield system
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_it_passes_the_conformance_suite(lienthong_kafka, lienthong_hub: Hub):
    """In a namespace of its own (no hub worker to take its replies), onboarded again with the same
    hand-over folder and the hub's keyring, so with the same password and keys."""
    namespace = f"conf-social-{os.getpid()}-{int(time.time())}."
    keyring = lienthong_hub.sandbox.keyring
    handover = lienthong_hub.agency.handover
    await onboard(lienthong_kafka, Topics(namespace), EXAMPLE / "agencies.toml", "social", keyring, handover)
    system = FuneralSupportOffice(handover, namespace, {ON_THE_CASES_REGISTER})
    task = asyncio.create_task(system.run())
    try:
        env = os.environ | {
            "LIENTHONG_REGISTRY_FILE": str(EXAMPLE / "agencies.toml"),
            "LIENTHONG_TOPIC_NAMESPACE": namespace,
        }
        args = ["-m", "infra.cli", "conformance", "--agency", "social", "--cases", str(EXAMPLE / "cases.toml")]
        args += ["--procedures-dir", str(EXAMPLE / "procedures"), "--timeout", "10", "--quiet", "2"]
        args += ["--client-properties", str(lienthong_kafka.file("hub")), "--keyring", str(keyring)]
        process = await asyncio.create_subprocess_exec(
            sys.executable, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out, err = await asyncio.wait_for(process.communicate(), 120)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    table = out.decode()
    assert process.returncode == 0, f"{table}\n{err.decode()}"
    passed = {line.split("  ")[0] for line in table.splitlines() if " pass " in line}
    every_check = {c.SIGNED, c.ANSWERS, c.IN_TIME, c.ONCE, c.REFUSES, c.NOT_ADDRESSED, c.UNSIGNED, c.FORGED, c.REPLAYED}
    assert passed == every_check, table
    assert table.splitlines()[-1] == "social: 9 passed, 0 failed, 0 skipped — conforms"
    assert len(system.decisions) == 1, "the repeated command was answered from the first decision"


async def test_a_death_dossier_completes_with_its_support_decision(lienthong_hub: Hub, office, beneficiaries):
    hub = lienthong_hub
    filing = death_filing(hub.sandbox.population, random.Random(11), insured=False)
    beneficiaries.add(filing["deceased"]["personal_id"])
    dossier = dossier_code(hub.seq())
    await hub.file("death_funeral_support", dossier, filing)

    assert await hub.wait_final(dossier) is S.RESULT_RETURNED
    documents = hub.sandbox.portal.documents[dossier]
    assert documents["funeral_support_decision"] in office.decisions
    sent = await hub.commands_sent("social", dossier)
    assert len({command.idempotencykey for command in sent["grant_funeral_support"]}) == 1


async def test_a_refusal_on_the_facts_reaches_the_citizen(lienthong_hub: Hub, office):
    hub = lienthong_hub
    filing = death_filing(hub.sandbox.population, random.Random(12), insured=False)  # not on the register
    dossier = dossier_code(hub.seq())
    await hub.file("death_funeral_support", dossier, filing)

    assert await hub.wait_final(dossier) is S.PROCESSING_STOPPED
    shown = hub.sandbox.portal.current(dossier)
    assert shown is not None and "not on the social-protection register" in (shown.reason or "")


@pytest.mark.parametrize(
    ("code", "refusal"),
    [
        ("population", "population is a rest agency: the hub's bridge plays its part"),
        ("education", "agency 'education' is not in the registry: add it to the registry file first"),
    ],
)
async def test_agency_add_refuses_what_it_cannot_onboard(lienthong_kafka, lienthong_hub: Hub, tmp_path, code, refusal):
    topics = lienthong_hub.topics
    with pytest.raises(RuntimeError, match="exited with 2") as failed:
        await onboard(lienthong_kafka, topics, EXAMPLE / "agencies.toml", code, lienthong_hub.sandbox.keyring, tmp_path)
    assert refusal in str(failed.value)
    assert not (tmp_path / f"{code}.properties").exists()
