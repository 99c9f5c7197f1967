"""The newcomer's path: `callmeback serve` prints a URL; opened in a browser it is the app, down to the gallery.

A real server process (tests/hardening/server_process.py: instant stand-in engines, so no model loads), its
stdout read for the URL, and the pages driven in Chromium; the verification code comes from the local
carrier's SMS outbox over its control API, as a person would read it on their phone.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.hardening.server_process import start_server


async def test_the_printed_url_opens_the_app(make_database, launch_browser, tmp_path: Path, screenshot) -> None:
    server = await start_server(tmp_path, await make_database())
    try:
        printed = re.search(r"Open (http://\S+)", server.log())
        if printed is None:
            pytest.fail(f"serve printed no URL to open:\n{server.log()[-2000:]}")
        url = printed.group(1)
        assert url == f"http://127.0.0.1:{server.port}/"

        page = (await launch_browser()).pages[0]
        await page.goto(url)
        await expect(page.get_by_role("heading", name="Log in")).to_be_visible()
        await screenshot(page, "login")
        await page.get_by_role("link", name="Create an account").click()
        await page.get_by_label("Name").fill("Sam")
        await page.get_by_label("Email").fill(f"sam-{uuid.uuid4().hex[:8]}@example.test")
        await page.get_by_label("Password").fill("correct horse battery")
        await page.get_by_role("button", name="Sign up").click()
        await page.get_by_label("Phone number").fill("+14155550177")
        await page.get_by_role("button", name="Send code").click()
        await expect(page.get_by_label("6-digit code")).to_be_visible()
        sms = (await server.carrier("GET", "/_carrier/messages", params={"to": "+14155550177"}))[-1]["body"]
        await expect(page.locator(".local-text blockquote")).to_have_text(sms)  # the newcomer reads it here
        await page.get_by_label("6-digit code").fill(sms.split("code is ")[1][:6])
        await page.get_by_role("button", name="Verify").click()
        gallery = page.get_by_role("list", name="Personas")
        await expect(gallery.get_by_role("heading", name="Sarah")).to_be_visible()
        await expect(gallery.get_by_role("link", name="Talk to Sarah")).to_be_visible()
    finally:
        await server.close()
