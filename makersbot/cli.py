"""`makersbot` command line: run, serve, worker, console, check, db upgrade."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from makersbot import logs
from makersbot.preflight import (
    SlackAuth,
    half_configured,
    package_version,
    slack_auth,
    slack_identity,
)
from makersbot.settings import ConfigError, Settings, load_settings, mask_url

log = logging.getLogger("makersbot")


def build_parser() -> argparse.ArgumentParser:
    """The command line: one subcommand per way of running the bot."""
    parser = argparse.ArgumentParser(
        prog="makersbot", description="A Slack bot for Makers Project Teams."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("run", help="serve Slack when SLACK_BOT_TOKEN is set, else the console")
    sub.add_parser("serve", help="HTTP app + background work in one process")
    sub.add_parser(
        "worker",
        help="background work only: webhook deliveries, outbox sender, polling, scheduler "
        "(the Procfile's web processes only accept)",
    )
    console = sub.add_parser(
        "console", help="offline console: type /makers lines; Slack, GitHub and Trello played"
    )
    console.add_argument("--user", help="the Slack user id you play, e.g. U002")
    console.add_argument("--name", help="your name, e.g. priya (not asked again)")
    console.add_argument(
        "--demo",
        action="store_true",
        help="play a short scripted story on a throwaway database, then stop",
    )
    sub.add_parser(
        "check",
        help="print the configuration (secrets hidden), warn about half-set integrations "
        "and ask Slack who the bot token belongs to",
    )
    digest = sub.add_parser("digest", help="print the weekly digest in the terminal")
    which = digest.add_mutually_exclusive_group(required=True)
    which.add_argument("--preview", action="store_true", help="the digest as it would be now")
    which.add_argument("--week", metavar="2026-W47", help="the digest of a past ISO week")
    db = sub.add_parser("db", help="database tasks")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="TASK")
    db_sub.add_parser("upgrade", help="apply every migration")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """`makersbot COMMAND`: load the settings once, then run the command."""
    parser = build_parser()
    args = parser.parse_args(argv)

    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"makersbot: configuration error: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level, settings.log_format)

    try:
        if args.command == "check":
            return check(settings)
        if args.command == "db":
            from makersbot.db import Database

            Database(settings.database_url).upgrade()
            print(f"Database is up to date: {mask_url(settings.database_url)}")
            return 0
        if args.command == "digest":
            return print_digest(settings, args.week)
        if args.command == "run":
            if settings.slack_enabled:
                return serve(settings)
            print("No SLACK_BOT_TOKEN set: starting the offline console (Ctrl-D to leave).")
            return run_console(settings, None, None)
        if args.command == "serve":
            return serve(settings)
        if args.command == "worker":
            return worker(settings)
        if args.command == "console":
            if args.demo:
                from makersbot.console.demo import run_demo

                return run_demo(settings)
            return run_console(settings, args.user, args.name)
    except ConfigError as exc:
        print(f"makersbot: configuration error: {exc}", file=sys.stderr)
        return 2
    parser.error(f"unknown command {args.command}")
    return 2


def check(settings: Settings) -> int:
    """Print the configuration (secrets masked) and what is set by halves, then ask Slack
    who the token belongs to. 2 when a setting is unusable, 1 when Slack refuses the token
    or cannot be reached, else 0 (warnings alone do not fail)."""
    width = max(len(name) for name, _ in settings.describe())
    for name, value in settings.describe():
        print(f"{name.ljust(width)}  {value}")
    warnings = half_configured(settings)
    if warnings:
        print("\nWarnings:")
        for warning in warnings:
            print(f"- {warning}")
    if not settings.slack_enabled:
        print("\nNo SLACK_BOT_TOKEN: `makersbot run` starts the offline console.")
        return 0
    settings.require_http_mode()
    ok, identity = slack_identity(settings)
    if not ok:
        print(f"makersbot: {identity}", file=sys.stderr)
        return 1
    mode = "Socket Mode" if settings.socket_mode else "HTTP (POST /slack/events)"
    print(f"\n{identity}\nReady to serve Slack over {mode} on port {settings.port}.")
    return 0


def print_digest(settings: Settings, week: str | None) -> int:
    """`makersbot digest --preview | --week 2026-W47`: the digest as readable text (no
    mrkdwn: channels and people by name, links as "label (url)", no *bold* markers)."""
    from makersbot.app import build
    from makersbot.console.cast import slack_names
    from makersbot.console.text import messages_as_text

    bot = build(settings)
    try:
        if bot.db.is_sqlite:
            bot.db.upgrade()
        messages = bot.digest.render_week(week) if week else bot.digest.preview()
        names = slack_names(bot.db)
    except ValueError as exc:
        print(f"makersbot: {exc}", file=sys.stderr)
        return 2
    finally:
        bot.stop()
    print(messages_as_text(messages, lambda slack_id: names.get(slack_id, slack_id)))
    return 0


def _stop_on_signals(stop: threading.Event) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())


def _token_accepted(settings: Settings) -> SlackAuth | None:
    """Ask Slack about the bot token before starting: the answer, or None when Slack refused
    it (the reason is printed on one line, without the token). When Slack cannot be reached
    the process starts anyway and says so: its heartbeat asks again, and /healthz tells."""
    if not settings.slack_enabled:
        return SlackAuth(ok=False, rejected=False, line="no SLACK_BOT_TOKEN")
    auth = slack_auth(settings)
    if auth.rejected:
        print(f"makersbot: {auth.line} Not starting.", file=sys.stderr)
        return None
    if not auth.ok:
        log.warning("%s Starting anyway; /healthz reports a refusal later.", auth.line)
    return auth


def serve(settings: Settings) -> int:
    """One process: HTTP (or Socket Mode) plus the sender and scheduler."""
    settings.require_http_mode()
    auth = _token_accepted(settings)
    if auth is None:
        return 1
    from makersbot.app import build
    from makersbot.loops import Background, recover_after_restart
    from makersbot.web import create_web_app

    bot = build(settings)
    if bot.db.is_sqlite:
        bot.db.upgrade()
    app = create_web_app(bot)

    def in_worker(_worker: Any) -> None:
        # Connections opened before the fork belong to the parent: start afresh, then run
        # the background work beside the HTTP threads, so a publish wakes the sender at once.
        bot.db.engine.dispose(close=False)
        # Background threads (processor, sender) hold the GIL for up to 5 ms by default;
        # 1 ms lets request threads answer Slack and GitHub sooner (bench/mirror.py).
        sys.setswitchinterval(0.001)
        recover_after_restart(bot)  # serve is the only process: earlier claims are stale
        Background.for_bot(bot, auth=auth).start()
        if settings.socket_mode:
            from slack_bolt.adapter.socket_mode import SocketModeHandler

            handler = SocketModeHandler(bot.bolt_app(), settings.secret("slack_app_token"))
            handler.connect()  # type: ignore[no-untyped-call]
            log.info("connected to Slack in Socket Mode")

    log.info("serving on port %s", settings.port)
    # An asyncio front that reads whole requests before a thread takes them (server.py).
    from makersbot import server

    options = server.gunicorn_options(
        settings.port, log_level=settings.log_level, post_worker_init=in_worker
    )
    _Gunicorn(server.bot_asgi(app), options).run()
    return 0


def worker(settings: Settings) -> int:
    """Background work for multi-process deployments: `worker` in the Procfile.

    The Procfile's `web` processes (`makersbot.web:create_app()`) only verify, store and
    acknowledge; every stored delivery is processed here, by however many workers run
    (deliveries are claimed with row locks and merge into items in any order), and the
    outbox is sent from here too.
    """
    from makersbot.app import build
    from makersbot.loops import Background, recover_after_restart

    auth = _token_accepted(settings)
    if auth is None:
        return 1
    bot = build(settings)
    stop = threading.Event()
    _stop_on_signals(stop)
    recover_after_restart(bot)
    background = Background.for_bot(bot, auth=auth)
    background.start()
    log.info("worker started")
    stop.wait()
    background.stop()
    bot.stop()
    return 0


def run_console(settings: Settings, user: str | None, name: str | None) -> int:
    """The offline console as `user` / `name`; asks who you are when neither is given."""
    from makersbot.console import Console
    from makersbot.console.cast import CastError

    try:
        console = Console(settings, user_id=user, user_name=name)
    except CastError as exc:
        print(f"makersbot: {exc}", file=sys.stderr)
        return 2
    try:
        return console.loop()
    finally:
        console.close()


class _Gunicorn:
    """gunicorn run from inside the process, so that `serve` is one command."""

    def __init__(self, app: Any, options: dict[str, Any]) -> None:
        from gunicorn.app.base import BaseApplication

        class Application(BaseApplication):  # type: ignore[misc]
            def load_config(self) -> None:
                for key, value in options.items():
                    self.cfg.set(key, value)

            def load(self) -> Any:
                return app

        self._application = Application()

    def run(self) -> None:
        self._application.run()


if __name__ == "__main__":
    sys.exit(main())
