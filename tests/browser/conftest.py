"""Real-browser tests: Debian's headless Chromium driven by Playwright (async API) against a real server.

Playwright's own browser download cannot work here, so the browser is `/usr/bin/chromium` (the Debian
`chromium` package, installed by `.ci/run`) launched through `executable_path`.

Fixtures (reuse them in any module under tests/browser):

- `launch_browser(*extra_args, viewport=None) -> BrowserContext`: a fresh Chromium with its own empty profile
  (a persistent context in a new temp dir), launched with `BROWSER_ARGS` plus `extra_args`, e.g. the voice
  tests' `--use-fake-ui-for-media-stream --use-fake-device-for-media-stream
  --use-file-for-fake-audio-capture=FILE.wav`. Every browser it starts is closed at the end of the test.
- `page`: a page in a default browser (desktop viewport). Any uncaught JavaScript error on it fails the test.
- `web_server`: a `PhoneServer` (tests/phone_server.py) for the browser tests of the session: the app with
  scripted engines and its in-process local carrier, on a loopback port; `web_server.base_url` is the URL
  to open. Modules needing other engines call `make_phone_server(engines=...)` themselves.
- `screenshot(page, name)`: saves `test-artifacts/screenshots/<name>.png` (full page) for people to look at.
- `js_errors(page) -> list[str]` (a function, import it): collects the page's uncaught errors (what `page` checks).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, Page, Playwright, async_playwright

from tests.phone_server import PhoneServer, make_phone_server

__all__ = ["BROWSER_ARGS", "CHROMIUM", "make_phone_server"]

CHROMIUM = "/usr/bin/chromium"
BROWSER_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
DESKTOP = {"width": 1280, "height": 900}
SCREENSHOTS = Path(__file__).resolve().parent.parent.parent / "test-artifacts" / "screenshots"

Launcher = Callable[..., Awaitable[BrowserContext]]


@pytest.fixture(scope="session")
def chromium() -> str:
    if not Path(CHROMIUM).exists():  # a setup problem, not a test result: say how to fix it
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does this)", pytrace=False)
    return CHROMIUM


@pytest.fixture(scope="session")
async def playwright(chromium: str) -> AsyncIterator[Playwright]:
    async with async_playwright() as driver:
        yield driver


@pytest.fixture
async def launch_browser(playwright: Playwright, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Launcher]:
    contexts: list[BrowserContext] = []

    async def launch(*extra_args: str, viewport: dict[str, int] | None = None) -> BrowserContext:
        profile = tmp_path_factory.mktemp("chromium-profile")
        context = await playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=[*BROWSER_ARGS, *extra_args],
            viewport=viewport or DESKTOP,
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context

    yield launch
    for context in contexts:
        await context.close()


def js_errors(page: Page) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


@pytest.fixture
async def page(launch_browser: Launcher) -> AsyncIterator[Page]:
    context = await launch_browser()
    page = context.pages[0] if context.pages else await context.new_page()
    errors = js_errors(page)
    yield page
    assert not errors, f"uncaught JavaScript errors: {errors}"


@pytest.fixture(scope="session")
async def web_server(make_phone_server) -> PhoneServer:
    return await make_phone_server()


@pytest.fixture(scope="session")
def screenshot() -> Callable[[Page, str], Awaitable[Path]]:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    async def save(page: Page, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        await page.screenshot(path=str(path), full_page=True)
        return path

    return save
