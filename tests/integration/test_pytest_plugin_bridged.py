"""lienthong's pytest plugin for a REST agency's team: the population registry tests its own
server, which the hub's bridge calls at the endpoint the test gives (``lienthong_agency_endpoint``).

The team's server here is a second copy of the sandbox's registry (same seed, so the same
citizens), started by the test on a port of its own; in the team's tests it is their system.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from contracts.status import DossierStatus as S
from infra.harness.broker import ClientFiles
from infra.pytest_plugin import BridgedAgencyUnderTest, Hub, running_hub
from infra.sandbox.population import PopulationRegistry
from infra.sandbox.samples import birth_filing


@pytest.fixture(scope="module")
def lienthong_agency() -> str:
    return "population"


@pytest.fixture(scope="module")
async def registry() -> AsyncIterator[PopulationRegistry]:
    """The team's own population registry server."""
    server = PopulationRegistry()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture(scope="module")
def lienthong_agency_endpoint(registry: PopulationRegistry) -> str:
    return registry.server.base_url


async def test_the_hubs_bridge_calls_the_teams_server_and_the_dossier_completes(
    lienthong_hub: Hub, registry: PopulationRegistry, rng: random.Random
):
    hub = lienthong_hub
    assert hub.agency == BridgedAgencyUnderTest("population", registry.server.base_url)
    filing = birth_filing(registry, rng, hub.seq())
    dossier = filing["ma_ho_so"]
    await hub.sandbox.justice.file_birth(filing)

    assert await hub.wait_final(dossier) is S.RESULT_RETURNED
    assert [e.kind for e in registry.effects.for_dossier(dossier)] == ["personal_id_assigned", "residence_registered"]
    assert hub.sandbox.population.requests == {}  # the sandbox's registry never ran
    assert hub.sandbox.population.effects.for_dossier(dossier) == []


async def test_a_bridged_agency_without_its_endpoint_is_refused_with_the_setting_to_give(
    lienthong_kafka: ClientFiles, tmp_path: Path
):
    with pytest.raises(ValueError, match=r"population is reached through the hub's bridge: .*population_url"):
        async with running_hub(lienthong_kafka, tmp_path, "no-endpoint", without="population"):
            pass
