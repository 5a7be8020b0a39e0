"""The weekly digest as data: the services fill these, the renderers show them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

WEEK = timedelta(days=7)
# The two kinds of digest: the cross-council one in DIGEST_CHANNEL, and one per project channel.
HUB, PROJECT = "hub", "project"

# Ledger sources in the order the league shows them, with (singular, plural) words.
GIVE_SOURCES: dict[str, tuple[str, str]] = {
    "start": ("project started", "projects started"),
    "github:pr_merged": ("PR merged", "PRs merged"),
    "github:review": ("review", "reviews"),
    "github:issue_closed": ("issue closed", "issues closed"),
    "trello:card_done": ("card done", "cards done"),
    "gave": ("contribution", "contributions"),
}
TAKE_SOURCES: dict[str, tuple[str, str]] = {
    "adopt": ("adoption", "adoptions"),
    "github:fork": ("fork", "forks"),
}


@dataclass(frozen=True)
class Period:
    """The 7 days before `end`: [start, end). `key` is the ISO week of `end`, e.g. 2026-W48."""

    start: datetime
    end: datetime
    key: str

    @property
    def previous_start(self) -> datetime:
        return self.start - WEEK


@dataclass(frozen=True)
class CouncilTally:
    """One council's line in the league: what it gave and took, by ledger source."""

    code: str
    name: str
    gives: tuple[tuple[str, int], ...]  # (source, count), in GIVE_SOURCES order, no zeros
    takes: tuple[tuple[str, int], ...]
    gave_before: int = 0  # in the 7 days before the period
    took_before: int = 0

    @property
    def gave(self) -> int:
        return sum(n for _, n in self.gives)

    @property
    def took(self) -> int:
        return sum(n for _, n in self.takes)

    @property
    def change(self) -> int:
        """Gives compared with the previous 7 days."""
        return self.gave - self.gave_before


@dataclass(frozen=True)
class ProjectRef:
    id: int
    name: str
    slug: str
    phase: str
    channel_id: str | None = None
    lead_council: str | None = None


@dataclass(frozen=True)
class PhaseChange:
    project: ProjectRef
    phase: str  # the phase reached (the latest one when it changed twice)
    at: datetime


@dataclass(frozen=True)
class LiveProject:
    project: ProjectRef
    adopters: tuple[str, ...]  # council names


@dataclass(frozen=True)
class Opportunity:
    """An open issue or card that welcomes help."""

    title: str
    url: str
    project: str  # project name
    why: str  # the label or list that says help is welcome
    number: int | None = None


@dataclass(frozen=True)
class GiveBack:
    """Ideas for a council that reused more than it gave this week."""

    council: str
    items: tuple[Opportunity, ...]


@dataclass(frozen=True)
class StaleProject:
    project: ProjectRef
    lead_user_ids: tuple[str, ...]  # Slack user ids of its leads


@dataclass(frozen=True)
class HubDigest:
    """Everything the hub digest shows for one period."""

    period: Period
    councils: tuple[CouncilTally, ...]  # active this period; most giving first
    first_time: tuple[str, ...] = ()  # council names
    unattributed_gives: int = 0  # by people not linked to a council yet
    unverified: int = 0  # entries waiting for their person's council to be verified
    new_projects: tuple[ProjectRef, ...] = ()
    phase_changes: tuple[PhaseChange, ...] = ()  # excluding those that reached live
    live: tuple[LiveProject, ...] = ()
    give_back: tuple[GiveBack, ...] = ()
    stale: tuple[StaleProject, ...] = ()
    look_alikes: tuple[LookAlike, ...] = ()  # new projects that look like older ones
    forgotten: tuple[ForgottenProject, ...] = ()  # quiet for eight weeks or more

    @property
    def total_gives(self) -> int:
        return sum(c.gave for c in self.councils)

    @property
    def total_takes(self) -> int:
        return sum(c.took for c in self.councils)

    @property
    def givers(self) -> int:
        return sum(1 for c in self.councils if c.gave)

    @property
    def takers(self) -> int:
        return sum(1 for c in self.councils if c.took)


@dataclass(frozen=True)
class WaitingReview:
    title: str
    url: str
    number: int | None
    opened_at: datetime


@dataclass(frozen=True)
class ProjectDigest:
    """One project channel's week."""

    period: Period
    project: ProjectRef
    opened: int = 0
    closed: int = 0
    merged: int = 0
    cards_done: int = 0
    contributors: tuple[tuple[str, int], ...] = ()  # (council name, gives), most first
    unattributed: int = 0
    waiting: tuple[WaitingReview, ...] = field(default_factory=tuple)
    phases: tuple[str, ...] = ()  # phases reached in the period, in order
    status: str | None = None  # the latest status line reported in the period
    adopted_by: tuple[str, ...] = ()  # councils that adopted it in the period, by name

    @property
    def has_news(self) -> bool:
        return bool(
            self.opened
            or self.closed
            or self.merged
            or self.cards_done
            or self.contributors
            or self.unattributed
            or self.waiting
            or self.phases
            or self.status
            or self.adopted_by
        )


@dataclass(frozen=True)
class ChartRow:
    council: str
    gave: int
    took: int


@dataclass(frozen=True)
class LookAlike:
    """A project new in the period, and the older projects it looks like (best first)."""

    project: ProjectRef
    like: tuple[ProjectRef, ...]


@dataclass(frozen=True)
class ForgottenProject:
    """A project, not retired, with no activity for eight weeks: its leads are asked by DM."""

    project: ProjectRef
    last_activity: datetime
    lead_user_ids: tuple[str, ...]  # Slack user ids of its leads
