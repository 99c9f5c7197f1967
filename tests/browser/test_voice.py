"""Talking to a persona from a real browser: Chromium's fake microphone plays a WAV (spoken by Piper) into
the Talk page, whose AudioWorklet sends 16 kHz PCM16 over the websocket to the same Call a phone call runs.

Engines: the speech-to-text is the real embedded Whisper (so the words on the page are what the browser's
audio actually said); the language model and the speech are scripted (instant and deterministic: the
assertions are about the browser path, not the model). Also the persona designer: edit, compiled prompt,
voice sample, then "Talk to this draft".
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from media.call import Engines
from media.codec import write_wav
from media.stt_whisper import WhisperSpeechToText
from media.tts_piper import PiperTextToSpeech
from tests.browser.conftest import js_errors
from tests.browser.test_pages import sign_up
from tests.engines.settings import piper
from tests.phone_server import PhoneServer
from tests.scripted_engines import ScriptedLanguageModel, ScriptedTextToSpeech

CALLER_LINE = "I would like to talk about my garden today."
REPLY = "Gardens are wonderful. What are you growing this year?"
VOICE_ARGS = (
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
)


async def spoken_wav(folder: Path, text: str, silence_s: float = 4.0) -> Path:
    """`text` spoken by Piper (the embedded voice, so CI needs nothing more), then silence (Chromium loops
    the file: the silence ends each turn)."""
    path = folder / "caller.wav"
    rate = 22050  # Piper's own rate; Chromium's fake capture resamples it
    async with PiperTextToSpeech(piper(rate)) as tts:
        speech = b"".join([chunk async for chunk in tts.synthesize(text, {})])
    write_wav(path, bytes(rate * 2) + speech + bytes(int(rate * silence_s) * 2), rate)
    return path


@pytest.fixture(scope="module")
async def voice_server(make_phone_server, web_server: PhoneServer) -> AsyncIterator[PhoneServer]:
    whisper = WhisperSpeechToText(web_server.settings.whisper)
    await whisper.start()
    llm = ScriptedLanguageModel(deque(), default=REPLY)  # Sarah greets in her own fixed words
    try:
        yield await make_phone_server(engines=Engines(whisper, ScriptedTextToSpeech(), llm))
    finally:
        await whisper.aclose()


@pytest.mark.engines
async def test_talking_through_the_microphone_shows_both_sides_in_the_transcript(
    voice_server: PhoneServer, launch_browser, screenshot, tmp_path: Path
) -> None:
    wav = await spoken_wav(tmp_path, CALLER_LINE)
    page = (await launch_browser(*VOICE_ARGS, f"--use-file-for-fake-audio-capture={wav}")).pages[0]
    errors = js_errors(page)
    await sign_up(page, voice_server)
    await page.goto(voice_server.base_url + "/#/talk/sarah")
    await expect(page.get_by_role("heading", name="Talk")).to_be_visible()
    await expect(page.get_by_label("Persona")).to_have_value("sarah")
    await page.get_by_role("button", name="Talk", exact=True).click()
    await expect(page.locator(".talk-state")).to_contain_text("speak whenever you like")

    transcript = page.locator(".talk-live .transcript")
    await expect(transcript.locator(".turn.persona").first).to_contain_text("it's Sarah!", timeout=20_000)
    # Whisper heard the browser's microphone; the persona answered it.
    await expect(transcript.locator(".turn.caller").first).to_contain_text(re.compile("garden", re.I), timeout=45_000)
    await expect(transcript.locator(".turn.persona").nth(1)).to_contain_text("Gardens are wonderful", timeout=20_000)
    await screenshot(page, "talk")

    await page.get_by_label("Type a line").fill("And tomatoes, mostly.")
    await page.get_by_role("button", name="Send").click()
    await expect(transcript.locator(".turn.caller", has_text="And tomatoes, mostly.")).to_be_visible()
    await page.get_by_role("button", name="Hang up").click()
    await expect(page.locator(".talk-state")).to_contain_text("ended")
    await page.get_by_role("link", name=re.compile("See this call")).click()
    await expect(page.get_by_role("heading", name=re.compile("Call"))).to_be_visible()
    await expect(page.locator(".transcript")).to_contain_text("Gardens are wonderful")
    await expect(page.locator(".transcript")).to_contain_text("And tomatoes, mostly.")
    await screenshot(page, "talk-call-page")
    assert not errors, errors


async def test_the_designer_edits_shows_the_prompt_plays_a_sample_and_talks_to_the_draft(
    page: Page, web_server: PhoneServer, screenshot
) -> None:
    await sign_up(page, web_server)
    await page.goto(web_server.base_url + "/#/personas")
    await page.get_by_label("Name").fill("Captain Calm")
    await page.get_by_label("Who they are and how they talk").fill("You are a calm sea captain who speaks slowly.")
    await page.get_by_role("button", name="Create persona").click()
    card = page.locator(".persona", has_text="Captain Calm")
    await card.get_by_role("link", name="Edit in designer").click()
    await expect(page.get_by_role("heading", name="Designer: Captain Calm")).to_be_visible()
    await expect(page.locator(".prompt-layer").first).to_be_visible()

    await page.get_by_label("Core prompt").fill("You are a calm sea captain who speaks slowly and loves lighthouses.")
    await page.get_by_label("Temperature").fill("0.4")
    await page.get_by_label("End-of-turn silence (ms)").fill("900")
    greeting = page.get_by_label("Greeting")
    await expect(greeting).to_have_value("")  # a new persona: the model greets
    await greeting.fill("Ahoy {name}, Captain Calm here.")
    await page.get_by_role("button", name="Save").click()
    await expect(page.locator("#status")).to_contain_text("saved")
    await page.locator(".prompt-layer summary").first.click()
    await expect(page.locator(".prompt-layer").first).to_contain_text("lighthouses")
    shown = page.locator(".prompt-layer", has=page.locator("summary", has_text="Greeting"))
    await shown.locator("summary").click()
    await expect(shown).to_contain_text(re.compile(r"Ahoy \w+, Captain Calm here\."))  # the name filled in
    await page.reload()
    await expect(page.get_by_label("Temperature")).to_have_value("0.4")
    await expect(page.get_by_label("End-of-turn silence (ms)")).to_have_value("900")
    await expect(page.get_by_label("Greeting")).to_have_value("Ahoy {name}, Captain Calm here.")

    await page.get_by_role("button", name="Play sample").click()
    sample = page.locator("audio.voice-sample")
    await expect(sample).to_be_visible()
    assert (await sample.get_attribute("src") or "").startswith("blob:")
    await screenshot(page, "designer")

    await page.get_by_role("link", name="Talk to this draft").click()
    await expect(page.get_by_role("heading", name="Talk")).to_be_visible()
    await expect(page.get_by_label("Persona")).to_have_value(re.compile("^captain-calm-"))
    await expect(page.get_by_label("Temperature")).to_have_count(0)
