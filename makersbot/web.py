"""The HTTP app (WSGI; served by makersbot.server): Slack requests, webhooks and /healthz."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, request
from slack_bolt.adapter.flask.handler import to_flask_response

from makersbot.app import Bot, build
from makersbot.health import HealthCheck
from makersbot.intake import RETRY_AFTER_SECONDS, STORE_FAILURES
from makersbot.settings import Settings, load_settings
from makersbot.slack_requests import SLACK_ENDPOINT, SlackEndpoint

log = logging.getLogger(__name__)


def create_web_app(bot: Bot) -> Flask:
    """Routes of DESIGN.md on one Flask app around an already built bot."""
    app = Flask("makersbot")
    app.config["MAX_CONTENT_LENGTH"] = 5 * 1024 * 1024  # Slack and webhook bodies are small
    slack = SlackEndpoint(bot.bolt_app(), bot.settings.secret("slack_signing_secret") or "")
    app.extensions["makersbot"] = bot
    app.extensions[SLACK_ENDPOINT] = slack  # for the ASGI front (server.bot_asgi)
    health = HealthCheck.for_bot(bot)

    @app.post("/slack/events")
    def slack_events() -> Any:
        # Checked on the raw bytes before Bolt parses anything (slack_requests.py).
        query = request.query_string.decode("latin-1")
        return to_flask_response(slack.handle(_headers(), query, request.get_data()))

    @app.get("/healthz")
    def healthz() -> Any:
        status, body = health.report()  # makersbot/health.py says when it is 503
        return jsonify(body), status

    app.register_error_handler(Exception, _unexpected)
    _add_webhook_routes(app, bot)
    if bot.settings.public_catalogue == "on":  # off: every catalogue address is a 404
        from makersbot.catalogue import register as register_catalogue

        register_catalogue(app, bot)
    _settle_memory(bot)
    return app


def _add_webhook_routes(app: Flask, bot: Bot) -> None:
    """GitHub's and Trello's webhook routes: each stores the delivery for the workers."""

    @app.post("/github/webhook")
    def github_webhook() -> Any:
        status, text = bot.deliveries.accept_github(_headers(), request.get_data())
        return Response(text + "\n", status=status, mimetype="text/plain")

    @app.route("/trello/webhook", methods=["HEAD", "GET"])
    def trello_check() -> Any:
        # Trello calls HEAD on the callback URL while the webhook is being created.
        return Response("", status=200)

    @app.post("/trello/webhook")
    def trello_webhook() -> Any:
        status, text = bot.deliveries.accept_trello(_headers(), request.get_data())
        return Response(text + "\n", status=status, mimetype="text/plain")

    @app.route("/trello/webhook/<token>", methods=["HEAD", "GET"])
    def trello_link_check(token: str) -> Any:
        return Response("", status=200)

    @app.post("/trello/webhook/<token>")
    def trello_link_webhook(token: str) -> Any:
        # A link's own callback: its unguessable token names the one board it may change.
        status, text = bot.deliveries.accept_trello(_headers(), request.get_data(), token)
        return Response(text + "\n", status=status, mimetype="text/plain")


def _unexpected(error: Exception) -> Any:
    """The answer to any error a route raised."""
    # Never a 5xx for something a sender did: log it, answer 400 with one line.
    code = getattr(error, "code", None)
    if isinstance(code, int) and 400 <= code < 500:
        return Response(getattr(error, "description", "bad request"), status=code)
    # The route where there is one, not the path: a link's callback token is not for the log.
    path = request.url_rule.rule if request.url_rule is not None else request.path
    if isinstance(error, STORE_FAILURES):
        # Our failure, not the sender's: 503 so that GitHub and Trello try again later.
        kind = type(error).__name__
        log.warning("database unavailable for %s %s: %s", request.method, path, kind)
        return Response(
            "database unavailable; try again later\n",
            status=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            mimetype="text/plain",
        )
    log.exception("request failed: %s %s", request.method, path)
    return Response("could not process this request\n", status=400)


def _settle_memory(bot: Bot) -> None:
    """Warm up, then move everything alive into the permanent generation.

    Full garbage collections over the ~150k objects that imports create froze every request
    for 50-70 ms (bench/ack.py); after gc.freeze() they cost well under a millisecond.
    """
    import gc

    from sqlalchemy.orm import configure_mappers

    configure_mappers()
    try:
        bot.projects.catalogue([], limit=1)
        bot.projects.warm()  # the cards `info` shows, frozen below with the rest
    except Exception:  # noqa: BLE001 - a database not migrated yet says so on first use
        log.warning("warm-up query failed; is the database migrated (makersbot db upgrade)?")
    gc.collect()
    gc.freeze()


def _headers() -> dict[str, str]:
    return {name.lower(): value for name, value in request.headers.items()}


def create_app(settings: Settings | None = None) -> Flask:
    """The WSGI app gunicorn serves (`makersbot.web:create_app()`): reads the environment.

    It only accepts: requests are answered and webhook deliveries stored, but no background
    loop starts here, so the Procfile's `worker` processes do all processing and sending
    (`makersbot serve` runs both in one process).
    """
    from makersbot import logs

    settings = settings or load_settings()
    settings.require_http_mode()
    logs.configure(settings.log_level, settings.log_format)
    bot = build(settings)
    if bot.db.is_sqlite:
        bot.db.upgrade()
    return create_web_app(bot)
