"""Serving HTTP on 127.0.0.1 (the callback endpoint, the SOAP gateway, the sandbox agencies)
and answering with RFC 9457 problem documents."""

from __future__ import annotations

from aiohttp import web


def problem(status: int, title: str, detail: str) -> web.Response:
    """An RFC 9457 problem document."""
    return web.json_response(
        {"type": "about:blank", "title": title, "status": status, "detail": detail},
        status=status,
        content_type="application/problem+json",
    )


class HttpServer:
    """Runs an aiohttp application on ``host`` (127.0.0.1 unless told); port 0 picks a free port."""

    def __init__(self, app: web.Application, host: str = "127.0.0.1") -> None:
        self._app = app
        self._host = host
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    async def start(self, port: int = 0) -> None:
        self._runner = web.AppRunner(self._app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, port).start()
        self.port = self._runner.addresses[0][1]  # the real port when 0 was asked

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
