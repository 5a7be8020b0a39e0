"""The public catalogue: what councils make together, as web pages and open data.

`register(app, bot)` adds its routes to the web app; `makersbot.web` calls it only when
`PUBLIC_CATALOGUE=on`, so with `off` every catalogue address answers 404.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask

if TYPE_CHECKING:
    from makersbot.app import Bot


def register(app: Flask, bot: Bot) -> None:
    """Serve the catalogue's pages, feeds and assets from `app`."""
    from makersbot.catalogue.cache import PageCache
    from makersbot.catalogue.views import create_blueprint

    cache = PageCache()
    app.extensions["makersbot.catalogue.cache"] = cache  # benchmarks empty it
    app.register_blueprint(create_blueprint(bot, cache))
