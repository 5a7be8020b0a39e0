"""The public catalogue's pages over HTTP (Flask's test client), on SQLite and PostgreSQL:
what each page lists, its filters and order, private projects, and PUBLIC_CATALOGUE=off."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from html import unescape

import pytest
from flask.testing import FlaskClient
from sqlmodel import select

from makersbot.app import Bot, build
from makersbot.domain.requests import Actor, UserError
from makersbot.store.models import Project
from makersbot.web import create_web_app
from tests.browser.world import ALICE, BOB, CAROL, PRIVATE_NAME, World, build_world
from tests.conftest import Clock, make_settings
from tests.fakes.slack import FakeSlack


@dataclass
class Site:
    bot: Bot
    world: World
    http: FlaskClient

    def get(self, path: str, status: int = 200) -> str:
        response = self.http.get(path)
        assert response.status_code == status, (path, response.status_code)
        return response.get_data(as_text=True)


@pytest.fixture
def site(bot: Bot) -> Site:
    world = build_world(bot, filler=22)
    return Site(bot, world, create_web_app(bot).test_client())


def names_in_order(html: str) -> list[str]:
    """Project names in the order the list shows them."""
    return [
        unescape(name)
        for name in re.findall(r'<a class="govuk-link" href="/projects/[^"]+">([^<]+)</a>', html)
    ]


def text(html: str) -> str:
    """The page's words, without tags, for phrase checks."""
    words = " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())
    return words.replace(" ,", ",").replace(" .", ".")


def test_catalogue_lists_public_projects_most_recently_active_first(site: Site) -> None:
    first = site.get("/")
    # Potholes: a mirrored GitHub event a day ago; bins: a merge 3 days ago; planning: 30.
    assert names_in_order(first)[:3] == ["Pothole reporter", "Bin collection reminders",
                                         "Planning alerts"]  # fmt: skip
    assert "25 projects" in text(first)
    assert len(names_in_order(first)) == 20
    second = site.get("/?page=2")
    assert len(names_in_order(second)) == 5
    assert set(names_in_order(first)).isdisjoint(names_in_order(second))
    assert 'aria-current="page">2</a>' in second


def test_catalogue_filters_by_phase_council_and_words(site: Site) -> None:
    assert names_in_order(site.get("/?phase=live")) == ["Pothole reporter"]
    # Guildford leads the pothole reporter and reuses the bin reminders.
    assert names_in_order(site.get("/?council=GRT")) == [
        "Pothole reporter",
        "Bin collection reminders",
    ]
    # A GSS code or a lower-case code names the same council.
    assert names_in_order(site.get("/?council=e07000209")) == names_in_order(
        site.get("/?council=GRT")
    )
    assert names_in_order(site.get("/?q=pothole")) == ["Pothole reporter"]
    assert names_in_order(site.get("/?q=BIN+residents")) == ["Bin collection reminders"]
    # Words match the councils involved too.
    assert names_in_order(site.get("/?q=leeds")) == ["Pothole reporter", "Planning alerts"]
    assert names_in_order(site.get("/?q=leeds&phase=idea")) == ["Planning alerts"]
    nothing = site.get("/?q=zeppelin")
    assert "No projects found" in nothing and names_in_order(nothing) == []
    # Wildcards are words like any other.
    assert names_in_order(site.get("/?q=%25")) == []
    # Nonsense filters are ignored rather than failing.
    assert len(names_in_order(site.get("/?phase=nonsense&council=XXX&page=abc"))) == 20


def test_project_page_shows_history_councils_sources_and_how_to_join(site: Site) -> None:
    html = site.get("/projects/bin-collection-reminders")
    words = text(html)
    assert "<h1" in html and "Bin collection reminders</h1>" in html
    assert "Tells residents the night before which bin goes out." in words
    assert "Councils making it Adur, Brighton and Hove" in words
    assert "Councils reusing it Guildford" in words
    assert "Moved to discovery" in words and "Moved to alpha" in words
    assert words.index("Moved to discovery") < words.index("Moved to alpha")
    assert "Alpha is running with 400 households." in words
    # A mention and an address typed into a status are not published.
    assert "User research done with a member in three towns" in words
    assert "research@" not in html and "(e-mail address removed)" in words
    assert "/makers join bin-collection-reminders" in words
    assert "#makers-bin-collection-reminders" in words
    assert 'href="https://github.com/octo-councils/bins"' in html
    assert "Bins board" in words
    assert 'role="img"' in html and "Show the numbers" in words
    assert 'href="/projects/bin-collection-reminders/publiccode.yml"' in html


def test_a_repository_under_a_persons_own_account_is_not_linked(site: Site) -> None:
    html = site.get("/projects/bin-collection-reminders")
    assert ALICE.github is not None and ALICE.github not in html
    assert "bins-sketch" not in html


def test_private_project_is_absent_from_every_page(site: Site) -> None:
    slug = site.world.private_slug
    site.get(f"/projects/{slug}", 404)
    site.get(f"/projects/{slug}/publiccode.yml", 404)
    for path in ("/", "/?q=ferret", "/?council=BNH", "/councils/BNH", "/catalogue.json"):
        body = site.get(path)
        assert PRIVATE_NAME not in body and slug not in body, path


