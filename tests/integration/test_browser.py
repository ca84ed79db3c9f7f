"""The pages for people, in a real browser: Debian's Chromium, headless, against the real service.

Every page is loaded with the whole network watched: a request to any host but this machine is
recorded (and stopped) and fails the test, and so does a Content-Security-Policy violation or an
uncaught script error. HEALTHCODE_UPDATE_SCREENSHOTS=1 copies the screenshots the tests take into
docs/img/ for the README.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import orjson
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, sync_playwright

from tests.support.images import encode
from tests.support.service import PROJECT, SEED_JPEG, Service
from tests.support.tools import missing

SCREENSHOT = SEED_JPEG
README_IMAGES = PROJECT / "docs" / "img"
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
# On a closed network Chromium's own background traffic (updates, sync, safe browsing) only
# produces refused connections; these flags switch it off (the browser runs as root in CI).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"viewport": {"width": 412, "height": 915}, "is_mobile": True, "has_touch": True}
DESKTOP = {"viewport": {"width": 1280, "height": 900}}
TIMEOUT_MS = 30_000


def chromium_path() -> str:
    """Debian's Chromium (`make chromium` installs it); skip, or fail in CI, without one."""
    for candidate in (os.environ.get("HEALTHCODE_CHROMIUM"), "chromium", "chromium-browser"):
        if candidate and (path := shutil.which(candidate)):
            return path
    missing("Chromium", "chromium")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = chromium_path()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Watched:
    """A browser context whose every request and console message is recorded."""

    def __init__(self, context: BrowserContext) -> None:
        self.context = context
        self.requests: list[str] = []
        self.outside: list[str] = []
        self.problems: list[str] = []
        context.on("request", lambda request: self.requests.append(request.url))
        context.route("**/*", self._only_loopback)

    def _only_loopback(self, route: Route) -> None:
        url = route.request.url
        if urlsplit(url).scheme in ("http", "https", "ws", "wss") and not is_loopback(url):
            self.outside.append(url)
            route.abort()
        else:
            route.fallback()

    def page(self) -> Page:
        page = self.context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.on("pageerror", lambda error: self.problems.append(f"script error: {error}"))
        page.on("console", self._console)
        return page

    def _console(self, message) -> None:
        # A 4xx answer the page asked for shows as a "Failed to load resource" error: expected.
        if message.type == "error" and "Failed to load resource" not in message.text:
            self.problems.append(message.text)


def is_loopback(url: str) -> bool:
    return (urlsplit(url).hostname or "") in LOOPBACK


@contextlib.contextmanager
def watched(browser: Browser, **options) -> Iterator[Watched]:
    context = browser.new_context(**options)
    try:
        watch = Watched(context)
        yield watch
    finally:
        context.close()
    assert watch.outside == [], "a page asked for an outside host"
    assert watch.problems == [], "the browser reported errors"
    assert watch.requests, "nothing was loaded"
    assert all(is_loopback(u) or u.startswith(("blob:", "data:")) for u in watch.requests)


@pytest.fixture
def screenshots(tmp_path: Path) -> Iterator[Path]:
    """Where the tests put screenshots; copied to docs/img/ when asked to."""
    yield tmp_path
    if os.environ.get("HEALTHCODE_UPDATE_SCREENSHOTS") == "1":
        README_IMAGES.mkdir(parents=True, exist_ok=True)
        for shot in tmp_path.glob("*.png"):
            shutil.copy(shot, README_IMAGES / shot.name)


def verdict(page: Page) -> str:
    """Wait for the page's answer and return its status (or "refused")."""
    page.wait_for_selector("#verdict[data-status]")
    return page.get_attribute("#verdict", "data-status") or ""


def choose(page: Page, path: Path) -> None:
    page.evaluate("delete document.querySelector('#verdict').dataset.status")
    page.set_input_files("#file", str(path))


def test_swagger_ui_renders_the_operations_from_the_service_itself(
    browser: Browser, service: Service, screenshots: Path
):
    with watched(browser, **DESKTOP) as watch:
        page = watch.page()
        page.goto(f"{service.base_url}/docs")
        post = page.locator(".opblock-post", has_text="/analysis/{usage}")
        post.wait_for()
        assert "Classify a health-code screenshot" in post.inner_text()
        for path in ("/healthz", "/readyz", "/metrics"):
            assert page.locator(".opblock-get", has_text=path).count() == 1
        page.screenshot(path=screenshots / "swagger.png")
    assert any(u.endswith("/docs/assets/swagger-ui-bundle.js") for u in watch.requests)


def test_redoc_renders_the_api_from_the_service_itself(browser: Browser, service: Service):
    with watched(browser, **DESKTOP) as watch:
        page = watch.page()
        page.goto(f"{service.base_url}/redoc")
        page.locator("h2", has_text="Classify a health-code screenshot").first.wait_for()
        assert "/analysis/{usage}" in page.inner_text("body")
    assert any(u.endswith("/docs/assets/redoc.standalone.js") for u in watch.requests)


