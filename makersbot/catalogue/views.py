"""The catalogue's routes: HTML pages and open-data feeds on one Flask blueprint.

Every handler opens one read-only session, asks the page cache (keyed by the catalogue's
stamp) or a builder, and renders. No route shows a person or a private project: the store
queries exclude them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Callable, Hashable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from markupsafe import Markup
from sqlmodel import Session
from werkzeug.exceptions import HTTPException

from makersbot.catalogue import builders, feeds, metrics
from makersbot.catalogue.cache import PageCache
from makersbot.catalogue.chart import bar_chart
from makersbot.domain.catalogue import LICENCE, LeagueRow, Period
from makersbot.domain.projects import Phase
from makersbot.store import catalogue as store
from makersbot.store import catalogue_counts as ledger_counts

if TYPE_CHECKING:
    from makersbot.app import Bot

log = logging.getLogger(__name__)
T = TypeVar("T")

PER_PAGE = 20
# The navigation item each page belongs to.
SECTIONS = {
    "catalogue.index": "catalogue.index",
    "catalogue.project": "catalogue.index",
    "catalogue.councils": "catalogue.councils",
    "catalogue.council": "catalogue.councils",
}
FEED_PER_PAGE = 50  # projects per page of /catalogue.json
MAX_WORDS = 8
# Marks the page as able to run GOV.UK Frontend's JavaScript, as its page template does.
# Kept here so that its hash can go into the Content-Security-Policy.
JS_ENABLED = (
    "document.body.className += ' js-enabled' + "
    "('noModule' in HTMLScriptElement.prototype ? ' govuk-frontend-supported' : '');"
)
_JS_HASH = base64.b64encode(hashlib.sha256(JS_ENABLED.encode()).digest()).decode()
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        f"default-src 'self'; script-src 'self' 'sha256-{_JS_HASH}'; style-src 'self'; "
        "img-src 'self' data:; font-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "public, max-age=60",
}


def create_blueprint(bot: Bot, cache: PageCache | None = None) -> Blueprint:
    """The catalogue's blueprint around a built bot, with its page cache."""
    bp = Blueprint(
        "catalogue",
        __name__,
        template_folder="templates",
        static_folder="static",
        static_url_path="/assets",
    )
    routes = _Routes(bot, cache if cache is not None else PageCache())
    bp.after_request(_headers)
    bp.app_template_global("js_enabled")(_js_enabled)
    bp.app_template_filter("long_date")(routes.long_date)
    bp.context_processor(_page_context)
    views: list[tuple[str, Callable[..., Any]]] = [
        ("/", routes.index),
        ("/projects/<slug>", routes.project),
        ("/projects/<slug>/publiccode.yml", routes.publiccode),
        ("/councils", routes.councils),
        ("/councils/<code>", routes.council),
        ("/catalogue.json", routes.catalogue_json),
        ("/league.json", routes.league_json),
        ("/league.csv", routes.league_csv),
    ]
    for rule, view in views:
        bp.add_url_rule(rule, endpoint=view.__name__, view_func=view, methods=["GET"])
    bp.register_error_handler(404, _not_found)
    bp.register_error_handler(400, _bad_request)
    return bp


