"""The scheduler: APScheduler runs the weekly digest at the runs of a `DigestSchedule`.

APScheduler 3.x keeps its jobs in memory and cannot share them between processes, so exactly
one process runs a `Scheduler`: `serve` (single process) or `worker` (when the Procfile splits
them), never each web worker. Two of them by mistake still post one digest: every digest is
claimed in the database before it is published (see `services/digest.py`). When the digest
runs (cron, time zone, bank holidays) is `calendar.py`'s business; this is the wiring.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from apscheduler.schedulers.background import BackgroundScheduler

from makersbot.calendar import DigestSchedule, WorkingDayTrigger
from makersbot.db import Database
from makersbot.store import digest_runs
from makersbot.store.models import utcnow

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
DIGEST_JOB = "digest"


class DigestRunner(Protocol):
    """What the scheduler needs from the digest service."""

    def run_scheduled(self, at: datetime) -> object: ...

    def already_posted(self, period: str) -> bool: ...


def record_run(db: Database, job: str, at: datetime) -> None:
    """Record that `job` ran at `at`: /healthz reports it as `last_scheduler_run`."""
    with db.session() as session:
        digest_runs.record_scheduler_run(session, job=job, at=at)


class Scheduler:
    """One per process doing background work. Jobs run on APScheduler's thread pool."""

    def __init__(
        self,
        db: Database,
        schedule: DigestSchedule,
        digest: DigestRunner,
        *,
        clock: Clock = utcnow,
        misfire_grace: timedelta = timedelta(hours=1),
    ) -> None:
        self.db = db
        self.schedule = schedule
        self.digest = digest
        self.clock = clock
        self._aps = BackgroundScheduler(
            timezone=schedule.zone,
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": int(misfire_grace.total_seconds()),
            },
        )
        self._aps.add_job(
            self.run_digest, WorkingDayTrigger(schedule), id=DIGEST_JOB, name="weekly digest"
        )

    @property
    def running(self) -> bool:
        return bool(self._aps.running)

    def start(self, *, catch_up: bool = True) -> None:
        """Start the jobs; a digest missed earlier this week runs now, in the background.

        The first start on a database records when the bot was installed, so that a run
        whose time came before that is not "caught up" (a digest nobody was owed)."""
        with self.db.session() as session:
            digest_runs.record_installation(session, now=self.clock())
        self._aps.start()
        if catch_up:
            self._aps.add_job(self.catch_up, id=f"{DIGEST_JOB}-catch-up", name="digest catch-up")

    def shutdown(self, wait: bool = True) -> None:
        if self._aps.running:
            self._aps.shutdown(wait=wait)

    def missed_run(self, now: datetime) -> datetime | None:
        """The run of this ISO week that has passed without completing, if any.

        Missed when the week's hub digest is not claimed, or when no run has completed since
        the slot (a crash half-way through the project digests): running again is safe, as
        every channel's digest is claimed once.
        """
        slot = self.schedule.last_run_this_week(now)
        if slot is None:
            return None
        with self.db.session(read_only=True) as session:
            installed = digest_runs.installed_at(session)
        if installed is not None and installed > slot:
            return None  # the run was due before the bot was installed: nothing was missed
        if self.digest.already_posted(self.schedule.week_key(slot)):
            with self.db.session(read_only=True) as session:
                last = digest_runs.last_scheduler_run(session, job=DIGEST_JOB)
            if last is not None and last >= slot:
                return None
        return slot

    def catch_up(self) -> bool:
        """Run this week's digest if its time has passed and it was not posted."""
        slot = self.missed_run(self.clock())
        if slot is None:
            return False
        log.info("catching up the digest due at %s", slot.isoformat())
        self._run(slot)
        return True

    def run_digest(self) -> None:
        """The cron job: the digest for the run that is due now."""
        now = self.clock()
        # Build for the slot, not for the moment the thread woke up: a late or repeated run
        # covers exactly the period the schedule promised.
        self._run(self.schedule.last_run_this_week(now) or now)

    def _run(self, slot: datetime) -> None:
        try:
            self.digest.run_scheduled(slot)
        except Exception:
            log.exception("the digest for %s failed", self.schedule.week_key(slot))
            return
        record_run(self.db, DIGEST_JOB, self.clock())
