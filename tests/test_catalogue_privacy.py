"""No personal data in public: crawl every public page and feed and look for every person.

The crawler starts at the catalogue and follows every link it finds on the site (every page
of results, every project, council, feed and feed page), plus the league for every quarter
of the ledger's history. What it looks for comes from the database itself: every text value
of every person row (names, Slack ids, logins, and any column added later, e-mail included),
every login the ledger and the mirror recorded, and the private project. Anything shaped like
an e-mail address fails the test too.
"""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import urljoin, urlsplit

from flask.testing import FlaskClient
from sqlalchemy import inspect
from sqlmodel import select

from makersbot.app import Bot
from makersbot.store.models import LedgerEntry, MirroredItem, MirrorEvent, Person, Project
from makersbot.web import create_web_app
from tests.browser.world import build_world

_LINK = re.compile(r"""(?:href|src)=["']([^"']+)["']""")
_JSON_URL = re.compile(r'"(https?://[^"]+)"')
_SELECT = re.compile(r'<select[^>]* name="([^"]+)"[^>]*>(.*?)</select>', re.S)
_OPTION = re.compile(r'<option value="([^"]*)"')
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# Values too short or too common to mean anything when found (a Slack id is long enough).
_MIN_LENGTH = 4


def crawl(http: FlaskClient, starts: list[str]) -> dict[str, str]:
    """Every same-site address reachable from `starts`, with its body (static assets aside)."""
    seen: dict[str, str] = {}
    queue = list(starts)
    while queue:
        path = queue.pop()
        if path in seen or path.startswith("/assets/"):
            continue
        response = http.get(path)
        assert response.status_code in (200, 301), (path, response.status_code)
        if response.status_code == 301:
            queue.append(urlsplit(response.headers["Location"]).path)
            seen[path] = ""
            continue
        body = response.get_data(as_text=True)
        seen[path] = body
        for found in _LINK.findall(body) + _JSON_URL.findall(body):
            url = urlsplit(urljoin("http://localhost" + path, unescape(found)))
            if url.netloc == "localhost":
                queue.append(url.path + (f"?{url.query}" if url.query else ""))
    return seen


def personal_values(bot: Bot) -> set[str]:
    """Everything the database holds that names or reaches a person."""
    values: set[str] = set()
    with bot.db.session(read_only=True) as session:
        columns = [c.name for c in inspect(Person).columns if c.name != "council_code"]
        for person in session.exec(select(Person)).all():
            # Every text column, whatever it is called: a later e-mail column is covered.
            values |= {v for v in (getattr(person, n) for n in columns) if isinstance(v, str)}
        values |= {v for v in session.exec(select(LedgerEntry.github_login)).all() if v}
        values |= {v for v in session.exec(select(LedgerEntry.trello_username)).all() if v}
        values |= {v for v in session.exec(select(MirrorEvent.actor)).all() if v}
        values |= {v for v in session.exec(select(MirroredItem.author)).all() if v}
        for people in session.exec(select(MirroredItem.people)).all():
            values |= set(people or ())
    return {v for v in values if isinstance(v, str) and len(v) >= _MIN_LENGTH}


def test_no_public_page_or_feed_names_a_person_or_a_private_project(bot: Bot) -> None:
    world = build_world(bot, filler=22)
    http = create_web_app(bot).test_client()
    quarters = [f"{year}-Q{q}" for year in (2025, 2026) for q in (1, 2, 3, 4)]
    home = http.get("/").get_data(as_text=True)
    # The filter form's choices, as the form would submit them.
    filters = [
        f"/?{name}={value}"
        for name, options in _SELECT.findall(home)
        for value in _OPTION.findall(options)
        if value
    ]
    starts = ["/", "/councils", "/catalogue.json", "/?q=bin", "/?q=ferret"] + filters
    starts += [f"/league.{kind}?period={q}" for q in quarters for kind in ("json", "csv")]
    pages = crawl(http, starts)
    # The crawl reached every kind of page, so the scan below covers them.
    for path in (
        "/projects/bin-collection-reminders",
        "/projects/pothole-reporter/publiccode.yml",
        "/councils/ADU",
        "/?page=2",
        "/?council=GRT",
        "/?phase=live",
        "/league.csv",
    ):
        assert path in pages, path
    secrets = personal_values(bot)
    assert len(secrets) >= 15  # names, Slack ids and logins of five people, and more
    assert len(pages) > 60
    with bot.db.session(read_only=True) as session:
        private = session.exec(select(Project).where(Project.visibility == "private")).one()
    secrets |= {private.name, private.slug}
    assert world.private_slug == private.slug
    for path, body in pages.items():
        readable = unescape(body).lower()
        for value in secrets:
            assert value.lower() not in readable, f"{value!r} appears on {path}"
        assert not _EMAIL.search(unescape(body)), f"an e-mail address appears on {path}"
