"""The web app in a real browser: sign-up to a finished call's transcript, errors shown, every main page.

Each test signs up its own user through the pages (per-user guards keep tests apart on the shared server);
screenshots of each main page go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import itertools
import re
import uuid
from pathlib import Path

from playwright.async_api import Page, expect

from orchestrator.carrier import HangUp, PlayWav, Scenario, Wait
from orchestrator.keys import POOL
from tests.browser.conftest import js_errors
from tests.phone_server import PhoneServer
from tests.scripted_engines import scripted_engines

FIXTURES = Path(__file__).resolve().parent.parent / "media" / "fixtures"

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
    await expect(page.get_by_label("6-digit code")).to_be_visible()  # shown once the SMS went out
    # No real phone with the local carrier: the page shows the text it delivered, as a newcomer reads it.
    shown = await page.locator(".local-text blockquote").inner_text()
    assert shown == server.carrier.messages(to=phone)[-1].body
    await page.get_by_label("6-digit code").fill(shown.split("code is ")[1][:6])
    assert shown.split("code is ")[1][:6] == sms_code(server, phone)
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


async def signed_up_and_verified(page: Page, server: PhoneServer, phone: str | None = None) -> tuple[str, str]:
    email = await sign_up(page, server)
    phone = phone or new_phone()
    await verify_phone(page, server, phone)
    return email, phone


async def stored_call(server: PhoneServer, email: str) -> str:
    """A finished call with Sarah written straight to the database: her greeting was cut off by the caller."""
    pool = server.client.app[POOL]
    user_id = await pool.fetchval("SELECT id FROM users WHERE email = $1", email)
    call_id = await pool.fetchval(
        """INSERT INTO calls (user_id, persona_id, direction, status, to_number, answered_at, ended_at, duration_s)
           VALUES ($1, 'sarah', 'outbound', 'completed', '+14155550100', now() - interval '1 minute', now(), 60)
           RETURNING id""",
        user_id,
    )
    await pool.executemany(
        """INSERT INTO utterances (call_id, seq, role, text, heard_text, interrupted, started_at, latency)
           VALUES ($1, $2, $3, $4, $5, $6, now(), $7)""",
        [
            (call_id, 0, "persona", "Hi! How was your day? Tell me everything.", "Hi! How was your day?", True, {}),
            (call_id, 1, "caller", "Long story.", None, False, {"stt_ms": 180.0}),
            (
                call_id,
                2,
                "persona",
                "I have time.",
                "I have time.",
                False,
                {
                    "transcript": 320.0,
                    "llm_first_token": 510.0,
                    "tts_first_audio": 600.0,
                    "first_frame_sent": 601.0,
                    "first_mark_echoed": 790.0,
                },
            ),
        ],
    )
    return str(call_id)


async def test_a_wrong_verification_code_is_shown_to_the_user(page: Page, web_server: PhoneServer, screenshot) -> None:
    await sign_up(page, web_server)
    phone = new_phone()
    await page.get_by_label("Phone number").fill(phone)
    await page.get_by_role("button", name="Send code").click()
    code = page.get_by_label("6-digit code")
    await expect(code).to_be_visible()
    wrong = "000000" if sms_code(web_server, phone) != "000000" else "111111"
    await code.fill(wrong)
    await page.get_by_role("button", name="Verify").click()
    alert = page.get_by_role("alert").filter(has_text=re.compile(r"\S"))
    await expect(alert).to_be_visible()
    await expect(alert).to_contain_text(re.compile("code", re.I))
    await expect(code).to_have_attribute("aria-invalid", "true")
    await expect(code).to_be_focused()
    await screenshot(page, "phone-verification-error")
    # A malformed number is refused by the API with a message, too.
    await page.get_by_label("Phone number").fill("12")
    await page.get_by_role("button", name="Send code").click()
    await expect(page.get_by_role("alert").first).to_be_visible()


async def test_call_me_now_rings_the_phone_and_the_call_page_shows_transcript_and_timeline(
    make_phone_server, launch_browser, screenshot
) -> None:
    engines, *_ = scripted_engines(
        transcripts=["I went running this morning."],
        replies=[["Great work. Same time tomorrow. Bye!"]],  # Brad greets in his own fixed words
    )
    server = await make_phone_server(engines=engines)
    page = (await launch_browser()).pages[0]
    errors = js_errors(page)
    _, phone = await signed_up_and_verified(page, server)
    server.carrier.set_scenario(
        phone, Scenario(ring_s=0.3, script=(Wait(3.0), PlayWav(FIXTURES / "call_me_back.wav"), Wait(4.0), HangUp()))
    )

    brad = page.locator('[data-persona="brad"]')
    favorite = brad.get_by_role("button", name="Favorite Brad")
    await favorite.click()
    await expect(favorite).to_have_attribute("aria-pressed", "true")
    await page.reload()  # the favorite is the server's, not the page's
    await expect(page.locator('[data-persona="brad"]').get_by_role("button", name="Favorite Brad")).to_have_attribute(
        "aria-pressed", "true"
    )
    await screenshot(page, "personas-favorite")

    brad = page.locator('[data-persona="brad"]')
    await brad.get_by_label(re.compile("^Reason")).fill("morning run")
    await brad.get_by_role("button", name="Call me now").click()
    await expect(page.get_by_role("heading", name="Call with Brad")).to_be_visible()
    await expect(page.get_by_role("button", name="Hang up")).to_be_visible()  # live: the page refreshes itself

    transcript = page.locator(".transcript")
    await expect(transcript).to_contain_text("Ready to get after it today?", timeout=20_000)
    await expect(transcript).to_contain_text("I went running this morning.", timeout=20_000)
    await expect(transcript).to_contain_text("Same time tomorrow.", timeout=20_000)
    await expect(page.locator(".timeline")).to_contain_text("completed", timeout=20_000)
    await expect(page.get_by_role("button", name="Hang up")).to_be_hidden()
    timeline = await page.locator(".timeline .badge").all_inner_texts()
    assert timeline == ["initiated", "ringing", "in-progress", "completed"]
    # The caller's turn got a reply: its latency is charted stage by stage as stacked SVG bars.
    chart = page.get_by_role("img", name=re.compile("Latency per reply"))
    await expect(chart).to_be_visible()
    assert await chart.locator("rect.stage-llm_first_token").count() >= 1
    assert await chart.locator("rect.stage-first_mark_echoed").count() >= 1
    await expect(page.locator("dl.facts")).to_contain_text("morning run")
    await screenshot(page, "call")

    await page.get_by_role("link", name="Calls", exact=True).click()
    await expect(page.get_by_role("heading", name="Calls")).to_be_visible()
    rows = page.locator("tbody tr")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("Brad")
    await expect(rows.first).to_contain_text("completed")
    await screenshot(page, "calls")

    await page.get_by_role("link", name="Usage").click()
    calls_row = page.get_by_role("row", name=re.compile("^Calls"))
    await expect(calls_row).to_contain_text("1")
    await expect(page.get_by_role("row", name=re.compile("^Minutes"))).to_contain_text("1")
    await screenshot(page, "usage")
    assert not errors, errors


async def test_the_call_page_marks_what_the_caller_did_not_hear(page: Page, web_server: PhoneServer) -> None:
    """An interrupted reply shows what was said, what was heard and the interruption (from a stored call)."""
    email, _ = await signed_up_and_verified(page, web_server)
    call_id = await stored_call(web_server, email)
    await page.goto(f"{web_server.base_url}/#/calls/{call_id}")
    turn = page.locator(".turn.persona.interrupted")
    await expect(turn.locator(".flag")).to_have_text("Interrupted")
    await expect(turn.locator(".unheard")).to_have_text(" Tell me everything.")
    await expect(turn.locator(".heard")).to_contain_text("Hi! How was your day?")
    await expect(page.locator(".turn.interrupted")).to_have_count(1)
    # One reply with timings: five stacked stages, and the same numbers (ms after the caller stopped) as a table.
    chart = page.get_by_role("img", name=re.compile("Latency per reply"))
    assert await chart.locator("rect").count() == 5
    await expect(chart).to_contain_text("790 ms")
    await page.get_by_text("Show as a table").click()
    await expect(page.get_by_role("row", name=re.compile("^1 "))).to_contain_text("510 ms")
    await expect(page.get_by_role("button", name="Hang up")).to_be_hidden()  # an ended call


async def test_schedules_create_pause_resume_delete(page: Page, web_server: PhoneServer, screenshot) -> None:
    await signed_up_and_verified(page, web_server)
    await page.get_by_role("link", name="Schedules").click()
    await expect(page.get_by_role("heading", name="Schedules")).to_be_visible()
    await expect(page.get_by_text("No scheduled calls yet.")).to_be_visible()

    # Missing time: the page says what to fix, before and without a request.
    await page.get_by_role("button", name="Schedule", exact=True).click()
    await expect(page.get_by_role("alert").filter(has_text="date and time")).to_be_visible()

    await page.get_by_label("Persona", exact=True).select_option(label="Sarah")
    await page.get_by_label("Purpose", exact=True).select_option("wake-up")
    await page.get_by_label("Repeating").check()
    await page.get_by_label("Repeat", exact=True).select_option("days")
    await page.get_by_label("Mon").check()
    await page.get_by_label("Thu").check()
    await page.get_by_label("Time", exact=True).fill("07:30")
    await page.get_by_role("button", name="Schedule", exact=True).click()

    schedules = page.get_by_role("list", name="My schedules")
    item = schedules.get_by_role("listitem")
    await expect(item).to_have_count(1)
    await expect(item).to_contain_text("wake-up · Sarah")
    await expect(item).to_contain_text("Every Mon, Thu at 07:30")
    await expect(item.locator("time")).to_have_count(3)  # the next occurrences, in my zone
    await expect(item.locator(".badge")).to_have_text("active")
    await screenshot(page, "schedules")

    await item.get_by_role("button", name="Pause wake-up with Sarah").click()
    await expect(item.locator(".badge")).to_have_text("paused")
    await item.get_by_role("button", name="Resume wake-up with Sarah").click()
    await expect(item.locator(".badge")).to_have_text("active")

    # A one-off call in the past is refused by the API; its message is shown on the form.
    await page.get_by_label("Once").check()
    await page.get_by_label("Date and time").fill("2020-01-01T08:00")
    await page.get_by_role("button", name="Schedule", exact=True).click()
    await expect(page.get_by_role("alert").filter(has_text="future")).to_be_visible()
    await expect(page.get_by_label("Date and time")).to_have_attribute("aria-invalid", "true")

    await item.get_by_role("button", name="Delete wake-up with Sarah").click()
    await expect(page.get_by_text("No scheduled calls yet.")).to_be_visible()


async def test_memory_page_edits_deletes_and_forgets(page: Page, web_server: PhoneServer, screenshot) -> None:
    email, _ = await signed_up_and_verified(page, web_server)
    pool = web_server.client.app[POOL]
    user_id = await pool.fetchval("SELECT id FROM users WHERE email = $1", email)
    await pool.executemany(
        """INSERT INTO memory_facts (user_id, persona_id, content, category, importance)
           VALUES ($1, 'sarah', $2, $3, $4)""",
        [
            (user_id, "Has a dog called Pepper", "family", 3),
            (user_id, "Training for a half marathon", "goals", 5),
            (user_id, "Likes green tea", "preferences", 2),
        ],
    )
    await page.get_by_role("link", name="Memory", exact=True).click()
    await page.get_by_role("navigation", name="Personas").get_by_role("link", name="Sarah").click()
    await expect(page.get_by_role("heading", name="What Sarah remembers")).to_be_visible()
    facts = page.get_by_role("list", name="Remembered facts").get_by_role("listitem")
    await expect(facts).to_have_count(3)
    await expect(facts.first).to_contain_text("half marathon")  # most important first
    await screenshot(page, "memory")

    await page.get_by_role("button", name="Edit: Has a dog called Pepper").click()
    await page.get_by_role("textbox", name="Fact").fill("Has two dogs, Pepper and Salt")
    await page.get_by_label("Importance (1 to 5)").fill("4")
    await page.get_by_role("button", name="Save").click()
    await expect(facts.filter(has_text="Pepper and Salt")).to_contain_text("importance 4 of 5")

    await page.get_by_role("button", name="Delete: Likes green tea").click()
    await expect(facts).to_have_count(2)
    await page.reload()
    await expect(facts).to_have_count(2)  # stored, not just removed from the page

    await page.get_by_role("button", name="Forget me…").click()
    await page.get_by_role("button", name="Yes, forget everything").click()
    await expect(page.get_by_text("Sarah doesn't remember anything about you yet.")).to_be_visible()
    assert await pool.fetchval("SELECT count(*) FROM memory_facts WHERE user_id = $1", user_id) == 0


async def test_profile_saves_time_zone_and_quiet_hours(page: Page, web_server: PhoneServer, screenshot) -> None:
    await signed_up_and_verified(page, web_server)
    await page.get_by_role("link", name="Profile").click()
    await page.get_by_label("Time zone").fill("Mars/Olympus")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("alert").filter(has_text="time zone")).to_be_visible()
    await page.get_by_label("Time zone").fill("Europe/Paris")
    await page.get_by_label("No quiet hours").uncheck()
    await page.get_by_label("From").fill("22:30")
    await page.get_by_label("Until").fill("06:45")
    await page.get_by_role("button", name="Save").click()
    await expect(page.locator("#status")).to_have_text("Profile saved.")
    await screenshot(page, "profile")
    await page.reload()
    await expect(page.get_by_label("Time zone")).to_have_value("Europe/Paris")
    await expect(page.get_by_label("From")).to_have_value("22:30")


# Form controls with no accessible name, and buttons or links with no text: both leave a screen reader silent.
UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea, button, a[href]')]
    .filter((el) => !el.closest('[hidden]') && el.type !== 'hidden')
    .filter((el) => el.matches('input, select, textarea')
        ? !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
        : !(el.textContent.trim() || el.getAttribute('aria-label') || el.querySelector('img[alt]:not([alt=""])')))
    .map((el) => el.outerHTML.slice(0, 80))"""


