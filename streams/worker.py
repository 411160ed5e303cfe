"""Run one hub worker: ingest, orchestrate, the sweeper and the SOAP/REST bridges in one Faust app."""

from __future__ import annotations

import asyncio
import signal

import faust

from streams import logs
from streams.app import Hub, build_hub
from streams.diagnostics import dump_tasks
from streams.settings import HubSettings


def faust_worker(hub: Hub) -> faust.Worker:
    """The Faust worker that runs ``hub``'s app, logging at the hub's level."""
    worker = faust.Worker(hub.app, loglevel=hub.settings.log_level.replace("warning", "warn"), quiet=True)
    # Above info, Faust's terminal spinner sets the root logger to DEBUG to spin on every record: every
    # library's debug call would build a record only to discard it (15% of the worker's CPU).
    worker.spinner = None
    return worker


def run(settings: HubSettings) -> None:
    """Start the worker in the foreground until SIGINT/SIGTERM. SIGUSR1 dumps every task's stack."""
    logs.configure(settings.log_level)
    hub = build_hub(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    worker = faust_worker(hub)

    async def on_start() -> None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, dump_tasks)

    hub.app.task(on_start)
    worker.execute_from_commandline()
