"""Pages for people, served from the gateway itself: /docs, /redoc and the try page at /.

Health-code checks run on closed networks, so no page may load anything from another host:
Swagger UI and ReDoc come from the `fastapi-offline` package's copies (FastAPI's defaults load
them from a CDN, and /docs is a blank page without one), and every page is sent with a
Content-Security-Policy that lets the browser fetch from this origin only.

The app must be created with `docs_url=None, redoc_url=None`; then `install_docs(app)`.
"""

from __future__ import annotations

import html
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse, Response

from gateway.settings import Settings

DOCS_ASSETS = Path(fastapi_offline.__file__).resolve().parent / "static"
TRY_PAGE_ASSETS = Path(__file__).resolve().parent / "static"
DOCS_ASSETS_URL = "/docs/assets"
TRY_PAGE_ASSETS_URL = "/static"

# Same origin only. Swagger UI and ReDoc start from an inline script and style their elements
# inline; ReDoc runs its search in a worker made from a blob: URL.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; worker-src 'self' blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
# The try page has no inline script or style; it shows the chosen image from a blob: URL.
TRY_PAGE_CSP = (
    "default-src 'self'; img-src 'self' blob: data:; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
# ReDoc's sidebar shows its maker's logo from their CDN (unconditionally, in ReDoc 2.5): served
# with an empty address, the image fails to load without a request and ReDoc leaves it out.
REDOC_LOGO_URL = "https://cdn.redoc.ly/redoc/logo-mini.svg"
_HEADERS_DOCS = {"content-security-policy": DOCS_CSP, "x-content-type-options": "nosniff"}
_HEADERS_TRY = {"content-security-policy": TRY_PAGE_CSP, "x-content-type-options": "nosniff"}


def install_docs(app: FastAPI, settings: Settings) -> None:
    """Add /docs, /redoc and (when settings.try_page, the default) the try page at / to `app`."""
    if app.docs_url or app.redoc_url:
        raise ValueError("create the app with docs_url=None, redoc_url=None: they load a CDN")
    settings = settings if settings is not None else getattr(app.state, "settings", None)
    redoc_js = redoc_script()

    # Registered before the mount of the other assets, so this route answers for ReDoc's file.
    @app.api_route(
        f"{DOCS_ASSETS_URL}/redoc.standalone.js", methods=["GET", "HEAD"], include_in_schema=False
    )
    async def redoc_standalone() -> Response:
        return Response(redoc_js, media_type="text/javascript")

    app.mount(DOCS_ASSETS_URL, StaticFiles(directory=DOCS_ASSETS), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"
    title = app.title

    @app.api_route("/docs", methods=["GET", "HEAD"], include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        page = get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{title} - Swagger UI",
            swagger_js_url=f"{root}{DOCS_ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_ASSETS_URL}/favicon.png",
            oauth2_redirect_url=None,
            # Swagger UI would send the spec to a public validator for a badge.
            swagger_ui_parameters={"validatorUrl": None, "tryItOutEnabled": True},
        )
        page.headers.update(_HEADERS_DOCS)
        return page

    @app.api_route("/redoc", methods=["GET", "HEAD"], include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        page = get_redoc_html(
            openapi_url=root + openapi_url,
            title=f"{title} - ReDoc",
            redoc_js_url=f"{root}{DOCS_ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{DOCS_ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )
        page.headers.update(_HEADERS_DOCS)
        return page

    if settings.try_page:
        _install_try_page(app, settings)


def redoc_script() -> bytes:
    """ReDoc's bundle without the one outside address it loads."""
    script = (DOCS_ASSETS / "redoc.standalone.js").read_bytes()
    return script.replace(REDOC_LOGO_URL.encode(), b"")


def try_page_html(settings: Settings) -> str:
    """index.html with what the page must know: the usage it asks, whether it needs a key."""
    usages = settings.usages
    usage = "health-code" if "health-code" in usages else next(iter(usages))
    keys = "on" if settings.api_keys else "off"
    page = (TRY_PAGE_ASSETS / "index.html").read_text(encoding="utf-8")
    return page.replace('data-usage="health-code"', f'data-usage="{html.escape(usage)}"').replace(
        'data-api-keys="off"', f'data-api-keys="{keys}"'
    )


def _install_try_page(app: FastAPI, settings: Settings) -> None:
    page = try_page_html(settings)  # read once: the page is the same for every visitor
    app.mount(TRY_PAGE_ASSETS_URL, StaticFiles(directory=TRY_PAGE_ASSETS), name="try-page")

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    async def try_page() -> HTMLResponse:
        return HTMLResponse(page, headers=_HEADERS_TRY)
