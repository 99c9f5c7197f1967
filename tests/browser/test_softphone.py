"""The softphone in a real browser: sign up, verify a phone, "Call me now" with Brad rings the page (the local
carrier's line for that number), Answer bridges Chromium's fake microphone (a WAV spoken by Piper) and
the page's speakers into the phone path, and the call page shows the transcript as it happens.

Engines are scripted (the speech-to-text returns the scripted line once the VAD has heard a turn): what is
tested is the browser, the websocket bridge and the carrier, not the models.
"""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import expect

from tests.browser.conftest import js_errors
from tests.browser.test_pages import signed_up_and_verified
from tests.browser.test_voice import VOICE_ARGS, spoken_wav
from tests.scripted_engines import scripted_engines


async def test_call_me_now_rings_the_softphone_and_the_answered_call_has_a_transcript(
    make_phone_server, launch_browser, screenshot, tmp_path: Path
) -> None:
    engines, *_ = scripted_engines(
        # One per utterance, and a speculative guess at a pause inside the line takes one too.
        transcripts=["Hello Brad, I am ready."] * 4,
        # A reply started speculatively at that pause and dropped also takes one.
        replies=[["Good. What is your one goal today?"]] * 4,  # Brad greets in his own fixed words
    )
    server = await make_phone_server(engines=engines)
    wav = await spoken_wav(tmp_path, "Hello Brad, I am ready.", silence_s=6.0)
    page = (await launch_browser(*VOICE_ARGS, f"--use-file-for-fake-audio-capture={wav}")).pages[0]
    errors = js_errors(page)
    await signed_up_and_verified(page, server)
    softphone = page.locator("#softphone")
    await expect(softphone).to_contain_text("Softphone ready")

    await page.locator('[data-persona="brad"]').get_by_role("button", name="Call me now").click()
    await expect(page.get_by_role("heading", name="Call with Brad")).to_be_visible()
    await expect(softphone).to_contain_text("Brad is calling", timeout=15_000)
    await screenshot(page, "softphone-ringing")
    await softphone.get_by_role("button", name="Answer").click()
    await expect(softphone).to_contain_text("On a call with Brad")

    transcript = page.locator(".transcript")
    await expect(transcript).to_contain_text("Ready to get after it today?", timeout=20_000)
    await expect(transcript).to_contain_text("Hello Brad, I am ready.", timeout=30_000)  # the browser's microphone
    await expect(transcript).to_contain_text("What is your one goal today?", timeout=20_000)
    await screenshot(page, "softphone-call")
    await softphone.get_by_role("button", name="Hang up").click()
    await expect(softphone).to_contain_text("ended")
    await expect(page.locator(".timeline")).to_contain_text("completed", timeout=20_000)
    assert not errors, errors


async def test_declining_on_the_softphone_leaves_the_call_busy(make_phone_server, launch_browser) -> None:
    server = await make_phone_server(engines=scripted_engines()[0])
    page = (await launch_browser(*VOICE_ARGS)).pages[0]
    await signed_up_and_verified(page, server)
    softphone = page.locator("#softphone")
    await expect(softphone).to_contain_text("Softphone ready")
    await page.locator('[data-persona="sarah"]').get_by_role("button", name="Call me now").click()
    await expect(softphone).to_contain_text("Sarah is calling", timeout=15_000)
    await softphone.get_by_role("button", name="Decline").click()
    await expect(page.locator(".timeline")).to_contain_text("busy", timeout=20_000)
