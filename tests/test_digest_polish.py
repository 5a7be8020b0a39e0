"""Issue 11's digest items: project digests tell the week's phase changes, status updates and
adoptions; the chart counts in whole numbers and shows givers only; the first start catches
up no digest that fell due before the bot was installed."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta

from makersbot import chart
from makersbot.app import Bot
from makersbot.calendar import DigestSchedule
from makersbot.domain.digest import ChartRow
from makersbot.domain.requests import Actor
from makersbot.render_project_digest import project_messages
from makersbot.scheduler import Scheduler, record_run
from makersbot.services import digest_content
from makersbot.settings import Settings
from makersbot.store import health
from tests.conftest import Clock

_triggers = itertools.count(1)


def run(bot: Bot, text: str, user: str = "U0ALICE") -> None:
    body = {
        "command": "/makers",
        "text": text,
        "user_id": user,
        "user_name": user.lower(),
        "channel_id": "C0GENERAL",
        "trigger_id": f"polish{next(_triggers)}",
    }
    bot.commands.dispatch(ack=lambda **_: None, body=body, respond=lambda **_: None, client=None)


def test_a_project_digest_tells_the_weeks_phases_status_and_adoptions(
    bot: Bot, clock: Clock
) -> None:
    run(bot, "iam council Guildford")
    run(bot, "start Bin day reminders")
    run(bot, "iam council Leeds", user="U0SAM")
    run(bot, "iam council Bristol", user="U0BEA")
    run(bot, "start Tree survey", user="U0BEA")
    clock.now += timedelta(days=8)  # a new week: the starts above are last week's news
    run(bot, "phase bin-day-reminders discovery")
    run(bot, "phase bin-day-reminders alpha")
    run(bot, "status bin-day-reminders Testing texts with 20 households")
    run(bot, "adopt bin-day-reminders", user="U0SAM")
    run(bot, "status tree-survey Paused until spring", user="U0BEA")  # its only news
    _, projects = bot.digest.build(bot.digest.period_ending(clock.now + timedelta(hours=1)))
    found = {d.project.slug: d for d in projects}
    assert set(found) == {"bin-day-reminders", "tree-survey"}
    bins = found["bin-day-reminders"]
    assert bins.phases == ("discovery", "alpha")
    assert bins.status == "Testing texts with 20 households"
    assert bins.adopted_by == ("Leeds",)
    text = project_messages(bins)[0].text
    assert "Moved to 🔎 Discovery, then 🧪 Alpha" in text
    assert "📣 Latest status: Testing texts with 20 households" in text
    assert "🎉 Adopted by Leeds" in text
    trees = found["tree-survey"]
    assert trees.phases == () and trees.adopted_by == () and trees.has_news
    assert "Paused until spring" in project_messages(trees)[0].text


def test_the_chart_shows_givers_ranked_by_what_they_gave_never_a_taker_alone(
    bot: Bot, clock: Clock
) -> None:
    run(bot, "iam council Guildford")
    run(bot, "start Bin day reminders")
    run(bot, "gave bin-day-reminders a workshop")
    run(bot, "iam council Woking", user="U0PRIYA")
    run(bot, "adopt bin-day-reminders", user="U0PRIYA")  # adopters may record gifts
    run(bot, "gave bin-day-reminders user research", user="U0PRIYA")
    run(bot, "iam council Leeds", user="U0SAM")
    run(bot, "adopt bin-day-reminders", user="U0SAM")  # Leeds only took
    # The league counts verified councils only: an admin confirms the three.
    admin = Actor("U0ADMIN", "admin", is_admin=True)
    assert bot.commands.identity_admin is not None
    for council in ("Guildford", "Woking", "Leeds"):
        bot.commands.identity_admin.verify_council(admin, council)
    with bot.db.session(read_only=True) as session:
        rows = digest_content.chart_rows(session, end=clock.now + timedelta(hours=1))
    assert rows == [
        ChartRow(council="Guildford", gave=2, took=0),
        ChartRow(council="Woking", gave=1, took=1),
    ]


def test_the_charts_axis_counts_in_whole_numbers_and_zero_bars_have_no_label() -> None:
    rows = [ChartRow("Guildford", 3, 0), ChartRow("Woking", 1, 2)]
    figure = chart.draw(rows, title="Give and take")
    axes = figure.axes[0]
    ticks = [t for t in axes.get_xticks() if t >= 0]
    assert ticks and all(float(t).is_integer() for t in ticks), ticks
    labels = [t.get_text() for t in axes.texts if t.get_text()]
    assert sorted(labels) == ["1", "2", "3"]  # Guildford took 0: no "0" beside a missing bar
    assert chart.render_png(rows, title="x").startswith(b"\x89PNG")


class FakeDigest:
    def __init__(self) -> None:
        self.runs: list[datetime] = []
        self.ran = threading.Event()

    def run_scheduled(self, at: datetime) -> None:
        self.runs.append(at)
        self.ran.set()

    def already_posted(self, period: str) -> bool:
        return False


def test_the_first_start_catches_up_no_digest_due_before_the_bot_was_installed(bot: Bot) -> None:
    digest = FakeDigest()
    # Installed on Wednesday 25 November 2026: Monday's 09:00 digest was never owed.
    wednesday = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    first = Scheduler(bot.db, DigestSchedule(), digest, clock=lambda: wednesday)
    first.start()
    try:
        assert not digest.ran.wait(0.5)
    finally:
        first.shutdown()
    assert not first.catch_up() and digest.runs == []
    with bot.db.session(read_only=True) as session:
        assert health.last_scheduler_run(session) is None  # installing is not a run
    # The next Monday's run was missed (the bot was down): that one is caught up.
    next_wednesday = wednesday + timedelta(days=7)
    later = Scheduler(bot.db, DigestSchedule(), digest, clock=lambda: next_wednesday)
    later.start(catch_up=False)
    later.shutdown()
    assert later.catch_up()
    assert digest.runs == [datetime(2026, 11, 30, 9, 0, tzinfo=UTC)]


def test_a_bot_that_ran_before_the_installation_was_recorded_still_catches_up(bot: Bot) -> None:
    # Runs recorded by an older version: the bot was installed no later than the earliest.
    record_run(bot.db, "digest", datetime(2026, 11, 16, 9, 0, tzinfo=UTC))
    digest = FakeDigest()
    wednesday = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    upgraded = Scheduler(bot.db, DigestSchedule(), digest, clock=lambda: wednesday)
    upgraded.start(catch_up=False)
    upgraded.shutdown()
    assert upgraded.catch_up()
    assert digest.runs == [datetime(2026, 11, 23, 9, 0, tzinfo=UTC)]


def test_seven_in_the_schedule_is_accepted_as_sunday_as_the_readme_says() -> None:
    settings = Settings(_env_file=None, digest_schedule="0 9 * * 7")  # type: ignore[call-arg]
    run_at = DigestSchedule(settings.digest_schedule).next_run(datetime(2026, 11, 25, tzinfo=UTC))
    assert run_at.strftime("%A %H:%M") == "Sunday 09:00"
