"""Items, layouts and deliveries: what the mirror benchmark sends and what it expects.

An `Item` is one GitHub issue/PR or Trello card and, once planned, the final state its
living message must show; a `Layout` says which projects, channels, repos and boards hold
the items; a `Delivery` is one signed webhook request built before any timing starts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bench._common import ROOT

TOKEN = "xoxb-bench-mirror"
SIGNING_SECRET = "bench-mirror-signing-secret"
GITHUB_SECRET = "bench-github-webhook-secret"
TRELLO_SECRET = "bench-trello-app-secret"
TRELLO_KEY = "bench-trello-key"
TRELLO_TOKEN = "bench-trello-token"
PUBLIC_URL = "https://makers.example.gov.uk"
TRELLO_CALLBACK = f"{PUBLIC_URL}/trello/webhook"
FIXTURES = ROOT / "tests" / "fixtures"
BASE_TIME = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # change n happens at BASE_TIME + n s
STARTER = "U0BENCHMIRROR"

GITHUB_ITEMS = 35
TRELLO_ITEMS = 15
PEOPLE = ("amara-leeds", "ben-camden", "chloe-bristol", "dev-kent", "eilidh-glasgow", "femi-hx")
ISSUE_TITLES = (
    "Bin day reminders",
    "Council tax rebate form",
    "Parking permits & visitor passes",
    "Missed collection report",
    "Use <details> for the FAQ",
    "School admissions appeal",
    "Pothole map",
    "Library room booking",
    "Garden waste subscription",
    "Blue badge renewal",
    "Planning comments",
    "Housing repairs tracker",
)
CARD_TITLES = (
    "Interview 5 residents about bin days",
    "Content design: rebate eligibility",
    "Accessibility audit of the form",
    "Agree the data sharing agreement",
    "Prototype the reminder emails",
    "Plan the beta with Leeds & Camden",
    "Write the service assessment",
    "Map the council tax journey",
)
RENAMES = ("(follow-up)", "– alpha", "– beta", "& accessibility", "(v2)", "– for review")
COMMENTS = (
    "Looks good to me.",
    "Tested on a phone with VoiceOver: the error summary is read out first.",
    "Can we check this with the contact centre before Friday?",
    "Leeds did something similar last year, see their repo.",
)
LAYOUTS = ("one", "spread", "one+threads", "spread+threads")


@dataclass
class Item:
    """One GitHub issue/PR or Trello card, and the state the deliveries so far describe.

    After planning, the fields hold the expected FINAL state the mirror must show.
    """

    source: str  # "github" or "trello"
    kind: str  # "issue", "pr" or "card"
    container: str  # "owner/repo" as GitHub spells it, or the board id
    container_name: str  # repo full name or board name: what the message shows
    number: int  # issue/PR number, or the card's idShort
    base_title: str
    card_id: str = ""
    short_link: str = ""
    title: str = ""
    state: str = ""  # open / closed / merged, or the card's list
    archived: bool = False
    labels: list[str] = field(default_factory=list)
    people: list[str] = field(default_factory=list)
    comments: int = 0
    opened: bool = False
    renames: int = 0
    lane: int = 0
    message_key: str = ""  # the outbox key "item:<link id>:<item key>", known after seeding
    channel: str = ""

    def __post_init__(self) -> None:
        self.title = self.title or self.base_title

    @property
    def item_key(self) -> str:
        if self.source == "github":
            return f"github:{self.container.lower()}#{self.number}"
        return f"trello:{self.card_id}"

    @property
    def url(self) -> str:
        if self.source == "trello":
            return f"https://trello.com/c/{self.short_link}"
        kind = "pull" if self.kind == "pr" else "issues"
        return f"https://github.com/{self.container}/{kind}/{self.number}"

    @property
    def state_words(self) -> str:
        return "archived" if self.archived else self.state

    def rename(self) -> str:
        """Give the item its next title; returns the old one."""
        old = self.title
        self.renames += 1
        self.title = f"{self.base_title} {RENAMES[self.renames % len(RENAMES)]}"
        if self.title == old:
            self.title += " (again)"
        return old


@dataclass(frozen=True)
class Board:
    id: str
    name: str
    short_link: str


@dataclass(frozen=True)
class ProjectSpec:
    """One project (one channel) and what it links."""

    name: str
    repo: str | None = None
    board: Board | None = None


@dataclass
class Layout:
    """Where the 50 items live: which projects, channels, repos and boards."""

    name: str
    threads: bool
    projects: list[ProjectSpec]
    items: list[Item]
    boards: list[Board]  # every board an item is on, linked or not
    summary_keys: dict[str, str] = field(default_factory=dict)  # container -> outbox key


@dataclass(frozen=True)
class _Places:
    repos: list[str]
    boards: list[Board]
    projects: list[ProjectSpec]
    github_items: int = GITHUB_ITEMS
    trello_items: int = TRELLO_ITEMS


def _board(n: int, name: str) -> Board:
    return Board(id=f"{0xBE4C0000 + n:024x}", name=name, short_link=f"bnchB{n:03d}")


def _places(base: str, number: int) -> _Places:
    tag = f"{base}{number}"
    if base == "one":
        repo, board = f"makers-bench/bins-{tag}", _board(100 * number + 1, f"Bins board {tag}")
        return _Places([repo], [board], [ProjectSpec(f"Bench {tag} one channel", repo, board)])
    if base == "spread":
        repos = [f"makers-bench/{tag}-{n}" for n in range(1, 8)]
        boards = [_board(100 * number + 10 + n, f"Board {tag}-{n}") for n in range(1, 4)]
        projects = [ProjectSpec(f"Bench {tag} repo {n + 1}", repo) for n, repo in enumerate(repos)]
        projects += [
            ProjectSpec(f"Bench {tag} board {n + 1}", None, b) for n, b in enumerate(boards)
        ]
        return _Places(repos, boards, projects)
    if base == "warm":
        return _Places(["makers-bench/unlinked"], [_board(99, "Unlinked")], [], 6, 2)
    raise ValueError(f"unknown layout {base!r}: use one of {', '.join(LAYOUTS)}")


def _items(places: _Places) -> list[Item]:
    items: list[Item] = []
    repos, boards = places.repos, places.boards
    github_n, trello_n = places.github_items, places.trello_items
    for j in range(github_n):
        repo = repos[j * len(repos) // github_n]
        items.append(
            Item(
                source="github",
                kind="pr" if j % 7 in (2, 5) else "issue",
                container=repo,
                container_name=repo,
                number=101 + j,
                base_title=ISSUE_TITLES[j % len(ISSUE_TITLES)] + ("" if j < 12 else f" {j}"),
            )
        )
    for k in range(trello_n):
        board = boards[k * len(boards) // trello_n]
        items.append(
            Item(
                source="trello",
                kind="card",
                container=board.id,
                container_name=board.name,
                number=k + 1,
                base_title=CARD_TITLES[k % len(CARD_TITLES)] + ("" if k < 8 else f" ({k})"),
                card_id=f"{int(board.id, 16) << 16 | k:024x}",
                short_link=f"bnchC{k:03d}",
            )
        )
    return items


def make_layout(
    name: str,
    *,
    concurrency: int,
    number: int = 0,
    github_items: int = GITHUB_ITEMS,
    trello_items: int = TRELLO_ITEMS,
) -> Layout:
    """Where the items live. `one`: one project channel with one repo and one board;
    `spread`: ten project channels (seven repos of 5 issues/PRs, three boards of 5 cards).
    Thread replies are off unless the name ends in `+threads` (the links' default).
    `warm`: a repo and a board nobody linked (their deliveries are stored and dropped).
    `number` keeps the repos, boards and projects of several layouts in one run apart;
    `github_items` and `trello_items` change how many issues/PRs and cards there are.
    """
    base, _, extra = name.partition("+")
    places = _places(base, number)
    if base != "warm":
        places = replace(places, github_items=github_items, trello_items=trello_items)
    items = _items(places)
    # Interleave GitHub and Trello items over the clients: item i is always sent by lane i % n.
    for i, item in enumerate(items):
        item.lane = i % concurrency
    threads = extra == "threads" or base == "warm"
    return Layout(name, threads, places.projects, items, places.boards)


@dataclass(frozen=True)
class Delivery:
    """One signed webhook request, built before any timing starts."""

    item: int  # index into Layout.items
    seq: int  # position in the plan: the change happened at BASE_TIME + seq seconds
    action: str  # e.g. "issues.labeled", "updateCard:idList"
    path: str
    body: bytes
    headers: dict[str, str]
    thread: bool  # the mirror also replies in the item's thread (when the link says so)

    @property
    def epoch(self) -> int:
        return int((BASE_TIME + timedelta(seconds=self.seq)).timestamp())


def fixture(path: str) -> dict[str, Any]:
    """A JSON payload from tests/fixtures."""
    data = json.loads((FIXTURES / path).read_text())
    assert isinstance(data, dict)
    return data


def iso(moment: datetime, *, millis: bool = False) -> str:
    """A time as GitHub (whole seconds) or Trello (milliseconds) writes it."""
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return text + (".000Z" if millis else "Z")
