"""The one place the official Twilio SDK client is built, for real Twilio and the local carrier alike.

The SDK's API domain (`client.api`, used by `client.calls` and `client.messages`) keeps its host in
the public `Domain.base_url` attribute, set once in its constructor; overriding it is the smallest
supported redirect: every request then goes through the SDK's normal path (auth, headers, error
parsing), only the host differs. Edge/region are cleared because the SDK would otherwise read
TWILIO_EDGE / TWILIO_REGION from the environment and rewrite the host behind our configuration.
"""

from __future__ import annotations

from twilio.http import HttpClient
from twilio.rest import Client

TWILIO_API_BASE = "https://api.twilio.com"


def twilio_client(api_base: str, account_sid: str, auth_token: str, *, http_client: HttpClient | None = None) -> Client:
    """A `twilio.rest.Client` whose Voice/Messaging API lives at `api_base` (no trailing path).

    The default http client is synchronous (requests): call it via `asyncio.to_thread`. Pass
    `twilio.http.async_http_client.AsyncTwilioHttpClient()` to use the `*_async` methods instead.
    """
    client = Client(account_sid, auth_token, http_client=http_client)
    client.edge = None
    client.region = None
    client.api.base_url = api_base.rstrip("/")
    return client
