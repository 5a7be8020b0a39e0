"""A small, realistic catalogue built through the bot's own services, for the catalogue's
tests (HTTP, privacy scan, browser, screenshots).

People have distinctive names, logins and addresses so that a scan of every public page
for them cannot pass by luck; one project is private and must appear nowhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlmodel import select

from makersbot.app import Bot
from makersbot.domain.projects import Phase
from makersbot.domain.requests import Actor
from makersbot.store import catalogue as catalogue_store
from makersbot.store import ledger as ledger_store
from makersbot.store.models import Link, MirrorEvent, Person, Project

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Member:
    slack_id: str
    name: str
    council: str  # what the person types after `/makers iam council`
    github: str | None = None
    trello: str | None = None

    @property
    def actor(self) -> Actor:
        return Actor(slack_user_id=self.slack_id, display_name=self.name, request_key="")


ALICE = Member("U0ALICEXQ", "Alicia Quenby-Marsh", "Adur", github="aquenby-gh", trello="aquenby_t")
BOB = Member("U0BOBZWT", "Barnaby Zwettler", "Brighton and Hove", github="bzwettler")
CAROL = Member("U0CAROLVK", "Carolina Vikström", "Guildford", github="cvikstrom-dev")
DEV = Member("U0DEVPNR", "Devendra Panrikar", "Leeds", trello="dpanrikar_board")
EVE = Member("U0EVEOKF", "Evangeline Okafor", "Cardiff", github="eokafor-cardiff")
PEOPLE = (ALICE, BOB, CAROL, DEV, EVE)

PRIVATE_NAME = "Quarantined Ferret Procurement"


@dataclass
class World:
    """What the tests need to know about what was built."""

    slugs: dict[str, str] = field(default_factory=dict)  # name -> slug
    private_slug: str = ""
    filler: list[str] = field(default_factory=list)


def _step(bot: Bot, days: float) -> None:
    clock = bot.clock
    clock.now = NOW - timedelta(days=days)  # type: ignore[attr-defined]


def build_world(bot: Bot, *, filler: int = 0) -> World:
    """Councils, people, projects, updates, links and two years of ledger entries.

    `filler` adds that many plain public projects (for pagination).
    """
    world = World()
    _step(bot, 400)
    for member in PEOPLE:
        bot.people.set_council(member.actor, member.council)
        if member.github:
            bot.people.set_github(member.actor, member.github)
        if member.trello:
            bot.people.set_trello(member.actor, member.trello)

    bins = _start(bot, world, ALICE, "Bin collection reminders",
                  "Tells residents the night before which bin goes out.\n"
                  "Works by text message and e-mail.", days=380)  # fmt: skip
    _step(bot, 300)
    bot.projects.join(BOB.actor, bins)
    bot.projects.set_phase(ALICE.actor, bins, Phase.DISCOVERY)
    _step(bot, 200)
    bot.projects.set_phase(BOB.actor, bins, Phase.ALPHA)
    bot.projects.set_status(
        ALICE.actor,
        f"{bins} User research done with <@{BOB.slack_id}|bob> in three towns; "
        "write to research@adur-worthing.gov.uk for the report.",
    )
    _step(bot, 20)
    bot.projects.adopt(CAROL.actor, bins)
    bot.projects.set_status(BOB.actor, f"{bins} Alpha is running with 400 households.")

    potholes = _start(
        bot, world, CAROL, "Pothole reporter",
        "Report a pothole with a photo and see when it will be fixed.", days=350,
    )  # fmt: skip
    _step(bot, 300)
    bot.projects.join(EVE.actor, potholes)
    for phase in (Phase.ALPHA, Phase.BETA, Phase.LIVE):
        bot.projects.set_phase(CAROL.actor, potholes, phase)
    _step(bot, 40)
    bot.projects.adopt(ALICE.actor, potholes)
    bot.projects.adopt(DEV.actor, potholes)

    planning = _start(
        bot, world, DEV, "Planning alerts",
        "Tells neighbours about planning applications near them.", days=90,
    )  # fmt: skip
    secret = _start(bot, world, BOB, PRIVATE_NAME,
                    "A procurement nobody outside may know about yet.", days=60)  # fmt: skip
    world.private_slug = world.slugs.pop(PRIVATE_NAME)
    with bot.db.session() as session:
        project = catalogue_store.public_project_by_slug(session, slug=world.private_slug)
        assert project is not None
        catalogue_store.set_visibility(session, project=project, visibility="private")

    gh = "https://github.com/"
    _links(bot, {
        bins: [("github", "octo-councils/bins", gh + "octo-councils/bins"),
               ("github", f"{ALICE.github}/bins-sketch", f"{gh}{ALICE.github}/bins-sketch"),
               ("trello", "Bins board", "https://trello.com/b/aBcD1234")],
        potholes: [("github", "councils-together/potholes", gh + "councils-together/potholes")],
        secret: [("github", "ferret-co/procure", gh + "ferret-co/procure")],
    })  # fmt: skip
    _ledger(bot, {bins: ALICE, potholes: CAROL, planning: DEV, secret: BOB})
    for n in range(filler):
        _step(bot, 500 + n)
        name = f"Shared service {n + 1:02d}"
        world.filler.append(
            _start(bot, world, EVE, name, f"Filler project number {n + 1}.", days=500 + n)
        )
    bot.clock.now = NOW  # type: ignore[attr-defined]
    return world


def _start(bot: Bot, world: World, who: Member, name: str, description: str, *, days: float) -> str:
    _step(bot, days)
    bot.projects.start(who.actor, name, description)
    with bot.db.session(read_only=True) as session:
        project = session.exec(select(Project).where(Project.name == name)).one()
        world.slugs[name] = project.slug
        return project.slug


def _project_id(bot: Bot, slug: str) -> int:
    with bot.db.session(read_only=True) as session:
        project = session.exec(select(Project).where(Project.slug == slug)).one()
        assert project.id is not None
        return project.id


def _links(bot: Bot, links: dict[str, list[tuple[str, str, str]]]) -> None:
    with bot.db.session() as session:
        for slug, rows in links.items():
            pid = _project_id(bot, slug)
            for source, name, url in rows:
                target = name.lower() if source == "github" else url.rsplit("/", 1)[1]
                session.add(
                    Link(project_id=pid, source=source, target=target, target_name=name, url=url)
                )


def _ledger(bot: Bot, owners: dict[str, Member]) -> None:
    """Two years of gives and takes, and mirrored events naming people by login."""
    with bot.db.session() as session:
        people = {p.slack_user_id: p for p in session.exec(select(Person)).all()}
        any_link = session.exec(select(Link.id)).first()
        assert any_link is not None
        serial = 0
        for slug, owner in owners.items():
            pid = _project_id(bot, slug)
            for i in range(60):
                member = PEOPLE[(i * 7 + len(slug)) % len(PEOPLE)] if i % 3 else owner
                person = people[member.slack_id]
                serial += 1
                ledger_store.add_ledger_entry(
                    session,
                    entry=ledger_store.NewEntry(
                        kind="take" if i % 11 == 5 else "give",
                        source="github:fork" if i % 11 == 5 else "github:pr_merged",
                        dedupe_key=f"world:{serial}",
                        occurred_at=NOW - timedelta(days=3 + i * 11),
                        project_id=pid,
                        person_id=person.id,
                        council_code=person.council_code,
                        github_login=member.github,
                        description=f"PR by {member.github} ({member.name})",
                    ),
                )
            session.add(
                MirrorEvent(
                    project_id=pid,
                    link_id=any_link,
                    item_key=f"{slug}#1",
                    kind="pr",
                    action="merged",
                    actor=owner.github or owner.trello,
                    summary=f"merged by {owner.name}",
                    occurred_at=NOW - timedelta(days=2),
                    dedupe_key=f"world:event:{slug}",
                )
            )
