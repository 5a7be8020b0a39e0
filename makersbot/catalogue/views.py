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
    cache = cache if cache is not None else PageCache()
    phases = [p.value for p in Phase]

    def scope() -> builders.Scope:
        return builders.Scope(
            register=bot.register, zone=ZoneInfo(bot.settings.digest_timezone), now=bot.clock()
        )

    def cached(
        session: Session, key: Hashable, build: Callable[[], T], *, projects_only: bool = False
    ) -> T:
        stamp = store.catalogue_stamp(session)
        # Some pages depend on projects and memberships only, not on every new ledger entry.
        return cache.get_or_build((stamp[:3] if projects_only else stamp, key), build)

    def league(session: Session, scope_now: builders.Scope, period: Period) -> list[LeagueRow]:
        # Who leads, makes and reuses what changes with projects and memberships only: kept
        # while they stay the same, however many gives and takes arrive.
        projects = cached(
            session,
            ("council-projects", period.key),
            lambda: ledger_counts.council_project_counts(session, before=period.end),
            projects_only=True,
        )
        return cached(
            session,
            ("league", period.key),
            lambda: builders.league(session, scope_now, period, projects),
        )

    def page(build: Callable[[Session], str | None]) -> str:
        """A page's HTML, from the cache while nothing it shows can have changed; 404 when
        `build` finds nothing to show."""
        with bot.db.session(read_only=True) as session:
            html = cached(session, ("html", request.full_path), lambda: build(session))
        if html is None:
            abort(404)
        return html

    def absolute(path: str) -> str:
        base = bot.settings.public_url or request.host_url.rstrip("/")
        return base + path

    def slack_channel_url(channel_id: str | None) -> str | None:
        if not channel_id:
            return None
        base = bot.settings.slack_api_url.rstrip("/").removesuffix("/api")
        return f"{base}/app_redirect?channel={channel_id}"

    @bp.after_request
    def headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @bp.app_template_global("js_enabled")
    def js_enabled() -> Markup:
        return Markup(JS_ENABLED)  # a constant of this module, not user text

    @bp.app_template_filter("long_date")
    def long_date(moment: datetime) -> str:
        local = moment.astimezone(ZoneInfo(bot.settings.digest_timezone))
        return f"{local.day} {local:%B %Y}"  # GOV.UK style: 4 June 2026

    @bp.context_processor
    def page_context() -> dict[str, Any]:
        section = SECTIONS.get(request.endpoint or "", "")
        return {"licence": LICENCE, "section": section}

    @bp.get("/")
    def index() -> Any:
        words = [w[:50] for w in request.args.get("q", "").split()][:MAX_WORDS]
        phase = request.args.get("phase", "")
        phase = phase if phase in phases else ""
        scope_now = scope()
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
            choices = cached(
                session,
                ("filter-councils",),
                lambda: builders.filter_councils(session, scope_now),
                projects_only=True,
            )
            return render_template(
                "catalogue/index.html",
                model=model,
                filters=filters,
                phases=phases,
                councils=choices,
                page_link=page_link,
                filtered=any(filters.values()),
            )

        return page(build)

    @bp.get("/projects/<slug>")
    def project(slug: str) -> Any:
        scope_now = scope()

        def build(session: Session) -> str | None:
            model = cached(
                session, ("project", slug), lambda: builders.project_page(session, scope_now, slug)
            )
            if model is None:
                return None
            return render_template(
                "catalogue/project.html",
                model=model,
                chart=bar_chart(model.activity, what="gives and takes"),
                channel_url=slack_channel_url(model.channel_id),
            )

        return page(build)

    @bp.get("/projects/<slug>/publiccode.yml")
    def publiccode(slug: str) -> Any:
        scope_now = scope()
        with bot.db.session(read_only=True) as session:
            model = cached(
                session, ("project", slug), lambda: builders.project_page(session, scope_now, slug)
            )
        if model is None:
            abort(404)
        text = feeds.publiccode_yaml(model.summary, absolute)
        return _feed(text, "application/yaml; charset=utf-8")

    @bp.get("/councils")
    def councils() -> Any:
        scope_now = scope()
        period = metrics.quarter_of(scope_now.now, scope_now.zone)

        def build(session: Session) -> str:
            rows = league(session, scope_now, period)
            ordered = sorted(rows, key=lambda r: r.council.short_name.lower())
            return render_template("catalogue/councils.html", rows=ordered, period=period)

        return page(build)

    @bp.get("/councils/<code>")
    def council(code: str) -> Any:
        scope_now = scope()
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

        return page(build)

    @bp.get("/catalogue.json")
    def catalogue_json() -> Any:
        scope_now = scope()
        number = _page_number(request.args.get("page"))
        with bot.db.session(read_only=True) as session:
            items, total, pages = cached(
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
            url=absolute,
            now=scope_now.now,
        )
        return _feed(json.dumps(document, ensure_ascii=False), "application/json")

    def league_rows() -> tuple[Any, Any]:
        scope_now = scope()
        asked = request.args.get("period")
        try:
            period = (
                metrics.parse_period(asked, scope_now.zone)
                if asked
                else metrics.quarter_of(scope_now.now, scope_now.zone)
            )
        except ValueError as exc:
            abort(400, description=str(exc))
        with bot.db.session(read_only=True) as session:
            rows = league(session, scope_now, period)
        return rows, period

    @bp.get("/league.json")
    def league_json() -> Any:
        rows, period = league_rows()
        document = feeds.league_json(rows, period, absolute)
        return _feed(json.dumps(document, ensure_ascii=False), "application/json")

    @bp.get("/league.csv")
    def league_csv() -> Any:
        rows, period = league_rows()
        response = _feed(feeds.league_csv(rows), "text/csv; charset=utf-8")
        response.headers["Content-Disposition"] = f'inline; filename="league-{period.key}.csv"'
        return response

    @bp.errorhandler(404)
    def not_found(error: HTTPException) -> Any:
        if request.path.endswith((".json", ".csv", ".yml")):
            return Response("not found\n", status=404, mimetype="text/plain")
        return render_template("catalogue/404.html"), 404

    @bp.errorhandler(400)
    def bad_request(error: HTTPException) -> Any:
        return Response(f"{error.description}\n", status=400, mimetype="text/plain")

    return bp


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
