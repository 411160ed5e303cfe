"""Run one hub worker: ingest, orchestrate and the SOAP/REST bridges in one Faust app."""

from __future__ import annotations

import asyncio
import signal

import faust

from streams import logs
from streams.diagnostics import dump_tasks
from streams.app import app, settings


def run() -> None:
    """Start the worker in the foreground until SIGINT/SIGTERM. SIGUSR1 dumps every task's stack."""
    logs.configure(settings.log_level)
    from streams import bridges, callbacks, ingest, orchestrate  # noqa: F401 - importing registers them

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    worker = faust.Worker(app, loglevel=settings.log_level.replace("warning", "warn"), quiet=True)

    @app.task
    async def _on_start() -> None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, dump_tasks)

    worker.execute_from_commandline()