def test_making_a_project_private_hides_it_at_once(site: Site) -> None:
    site.get("/projects/planning-alerts")  # cached now
    lead = Actor(slack_user_id="U0DEVPNR", display_name="x", request_key="v1")
    outcome = site.bot.projects.set_visibility(lead, "planning-alerts", "private")
    assert "now private" in outcome.reply
    site.get("/projects/planning-alerts", 404)
    assert "Planning alerts" not in site.get("/")
    site.bot.projects.set_visibility(lead, "planning-alerts", "public")
    assert "Planning alerts" in site.get("/projects/planning-alerts")


def test_only_leads_and_admins_change_visibility(site: Site) -> None:
    maker = Actor(slack_user_id=BOB.slack_id, display_name="x")
    with pytest.raises(UserError, match="Only a lead of"):
        site.bot.projects.set_visibility(maker, "bin-collection-reminders", "private")
    adopter = Actor(slack_user_id=CAROL.slack_id, display_name="x")
    with pytest.raises(UserError, match="Only a lead of"):
        site.bot.projects.set_visibility(adopter, "bin-collection-reminders", "private")
    admin = Actor(slack_user_id="U0ADMIN", display_name="x", is_admin=True)
    site.bot.projects.set_visibility(admin, "bin-collection-reminders", "private")
    with pytest.raises(UserError, match="already private"):
        site.bot.projects.set_visibility(admin, "bin-collection-reminders", "private")
    with pytest.raises(UserError, match="either `public` or `private`"):
        site.bot.projects.set_visibility(admin, "bin-collection-reminders", "secret")
    with site.bot.db.session(read_only=True) as session:
        project = session.exec(
            select(Project).where(Project.slug == "bin-collection-reminders")
        ).one()
        assert project.visibility == "private"


def test_councils_and_a_council_page(site: Site) -> None:
    councils = text(site.get("/councils"))
    for name in ("Adur", "Brighton and Hove", "Guildford", "Leeds", "Cardiff"):
        assert name in councils
    html = site.get("/councils/ADU")
    words = text(html)
    assert "Adur District Council</h1>" in html
    assert "GSS code E07000223" in words and "Nation England" in words
    leads = words.index("Projects it leads")
    reuses = words.index("Projects it reuses")
    assert leads < words.index("Bin collection reminders") < reuses
    assert words.index("Pothole reporter", reuses) > reuses
    assert "Gives and takes per quarter" in words


def test_council_addresses_are_canonical(site: Site) -> None:
    for other in ("/councils/E07000223", "/councils/adu"):
        response = site.http.get(other)
        assert response.status_code == 301
        assert response.headers["Location"].endswith("/councils/ADU")
    site.get("/councils/NOPE", 404)
    # A council in the register that never appeared in the bot has no page.
    site.get("/councils/FIF", 404)


def test_pages_carry_the_licence_and_security_headers(site: Site) -> None:
    response = site.http.get("/")
    html = response.get_data(as_text=True)
    assert "Open Government Licence v3.0" in html
    assert "Contains data from mySociety's UK local authority names and codes" in unescape(html)
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "'unsafe-inline'" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert site.http.get("/assets/govuk/govuk-frontend.min.css").status_code == 200
    # The GOV.UK-only font is not shipped, and the stylesheet redefines its name locally.
    assert site.http.get("/assets/fonts/light-94a07e06a1-v2.woff2").status_code == 404
    assert 'font-family: "GDS Transport"' in site.get("/assets/catalogue.css")


def test_missing_pages_are_404_pages(site: Site) -> None:
    assert "Page not found" in site.get("/projects/no-such-thing", 404)
    site.get("/projects/no-such-thing/publiccode.yml", 404)


@pytest.fixture
def closed(database_url: str, fake_slack: FakeSlack) -> Iterator[Bot]:
    bot = build(
        make_settings(database_url, fake_slack, public_catalogue="off"),
        clock=Clock(),
        per_channel_interval=0,
    )
    bot.db.upgrade()
    yield bot
    bot.stop()


def test_public_catalogue_off_answers_404_everywhere(closed: Bot) -> None:
    build_world(closed)
    http = create_web_app(closed).test_client()
    for path in (
        "/",
        "/projects/bin-collection-reminders",
        "/projects/bin-collection-reminders/publiccode.yml",
        "/councils",
        "/councils/ADU",
        "/catalogue.json",
        "/league.csv",
        "/league.json",
        "/assets/govuk/govuk-frontend.min.css",
    ):
        assert http.get(path).status_code == 404, path
    # The health route is still served (the world's unsent messages may make it report 503).
    health = http.get("/healthz")
    assert health.status_code in (200, 503) and health.get_json()["database"] == "ok"
    # Slack's endpoint is still there: an unsigned request is refused, not missing.
    assert http.post("/slack/events", data="x").status_code == 401
