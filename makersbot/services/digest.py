"""The weekly digest: build it, claim it once per channel and week, publish it, add the chart.

Exactly once: each digest message is claimed as a `DigestClaim(channel, period, seq)` row
(unique) in the same transaction that puts its messages in the outbox. Two schedulers, a
restart the same morning or `/makers digest now` after the scheduled run find the claim taken
and post nothing; a crash after the commit loses nothing, because the outbox sender posts what
was committed. The chart is uploaded into the hub digest's thread once its message has a `ts`.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from makersbot import chart
from makersbot.calendar import DigestSchedule
from makersbot.db import Database
from makersbot.domain.digest import HUB, PROJECT, WEEK, HubDigest, Period, ProjectDigest
from makersbot.domain.messages import Message
from makersbot.domain.requests import Outcome, UserError
from makersbot.outbox import PERMANENT_ERRORS, Outbox
from makersbot.render import plain, plural
from makersbot.render_digest import hub_messages
from makersbot.render_project_digest import project_messages
from makersbot.services import digest_content as content
from makersbot.services.forgotten import ForgottenProjects
from makersbot.slack_gateway import ChannelError, SlackError, SlackGateway
from makersbot.store import digest_runs as runs
from makersbot.store.digest_runs import PendingChart, message_key
from makersbot.store.models import utcnow

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
CLAIM_BATCH = 200  # project channels claimed per transaction
CHART_WINDOW = timedelta(days=1)  # a chart that could not be uploaded within a day is dropped
_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{6,}$")
_CHANNEL_MENTION = re.compile(r"^<#(?P<id>[CG][A-Z0-9]+)(?:\|[^>]*)?>$")


class DigestChannelError(UserError):
    """DIGEST_CHANNEL names a channel the bot cannot find."""


@dataclass(frozen=True)
class DigestRun:
    """What a run posted: the hub message key (None when not posted) and project digests."""

    period: str
    hub_key: str | None
    project_posts: int


class DigestService:
    """The hub digest in DIGEST_CHANNEL and a digest in each project channel with news."""

    def __init__(
        self,
        db: Database,
        outbox: Outbox,
        slack: SlackGateway,
        *,
        schedule: DigestSchedule,
        hub_channel: str | None,
        admins: frozenset[str] = frozenset(),
        clock: Clock = utcnow,
        forgotten: ForgottenProjects | None = None,
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.slack = slack
        self.schedule = schedule
        self.hub_setting = hub_channel.strip() if hub_channel and hub_channel.strip() else None
        self.admins = admins
        self.clock = clock
        self.forgotten = forgotten
        self._hub_id: str | None = None
        self._lock = threading.Lock()
        self._chart_retry: dict[int, tuple[int, datetime]] = {}

    # Periods ---------------------------------------------------------------------------

    def period_ending(self, end: datetime) -> Period:
        """The 7 days before `end`, keyed by the ISO week of `end` in DIGEST_TIMEZONE."""
        local = end.astimezone(self.schedule.zone)
        return Period(start=local - WEEK, end=local, key=self.schedule.week_key(local))

    def period_of_week(self, iso_week: str) -> Period:
        """The period a week's scheduled run covers (`digest --week 2026-W47`)."""
        return self.period_ending(self.schedule.week_slot(iso_week))

    # Building --------------------------------------------------------------------------

    def build_hub(self, period: Period) -> HubDigest:
        with self.db.session(read_only=True) as session:
            return content.build_hub(session, period)

    def build(self, period: Period) -> tuple[HubDigest, list[ProjectDigest]]:
        """Every digest of a period: the hub's and each project's with news."""
        with self.db.session(read_only=True) as session:
            return content.build_hub(session, period), content.project_digests(session, period)

    def preview(self, now: datetime | None = None) -> list[Message]:
        """The hub digest as it would look now; claims nothing."""
        return hub_messages(self.build_hub(self.period_ending(now or self.clock())))

    def render_week(self, iso_week: str) -> list[Message]:
        """The hub digest of a past week, e.g. "2026-W47" (ValueError when malformed)."""
        return hub_messages(self.build_hub(self.period_of_week(iso_week)))

    # Posting ---------------------------------------------------------------------------

    def already_posted(self, period: str) -> bool:
        """True when this week's digest (seq 0) is claimed: in the hub, or in any project
        channel when there is no hub."""
        kind = HUB if self.hub_setting else PROJECT
        with self.db.session(read_only=True) as session:
            return runs.is_claimed(session, period=period, kind=kind)

    def run_scheduled(self, at: datetime) -> DigestRun:
        """The scheduled digest for the run at `at` (covers the 7 days before it).

        Safe to run again for the same slot: channels already claimed are skipped, so a run
        that stopped half-way finishes the rest and nothing is posted twice.
        """
        period = self.period_ending(at)
        try:
            hub = self.hub_channel_id()
        except DigestChannelError as exc:
            # Project digests still go out; the hub waits for `digest now` or a restart.
            log.warning("hub digest not posted: %s", exc.message)
            hub = None
        run = self._post(period, hub=hub, force=False)
        log.info(
            "digest %s: hub %s, %d project digest(s)", run.period, run.hub_key, run.project_posts
        )
        self._resurface(at)
        return run

    def _resurface(self, at: datetime) -> None:
        """Flag forgotten projects and ask their leads (once per quiet spell) at each run."""
        if self.forgotten is None:
            return
        try:
            self.forgotten.run(at)
        except Exception:
            # The digest is out; the flags come with the next run (every step is claimed).
            log.exception("flagging forgotten projects failed")

    def post_now(self, actor_user_id: str, force: bool = False) -> Outcome:
        """`/makers digest now [--force]`, for admins: this week's digest, once unless forced."""
        if actor_user_id not in self.admins:
            raise UserError(
                "Only the bot's admins (MAKERS_ADMINS) can post the digest. "
                "`/makers digest preview` shows it to you."
            )
        period = self.period_ending(self.clock())
        hub = self.hub_channel_id()
        if hub is not None and not force:
            existing = self._latest_claim(hub, period.key)
            if existing is not None:
                return Outcome(self._already_there(hub, existing))
        run = self._post(period, hub=hub, force=force)
        if hub is None:
            if not run.project_posts:
                return Outcome(
                    "DIGEST_CHANNEL is not set, so there is no hub digest, and no project "
                    "channel has news to post (or this week's digests are already there)."
                )
            return Outcome(f"Posting {plural(run.project_posts, 'project digest')} now.")
        if run.hub_key is None:  # another run claimed it a moment ago
            existing = self._latest_claim(hub, period.key)
            return Outcome(self._already_there(hub, existing or message_key(hub, period.key, 0)))
        return Outcome(f"Posting this week's digest in <#{hub}> now.")

    def _post(self, period: Period, *, hub: str | None, force: bool) -> DigestRun:
        hub_digest, projects = self.build(period)
        # Rendered before the transaction, so the write lock is held only to claim and queue.
        hub_msgs = hub_messages(hub_digest) if hub else []
        project_msgs = [
            (d.project.channel_id, project_messages(d)) for d in projects if d.project.channel_id
        ]
        # Project channels are forced again only when there is no hub to force.
        force_projects = force and hub is None
        hub_key = None
        if hub is not None:
            with self.db.session() as session:
                hub_key = self._claim(session, hub, period.key, HUB, force)
                if hub_key is not None:
                    self._publish(session, hub, hub_key, hub_msgs)
        # Thousands of project channels are claimed in batches: each channel's claim and
        # messages still commit together, but a SQLite write lock is never held for long
        # (web requests must answer Slack within 3 s). Always in the same order, so two runs
        # on PostgreSQL queue behind each other's claims instead of deadlocking.
        ordered = sorted(project_msgs, key=lambda cm: cm[0])
        posted = 0
        for first in range(0, len(ordered), CLAIM_BATCH):
            with self.db.session() as session:
                for channel, messages in ordered[first : first + CLAIM_BATCH]:
                    key = self._claim(session, channel, period.key, PROJECT, force_projects)
                    if key is not None and messages:
                        self._publish(session, channel, key, messages)
                        posted += 1
        return DigestRun(period.key, hub_key, posted)

    def _claim(
        self, session: Session, channel: str, period: str, kind: str, force: bool
    ) -> str | None:
        """Claim the channel's digest for the period; the message key, or None when taken."""
        return runs.claim_digest(
            session, channel=channel, period=period, kind=kind, force=force, at=self.clock()
        )

    def _publish(
        self, session: Session, channel: str, key: str, messages: Sequence[Message]
    ) -> None:
        first, *rest = messages
        self.outbox.publish(session, key=key, channel=channel, message=first)
        for n, message in enumerate(rest, start=1):
            self.outbox.publish(
                session, key=f"{key}:{n}", channel=channel, message=message, thread_key=key
            )

    def _latest_claim(self, channel: str, period: str) -> str | None:
        with self.db.session(read_only=True) as session:
            return runs.latest_claim(session, channel=channel, period=period)

    def _already_there(self, hub: str, key: str) -> str:
        where = self.permalink(key)
        seen = (
            f"is already in <#{hub}>: <{where}|see it>" if where else f"is on its way to <#{hub}>"
        )
        return f"This week's digest {seen}. `/makers digest now --force` posts another."

    def permalink(self, key: str) -> str | None:
        """A link to a posted message (None until the sender has posted it)."""
        with self.db.session(read_only=True) as session:
            posted = runs.posted_message(session, key=key)
        return self.slack.permalink(*posted) if posted is not None else None

    # The hub channel -------------------------------------------------------------------

    def hub_channel_id(self) -> str | None:
        """DIGEST_CHANNEL as a channel id: an id as given, a name looked up once and cached."""
        if self.hub_setting is None:
            return None
        if self._hub_id is not None:
            return self._hub_id
        mention = _CHANNEL_MENTION.match(self.hub_setting)
        if mention:
            self._hub_id = mention["id"]
        elif _CHANNEL_ID.match(self.hub_setting):
            self._hub_id = self.hub_setting
        else:
            with self._lock:
                self._hub_id = self._hub_id or self._find_channel(self.hub_setting.lstrip("#"))
        return self._hub_id

    def _find_channel(self, name: str) -> str:
        try:
            found = self.slack.find_channel(name)
        except ChannelError as exc:
            raise DigestChannelError(
                f"I could not look up #{plain(name, 80)} (Slack said "
                f"`{exc.code}`). Set DIGEST_CHANNEL to the channel's id."
            ) from None
        if found is None:
            raise DigestChannelError(
                f"There is no public channel #{plain(name, 80)}. Create it, or set DIGEST_CHANNEL "
                "to the id of a private channel the bot is in."
            )
        return found

    # The chart -------------------------------------------------------------------------

    def upload_pending_charts(self) -> int:
        """Upload the chart into the thread of each hub digest posted since; how many.

        Called by the worker loop after the sender drains. The claim row is marked before the
        upload (so two processes never both upload) and unmarked when the upload fails in a
        way worth retrying.
        """
        now = self.clock()
        with self.db.session(read_only=True) as session:
            pending = runs.charts_to_upload(session, since=now - CHART_WINDOW)
        uploaded = 0
        for claim in pending:
            retry = self._chart_retry.get(claim.claim_id)
            if retry is not None and retry[1] > now:
                continue
            if not self._mark_chart(claim.claim_id, now):
                continue
            if self._upload_chart(claim):
                uploaded += 1
        return uploaded

    def _upload_chart(self, claim: PendingChart) -> bool:
        with self.db.session(read_only=True) as session:
            rows = content.chart_rows(session, end=claim.claimed_at)
        if not rows:
            return False  # eight quiet weeks: nothing to draw
        title = chart.title(claim.claimed_at.astimezone(self.schedule.zone))
        try:
            self.slack.upload_file(
                chart.render_png(rows, title=title),
                filename=f"makers-digest-{claim.period}.png",
                title=title,
                alt_text=chart.alt_text(rows, title=title),
                channel=claim.channel,
                thread_ts=claim.ts,
            )
        except Exception as exc:
            error = exc.code if isinstance(exc, SlackError) else type(exc).__name__
            self._chart_failed(claim, error)
            return False
        self._chart_retry.pop(claim.claim_id, None)
        return True

    def _chart_failed(self, claim: PendingChart, error: str) -> None:
        """Give up on a permanent error; otherwise unmark the claim and retry with backoff."""
        if error in PERMANENT_ERRORS:
            log.warning("giving up on the chart of %s: %s", claim.period, error)
            return
        attempts = self._chart_retry.get(claim.claim_id, (0, self.clock()))[0] + 1
        delay = timedelta(seconds=min(2**attempts * 5, 1800))
        self._chart_retry[claim.claim_id] = (attempts, self.clock() + delay)
        log.info("chart of %s failed (%s): retrying in %s", claim.period, error, delay)
        self._mark_chart(claim.claim_id, None)

    def _mark_chart(self, claim_id: int, at: datetime | None) -> bool:
        """Set (or clear) chart_uploaded_at; True when this call changed it."""
        with self.db.session() as session:
            return runs.mark_chart(session, claim_id=claim_id, at=at)
