"""Run one hub worker: ingest, orchestrate, the sweeper and the SOAP/REST bridges in one Faust app."""

from __future__ import annotations

import asyncio
import signal

import faust

from streams import logs
from streams.app import build_hub
from streams.diagnostics import dump_tasks
from streams.settings import HubSettings


def run(settings: HubSettings) -> None:
    """Start the worker in the foreground until SIGINT/SIGTERM. SIGUSR1 dumps every task's stack."""
    logs.configure(settings.log_level)
    hub = build_hub(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    worker = faust.Worker(hub.app, loglevel=settings.log_level.replace("warning", "warn"), quiet=True)

    async def on_start() -> None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, dump_tasks)

    hub.app.task(on_start)
    worker.execute_from_commandline()
