"""Forgotten projects resurface (issue 10, item 5): what counts as activity, the flag on the
card, one direct message per lead per quiet spell, and the hub digest's forgotten part."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlmodel import Session

from makersbot.app import Bot
from makersbot.render_digest import hub_messages
from makersbot.services.forgotten import Resurfaced
from makersbot.store import activity
from makersbot.store.models import (
    LedgerEntry,
    Link,
    Membership,
    MirrorEvent,
    Person,
    Project,
    ProjectUpdate,
    QuietSpell,
)
from tests.conftest import Clock
from tests.fakes.slack import FakeSlack
from tests.test_commands import rows, run

WEEK = timedelta(weeks=1)


def make_project(
    session: Session,
    slug: str,
    *,
    at: datetime,
    leads: tuple[str, ...] = (),
    channel: str | None = None,
    phase: str = "alpha",
) -> int:
    """A project started at `at` by its leads (who joined then)."""
    project = Project(
        slug=slug,
        name=slug.replace("-", " ").capitalize(),
        phase=phase,
        channel_id=channel,
        created_at=at,
        updated_at=at,
    )
    session.add(project)
    session.flush()
    assert project.id is not None
    for user in leads:
        person = Person(slack_user_id=user, display_name=user.lower())
        session.add(person)
        session.flush()
        assert person.id is not None
        session.add(
            Membership(project_id=project.id, person_id=person.id, role="lead", joined_at=at)
        )
    return project.id


def dms_to(fake: FakeSlack, user: str) -> list[str]:
    return [c.args["text"] for c in fake.calls("chat.postMessage") if c.args["channel"] == user]


def card_text(fake: FakeSlack, channel: str) -> str:
    """The pinned card as Slack now shows it."""
    pinned = fake.channel(channel)["pins"]
    [message] = [m for m in fake.messages(channel) if m["ts"] in pinned]
    return json.dumps(message["blocks"], ensure_ascii=False)


# What counts as activity -----------------------------------------------------------------------


def test_activity_is_the_latest_act_of_any_kind(bot: Bot, clock: Clock) -> None:
    start = clock.now - 30 * WEEK
    with bot.db.session() as s:
        ids = {name: make_project(s, name, at=start) for name in ("only-started", "all")}
        kinds = {name: make_project(s, name, at=start) for name in ("status", "member", "ledger")}
        kinds["mirror"] = make_project(s, "mirror", at=start)
        person = Person(slack_user_id="U0X")
        s.add(person)
        s.flush()
        assert person.id is not None
        link = Link(project_id=kinds["mirror"], source="github", target="o/r")
        s.add(link)
        s.flush()
        assert link.id is not None
        for project_id in (ids["all"], kinds["status"]):
            s.add(ProjectUpdate(project_id=project_id, kind="status", value="x", at=start + WEEK))
        for project_id in (ids["all"], kinds["member"]):
            s.add(
                Membership(project_id=project_id, person_id=person.id, joined_at=start + 2 * WEEK)
            )
        for n, project_id in enumerate((ids["all"], kinds["ledger"])):
            s.add(
                LedgerEntry(
                    kind="give",
                    source="gave",
                    project_id=project_id,
                    occurred_at=start + 3 * WEEK,
                    dedupe_key=f"k{n}",
                )
            )
        s.add(
            MirrorEvent(
                project_id=kinds["mirror"],
                link_id=link.id,
                item_key="i",
                kind="issue",
                action="opened",
                occurred_at=start + 4 * WEEK,
                dedupe_key="e1",
            )
        )
    with bot.db.session(read_only=True) as s:
        last = activity.last_activity(s, project_ids=[*ids.values(), *kinds.values()])
        quiet = dict(activity.quiet_projects(s, before=start + 3 * WEEK + timedelta(seconds=1)))
        # Every kind of act after the start wakes a project: only the one left alone sleeps.
        early = activity.quiet_projects(s, before=start + timedelta(days=1))
    assert last[ids["only-started"]] == start
    assert last[kinds["status"]] == start + WEEK
    assert last[kinds["member"]] == start + 2 * WEEK
    assert last[kinds["ledger"]] == start + 3 * WEEK
    assert last[kinds["mirror"]] == start + 4 * WEEK
    assert last[ids["all"]] == start + 3 * WEEK
    # Quiet since just after the ledger entries: everything but the mirrored project.
    assert set(quiet) == {*ids.values(), *kinds.values()} - {kinds["mirror"]}
    assert early == [(ids["only-started"], start)]


# The flag and the direct messages ----------------------------------------------------------------


def test_a_project_quiet_for_eight_weeks_is_flagged_and_its_leads_asked_once(
    bot: Bot, fake_slack: FakeSlack, clock: Clock
) -> None:
    now = clock.now
    for user in ("U0LEAD1", "U0LEAD2", "U0OTHER"):
        fake_slack.add_user(user, user.lower())
    channel = fake_slack.add_channel("makers-old-thing")
    with bot.db.session() as s:
        make_project(
            s, "old-thing", at=now - 9 * WEEK, leads=("U0LEAD1", "U0LEAD2"), channel=channel
        )
        make_project(s, "seven-weeks", at=now - 7 * WEEK, leads=("U0OTHER",))
        make_project(s, "ended", at=now - 20 * WEEK, phase="retired")
    result = bot.digest.forgotten.run(now)  # type: ignore[union-attr]
    assert result == Resurfaced(flagged=1, messages=2, resumed=0)
    bot.sender.drain()
    for lead in ("U0LEAD1", "U0LEAD2"):
        [dm] = dms_to(fake_slack, lead)
        assert "*Old thing*" in dm and "which you lead, has had no activity since" in dm
        assert "`/makers status old-thing <what is happening>`" in dm
        assert "`/makers phase old-thing retired`" in dm
    assert dms_to(fake_slack, "U0OTHER") == []
    assert "Nothing has happened here since" in card_text(fake_slack, channel)
    assert "Nothing has happened here since" in str(run(bot, "info old-thing").acks[-1]["blocks"])
    # Again, and at the next weekly runs: the same spell is never asked about twice.
    assert bot.digest.forgotten.run(now) == Resurfaced(0, 0, 0)  # type: ignore[union-attr]
    bot.digest.run_scheduled(now + WEEK)
    bot.digest.run_scheduled(now + 2 * WEEK)
    bot.sender.drain()
    assert len(dms_to(fake_slack, "U0LEAD1")) == len(dms_to(fake_slack, "U0LEAD2")) == 1
    # Meanwhile the seven-week project passed eight weeks: asked once too.
    assert len(dms_to(fake_slack, "U0OTHER")) == 1
    assert len(rows(bot, QuietSpell)) == 2


def test_activity_ends_the_spell_and_a_new_spell_asks_again(
    bot: Bot, fake_slack: FakeSlack, clock: Clock
) -> None:
    fake_slack.add_user("U0LEAD1", "lead")
    channel = fake_slack.add_channel("makers-old-thing")
    with bot.db.session() as s:
        make_project(s, "old-thing", at=clock.now - 9 * WEEK, leads=("U0LEAD1",), channel=channel)
    bot.digest.forgotten.run(clock.now)  # type: ignore[union-attr]
    bot.sender.drain()
    # The lead answers: the card loses its flag at once.
    assert "updated" in run(bot, "status old-thing back on it", user="U0LEAD1").last
    bot.sender.drain()
    card = card_text(fake_slack, channel)
    assert "back on it" in card and "Nothing has happened" not in card
    assert bot.digest.forgotten.run(clock.now) == Resurfaced(0, 0, 1)  # type: ignore[union-attr]
    assert rows(bot, QuietSpell)[0].resumed_at == clock.now
    # Eight more quiet weeks: a new spell, a new question.
    later = clock.now + 8 * WEEK + timedelta(days=1)
    assert bot.digest.forgotten.run(later) == Resurfaced(1, 1, 0)  # type: ignore[union-attr]
    bot.sender.drain()
    assert len(dms_to(fake_slack, "U0LEAD1")) == 2
    assert "Nothing has happened here since" in card_text(fake_slack, channel)


def test_a_mirrored_change_wakes_a_project_and_clears_its_flag(
    bot: Bot, fake_slack: FakeSlack, clock: Clock
) -> None:
    channel = fake_slack.add_channel("makers-old-thing")
    with bot.db.session() as s:
        project_id = make_project(s, "old-thing", at=clock.now - 10 * WEEK, channel=channel)
        link = Link(project_id=project_id, source="github", target="o/r")
        s.add(link)
        s.flush()
        assert link.id is not None
        link_id = link.id
    assert bot.digest.forgotten.run(clock.now).flagged == 1  # type: ignore[union-attr]
    bot.sender.drain()
    assert "Nothing has happened" in card_text(fake_slack, channel)
    with bot.db.session() as s:
        s.add(
            MirrorEvent(
                project_id=project_id,
                link_id=link_id,
                item_key="github:o/r#1",
                kind="pr",
                action="merged",
                occurred_at=clock.now + timedelta(days=1),
                dedupe_key="merge-1",
            )
        )
    assert bot.digest.forgotten.run(clock.now + WEEK).resumed == 1  # type: ignore[union-attr]
    bot.sender.drain()
    assert "Nothing has happened" not in card_text(fake_slack, channel)


# The hub digest -------------------------------------------------------------------------------


def test_the_hub_digest_lists_forgotten_projects_apart_from_quiet_ones(
    bot: Bot, fake_slack: FakeSlack, clock: Clock
) -> None:
    with bot.db.session() as s:
        make_project(s, "old-thing", at=clock.now - 9 * WEEK, leads=("U0LEAD1",))
        make_project(s, "five-weeks", at=clock.now - 5 * WEEK, leads=("U0LEAD2",))
        make_project(s, "fresh", at=clock.now - WEEK)
    digest = bot.digest.build_hub(bot.digest.period_ending(clock.now))
    assert [(f.project.slug, f.lead_user_ids) for f in digest.forgotten] == [
        ("old-thing", ("U0LEAD1",))
    ]
    assert digest.forgotten[0].last_activity == clock.now - 9 * WEEK
    assert {s.project.slug for s in digest.stale} == {"old-thing", "five-weeks"}
    text = "\n".join(str(b.get("text", {}).get("text", "")) for b in hub_messages(digest)[0].blocks)
    quiet, forgotten = text.split("*Quiet for four weeks*")[1].split(
        "*Forgotten: nothing for eight weeks*"
    )
    assert "Five weeks" in quiet and "Old thing" not in quiet
    assert "Old thing" in forgotten and "<@U0LEAD1>" in forgotten
    assert "Their leads have been asked, once" in forgotten


def test_the_scheduled_run_posts_the_digest_and_asks_the_leads(
    bot: Bot, fake_slack: FakeSlack, clock: Clock
) -> None:
    fake_slack.add_user("U0LEAD1", "lead")
    with bot.db.session() as s:
        make_project(s, "old-thing", at=clock.now - 9 * WEEK, leads=("U0LEAD1",))
    assert bot.digest.run_scheduled(clock.now).hub_key is None  # no DIGEST_CHANNEL here
    bot.sender.drain()
    assert len(dms_to(fake_slack, "U0LEAD1")) == 1
