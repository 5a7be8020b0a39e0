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
GHOST_LOGIN = "ghost-contributor-xq"


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
    # An admin confirms every council (as the e-mail check would): only verified councils'
    # entries count in the league, on Slack and in public.
    admin = Actor(slack_user_id="U0ADMIN", display_name="admin", is_admin=True)
    assert bot.commands.identity_admin is not None
    for council in sorted({member.council for member in PEOPLE}):
        bot.commands.identity_admin.verify_council(admin, council)

    bins = _start(bot, world, ALICE, "Bin collection reminders",
                  "Tells residents the night before which bin goes out.\n"
                  "Works by text message and e-mail.", days=380)  # fmt: skip
    _step(bot, 300)
    bot.projects.join(BOB.actor, bins)
    bot.projects.set_phase(ALICE.actor, bins, Phase.DISCOVERY)
    _step(bot, 200)
    bot.projects.set_phase(ALICE.actor, bins, Phase.ALPHA)
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
    _ledger(
        bot,
        {
            bins: (ALICE, BOB, 3),
            potholes: (CAROL, EVE, 10),
            planning: (DEV, DEV, 30),
            secret: (BOB, ALICE, 0.5),
        },
    )
    for n in range(filler):
        _step(bot, 500 + n)
        name = f"Shared service {n + 1:02d}"
        world.filler.append(
            _start(
                bot, world, EVE, name, f"Filler project number {n + 1}.", days=500 + n, admin=True
            )
        )
    bot.clock.now = NOW  # type: ignore[attr-defined]
    return world


def _start(
    bot: Bot,
    world: World,
    who: Member,
    name: str,
    description: str,
    *,
    days: float,
    admin: bool = False,
) -> str:
    _step(bot, days)
    # Filler projects look alike and come many a day: started anyway, by an admin.
    actor = Actor(who.actor.slack_user_id, who.actor.display_name, is_admin=admin)
    bot.projects.start(actor, name, description, anyway=True)
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


def _ledger(bot: Bot, plan: dict[str, tuple[Member, Member, float]]) -> None:
    """Two years of gives and takes per project: from its owner and one helper, the newest
    `days` ago; plus what the tests look for (see the module's constants)."""
    with bot.db.session() as session:
        people = {p.slack_user_id: p for p in session.exec(select(Person)).all()}
        serial = 0

        def entry(slug: str, member: Member | None, kind: str, days: float) -> None:
            nonlocal serial
            serial += 1
            person = people[member.slack_id] if member else None
            ledger_store.add_ledger_entry(
                session,
                entry=ledger_store.NewEntry(
                    kind=kind,
                    source="github:fork" if kind == "take" else "github:pr_merged",
                    dedupe_key=f"world:{serial}",
                    occurred_at=NOW - timedelta(days=days),
                    project_id=_project_id(bot, slug),
                    person_id=person.id if person else None,
                    council_code=person.council_code if person else None,
                    github_login=member.github if member else GHOST_LOGIN,
                    description=f"PR by {member.name if member else GHOST_LOGIN}",
                ),
            )

        for slug, (owner, helper, days) in plan.items():
            for i in range(60):
                member = owner if i % 3 == 0 else helper
                entry(slug, member, "take" if i % 11 == 5 else "give", days + i * 11)
        bins, potholes = list(plan)[:2]
        # Leeds gives to the bins project for the first time this quarter.
        entry(bins, DEV, "give", 5)
        # A contributor nobody has mapped to a council yet: counted nowhere public.
        entry(bins, None, "give", 4)
        link_id = session.exec(select(Link.id)).first()
        assert link_id is not None
        # The pothole project's latest sign of life is a mirrored GitHub event.
        session.add(
            MirrorEvent(
                project_id=_project_id(bot, potholes),
                link_id=link_id,
                item_key=f"{potholes}#1",
                kind="pr",
                action="merged",
                actor=CAROL.github,
                summary=f"merged by {CAROL.name}",
                occurred_at=NOW - timedelta(days=1),
                dedupe_key=f"world:event:{potholes}",
            )
        )
