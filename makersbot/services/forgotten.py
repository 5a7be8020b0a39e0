"""Forgotten projects resurface (issue 10, item 5).

The movement's first catalogue learnt that projects get "added and forgotten". A project,
not retired, with no activity for eight weeks (see `store/activity.py` for what counts) is:

- flagged on its pinned card ("Nothing has happened here since …");
- listed in the hub digest as forgotten;
- brought to its leads' attention with ONE direct message each, asking for a status or for
  it to be retired.

Once per quiet spell: the spell is a row keyed by (project, last activity), claimed in the
same transaction that queues the direct messages, so two runs, a restart or a catch-up ask
once. Activity ends the spell (the card loses its flag); eight more quiet weeks start a new
one. The scheduled weekly digest run calls `run` (`DigestService.run_scheduled`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from makersbot import render
from makersbot.db import Database
from makersbot.domain.digest import ForgottenProject
from makersbot.outbox import Outbox
from makersbot.publishing import Publisher
from makersbot.store import activity as activity_store
from makersbot.store import digest_projects
from makersbot.store import projects as project_store

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
QUIET_FOR = timedelta(weeks=8)
BATCH = 200  # projects flagged per transaction


def forgotten_projects(session: Session, *, at: datetime) -> list[ForgottenProject]:
    """Projects quiet for eight weeks at `at`, the longest quiet first, with their leads."""
    quiet = activity_store.quiet_projects(session, before=at - QUIET_FOR)
    ids = {project_id for project_id, _ in quiet}
    refs = digest_projects.project_refs(session, ids=ids)
    leads = digest_projects.project_leads(session, project_ids=ids)
    return [
        ForgottenProject(refs[i], last, tuple(leads.get(i, ()))) for i, last in quiet if i in refs
    ]


@dataclass(frozen=True)
class Resurfaced:
    """What a run did: spells flagged, direct messages queued, spells ended by activity."""

    flagged: int
    messages: int
    resumed: int


class ForgottenProjects:
    """Flags forgotten projects, asks their leads once, and unflags them when they wake."""

    def __init__(self, db: Database, outbox: Outbox, publisher: Publisher, clock: Clock) -> None:
        self.db = db
        self.outbox = outbox
        self.publisher = publisher
        self.clock = clock

    def run(self, at: datetime | None = None) -> Resurfaced:
        """Flag the projects quiet for eight weeks at `at` (now by default); safe to repeat."""
        at = at or self.clock()
        with self.db.session(read_only=True) as session:
            quiet = dict(activity_store.quiet_projects(session, before=at - QUIET_FOR))
            spells = activity_store.open_spells(session)
        # A spell ends when the project woke up, or when it woke and fell quiet again (then
        # a new spell starts below, with its own message).
        ended = sorted(i for i, since in spells.items() if quiet.get(i) != since)
        new = sorted(i for i, last in quiet.items() if spells.get(i) != last)
        for first in range(0, len(ended), BATCH):
            with self.db.session() as session:
                self._end_spells(session, ended[first : first + BATCH], at)
        flagged = messages = 0
        for first in range(0, len(new), BATCH):
            with self.db.session() as session:
                for project_id in new[first : first + BATCH]:
                    sent = self._flag(session, project_id, quiet[project_id], at)
                    if sent is not None:
                        flagged, messages = flagged + 1, messages + sent
        if flagged or ended:
            log.info(
                "forgotten projects: %d flagged (%d message(s)), %d woke up",
                flagged,
                messages,
                len(ended),
            )
        return Resurfaced(flagged, messages, len(ended))

    def _flag(self, session: Session, project_id: int, since: datetime, at: datetime) -> int | None:
        """Claim the spell, ask each lead once and flag the card; None when claimed before."""
        claimed = activity_store.record_spell(
            session, project_id=project_id, quiet_since=since, at=at
        )
        if not claimed:
            return None
        project = project_store.get_project(session, project_id=project_id)
        leads = project_store.leads(session, project_id=project_id)
        message = render.quiet_nudge(project.name, project.slug, project.channel_id, since)
        for lead in leads:
            # A user id as the channel: Slack posts in the bot's direct messages with them.
            # The key ends with the user id, which is how `forget` finds it (store/privacy.py).
            self.outbox.publish(
                session,
                key=f"quiet:{project_id}:{int(since.timestamp())}:{lead}",
                channel=lead,
                message=message,
            )
        self._refresh_card(session, project_id)
        return len(leads)

    def _end_spells(self, session: Session, project_ids: Sequence[int], at: datetime) -> None:
        activity_store.resume_spells(session, project_ids=project_ids, at=at)
        for project_id in project_ids:
            self._refresh_card(session, project_id)

    def _refresh_card(self, session: Session, project_id: int) -> None:
        """Show or clear the flag on the pinned card; cached cards see the new revision."""
        project = project_store.get_project(session, project_id=project_id)
        # Not a change of activity: the time stays, only the revision moves.
        project_store.touch_project(session, project=project, at=project.updated_at)
        self.publisher.project_card(session, project)
