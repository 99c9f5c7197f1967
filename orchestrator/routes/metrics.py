"""Prometheus scrape endpoint (text exposition format)."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from orchestrator.api import ApiRoutes
from orchestrator.keys import METRICS

routes = ApiRoutes()


@routes.route(
    "GET",
    "/metrics",
    summary="Prometheus metrics: live calls, turns, stage latency, barge-ins, webhooks, jitter, engine errors",
    tag="health",
    auth=False,
    raw=True,
    responses={200: ("Prometheus text exposition format (text/plain; version=0.0.4)", None)},
)
async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