async def test_pages_fit_a_phone_sized_screen_and_label_every_control(
    launch_browser, web_server: PhoneServer, screenshot
) -> None:
    page = (await launch_browser(viewport={"width": 375, "height": 740})).pages[0]
    errors = js_errors(page)
    email, _ = await signed_up_and_verified(page, web_server)
    call_id = await stored_call(web_server, email)
    routes = ("personas", "calls", f"calls/{call_id}", "schedules", "memory/brad", "usage", "profile", "phone")
    for route in routes:
        await page.goto(f"{web_server.base_url}/#/{route}")
        await expect(page.locator("body")).to_have_attribute("data-rendered", f"#/{route}")
        await expect(page.locator("h1")).not_to_have_text("Something went wrong")
        overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"#/{route} is {overflow}px wider than a 375px screen"
        assert await page.evaluate(UNLABELLED) == [], f"#/{route} has unlabelled controls"
        name = "call" if route.startswith("calls/") else route.replace("/", "-")
        await screenshot(page, f"narrow-{name}")
    assert not errors, errors


async def test_keyboard_only_login(page: Page, web_server: PhoneServer) -> None:
    email = await sign_up(page, web_server)
    await page.get_by_role("button", name="Log out").click()
    await expect(page.get_by_role("heading", name="Log in")).to_be_visible()

    async def tab_to(label: str) -> None:
        for _ in range(15):
            await page.keyboard.press("Tab")
            if await page.evaluate("document.activeElement.labels?.[0]?.textContent") == label:
                return
        raise AssertionError(f"Tab never reached {label!r}")

    await tab_to("Email")
    outline = await page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none", "the focused field shows no focus ring"
    await page.keyboard.type(email)
    await tab_to("Password")
    await page.keyboard.type("correct horse battery")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Verify your phone")).to_be_visible()  # not verified yet
    await expect(page.get_by_role("button", name="Log out")).to_be_visible()
    # A wrong password is refused with the API's message.
    await page.get_by_role("button", name="Log out").click()
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill("wrong password")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("alert").filter(has_text="wrong email or password")).to_be_visible()


