"""`lienthong status <dossier code>`: one dossier's timeline from the monitoring stream, as an
operator runs it (the command line, as the operator principal)."""

from __future__ import annotations

import asyncio
import random

from contracts.status import DossierStatus as S
from infra.harness.broker import ClientFiles
from infra.pytest_plugin import Hub, records_arriving
from infra.sandbox.samples import birth_filing, dossier_code
from tests.integration.test_audit import lienthong

BIRTH_BUNDLE_STEPS = (
    "verify_mother",
    "verify_father",
    "register_birth",
    "assign_personal_id",
    "register_residence",
    "issue_health_card",
    "return_result",
)


async def test_status_prints_a_dossiers_timeline_and_says_when_it_knows_nothing(
    hub: Hub, kafka: ClientFiles, rng: random.Random
):
    filing = birth_filing(hub.sandbox.population, rng, hub.seq())
    dossier = filing["ma_ho_so"]
    await hub.sandbox.justice.file_birth(filing)
    assert await hub.wait_final(dossier) is S.RESULT_RETURNED

    code, out = await asyncio.to_thread(lienthong, hub, kafka, "status", dossier)
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0] == f"dossier {dossier} (birth_bundle): 10 {S.RESULT_RETURNED.label}"
    steps = [line.split()[2] for line in lines[2:] if "→ status" not in line]
    assert sorted(steps) == sorted(BIRTH_BUNDLE_STEPS)  # parallel steps may end in either order
    assert steps[-1] == "return_result"
    statuses = [line.split("→ status ")[1].split()[0] for line in lines if "→ status" in line]
    assert statuses == ["1", "2", "4", "9", "10"]
    assert filing["so_dinh_danh_me"] not in out and filing["ho_ten_me"] not in out

    code, out = await asyncio.to_thread(lienthong, hub, kafka, "status", dossier_code(hub.seq()))
    assert code == 1 and "no record of dossier" in out

    # a filing refused before it opened a dossier: what the operator finds when its filer asks
    refused = birth_filing(hub.sandbox.population, rng, hub.seq()) | {"so_dinh_danh_me": "0931950001"}
    await hub.sandbox.justice.file_birth(refused)
    await records_arriving(
        hub.operator, hub.topics.deadletter, refused["ma_ho_so"], 60, "the refused filing's dead letter"
    )
    code, out = await asyncio.to_thread(lienthong, hub, kafka, "status", refused["ma_ho_so"])
    assert code == 0, out
    assert out.splitlines()[0] == f"dossier {refused['ma_ho_so']}: never opened (no record on {hub.topics.monitor})"
    assert "ingest.justice  rejected: invalid filing: so_dinh_danh_me: personal ID number must be 12 digits" in out
    code, out = await asyncio.to_thread(lienthong, hub, kafka, "status", "not-a-code")
    assert code == 2 and out.startswith("lienthong status: dossier code:")
    code, out = await asyncio.to_thread(lienthong, hub, kafka, "status", dossier, namespace="no-such-province.")
    assert code == 1 and out.startswith(
        "lienthong status: topic no-such-province.hub.monitor.transitions does not exist"
    )
    assert "Traceback" not in out
