"""Serving with a graceful shutdown: stop taking calls, let live ones finish, say goodbye, flush, exit.

aiohttp's `run_app` closes the listening socket the moment SIGTERM arrives and gives live requests
`shutdown_timeout` before cutting them, so a provider's answer webhook in that moment gets a refused
connection rather than "busy", and live calls are cut mid-sentence. Here the listener stays open:

1. first SIGTERM or SIGINT: `DRAINING` is set, so /readyz answers 503, answer webhooks reject as busy,
   POST /api/calls answers 503; the schedule executor stops and releases runs it claimed but did not place;
2. live calls go on for up to `[server] drain_s`;
3. each remaining persona says `[call] shutdown_goodbye_line` and hangs up once it has been played
   (waiting at most `[server] goodbye_s`);
4. the app's cleanup: the recorder flushes every buffered row, engines and the pool close.
A second signal skips to 4 at once.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

from aiohttp import web

from orchestrator.keys import CALL_SETTINGS, DRAINING, LIVE_CALLS, SETTINGS
from orchestrator.scheduler import SCHEDULER

log = logging.getLogger(__name__)

_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# Live requests (other than calls, which are ended above) get this long once the calls are done.
_REQUEST_GRACE_S = 5.0


class ShutdownSignals:
    """Counts SIGTERM/SIGINT: the first asks for a graceful shutdown, the second for an immediate one."""

    def __init__(self) -> None:
        self.first = asyncio.Event()
        self.second = asyncio.Event()
        self._count = 0

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in _SIGNALS:
            loop.add_signal_handler(sig, self._received, sig)

    def remove(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in _SIGNALS:
            loop.remove_signal_handler(sig)

    def _received(self, sig: signal.Signals) -> None:
        self._count += 1
        if self._count == 1:
            log.info("%s: shutting down gracefully (send it again to stop at once)", sig.name)
            self.first.set()
        else:
            log.warning("%s again: stopping at once", sig.name)
            self.second.set()


async def serve(
    app: web.Application,
    host: str,
    port: int,
    *,
    reuse_port: bool = False,
    on_ready: Callable[[], None] = lambda: None,
    signals: ShutdownSignals | None = None,
) -> None:
    """Run `app` until a signal, then drain it (see the module docstring). Returns when all is closed."""
    signals = signals or ShutdownSignals()
    signals.install()
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=_REQUEST_GRACE_S)
    try:
        await runner.setup()
        site = web.TCPSite(runner, host, port, reuse_port=reuse_port)
        await site.start()
        on_ready()
        await signals.first.wait()
        await drain(app, signals.second)
    finally:
        await runner.cleanup()
        signals.remove()
        log.info("stopped")


async def drain(app: web.Application, forced: asyncio.Event) -> None:
    """Steps 1-3: stop taking calls, wait for live ones, then say goodbye on those still going."""
    server = app[SETTINGS].server
    live = app[LIVE_CALLS]
    app[DRAINING].set()
    executor = app.get(SCHEDULER)
    if executor is not None:
        executor.stop()
    log.info("draining: no new calls; %d live calls may go on for up to %.0f s", len(live), server.drain_s)
    if await _until_no_calls(live, server.drain_s, forced):
        return
    if not forced.is_set():
        line = app[CALL_SETTINGS].lines.shutdown_goodbye
        log.info("drain time is over: %d calls hear the goodbye", len(live))
        for call in list(live):
            await call.hang_up(line)
        if await _until_no_calls(live, server.goodbye_s, forced):
            return
    log.warning("closing %d calls without waiting any longer", len(live))
    for call in list(live):
        await call.transport.close()


async def _until_no_calls(live: set, timeout_s: float, forced: asyncio.Event) -> bool:
    """True once no call is live; False at the timeout or on a second signal."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while live:
        remaining = deadline - loop.time()
        if forced.is_set() or remaining <= 0:
            return False
        try:
            async with asyncio.timeout(min(remaining, 0.1)):  # calls end on their own: look again shortly
                await forced.wait()
        except TimeoutError:
            pass
    return True