async def test_a_new_persona_is_mine_and_a_missing_name_is_pointed_at(page: Page, web_server: PhoneServer) -> None:
    await signed_up_and_verified(page, web_server)
    form = page.locator("form", has=page.get_by_role("heading", name="New persona"))
    await form.get_by_label("Who they are and how they talk").fill("A calm librarian who loves puns.")
    await form.get_by_role("button", name="Create persona").click()
    name = form.get_by_label("Name")
    await expect(form.get_by_role("alert")).to_be_visible()
    await expect(name).to_have_attribute("aria-invalid", "true")
    await expect(name).to_be_focused()

    await name.fill("Marian")
    await form.get_by_label("Tagline").fill("Shh, but funny.")
    await form.get_by_label("Greeting").fill("  Hello {name}, Marian here.  ")
    await form.get_by_role("button", name="Create persona").click()
    card = page.get_by_role("listitem").filter(has=page.get_by_role("heading", name="Marian"))
    await expect(card).to_contain_text("Mine")
    await expect(card).to_contain_text("Shh, but funny.")
    await expect(card.get_by_role("link", name="Talk to Marian")).to_be_visible()
    designer = card.get_by_role("link", name="Edit in designer")
    assert re.fullmatch(r"#/designer/[a-z0-9-]+", await designer.get_attribute("href") or "")
    await designer.click()
    await expect(page.get_by_label("Greeting")).to_have_value("Hello {name}, Marian here.")  # the API trims it


