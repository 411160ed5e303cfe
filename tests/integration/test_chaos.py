"""The small chaos run (``infra/harness/chaos.py``'s ``SMALL`` plan) on a three-broker cluster of
its own: one of each fault while dossiers of all five procedures go through two workers; nothing
is lost or doubled and every injected message is dead-lettered. ``make chaos`` runs the full plan."""

from __future__ import annotations

import asyncio
from pathlib import Path

from infra.harness.broker import LocalCluster
from infra.harness.chaos import SMALL, chaos
from infra.harness.net import free_port


async def test_a_small_chaos_run_loses_nothing_and_doubles_nothing(tmp_path: Path) -> None:
    cluster = LocalCluster([free_port() for _ in range(3)], tmp_path / "cluster", [free_port() for _ in range(3)])
    await asyncio.to_thread(cluster.start)
    try:
        report = await chaos(SMALL, cluster, tmp_path)
    finally:
        await asyncio.to_thread(cluster.stop)

    assert report.ok, report.line()
    assert (report.filed, report.final) == (SMALL.dossiers, SMALL.dossiers)
    assert report.worker_restarts >= SMALL.worker_kills
    assert report.dead_letters >= SMALL.injected
