"""Adding the console to the app: its state, routes, static files and security headers."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from serving.console.headers import ConsoleHeadersMiddleware
from serving.console.i18n import load_catalogues
from serving.console.routes import router
from serving.console.settings import ConsoleSettings
from serving.console.state import ConsoleState
from serving.platform.context import CONSOLE_PREFIX

PACKAGE_DIR = Path(__file__).parent
STATIC_PATH = f"{CONSOLE_PREFIX}/static"


def install_console(app: FastAPI, settings: ConsoleSettings) -> None:
    """Routes under ``/console``, its static files, and the headers middleware (innermost
    of the app's middleware, so the audit log and metrics see the console like the API)."""
    app.state.console = ConsoleState(
        settings=settings,
        catalogues=load_catalogues(),
        templates=Jinja2Templates(directory=PACKAGE_DIR / "templates"),
    )
    app.include_router(router)
    app.mount(STATIC_PATH, StaticFiles(directory=PACKAGE_DIR / "static"), name="console-static")
    app.add_middleware(ConsoleHeadersMiddleware)