def test_the_try_page_shows_green_for_a_real_screenshot(
    browser: Browser, service: Service, screenshots: Path
):
    with watched(browser, **PHONE) as watch:
        page = watch.page()
        page.goto(f"{service.base_url}/")
        choose(page, SCREENSHOT)
        assert verdict(page) == "green"
        assert page.inner_text("#verdict").lower() == "green"
        assert re.fullmatch(r"\d+\.\d+ % confident", page.inner_text("#confidence"))
        labels = page.eval_on_selector_all("#scores li", "items => items.map(i => i.dataset.label)")
        assert labels == ["green", "yellow", "red", "invalid"]
        assert page.inner_text("#model-version").isdigit()
        assert re.fullmatch(r"[0-9a-f]{32}", page.inner_text("#request-id"))
        assert page.is_visible("#image") and not page.is_visible("#refusal")
        page.screenshot(path=screenshots / "try-page.png", full_page=True)
    posts = [u for u in watch.requests if "/analysis/" in u]
    assert posts == [f"{service.base_url}/analysis/health-code"]


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("notes.txt", b"not an image at all", "unsupported_media_type"),
        ("animation.gif", encode("GIF"), "unsupported_media_type"),
        ("renamed.jpg", b"plain text that claims to be a JPEG", "not_an_image"),
    ],
)
def test_the_try_page_shows_the_error_code_of_a_refused_file(
    browser: Browser, service: Service, tmp_path: Path, name: str, content: bytes, code: str
):
    refused = tmp_path / name
    refused.write_bytes(content)
    with watched(browser, **PHONE) as watch:
        page = watch.page()
        page.goto(f"{service.base_url}/")
        choose(page, refused)
        assert verdict(page) == "refused"
        assert page.inner_text("#error-code") == code
        assert page.inner_text("#error-message")
        assert page.inner_text("#http-status").startswith(("400", "415"))
        assert not page.is_visible("#answer")


def test_read_time_asks_for_the_time_and_shows_it_with_its_age(browser: Browser, service: Service):
    with watched(browser, **PHONE) as watch:
        page = watch.page()
        page.goto(f"{service.base_url}/")
        page.check("#read-time")
        choose(page, SCREENSHOT)  # its code shows 2022-08-27 10:15:46
        assert verdict(page) == "green"
        assert "10:15:46" in page.inner_text("#time-text")
        age = page.inner_text("#time-age")
        assert "shown 2022-08-27T10:15:46" in age and "days old" in age and "not fresh" in age
    posts = [u for u in watch.requests if "/analysis/" in u]
    assert posts == [f"{service.base_url}/analysis/health-code?read=time"]


def test_the_page_draws_the_codes_box_shows_the_time_and_asks_for_a_key(
    browser: Browser, service: Service
):
    """Fields the service may add (time, box) and a key refusal, answered here by the test."""
    answers = [
        (401, {"error": {"code": "unauthorized", "message": "an API key is needed"}}),
        (
            200,
            {
                "usage": "health-code",
                "status": "yellow",
                "confidence": 0.91,
                "scores": {"green": 0.05, "yellow": 0.91, "red": 0.03, "invalid": 0.01},
                "model_version": "7",
                "request_id": "r-42",
                "time": {
                    "text": "2026-12-01 10:15:46",
                    "shown": "2026-12-01T10:15:46+08:00",
                    "age_s": 125.0,
                    "fresh": True,
                },
                "box": [100, 800, 1340, 2040],
            },
        ),
    ]
    seen_keys: list[str | None] = []

    def fake_service(route: Route) -> None:
        seen_keys.append(route.request.headers.get("x-api-key"))
        status, body = answers.pop(0)
        route.fulfill(status=status, body=orjson.dumps(body), content_type="application/json")

    with watched(browser, **PHONE) as watch:
        page = watch.page()
        page.route("**/analysis/**", fake_service)
        page.goto(f"{service.base_url}/")
        assert not page.is_visible("#api-key")  # this service has no keys
        choose(page, SCREENSHOT)
        assert verdict(page) == "refused"
        assert page.is_visible("#api-key")
        page.fill("#api-key", "s3cret")
        page.evaluate("delete document.querySelector('#verdict').dataset.status")
        page.click("#again")
        assert verdict(page) == "yellow"
        assert seen_keys == [None, "s3cret"]
        assert page.inner_text("#time-text") == "2026-12-01 10:15:46"
        assert "2 min old" in page.inner_text("#time-age")
        assert page.inner_text("#time-age").endswith("fresh")
        rect = page.locator("#box-layer rect")
        assert [rect.get_attribute(a) for a in ("x", "y", "width", "height")] == [
            "100",
            "800",
            "1240",
            "1240",
        ]
        assert page.get_attribute("#box-layer", "viewBox") == "0 0 1440 3200"
        assert page.inner_text("#request-id") == "r-42"
