"""Run one hub worker: ingest, orchestrate and the SOAP/REST bridges in one Faust app."""

from __future__ import annotations

import faust

from streams import logs
from streams.app import app, settings


def run() -> None:
    """Start the worker in the foreground until SIGINT/SIGTERM."""
    logs.configure(settings.log_level)
    from streams import bridges, ingest, orchestrate  # noqa: F401 - importing registers the agents

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    faust.Worker(app, loglevel=settings.log_level.replace("warning", "warn"), quiet=True).execute_from_commandline()
