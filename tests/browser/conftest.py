"""Headless Chromium (Debian's, through Playwright) against the real pages on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from makersbot.app import Bot, build
from tests.browser.world import World, build_world
from tests.conftest import Clock, make_settings
from tests.fakes.slack import FakeSlack

# Flags for a closed network: without the background-networking ones Chromium keeps trying
# to reach Google's hosts.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
HOW_TO_ENABLE = (
    "no Chromium found for the browser tests: install Debian's with "
    "`apt-get install chromium` (or set MAKERSBOT_CHROMIUM to a Chromium binary)"
)


def chromium_path() -> str | None:
    """Debian's Chromium, or the one MAKERSBOT_CHROMIUM names."""
    named = os.environ.get("MAKERSBOT_CHROMIUM")
    if named:
        return named if Path(named).is_file() else None
    for candidate in (
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One Chromium for the whole session; skipped locally without one, failed in CI."""
    path = chromium_path()
    if path is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(HOW_TO_ENABLE + " (CI=true: browser tests must run)")
        pytest.skip(HOW_TO_ENABLE)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class Site:
    bot: Bot
    world: World
    url: str


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The bot's web app with a built catalogue, served on 127.0.0.1 (SQLite)."""
    from makersbot.web import create_web_app

    folder = tmp_path_factory.mktemp("catalogue")
    with FakeSlack() as slack:
        bot = build(
            make_settings(f"sqlite:///{folder / 'makersbot.db'}", slack),
            clock=Clock(),
            per_channel_interval=0,
        )
        bot.db.upgrade()
        world = build_world(bot, filler=22)
        httpd = make_server("127.0.0.1", 0, create_web_app(bot), threaded=True)
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        try:
            yield Site(bot, world, f"http://127.0.0.1:{httpd.server_port}")
        finally:
            httpd.shutdown()
            thread.join(timeout=5)
            bot.stop()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()
