"""gateway.docs: pages load nothing from another host; the try page is optional."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI

from gateway import docs
from gateway.settings import Settings

# src=/href= addresses and CSS url()s: any that names a scheme and a host.
_OUTSIDE = re.compile(rb"""(?:src|href)\s*=\s*["']?(?:https?:)?//|url\(\s*["']?(?:https?:)?//""")


def app(**settings) -> FastAPI:
    app = FastAPI(title="t", docs_url=None, redoc_url=None)
    docs.install_docs(app, Settings(**settings))
    return app


async def get(path: str, **settings) -> httpx.Response:
    transport = httpx.ASGITransport(app=app(**settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        return await http.get(path)


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/"])
async def test_each_page_loads_only_from_its_own_origin(path):
    answer = await get(path)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert not _OUTSIDE.search(answer.content)
    csp = answer.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "connect-src 'self'" in csp
    assert "http" not in csp


@pytest.mark.parametrize(
    "asset",
    [
        "/docs/assets/swagger-ui-bundle.js",
        "/docs/assets/swagger-ui.css",
        "/docs/assets/redoc.standalone.js",
        "/docs/assets/favicon.png",
        "/static/try.js",
        "/static/try.css",
    ],
)
async def test_the_assets_the_pages_name_are_served(asset):
    answer = await get(asset)
    assert answer.status_code == 200
    assert len(answer.content) > 1000


async def test_redocs_only_outside_address_is_taken_out():
    script = (await get("/docs/assets/redoc.standalone.js")).content
    original = (docs.DOCS_ASSETS / "redoc.standalone.js").read_bytes()
    assert docs.REDOC_LOGO_URL.encode() in original  # else the patch is stale: drop it
    assert docs.REDOC_LOGO_URL.encode() not in script
    assert len(original) - len(script) == len(docs.REDOC_LOGO_URL)


async def test_the_try_page_calls_the_configured_usage_and_asks_for_a_key_when_keys_are_on():
    page = (await get("/", usages={"health-code": "health_code"}, api_keys={"k"})).text
    assert 'data-usage="health-code"' in page
    assert 'data-api-keys="on"' in page
    assert 'data-api-keys="off"' in (await get("/")).text


async def test_the_try_page_can_be_turned_off_while_the_docs_stay():
    assert (await get("/", try_page=False)).status_code == 404
    assert (await get("/static/try.js", try_page=False)).status_code == 404
    assert (await get("/docs", try_page=False)).status_code == 200


def test_an_app_that_still_serves_fastapis_cdn_docs_is_refused():
    with pytest.raises(ValueError, match="docs_url=None"):
        docs.install_docs(FastAPI(), Settings())


def test_the_gateway_app_serves_the_offline_pages_and_not_fastapis():
    from gateway.app import create_app
    from gateway.settings import Settings

    app = create_app(Settings(decode="triton"), client_factory=lambda settings: None)
    paths = {getattr(route, "path", None) for route in app.routes}
    assert {"/docs", "/redoc", "/"} <= paths
    assert app.docs_url is None and app.redoc_url is None