class _Routes:
    """The catalogue's views around one bot and its page cache."""

    def __init__(self, bot: Bot, cache: PageCache) -> None:
        self.bot = bot
        self.cache = cache
        self.phases = [p.value for p in Phase]

    def scope(self) -> builders.Scope:
        return builders.Scope(
            register=self.bot.register,
            zone=ZoneInfo(self.bot.settings.digest_timezone),
            now=self.bot.clock(),
        )

    def cached(
        self,
        session: Session,
        key: Hashable,
        build: Callable[[], T],
        *,
        projects_only: bool = False,
    ) -> T:
        stamp = store.catalogue_stamp(session)
        # Some pages depend on projects and memberships only, not on every new ledger entry.
        version = stamp[:3] if projects_only else stamp
        return self.cache.get_or_build(key, build, version=version)

    def league(
        self, session: Session, scope_now: builders.Scope, period: Period
    ) -> list[LeagueRow]:
        # Who leads, makes and reuses what changes with projects and memberships only: kept
        # while they stay the same, however many gives and takes arrive.
        projects = self.cached(
            session,
            ("council-projects", period.key),
            lambda: ledger_counts.council_project_counts(session, before=period.end),
            projects_only=True,
        )
        return self.cached(
            session,
            ("league", period.key),
            lambda: builders.league(session, scope_now, period, projects),
        )

    def page(self, build: Callable[[Session], str | None]) -> str:
        """A page's HTML, from the cache while nothing it shows can have changed; 404 when
        `build` finds nothing to show."""
        with self.bot.db.session(read_only=True) as session:
            html = self.cached(session, ("html", request.full_path), lambda: build(session))
        if html is None:
            abort(404)
        return html

    def absolute(self, path: str) -> str:
        base = self.bot.settings.public_url or request.host_url.rstrip("/")
        return base + path

    def slack_channel_url(self, channel_id: str | None) -> str | None:
        if not channel_id:
            return None
        base = self.bot.settings.slack_api_url.rstrip("/").removesuffix("/api")
        return f"{base}/app_redirect?channel={channel_id}"

    def long_date(self, moment: datetime) -> str:
        local = moment.astimezone(ZoneInfo(self.bot.settings.digest_timezone))
        return f"{local.day} {local:%B %Y}"  # GOV.UK style: 4 June 2026

    def index(self) -> Any:
        words = [w[:50] for w in request.args.get("q", "").split()][:MAX_WORDS]
        phase = request.args.get("phase", "")
        phase = phase if phase in self.phases else ""
        scope_now = self.scope()
        council = builders.canonical_code(scope_now, request.args.get("council", "")) or ""
        number = _page_number(request.args.get("page"))
        filters = {"q": " ".join(words), "phase": phase, "council": council}

        def page_link(n: int) -> str:
            query = {k: v for k, v in filters.items() if v}
            if n > 1:
                query["page"] = str(n)
            return url_for("catalogue.index") + ("?" + urlencode(query) if query else "")

        def build(session: Session) -> str:
            model = builders.catalogue_page(
                session,
                scope_now,
                words=words,
                phase=phase or None,
                council=council or None,
                page=number,
                per_page=PER_PAGE,
            )
            choices = self.cached(
                session,
                ("filter-councils",),
                lambda: builders.filter_councils(session, scope_now),
                projects_only=True,
            )
            return render_template(
                "catalogue/index.html",
                model=model,
                filters=filters,
                phases=self.phases,
                councils=choices,
                page_link=page_link,
                filtered=any(filters.values()),
            )

        return self.page(build)

    def project(self, slug: str) -> Any:
        scope_now = self.scope()

        def build(session: Session) -> str | None:
            model = self.cached(
                session, ("project", slug), lambda: builders.project_page(session, scope_now, slug)
            )
            if model is None:
                return None
            return render_template(
                "catalogue/project.html",
                model=model,
                chart=bar_chart(model.activity, what="gives and takes"),
                channel_url=self.slack_channel_url(model.channel_id),
            )

        return self.page(build)

    def publiccode(self, slug: str) -> Any:
        scope_now = self.scope()
        with self.bot.db.session(read_only=True) as session:
            model = self.cached(
                session, ("project", slug), lambda: builders.project_page(session, scope_now, slug)
            )
        if model is None:
            abort(404)
        text = feeds.publiccode_yaml(model.summary, self.absolute)
        return _feed(text, "application/yaml; charset=utf-8")

    def councils(self) -> Any:
        scope_now = self.scope()
        period = metrics.quarter_of(scope_now.now, scope_now.zone)

        def build(session: Session) -> str:
            rows = self.league(session, scope_now, period)
            ordered = sorted(rows, key=lambda r: r.council.short_name.lower())
            return render_template("catalogue/councils.html", rows=ordered, period=period)

        return self.page(build)

    def council(self, code: str) -> Any:
        scope_now = self.scope()
        canonical = builders.canonical_code(scope_now, code)
        if canonical is None:
            abort(404)
        if canonical != code:
            # A GSS code or a lower-case code: one address per council.
            return redirect(url_for("catalogue.council", code=canonical), code=301)

        def build(session: Session) -> str | None:
            model = builders.council_page(session, scope_now, canonical)
            if model is None:
                return None
            return render_template(
                "catalogue/council.html",
                model=model,
                chart=bar_chart(model.activity, what="gives and takes"),
            )

        return self.page(build)

    def catalogue_json(self) -> Any:
        scope_now = self.scope()
        number = _page_number(request.args.get("page"))
        with self.bot.db.session(read_only=True) as session:
            items, total, pages = self.cached(
                session,
                ("feed", number),
                lambda: builders.feed_page(session, scope_now, page=number, per_page=FEED_PER_PAGE),
            )
        if number > pages:
            abort(404)
        document = feeds.catalogue_json(
            items,
            page=number,
            pages=pages,
            per_page=FEED_PER_PAGE,
            total=total,
            url=self.absolute,
            now=scope_now.now,
        )
        return _feed(json.dumps(document, ensure_ascii=False), "application/json")

    def league_rows(self) -> tuple[Any, Any]:
        scope_now = self.scope()
        asked = request.args.get("period")
        try:
            period = (
                metrics.parse_period(asked, scope_now.zone)
                if asked
                else metrics.quarter_of(scope_now.now, scope_now.zone)
            )
        except ValueError as exc:
            abort(400, description=str(exc))
        with self.bot.db.session(read_only=True) as session:
            rows = self.league(session, scope_now, period)
        return rows, period

    def league_json(self) -> Any:
        rows, period = self.league_rows()
        document = feeds.league_json(rows, period, self.absolute)
        return _feed(json.dumps(document, ensure_ascii=False), "application/json")

    def league_csv(self) -> Any:
        rows, period = self.league_rows()
        response = _feed(feeds.league_csv(rows), "text/csv; charset=utf-8")
        response.headers["Content-Disposition"] = f'inline; filename="league-{period.key}.csv"'
        return response


def _headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _js_enabled() -> Markup:
    return Markup(JS_ENABLED)  # a constant of this module, not user text


def _page_context() -> dict[str, Any]:
    section = SECTIONS.get(request.endpoint or "", "")
    return {"licence": LICENCE, "section": section}


def _not_found(error: HTTPException) -> Any:
    if request.path.endswith((".json", ".csv", ".yml")):
        return Response("not found\n", status=404, mimetype="text/plain")
    return render_template("catalogue/404.html"), 404


def _bad_request(error: HTTPException) -> Any:
    return Response(f"{error.description}\n", status=400, mimetype="text/plain")


def _page_number(text: str | None) -> int:
    try:
        return max(1, min(int(text or "1"), 100_000))
    except ValueError:
        return 1


def _feed(text: str, mimetype: str) -> Response:
    response = Response(text, content_type=mimetype)
    response.headers["Link"] = f'<{LICENCE.url}>; rel="license"'
    response.headers["Access-Control-Allow-Origin"] = "*"  # open data: any site may read it
    return response
