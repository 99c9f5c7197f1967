"""The `/_carrier/...` control API: scenarios, numbers, inbound calls, the SMS outbox, call reports.

JSON in, JSON out, no auth: it is a development and test tool bound to loopback, the HTTP twin of
the Carrier object's Python methods (which in-process tests call directly).

    GET    /_carrier/scenarios                  every number's scenario
    PUT    /_carrier/scenarios/{number}         Scenario.from_json body: how calls to it behave
    DELETE /_carrier/scenarios/{number}         back to "answer after answer_delay_s, stay silent"
    GET    /_carrier/numbers                    numbers the carrier owns
    PUT    /_carrier/numbers/{number}           {"voice_url", "voice_method", "status_callback"}
    POST   /_carrier/inbound                    {"from", "to", "script"}: someone calls one of our numbers
    GET    /_carrier/messages?to=+1...          the SMS outbox
    GET    /_carrier/calls                      Call resources, newest last
    GET    /_carrier/calls/{sid}?wait=S&audio=1 the call's report (waits up to S s for the end)
    POST   /_carrier/calls/{sid}/hangup         the far end hangs up
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .carrier import CARRIER_KEY, Carrier, Message
from .errors import INVALID_PARAMETER, CarrierError, RestError, ScriptError
from .rest import error_response
from .scenarios import Scenario
from .script import parse_script
from .settings import CarrierNumber


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise RestError(400, INVALID_PARAMETER, "body must be JSON") from None
    if not isinstance(body, dict):
        raise RestError(400, INVALID_PARAMETER, "body must be a JSON object")
    return body


def _carrier(request: web.Request) -> Carrier:
    return request.app[CARRIER_KEY]


def _message_json(message: Message) -> dict[str, Any]:
    return {
        "sid": message.sid,
        "to": message.to,
        "from": message.from_,
        "body": message.body,
        "status": message.status,
    }


def _number_json(number: CarrierNumber) -> dict[str, Any]:
    return {
        "number": number.number,
        "voice_url": number.voice_url,
        "voice_method": number.voice_method,
        "status_callback": number.status_callback,
    }


async def put_scenario(request: web.Request) -> web.Response:
    _carrier(request).set_scenario(request.match_info["number"], Scenario.from_json(await _json(request)))
    return web.json_response(_carrier(request).scenarios()[request.match_info["number"]].to_json())


async def delete_scenario(request: web.Request) -> web.Response:
    _carrier(request).clear_scenario(request.match_info["number"])
    return web.Response(status=204)


async def list_scenarios(request: web.Request) -> web.Response:
    return web.json_response({number: s.to_json() for number, s in _carrier(request).scenarios().items()})


async def put_number(request: web.Request) -> web.Response:
    body = await _json(request)
    try:
        number = _carrier(request).configure_number(
            request.match_info["number"],
            voice_url=body.get("voice_url"),
            voice_method=str(body.get("voice_method", "POST")),
            status_callback=body.get("status_callback"),
        )
    except ValueError as exc:
        raise RestError(400, INVALID_PARAMETER, str(exc)) from None
    return web.json_response(_number_json(number))


async def list_numbers(request: web.Request) -> web.Response:
    return web.json_response([_number_json(n) for n in _carrier(request).numbers()])


async def inbound(request: web.Request) -> web.Response:
    """`{"from": "+1...", "to": "<our number>", "script": [...]}` -> someone calls us."""
    body = await _json(request)
    call = _carrier(request).receive_call(
        str(body.get("from", "")), str(body.get("to", "")), parse_script(body.get("script"))
    )
    return web.json_response({"call_sid": call.sid}, status=201)


async def messages(request: web.Request) -> web.Response:
    return web.json_response([_message_json(m) for m in _carrier(request).messages(request.query.get("to"))])


async def list_calls(request: web.Request) -> web.Response:
    return web.json_response([c.resource() for c in _carrier(request).calls()])


async def call_report(request: web.Request) -> web.Response:
    """`?wait=S` waits up to S seconds for the call to finish; `?audio=1` adds both tracks as base64 PCM."""
    carrier, sid = _carrier(request), request.match_info["sid"]
    try:
        wait_s = float(request.query.get("wait", "0") or 0)
    except ValueError:
        raise RestError(400, INVALID_PARAMETER, "wait must be a number of seconds") from None
    if wait_s > 0:
        try:
            await carrier.wait_finished(sid, wait_s)
        except TimeoutError:
            pass  # answer with the report so far; `finished` says it is not over
    report = carrier.call(sid).report
    return web.json_response(report.to_json(audio=request.query.get("audio") == "1"))


async def hang_up(request: web.Request) -> web.Response:
    """The far end hangs up a live call (as opposed to the application's REST hang-up)."""
    return web.json_response(_carrier(request).hang_up(request.match_info["sid"]).resource())


@web.middleware
async def control_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    if not request.path.startswith("/_carrier/"):
        return await handler(request)
    try:
        return await handler(request)
    except RestError as error:
        return error_response(error)
    except (ScriptError, CarrierError) as error:
        return error_response(RestError(400, error.code, error.message))


def setup_control(app: web.Application) -> None:
    app.middlewares.append(control_errors)
    app.router.add_get("/_carrier/scenarios", list_scenarios)
    app.router.add_put("/_carrier/scenarios/{number}", put_scenario)
    app.router.add_delete("/_carrier/scenarios/{number}", delete_scenario)
    app.router.add_get("/_carrier/numbers", list_numbers)
    app.router.add_put("/_carrier/numbers/{number}", put_number)
    app.router.add_post("/_carrier/inbound", inbound)
    app.router.add_get("/_carrier/messages", messages)
    app.router.add_get("/_carrier/calls", list_calls)
    app.router.add_get("/_carrier/calls/{sid}", call_report)
    app.router.add_post("/_carrier/calls/{sid}/hangup", hang_up)
