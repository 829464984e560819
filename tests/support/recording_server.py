"""A small HTTP server on 127.0.0.1 that records every request it gets, for tests of what
bulkpatch sends to webhooks and Pushgateways.  It answers ``answer`` (status, body), after
``delay`` seconds when set (released at once when the server stops)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from aiohttp import web


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class RecordingServer:
    url: str
    answer: tuple[int, str] = (200, "ok")
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    received: list[Received] = field(default_factory=list)
    released: asyncio.Event = field(default_factory=asyncio.Event)


@contextlib.asynccontextmanager
async def recording_server(
    answer: tuple[int, str] = (200, "ok"), *, delay: float = 0.0
) -> AsyncIterator[RecordingServer]:
    server = RecordingServer(url="", answer=answer, delay=delay)

    async def record(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        server.received.append(
            Received(request.method, request.raw_path, dict(request.headers), body)
        )
        if server.delay:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.released.wait(), server.delay)
        status, text = server.answer
        return web.Response(status=status, text=text, headers=server.headers)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        server.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        yield server
    finally:
        server.released.set()
        await runner.cleanup()


def closed_port_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