async def test_hang_up_from_the_call_page(make_phone_server, launch_browser) -> None:
    server = await make_phone_server(engines=scripted_engines()[0])  # Alex greets in his own fixed words
    page = (await launch_browser()).pages[0]
    _, phone = await signed_up_and_verified(page, server)
    server.carrier.set_scenario(phone, Scenario(ring_s=0.2, script=(Wait(60.0), HangUp())))
    await page.locator('[data-persona="alex"]').get_by_role("button", name="Call me now").click()
    await expect(page.locator(".transcript")).to_contain_text("Got a minute to dream up", timeout=20_000)
    await page.get_by_role("button", name="Hang up").click()
    await expect(page.locator(".timeline")).to_contain_text("completed", timeout=20_000)
    await expect(page.get_by_role("button", name="Hang up")).to_be_hidden()


async def test_call_history_is_paginated(page: Page, web_server: PhoneServer) -> None:
    email, _ = await signed_up_and_verified(page, web_server)
    pool = web_server.client.app[POOL]
    user_id = await pool.fetchval("SELECT id FROM users WHERE email = $1", email)
    await pool.executemany(
        """INSERT INTO calls (user_id, persona_id, direction, status, to_number, requested_at, ended_at)
           VALUES ($1, 'brad', 'outbound', 'no-answer', '+14155550100',
                   now() - make_interval(hours => $2), now() - make_interval(hours => $2))""",
        [(user_id, hours) for hours in range(1, 26)],
    )
    await page.get_by_role("link", name="Calls", exact=True).click()
    rows = page.locator("tbody tr")
    await expect(rows).to_have_count(20)
    first_page = await rows.first.inner_text()
    await page.get_by_role("link", name="Older calls").click()
    await expect(rows).to_have_count(5)
    assert await rows.first.inner_text() != first_page
    await expect(page.get_by_role("link", name="Older calls")).to_have_count(0)
    await page.get_by_role("link", name="Newest calls").click()
    await expect(rows).to_have_count(20)
