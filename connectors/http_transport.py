"""The transport under the bridges' httpx clients: aiohttp's, through ``httpx-aiohttp``.

httpx stays the client API; its default transport (httpcore) spends about 2.4 times the CPU of
aiohttp's on a small JSON POST to a local server (docs/benchmarks.md, "Cost per dossier"), and the
REST and SOAP calls are a large share of a worker's CPU. httpx-aiohttp maps aiohttp's errors onto
httpx's; :data:`TRANSPORT_ERRORS` adds aiohttp's base error for any it leaves unmapped, so a
network failure is always retried, never mistaken for a bug.
"""

from __future__ import annotations

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

TRANSPORT_ERRORS = (httpx.TransportError, aiohttp.ClientError)


def describe(exc: BaseException) -> str:
    """What went wrong on the network, named after the error actually raised: httpx-aiohttp reports
    a refused connection as ``ConnectTimeout``, so the aiohttp error under it names it better."""
    cause = exc.__cause__ if isinstance(exc.__cause__, aiohttp.ClientError) else exc
    return f"{type(cause).__name__}: {cause or 'no detail'}"


def network_transport() -> httpx.AsyncBaseTransport:
    """A transport to the real network, opening its aiohttp session on first use."""
    return AiohttpTransport()
