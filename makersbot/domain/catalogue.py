"""The public catalogue as data: what its pages and open-data feeds show.

Councils, projects and counts only. Nothing here can hold a person: no Slack names or ids,
no GitHub logins, no e-mail addresses (issue 10, "no personal data in public").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from makersbot.domain.projects import Phase

# publiccode.yml `developmentStatus` for each phase (issue 10).
DEVELOPMENT_STATUS: dict[str, str] = {
    Phase.IDEA.value: "concept",
    Phase.DISCOVERY.value: "concept",
    Phase.ALPHA.value: "development",
    Phase.BETA.value: "beta",
    Phase.LIVE.value: "stable",
    Phase.RETIRED.value: "obsolete",
}

PUBLIC = "public"
PRIVATE = "private"
VISIBILITIES = (PUBLIC, PRIVATE)


@dataclass(frozen=True)
class DataLicence:
    """The licence every page and feed states, and the attributions it must carry."""

    id: str
    name: str
    url: str
    attributions: tuple[str, ...]


# The catalogue's own data (projects, phases, counts) is published under the Open
# Government Licence, the licence UK councils use for open data; the council names and codes
# come from mySociety's register under CC-BY-4.0, which asks for this attribution.
REGISTER_ATTRIBUTION = (
    "Contains data from mySociety's UK local authority names and codes, CC-BY-4.0"
)
LICENCE = DataLicence(
    id="OGL-UK-3.0",
    name="Open Government Licence v3.0",
    url="https://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/",
    attributions=(REGISTER_ATTRIBUTION,),
)


@dataclass(frozen=True)
class CouncilRef:
    """A council as the register names it: `code` is the register's local-authority code."""

    code: str
    name: str  # official name, e.g. "Adur District Council"
    short_name: str  # e.g. "Adur"
    gss_code: str = ""  # ONS GSS code, e.g. "E07000223" (blank when the register lacks it)
    nation: str = ""


@dataclass(frozen=True)
class LinkRef:
    """A linked source: a repository or a board."""

    source: str  # "github" or "trello"
    name: str
    url: str


@dataclass(frozen=True)
class Diversity:
    """CHAOSS organisational diversity of one project, counted in councils.

    `contributing` councils gave to it at least once; `new_this_quarter` gave for the first
    time in `quarter`; the `elephant_factor` is the fewest councils that together account for
    half of its attributed gives (0 when nobody gave yet).
    """

    contributing: int
    new_this_quarter: int
    elephant_factor: int
    quarter: str
    attributed_gives: int


@dataclass(frozen=True)
class ProjectSummary:
    """One line of the catalogue, and the head of a project page."""

    slug: str
    name: str
    description: str
    phase: str
    lead: CouncilRef | None
    makers: tuple[CouncilRef, ...]
    reusers: tuple[CouncilRef, ...]
    last_activity: datetime
    links: tuple[LinkRef, ...]
    created_at: datetime

    @property
    def development_status(self) -> str:
        return DEVELOPMENT_STATUS.get(self.phase, "concept")

    @property
    def one_line(self) -> str:
        """The description's first line, for lists."""
        first = self.description.strip().splitlines()[0] if self.description.strip() else ""
        return first if len(first) <= 160 else first[:157].rstrip() + "…"


@dataclass(frozen=True)
class Dated:
    """Something said at a moment: a phase reached, a status line."""

    text: str
    at: datetime


@dataclass(frozen=True)
class Bucket:
    """Gives and takes in one stretch of time (a month or a quarter)."""

    label: str
    start: date
    gives: int
    takes: int

    @property
    def total(self) -> int:
        return self.gives + self.takes


@dataclass(frozen=True)
class ProjectPage:
    """Everything the project page shows."""

    summary: ProjectSummary
    phases: tuple[Dated, ...]  # oldest first
    statuses: tuple[Dated, ...]  # newest first
    activity: tuple[Bucket, ...]  # oldest first
    diversity: Diversity
    channel_id: str | None
    channel_name: str | None


@dataclass(frozen=True)
class CataloguePage:
    """One page of the filtered catalogue."""

    projects: tuple[ProjectSummary, ...]
    total: int
    page: int
    pages: int
    per_page: int


@dataclass(frozen=True)
class LeagueRow:
    """One council's figures for one period."""

    council: CouncilRef
    period: str
    gives: int
    takes: int
    projects_led: int
    projects_made: int
    projects_reused: int


@dataclass(frozen=True)
class Period:
    """A calendar quarter in the bot's time zone: [start, end)."""

    key: str  # e.g. "2026-Q4"
    start: datetime
    end: datetime


@dataclass(frozen=True)
class CouncilPage:
    """Everything a council's page shows."""

    council: CouncilRef
    leads: tuple[ProjectSummary, ...]
    makes: tuple[ProjectSummary, ...]
    reuses: tuple[ProjectSummary, ...]
    activity: tuple[Bucket, ...]  # per quarter, oldest first
