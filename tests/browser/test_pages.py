"""The web app in a real browser: sign-up to a finished call's transcript, errors shown, every main page.

Each test signs up its own user through the pages (per-user guards keep tests apart on the shared server);
screenshots of each main page go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import itertools
import re
import uuid

from playwright.async_api import Page, expect

from tests.phone_server import PhoneServer

_numbers = itertools.count(100)


def new_phone() -> str:
    """A fresh US test number per user (a number verified by one account cannot be verified by another)."""
    return f"+1415555{next(_numbers) + uuid.uuid4().int % 8000:04d}"


async def sign_up(page: Page, server: PhoneServer, name: str = "Jordan") -> str:
    """Sign up through the page; returns the email. Leaves the browser on the phone verification page."""
    email = f"{name.lower()}-{uuid.uuid4().hex[:8]}@example.test"
    await page.goto(server.base_url + "/#/signup")
    await page.get_by_label("Name").fill(name)
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill("correct horse battery")
    await page.get_by_role("button", name="Sign up").click()
    await expect(page.get_by_role("heading", name="Verify your phone")).to_be_visible()
    return email


def sms_code(server: PhoneServer, phone: str) -> str:
    return server.carrier.messages(to=phone)[-1].body.split("code is ")[1][:6]


async def verify_phone(page: Page, server: PhoneServer, phone: str) -> None:
    await page.get_by_label("Phone number").fill(phone)
    await page.get_by_role("button", name="Send code").click()
    await page.get_by_label("6-digit code").fill(sms_code(server, phone))
    await page.get_by_role("button", name="Verify").click()
    await expect(page.get_by_role("heading", name="Personas")).to_be_visible()


async def test_sign_up_and_verify_phone_shows_the_gallery(page: Page, web_server: PhoneServer, screenshot) -> None:
    await sign_up(page, web_server)
    await screenshot(page, "phone-verification")
    await verify_phone(page, web_server, new_phone())
    gallery = page.get_by_role("list", name="Personas")
    for name in ("Brad", "Sarah", "Alex"):
        await expect(gallery.get_by_role("heading", name=name)).to_be_visible()
    await expect(page.get_by_role("status").first).to_contain_text(re.compile("verified"))
    await screenshot(page, "personas")
