"""The weekly digest: its numbers against a ledger built by hand, posting exactly once, the
on-demand commands, Slack's limits and escaping, and the chart upload."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from slack_sdk.models.blocks import Block
from sqlmodel import Session, func, select

from makersbot.app import Bot, build
from makersbot.calendar import DigestSchedule
from makersbot.domain.digest import CouncilTally, HubDigest, Period, ProjectDigest, ProjectRef
from makersbot.domain.messages import Message
from makersbot.domain.requests import UserError
from makersbot.render import SECTION_LIMIT, TEXT_LIMIT
from makersbot.render_digest import hub_messages, to_terminal
from makersbot.render_digest_parts import MESSAGE_BUDGET
from makersbot.render_project_digest import project_messages
from makersbot.services.digest import DigestService
from makersbot.slack_gateway import SlackGateway
from makersbot.store.models import (
    Council,
    DigestClaim,
    LedgerEntry,
    Link,
    Membership,
    MirroredItem,
    MirrorEvent,
    Person,
    Project,
    ProjectUpdate,
    SlackMessage,
)
from tests.conftest import Clock, make_settings
from tests.fakes.slack import FakeSlack

ADMIN = "U0ADMIN"
# Monday 30 November 2026, 09:00 in London (GMT): the period is [23 Nov 09:00, 30 Nov 09:00).
RUN = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
START = RUN - timedelta(days=7)
LONG_AGO = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)


# Factories ------------------------------------------------------------------------------


def council(session: Session, code: str, name: str) -> str:
    session.add(Council(code=code, name=f"{name} Council", short_name=name))
    return code


def person(session: Session, slack_user_id: str, council_code: str | None = None) -> int:
    row = Person(slack_user_id=slack_user_id, council_code=council_code)
    session.add(row)
    session.flush()
    assert row.id is not None
    return row.id


def project(
    session: Session,
    slug: str,
    *,
    created: datetime = LONG_AGO,
    updated: datetime | None = None,
    phase: str = "alpha",
    channel: str | None = None,
    lead: str | None = None,
    lead_person: int | None = None,
) -> int:
    row = Project(
        slug=slug,
        name=slug.replace("-", " ").capitalize(),
        phase=phase,
        channel_id=channel,
        lead_council_code=lead,
        created_at=created,
        updated_at=updated or created,
    )
    session.add(row)
    session.flush()
    assert row.id is not None
    if lead_person is not None:
        session.add(Membership(project_id=row.id, person_id=lead_person, role="lead"))
    return row.id


_serial = iter(range(1, 1_000_000))


def entry(
    session: Session,
    kind: str,
    source: str,
    code: str | None,
    at: datetime,
    project_id: int | None = None,
) -> None:
    session.add(
        LedgerEntry(
            kind=kind,
            source=source,
            council_code=code,
            occurred_at=at,
            project_id=project_id,
            dedupe_key=f"test:{next(_serial)}",
        )
    )


def link(session: Session, project_id: int, source: str, target: str) -> int:
    row = Link(project_id=project_id, source=source, target=target)
    session.add(row)
    session.flush()
    assert row.id is not None
    return row.id


def item(session: Session, link_id: int, key: str, kind: str, title: str, **fields: Any) -> None:
    session.add(MirroredItem(link_id=link_id, item_key=key, kind=kind, title=title, **fields))


def event(
    session: Session,
    project_id: int,
    link_id: int,
    kind: str,
    action: str,
    at: datetime,
    summary: str = "",
    destination: str | None = None,
) -> None:
    session.add(
        MirrorEvent(
            project_id=project_id,
            link_id=link_id,
            item_key=f"k{next(_serial)}",
            kind=kind,
            action=action,
            summary=summary,
            destination=destination,
            done=destination == "Done",
            occurred_at=at,
            dedupe_key=f"ev:{next(_serial)}",
        )
    )


@dataclass
class World:
    hub: str
    bins: str  # channels
    potholes: str
    planning: str
    old: str
    projects: dict[str, int]


def build_world(bot: Bot, fake: FakeSlack) -> World:
    """Five councils, seven projects and two weeks of ledger, with edge cases at the bounds."""
    hub = fake.add_channel("makers")
    channels = {
        name: fake.add_channel(f"makers-{name}") for name in ("bins", "potholes", "planning", "old")
    }
    day = timedelta(days=1)
    with bot.db.session() as s:
        lds, bri, yor, cam, hac = (
            council(s, "LDS", "Leeds"),
            council(s, "BST", "Bristol"),
            council(s, "YOR", "York"),
            council(s, "CAM", "Cambridge"),
            council(s, "HAC", "Hackney"),
        )
        s.flush()
        lead = person(s, "U0LEAD", lds)
        p = {
            "bins": project(s, "bin-day", channel=channels["bins"], lead=lds, phase="beta"),
            "potholes": project(
                s, "potholes", created=START + 2 * day, channel=channels["potholes"], lead=lds
            ),
            "planning": project(s, "planning", channel=channels["planning"]),
            "old": project(s, "old-thing", channel=channels["old"], lead_person=lead),
            "retired": project(s, "retired-thing", phase="retired"),
            "quietish": project(s, "quietish"),
            "gifted": project(s, "gifted"),
        }
        # Leeds: 4 gives this week, 1 the week before, and a year-old one.
        for source in ("github:pr_merged", "github:pr_merged", "github:review"):
            entry(s, "give", source, lds, START + day, p["bins"])
        entry(s, "give", "start", lds, START + 2 * day, p["potholes"])
        entry(s, "give", "gave", lds, START - 2 * day)
        entry(s, "give", "gave", lds, LONG_AGO)
        # Bristol: 1 give and 1 adoption this week; 3 gives the week before.
        entry(s, "give", "gave", bri, START + 3 * day)
        entry(s, "take", "adopt", bri, START + 3 * day, p["bins"])
        for _ in range(3):
            entry(s, "give", "gave", bri, START - 3 * day)
        # York: its first give ever, two takes (one long ago it took nothing but... a fork).
        entry(s, "give", "trello:card_done", yor, START + 4 * day, p["planning"])
        entry(s, "take", "adopt", yor, START + 4 * day, p["bins"])
        entry(s, "take", "github:fork", yor, START + 5 * day, p["bins"])
        entry(s, "take", "adopt", yor, LONG_AGO, p["gifted"])
        # Cambridge: a give exactly at the end (next period) and one just before the start
        # (previous period); a take exactly at the start (in).
        entry(s, "give", "gave", cam, RUN)
        entry(s, "give", "gave", cam, START - timedelta(microseconds=1))
        entry(s, "take", "adopt", cam, START, p["planning"])
        # Hackney: its first give, exactly at the start.
        entry(s, "give", "github:issue_closed", hac, START)
        # People not linked to a council yet.
        entry(s, "give", "github:pr_merged", None, START + day, p["bins"])
        entry(s, "give", "gave", None, START + day)
        entry(s, "take", "github:fork", None, START + day)
        # Phases: bins reached live, planning moved to beta.
        s.add(ProjectUpdate(project_id=p["bins"], kind="phase", value="live", at=START + 2 * day))
        s.add(ProjectUpdate(project_id=p["planning"], kind="phase", value="beta", at=START + day))
        # Mirrored repos and boards.
        gh, tr = link(s, p["bins"], "github", "org/bins"), link(s, p["planning"], "trello", "b1")
        q = link(s, p["quietish"], "github", "org/quiet")
        item(
            s,
            gh,
            "i1",
            "issue",
            "Add <!channel> Welsh",
            url="https://github.com/org/bins/issues/1",
            number=1,
            labels=["Good First Issue"],
        )
        item(s, gh, "i2", "issue", "Closed one", labels=["help wanted"], closed=True)
        item(s, gh, "i3", "pr", "A PR wanting help", labels=["help wanted"])
        item(
            s,
            gh,
            "i4",
            "pr",
            "Old PR",
            url="https://github.com/org/bins/pull/4",
            number=4,
            state="open",
            created_at=RUN - 20 * day,
            last_change_at=RUN - 10 * day,
        )
        item(s, gh, "i5", "pr", "New PR", state="open", created_at=RUN - 3 * day)
        item(
            s,
            tr,
            "c1",
            "card",
            "Run a user research session",
            url="https://trello.com/c/1",
            state="Up for grabs",
        )
        for action in ("opened", "opened", "closed", "merged", "commented"):
            event(s, p["bins"], gh, "issue" if action != "merged" else "pr", action, START + day)
        event(s, p["bins"], gh, "issue", "opened", RUN)  # next period
        event(s, p["planning"], tr, "card", "moved", START + day, "moved Doing → Done", "Done")
        event(s, p["planning"], tr, "card", "moved", START + day, "moved Doing → Review", "Review")
        event(s, p["quietish"], q, "issue", "commented", RUN - 10 * day)
        entry(s, "give", "gave", None, RUN - 20 * day, p["gifted"])
    return World(
        hub, channels["bins"], channels["potholes"], channels["planning"], channels["old"], p
    )


def service(bot: Bot, hub: str | None, **kwargs: Any) -> DigestService:
    return DigestService(
        bot.db,
        bot.outbox,
        SlackGateway(bot.client),
        schedule=DigestSchedule(),
        hub_channel=hub,
        admins=frozenset({ADMIN}),
        clock=bot.clock,
        **kwargs,
    )


@pytest.fixture
def world(bot: Bot, fake_slack: FakeSlack) -> World:
    return build_world(bot, fake_slack)


def drain(bot: Bot) -> None:
    """Send everything, thread replies included (they wait a second for their parent)."""
    for _ in range(3):
        bot.sender.drain()
        bot.clock.now += timedelta(seconds=2)  # type: ignore[attr-defined]


def main_posts(fake: FakeSlack, channel: str) -> list[dict[str, Any]]:
    return [m for m in fake.messages(channel) if m.get("thread_ts") in (None, m["ts"])]


def claims(bot: Bot) -> int:
    with bot.db.session(read_only=True) as s:
        return int(s.exec(select(func.count()).select_from(DigestClaim)).one())


# The numbers ----------------------------------------------------------------------------


def test_hub_numbers_match_the_ledger(bot: Bot, world: World) -> None:
    digest = service(bot, world.hub).build_hub(service(bot, None).period_ending(RUN))
    assert digest.period.key == "2026-W49"
    line = {
        t.name: (dict(t.gives), dict(t.takes), t.gave_before, t.change) for t in digest.councils
    }
    assert [t.name for t in digest.councils] == ["Leeds", "York", "Bristol", "Hackney", "Cambridge"]
    assert line == {
        "Leeds": ({"start": 1, "github:pr_merged": 2, "github:review": 1}, {}, 1, 3),
        "York": ({"trello:card_done": 1}, {"adopt": 1, "github:fork": 1}, 0, 1),
        "Bristol": ({"gave": 1}, {"adopt": 1}, 3, -2),
        "Hackney": ({"github:issue_closed": 1}, {}, 0, 1),
        "Cambridge": ({}, {"adopt": 1}, 1, -1),
    }
    assert (digest.total_gives, digest.total_takes, digest.givers, digest.takers) == (7, 4, 4, 3)
    assert digest.first_time == ("Hackney", "York")
    assert digest.unattributed_gives == 2
    assert [p.slug for p in digest.new_projects] == ["potholes"]
    assert [(c.project.slug, c.phase) for c in digest.phase_changes] == [("planning", "beta")]
    assert [(lp.project.slug, lp.adopters) for lp in digest.live] == [
        ("bin-day", ("Bristol", "York"))
    ]
    assert [(s.project.slug, s.lead_user_ids) for s in digest.stale] == [("old-thing", ("U0LEAD",))]
    ideas = {g.council: [i.title for i in g.items] for g in digest.give_back}
    # York took from bin-day: its issue first; Cambridge took from planning: its card first.
    assert ideas == {
        "York": ["Add <!channel> Welsh", "Run a user research session"],
        "Cambridge": ["Run a user research session", "Add <!channel> Welsh"],
    }


def test_project_digests_match_the_mirror_and_ledger(bot: Bot, world: World) -> None:
    svc = service(bot, world.hub)
    _, projects = svc.build(svc.period_ending(RUN))
    found = {d.project.slug: d for d in projects}
    assert set(found) == {"bin-day", "planning", "potholes"}  # old-thing is quiet: nothing
    bins = found["bin-day"]
    assert (bins.opened, bins.closed, bins.merged, bins.cards_done) == (2, 1, 1, 0)
    assert bins.contributors == (("Leeds", 3),) and bins.unattributed == 1
    assert [w.number for w in bins.waiting] == [4]
    planning = found["planning"]
    assert planning.cards_done == 1 and planning.contributors == (("York", 1),)
    assert found["potholes"].contributors == (("Leeds", 1),)


def test_a_quiet_week_says_so(bot: Bot, fake_slack: FakeSlack) -> None:
    hub = fake_slack.add_channel("makers")
    svc = service(bot, hub)
    run = svc.run_scheduled(RUN)
    drain(bot)
    assert run.hub_key is not None and run.project_posts == 0
    [post] = fake_slack.messages(hub)
    assert "A quiet week" in post["text"]


# Posting exactly once -------------------------------------------------------------------


def test_two_schedulers_for_the_same_slot_post_once(
    bot: Bot, world: World, fake_slack: FakeSlack, database_url: str, clock: Clock
) -> None:
    other = build(make_settings(database_url, fake_slack), clock=clock, per_channel_interval=0)
    try:
        services = [service(bot, world.hub), service(other, world.hub)]
        barrier = threading.Barrier(2)
        runs: list[Any] = []

        def fire(svc: DigestService) -> None:
            barrier.wait()
            runs.append(svc.run_scheduled(RUN))

        threads = [threading.Thread(target=fire, args=(svc,)) for svc in services]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        drain(bot)
        drain(other)
    finally:
        other.stop()
    assert sorted(r.hub_key is not None for r in runs) == [False, True]
    assert len(main_posts(fake_slack, world.hub)) == 1
    for channel in (world.bins, world.planning, world.potholes):
        assert len(main_posts(fake_slack, channel)) == 1
    assert fake_slack.messages(world.old) == []


def test_a_crash_after_claiming_still_posts_exactly_once(
    bot: Bot, world: World, fake_slack: FakeSlack, database_url: str, clock: Clock
) -> None:
    service(bot, world.hub).run_scheduled(RUN)  # claimed and queued; the sender never ran
    bot.stop()
    assert fake_slack.calls("chat.postMessage") == []
    again = build(make_settings(database_url, fake_slack), clock=clock, per_channel_interval=0)
    try:
        assert service(again, world.hub).run_scheduled(RUN).hub_key is None  # restart: no new
        drain(again)
        drain(again)
    finally:
        again.stop()
    assert len(main_posts(fake_slack, world.hub)) == 1
    assert len(fake_slack.calls("chat.postMessage")) == 4  # the hub and three projects


def test_a_run_stopped_half_way_finishes_the_rest_once(
    bot: Bot, world: World, fake_slack: FakeSlack
) -> None:
    with bot.db.session() as s:  # the hub and one project channel were claimed and sent
        for channel, kind in ((world.hub, "hub"), (world.bins, "project")):
            key = f"digest:{channel}:2026-W49:0"
            s.add(DigestClaim(channel=channel, period="2026-W49", kind=kind, message_key=key))
    run = service(bot, world.hub).run_scheduled(RUN)
    drain(bot)
    assert (run.hub_key, run.project_posts) == (None, 2)
    assert fake_slack.messages(world.hub) == [] and fake_slack.messages(world.bins) == []
    assert len(main_posts(fake_slack, world.planning)) == 1


def test_digest_now_posts_once_then_links_to_it_and_force_posts_another(
    bot: Bot, world: World, fake_slack: FakeSlack, clock: Clock
) -> None:
    clock.now = RUN + timedelta(hours=3)
    svc = service(bot, "#makers")
    first = svc.post_now(ADMIN)
    assert first.reply == f"Posting this week's digest in <#{world.hub}> now."
    drain(bot)
    second = svc.post_now(ADMIN)
    [posted] = main_posts(fake_slack, world.hub)
    link = f"https://fake.slack.com/archives/{world.hub}/p{posted['ts'].replace('.', '')}"
    assert f"<{link}|see it>" in second.reply and "`/makers digest now --force`" in second.reply
    assert len(fake_slack.calls("conversations.list")) == 1  # the name is resolved once
    svc.post_now(ADMIN, force=True)
    drain(bot)
    assert len(main_posts(fake_slack, world.hub)) == 2
    assert len(main_posts(fake_slack, world.bins)) == 1  # project channels are not forced
    # The scheduled run later that week finds the digest there.
    assert service(bot, world.hub).run_scheduled(RUN + timedelta(days=1)).hub_key is None


def test_only_admins_post_now_and_preview_claims_nothing(bot: Bot, world: World) -> None:
    svc = service(bot, world.hub)
    with pytest.raises(UserError, match="Only the bot's admins"):
        svc.post_now("U0SOMEONE")
    messages = svc.preview(RUN)
    assert messages[0].blocks and claims(bot) == 0
    with bot.db.session(read_only=True) as s:
        assert s.exec(select(func.count()).select_from(SlackMessage)).one() == 0
    assert "Leeds" in to_terminal(svc.render_week("2026-W49"))


def test_without_a_hub_channel_only_project_digests_are_posted(
    bot: Bot, world: World, fake_slack: FakeSlack
) -> None:
    svc = service(bot, None)
    run = svc.run_scheduled(RUN)
    drain(bot)
    assert run.hub_key is None and run.project_posts == 3
    assert fake_slack.messages(world.hub) == [] and svc.already_posted("2026-W49")


def test_an_unknown_hub_name_is_explained(bot: Bot, world: World) -> None:
    with pytest.raises(UserError, match="no public channel #nowhere"):
        service(bot, "nowhere").post_now(ADMIN)


# Slack's limits and escaping ------------------------------------------------------------


def validate(messages: list[Message]) -> None:
    for message in messages:
        assert len(message.blocks) <= 50 and len(message.text) <= TEXT_LIMIT
        total = 0
        for raw in message.blocks:
            block = Block.parse(raw)
            assert block is not None
            block.validate_json()
            # Built as dicts, the blocks are exactly what slack_sdk's classes would send.
            assert json.dumps(block.to_dict()) == json.dumps(raw)
            text = raw.get("text")
            if isinstance(text, dict):
                assert len(text["text"]) <= SECTION_LIMIT
                total += len(text["text"])
        assert total <= MESSAGE_BUDGET


def test_rendered_digests_pass_block_kit_validation_and_escape(bot: Bot, world: World) -> None:
    svc = service(bot, world.hub)
    hub, projects = svc.build(svc.period_ending(RUN))
    messages = hub_messages(hub)
    validate(messages)
    text = str(messages[0].blocks)
    assert "&lt;!channel&gt; Welsh" in text and "<!channel>" not in text
    assert "7 times; 2 gave for the first time" in messages[0].blocks[1]["text"]["text"]
    for digest in projects:
        validate(project_messages(digest))


def test_four_hundred_councils_fit_by_continuing_in_the_thread() -> None:
    period = Period(START, RUN, "2026-W49")
    evil = "<!channel> & <@U123> Borough of Extraordinarily Long Names upon Thames"
    councils = tuple(
        CouncilTally(
            code=f"C{i:03d}",
            name=f"<!channel> & Borough {i}",
            gives=(("github:pr_merged", i + 1), ("github:review", 2), ("gave", 1)),
            takes=(("adopt", 1), ("github:fork", 1)),
            gave_before=i % 7,
        )
        for i in range(400)
    )
    refs = tuple(
        ProjectRef(i, f"{evil} project {i}", f"p{i}", "alpha", "C0PROJ") for i in range(300)
    )
    digest = HubDigest(
        period=period,
        councils=councils,
        first_time=tuple(c.name for c in councils[:200]),
        new_projects=refs,
    )
    messages = hub_messages(digest)
    validate(messages)
    assert len(messages) > 1
    everything = "\n".join(str(m.blocks) for m in messages)
    assert "<!channel>" not in everything and "&lt;!channel&gt;" in everything
    # Every council is there: the first dozen in the main message, the rest in the thread.
    assert all(f"&lt;!channel&gt; &amp; Borough {i}*" in everything for i in range(400))
    assert "…and 388 more councils in the thread." in str(messages[0].blocks)
    project = ProjectDigest(
        period, refs[0], opened=3, contributors=tuple((c.name, 1) for c in councils)
    )
    validate(project_messages(project))
    assert project_messages(ProjectDigest(period, refs[0])) == []


# The chart ------------------------------------------------------------------------------


def test_chart_is_uploaded_once_into_the_digest_thread(
    bot: Bot, world: World, fake_slack: FakeSlack
) -> None:
    svc = service(bot, world.hub)
    svc.run_scheduled(RUN)
    assert svc.upload_pending_charts() == 0  # not posted yet: no thread to put it in
    drain(bot)
    fake_slack.clear()
    assert svc.upload_pending_charts() == 1
    calls = fake_slack.calls()
    assert [c.method for c in calls] == [
        "files.getUploadURLExternal",
        "file_upload",
        "files.completeUploadExternal",
    ]
    [posted] = main_posts(fake_slack, world.hub)
    assert calls[1].args["length"] == int(calls[0].args["length"]) > 1000
    assert calls[1].body[:8] == b"\x89PNG\r\n\x1a\n"
    assert calls[2].args["channel_id"] == world.hub and calls[2].args["thread_ts"] == posted["ts"]
    assert svc.upload_pending_charts() == 0 and len(fake_slack.calls()) == 3
    with bot.db.session(read_only=True) as s:
        assert s.exec(select(DigestClaim).where(DigestClaim.kind == "hub")).one().chart_uploaded_at


def test_a_failed_chart_upload_is_retried_later(
    bot: Bot, world: World, fake_slack: FakeSlack, clock: Clock
) -> None:
    svc = service(bot, world.hub)
    svc.run_scheduled(RUN)
    drain(bot)
    fake_slack.fail_next("files.getUploadURLExternal", status=500, times=3)
    assert svc.upload_pending_charts() == 0
    assert svc.upload_pending_charts() == 0  # backing off: no call
    clock.now += timedelta(minutes=1)
    assert svc.upload_pending_charts() == 1
    assert len(fake_slack.calls("files.completeUploadExternal")) == 1
