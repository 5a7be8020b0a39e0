"""Write the README's screenshots: `python -m tests.browser.screenshots [folder]`.

Serves the catalogue that the browser tests use (tests/browser/world.py) on 127.0.0.1 and
photographs the catalogue, a project page and a council page with Debian's Chromium.
"""

from __future__ import annotations

import sys
import tempfile
import threading
from pathlib import Path

from werkzeug.serving import make_server

from makersbot.app import build
from makersbot.web import create_web_app
from tests.browser.conftest import CHROMIUM_ARGS, HOW_TO_ENABLE, chromium_path
from tests.browser.world import build_world
from tests.conftest import Clock, make_settings
from tests.fakes.slack import FakeSlack

ROOT = Path(__file__).resolve().parents[2]
SHOTS = {
    "catalogue.png": "/",
    "project.png": "/projects/bin-collection-reminders",
    "council.png": "/councils/ADU",
}


def main(argv: list[str]) -> int:
    target = Path(argv[0]) if argv else ROOT / "docs"
    target.mkdir(parents=True, exist_ok=True)
    path = chromium_path()
    if path is None:
        print(HOW_TO_ENABLE, file=sys.stderr)
        return 1
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as folder, FakeSlack() as slack:
        bot = build(
            make_settings(f"sqlite:///{folder}/makersbot.db", slack),
            clock=Clock(),
            per_channel_interval=0,
        )
        bot.db.upgrade()
        build_world(bot, filler=22)
        httpd = make_server("127.0.0.1", 0, create_web_app(bot), threaded=True)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{httpd.server_port}"
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1100, "height": 1400})
                for name, address in SHOTS.items():
                    page.goto(base + address)
                    page.screenshot(path=str(target / name), full_page=False)
                    print(f"wrote {target / name}")
                browser.close()
        finally:
            httpd.shutdown()
            bot.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
