"""Mirror throughput and freshness: 2,000 signed GitHub/Trello deliveries to `makersbot serve`.

Seeds a SQLite database in-process (projects with channels on a FakeSlack; a GitHub repo
and a Trello board linked through `bot.links.link` against the fake GitHub and Trello, so
their webhooks are registered and nothing is polled), then runs the real server the way
production does, `makersbot serve` (gunicorn, 1 gthread worker x 8 threads, with the outbox
sender, the delivery processor and the poller inside the worker), on 127.0.0.1 only.

Each layout gets 2,000 deliveries (GitHub issues/PRs and Trello cards mixed, 50 items) in
10 bursts of 200 from 8 keep-alive clients; each item is always sent by the same client,
so an item's deliveries are acknowledged in the order they happened. The fake Slack
answers 429 (Retry-After: 1) now and then. A bare Flask app that only checks the
signatures (`bench._common:bare_webhook_app()`, same gunicorn settings) gets the same
deliveries first: the floor. After each layout the benchmark waits for the outbox to
drain, then checks every living message, board summary and thread reply against the state
it sent, and that no message was posted twice.

Layouts (`--layouts`, run in turn against the same server): `one` puts all 50 items in
one project channel (the issue's set-up), `spread` puts them in 10 project channels.
Both link with `threads:off`: with the default thread replies, every state change and
comment is one more post, never coalesced, at ~1 post/s per channel, which cannot drain
in a bounded run; the summary prints how many the plan would add. `spread+threads` (and
`one+threads`) keep the default and measure them (about 3 more minutes for spread).

Prints accepted deliveries/s (real, floor, ratio; goal >= 0.5x), p50/p99 time from a
delivery's 2xx to the first Slack call showing it and from each item's last delivery to
its final message, Slack calls per delivery (goal <= 0.2), 429s, the server's peak
memory, and correctness. Goals are printed, not asserted; the exit status is 1 only when a
response or the mirrored state is wrong.

Run: `.venv/bin/python bench/mirror.py` (or `make bench`); `--help` lists the knobs.
"""

from __future__ import annotations

import argparse
import copy
import http.client
import json
import logging
import math
import os
import platform
import random
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (  # noqa: E402 - after the path set-up above
    ROOT,
    Gunicorn,
    Server,
    ServerProcess,
    children_of,
    clean_env,
    mb,
    peak_rss_kib,
    percentile,
    temp_dir,
)

if TYPE_CHECKING:
    from tests.fakes.slack import Call, FakeSlack

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
GOAL_RATE = 0.5  # accepted/s at least half the floor's
GOAL_CALLS = 0.2  # Slack calls per delivery, at most
STARTER = "U0BENCHMIRROR"

GITHUB_ITEMS = 35
TRELLO_ITEMS = 15
GITHUB_LABELS = (
    "bug",
    "enhancement",
    "accessibility",
    "good first issue",
    "needs research",
    "blocked",
    "security",
)
TRELLO_LABELS = ("Urgent", "Research", "Design", "Content", "Accessibility")
TRELLO_LISTS = ("Backlog", "To do", "Doing", "Review", "Done")
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

log = logging.getLogger("bench.mirror")


# Items, layouts and the plan of deliveries -------------------------------------------------


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
    summary_keys: dict[str, str] = field(default_factory=dict)  # container -> outbox key


def _board(n: int, name: str) -> Board:
    return Board(id=f"{0xBE4C0000 + n:024x}", name=name, short_link=f"bnchB{n:03d}")


LAYOUTS = ("one", "spread", "one+threads", "spread+threads")


def make_layout(name: str, *, concurrency: int, number: int = 0) -> Layout:
    """Where the items live. `one`: one project channel with one repo and one board;
    `spread`: ten project channels (seven repos of 5 issues/PRs, three boards of 5 cards).
    Thread replies are off unless the name ends in `+threads` (the links' default).
    `warm`: a repo and a board nobody linked (their deliveries are stored and dropped).
    `number` keeps the repos, boards and projects of several layouts in one run apart.
    """
    base, _, extra = name.partition("+")
    threads = extra == "threads"
    tag = f"{base}{number}"
    if base == "one":
        repos = [f"makers-bench/bins-{tag}"]
        boards = [_board(100 * number + 1, f"Bins board {tag}")]
        projects = [ProjectSpec(f"Bench {tag} one channel", repos[0], boards[0])]
        github_n, trello_n = GITHUB_ITEMS, TRELLO_ITEMS
    elif base == "spread":
        repos = [f"makers-bench/{tag}-{n}" for n in range(1, 8)]
        boards = [_board(100 * number + 10 + n, f"Board {tag}-{n}") for n in range(1, 4)]
        projects = [ProjectSpec(f"Bench {tag} repo {n + 1}", repo) for n, repo in enumerate(repos)]
        projects += [
            ProjectSpec(f"Bench {tag} board {n + 1}", None, b) for n, b in enumerate(boards)
        ]
        github_n, trello_n = GITHUB_ITEMS, TRELLO_ITEMS
    elif base == "warm":
        repos, boards, projects, threads = (
            ["makers-bench/unlinked"],
            [_board(99, "Unlinked")],
            [],
            True,
        )
        github_n, trello_n = 6, 2
    else:
        raise ValueError(f"unknown layout {name!r}: use one of {', '.join(LAYOUTS)}")
    items: list[Item] = []
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
    # Interleave GitHub and Trello items over the clients: item i is always sent by lane i % n.
    for i, item in enumerate(items):
        item.lane = i % concurrency
    return Layout(name=name, threads=threads, projects=projects, items=items)


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


def _fixture(path: str) -> dict[str, Any]:
    data = json.loads((FIXTURES / path).read_text())
    assert isinstance(data, dict)
    return data


def _iso(moment: datetime, *, millis: bool = False) -> str:
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return text + (".000Z" if millis else "Z")


Choice = tuple[str, float]


class Planner:
    """Builds a realistic sequence of deliveries and tracks each item's expected state.

    Payloads start from the real fixtures in tests/fixtures (octokit's issues, pull_request
    and issue_comment payloads; Zulip's Trello board model) with our own values, and carry
    strictly increasing times per item (`updated_at`, Trello `date`).
    """

    def __init__(self, layout: Layout, rng: random.Random) -> None:
        self.layout = layout
        self.rng = rng
        self.issue_base = _fixture("github/octokit/issues/opened.payload.json")
        self.pull_base = _fixture("github/octokit/pull_request/opened.payload.json")
        self.comment_base = _fixture("github/octokit/issue_comment/created.payload.json")
        self.board_model = _fixture("trello/zulip/trello_creating_card.json")["model"]
        self.user_base = self.issue_base["issue"]["user"]
        self.merged_at: dict[int, str] = {}

    def plan(self, count: int) -> list[Delivery]:
        """`count` deliveries; some items are busier than others (weights 1/sqrt(rank))."""
        items = self.layout.items
        weights = [1 / math.sqrt(rank + 1) for rank in range(len(items))]
        self.rng.shuffle(weights)
        plan = []
        for seq in range(count):
            index = self.rng.choices(range(len(items)), weights)[0]
            item = items[index]
            when = BASE_TIME + timedelta(seconds=seq)
            if item.source == "github":
                plan.append(self._github(index, item, seq, when))
            else:
                plan.append(self._trello(index, item, seq, when))
        return plan

    # GitHub --------------------------------------------------------------------------------

    def _github_action(self, item: Item) -> str:
        if not item.opened:
            return "opened"
        label_room = 4 if len(item.labels) < 4 else 0
        unlabel = 2 if item.labels else 0
        choices: list[Choice]
        if item.state == "merged":
            choices = [
                ("comment", 1.5),
                ("labeled", 0.7 * bool(label_room)),
                ("unlabeled", unlabel / 3),
            ]
        elif item.state == "closed":
            choices = [("reopened", 0.8), ("comment", 1.5), ("labeled", 0.25 * label_room)]
            choices.append(("unlabeled", unlabel / 2))
        else:
            choices = [
                ("labeled", label_room),
                ("unlabeled", unlabel),
                ("assigned", 2 if len(item.people) < 3 else 0),
                ("unassigned", 1 if item.people else 0),
                ("edited", 1.2),
                ("comment", 3),
            ]
            if item.kind == "pr":
                choices += [("synchronize", 3), ("review_requested", 1.5), ("merged", 0.6)]
                choices.append(("closed", 0.15))
            else:
                choices.append(("closed", 0.8))
        names = [name for name, weight in choices if weight > 0]
        return self.rng.choices(names, [weight for _, weight in choices if weight > 0])[0]

    def _user(self, login: str) -> dict[str, Any]:
        user: dict[str, Any] = copy.deepcopy(self.user_base)
        user.update(
            login=login, id=abs(hash(login)) % 10**8, html_url=f"https://github.com/{login}"
        )
        user["type"] = "User"
        return user

    @staticmethod
    def _label(name: str) -> dict[str, Any]:
        return {
            "id": abs(hash(name)) % 10**9,
            "node_id": f"LA_{abs(hash(name)) % 10**9}",
            "url": "",
            "name": name,
            "color": "ededed",
            "default": False,
            "description": None,
        }

    def _repository(self, base: Mapping[str, Any], repo: str) -> dict[str, Any]:
        repository = copy.deepcopy(dict(base))
        owner, name = repo.split("/")
        repository.update(full_name=repo, name=name, html_url=f"https://github.com/{repo}")
        repository["owner"] = self._user(owner)
        return repository

    def _item_fields(self, item: Item, updated: str, target: dict[str, Any]) -> None:
        """The issue / pull request object as GitHub sends it after the change."""
        closed = item.state in ("closed", "merged")
        target.update(
            number=item.number,
            title=item.title,
            html_url=item.url,
            state="closed" if closed else "open",
            labels=[self._label(name) for name in item.labels],
            assignees=[self._user(login) for login in item.people],
            assignee=self._user(item.people[0]) if item.people else None,
            comments=item.comments,
            updated_at=updated,
            closed_at=updated if closed else None,
            milestone=None,
            draft=False,
        )
        target["user"] = self._user(PEOPLE[item.number % len(PEOPLE)])

    def _github(self, index: int, item: Item, seq: int, when: datetime) -> Delivery:
        action = self._github_action(item)
        updated, rng = _iso(when), self.rng
        sender = rng.choice(PEOPLE)
        extra: dict[str, Any] = {}
        thread = action in ("opened", "closed", "reopened", "merged", "comment")
        if action == "opened":
            item.opened, item.state = True, "open"
            if rng.random() < 0.5:
                item.labels.append(rng.choice(GITHUB_LABELS))
        elif action == "labeled":
            name = rng.choice([n for n in GITHUB_LABELS if n not in item.labels])
            item.labels.append(name)
            extra["label"] = self._label(name)
        elif action == "unlabeled":
            name = rng.choice(item.labels)
            item.labels.remove(name)
            extra["label"] = self._label(name)
        elif action == "assigned":
            login = rng.choice([p for p in PEOPLE if p not in item.people])
            item.people.append(login)
            extra["assignee"] = self._user(login)
        elif action == "unassigned":
            login = rng.choice(item.people)
            item.people.remove(login)
            extra["assignee"] = self._user(login)
        elif action == "edited":
            old = item.title
            item.renames += 1
            item.title = f"{item.base_title} {RENAMES[item.renames % len(RENAMES)]}"
            if item.title == old:
                item.title += " (again)"
            extra["changes"] = {"title": {"from": old}}
        elif action == "comment":
            item.comments += 1
        elif action in ("closed", "reopened"):
            item.state = "closed" if action == "closed" else "open"
        elif action == "merged":
            item.state = "merged"
            self.merged_at[index] = updated
        elif action == "review_requested":
            extra["requested_reviewer"] = self._user(rng.choice(PEOPLE))
        if action == "comment":
            event, payload = "issue_comment", copy.deepcopy(self.comment_base)
            payload["action"] = "created"
            self._item_fields(item, updated, payload["issue"])
            if item.kind == "pr":
                api = f"https://api.github.com/repos/{item.container}/pulls/{item.number}"
                payload["issue"]["pull_request"] = {
                    "url": api,
                    "html_url": item.url,
                    "diff_url": item.url + ".diff",
                    "patch_url": item.url + ".patch",
                    "merged_at": self.merged_at.get(index),
                }
            payload["comment"].update(
                body=rng.choice(COMMENTS),
                created_at=updated,
                updated_at=updated,
                html_url=f"{item.url}#issuecomment-{seq}",
                id=seq + 1,
            )
            payload["comment"]["user"] = self._user(sender)
        elif item.kind == "pr":
            event, payload = "pull_request", copy.deepcopy(self.pull_base)
            payload["action"] = "closed" if action == "merged" else action
            payload["number"] = item.number
            pull = payload["pull_request"]
            self._item_fields(item, updated, pull)
            merged_at = self.merged_at.get(index)
            pull.update(merged=merged_at is not None, merged_at=merged_at)
        else:
            event, payload = "issues", copy.deepcopy(self.issue_base)
            payload["action"] = action
            self._item_fields(item, updated, payload["issue"])
            payload["issue"]["state_reason"] = "completed" if item.state == "closed" else None
        payload["repository"] = self._repository(payload["repository"], item.container)
        payload["sender"] = self._user(sender)
        payload.update(extra)
        body = json.dumps(payload).encode()
        from tests.fakes.signing import github_headers

        headers = github_headers(GITHUB_SECRET, body, event, str(uuid.uuid4()))
        name = f"{event}.{payload['action']}" + (" (merged)" if action == "merged" else "")
        return Delivery(index, seq, name, "/github/webhook", body, headers, thread)

    # Trello --------------------------------------------------------------------------------

    def _trello_action(self, item: Item) -> str:
        if not item.opened:
            return "createCard"
        if item.archived:
            return self.rng.choices(["unarchive", "commentCard"], [1.0, 0.6])[0]
        choices: list[Choice] = [
            ("move", 4),
            ("rename", 1.2),
            ("commentCard", 3),
            ("addLabelToCard", 2 if len(item.labels) < 3 else 0),
            ("removeLabelFromCard", 1 if item.labels else 0),
            ("addMemberToCard", 1 if len(item.people) < 3 else 0),
            ("archive", 0.25),
        ]
        names = [name for name, weight in choices if weight > 0]
        return self.rng.choices(names, [weight for _, weight in choices if weight > 0])[0]

    def _trello(self, index: int, item: Item, seq: int, when: datetime) -> Delivery:
        action, rng = self._trello_action(item), self.rng
        board = next(
            p.board for p in self._boards() if p.board is not None and p.board.id == item.container
        )
        creator = rng.choice(PEOPLE)
        data: dict[str, Any] = {}
        raw: dict[str, Any] = {}
        card: dict[str, Any] = {"shortLink": item.short_link, "idShort": item.number}
        kind, thread = (
            action,
            action in ("createCard", "move", "archive", "unarchive", "commentCard"),
        )
        if action == "createCard":
            item.opened, item.state = True, rng.choice(TRELLO_LISTS[:2])
            data["list"] = self._list(item.state)
        elif action == "move":
            before = item.state
            item.state = rng.choice([name for name in TRELLO_LISTS if name != before])
            kind = "updateCard"
            data.update(listBefore=self._list(before), listAfter=self._list(item.state))
            data["old"] = {"idList": self._list(before)["id"]}
            card["idList"] = self._list(item.state)["id"]
        elif action == "rename":
            old = item.title
            item.renames += 1
            item.title = f"{item.base_title} {RENAMES[item.renames % len(RENAMES)]}"
            if item.title == old:
                item.title += " (again)"
            kind, data["old"] = "updateCard", {"name": old}
        elif action in ("archive", "unarchive"):
            item.archived = action == "archive"
            kind, card["closed"] = "updateCard", item.archived
            data["old"] = {"closed": not item.archived}
        elif action == "commentCard":
            item.comments += 1
            data["text"] = rng.choice(COMMENTS)
        elif action in ("addLabelToCard", "removeLabelFromCard"):
            if action == "addLabelToCard":
                name = rng.choice([n for n in TRELLO_LABELS if n not in item.labels])
                item.labels = sorted({*item.labels, name})
            else:
                name = rng.choice(item.labels)
                item.labels.remove(name)
            color = ("red", "blue", "green", "purple", "orange")[TRELLO_LABELS.index(name)]
            data["label"] = {
                "id": f"{TRELLO_LABELS.index(name) + 1:024x}",
                "name": name,
                "color": color,
            }
            data["text"] = name
        elif action == "addMemberToCard":
            username = rng.choice([p for p in PEOPLE if p not in item.people])
            item.people = sorted({*item.people, username})
            raw["member"] = {
                "id": f"{abs(hash(username)) % 10**9:024x}",
                "username": username,
                "fullName": username.title(),
            }
            data["idMember"] = raw["member"]["id"]
        card.update(name=item.title, id=item.card_id)
        data["card"] = card
        data["board"] = {"shortLink": board.short_link, "name": board.name, "id": board.id}
        model = copy.deepcopy(self.board_model)
        model.update(id=board.id, name=board.name, url=f"https://trello.com/b/{board.short_link}")
        member = {
            "id": f"{abs(hash(creator)) % 10**9:024x}",
            "avatarHash": None,
            "fullName": creator.title(),
            "initials": creator[0].upper(),
            "username": creator,
        }
        payload = {
            "model": model,
            "action": {
                # Like Trello's ids (MongoDB ObjectIds): 4 bytes of time, 8 random bytes.
                "id": f"{int(when.timestamp()):08x}{uuid.uuid4().int >> 64:016x}",
                "idMemberCreator": member["id"],
                "data": data,
                "type": kind,
                "date": _iso(when, millis=True),
                "memberCreator": member,
                **raw,
            },
        }
        body = json.dumps(payload).encode()
        from tests.fakes.signing import trello_headers

        headers = trello_headers(TRELLO_SECRET, body, TRELLO_CALLBACK)
        name = kind + (f":{next(iter(data['old']))}" if "old" in data else "")
        return Delivery(index, seq, name, "/trello/webhook", body, headers, thread)

    def _boards(self) -> list[ProjectSpec]:
        boards = [p for p in self.layout.projects if p.board is not None]
        if not boards:  # the warm-up layout links nothing: make up its board
            boards = [ProjectSpec("unlinked", None, _board(99, "Unlinked"))]
        return boards

    @staticmethod
    def _list(name: str) -> dict[str, str]:
        return {"name": name, "id": f"{0x11570000 + TRELLO_LISTS.index(name):024x}"}


def bursts_of(plan: Sequence[Delivery], bursts: int) -> list[list[Delivery]]:
    """The plan cut into `bursts` consecutive slices of (nearly) equal size."""
    size = -(-len(plan) // bursts)
    return [list(plan[b * size : (b + 1) * size]) for b in range(bursts) if plan[b * size :]]


# Seeding ---------------------------------------------------------------------------------------


def settings_env(
    fake_slack: str, github: str, trello: str, database_url: str, port: int
) -> dict[str, str]:
    """The configuration of the seeding bot and of the served one (DESIGN.md's variables)."""
    return {
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake_slack,
        "GITHUB_TOKEN": "ghp_benchtoken",
        "GITHUB_WEBHOOK_SECRET": GITHUB_SECRET,
        "GITHUB_API_URL": github,
        "TRELLO_API_KEY": TRELLO_KEY,
        "TRELLO_TOKEN": TRELLO_TOKEN,
        "TRELLO_API_SECRET": TRELLO_SECRET,
        "TRELLO_API_URL": trello,
        "PUBLIC_URL": PUBLIC_URL,
        "DATABASE_URL": database_url,
        "PORT": str(port),
        "LOG_LEVEL": "WARNING",
    }


def seed(env: Mapping[str, str], layouts: Sequence[Layout], github: Any, trello: Any) -> None:
    """Create the projects (channels, pinned cards) and link repos and boards in-process.

    Links go through `bot.links.link`, as `/makers link` does, against the fake GitHub and
    Trello: webhooks are registered (so the served bot never polls them) and each board
    summary is posted and pinned. Fills in each item's outbox key and channel. The outbox
    is drained to the FakeSlack and the engine disposed before the server starts.
    """
    from slack_sdk import WebClient
    from sqlmodel import select

    from makersbot.app import build
    from makersbot.domain.requests import Actor
    from makersbot.services.mirror import item_key_of, summary_key
    from makersbot.services.projects import slugify
    from makersbot.settings import Settings
    from makersbot.store.models import Link, Project

    values: dict[str, Any] = {name.lower(): value for name, value in env.items()}
    settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
    client = WebClient(token=TOKEN, base_url=env["SLACK_API_URL"])
    bot = build(settings, client=client, per_channel_interval=0.0)
    keys = iter(range(1_000_000))

    def actor() -> Actor:
        return Actor(STARTER, "bench maker", request_key=f"seed-{next(keys)}")

    try:
        bot.db.upgrade()
        bot.people.set_council(actor(), "Leeds")
        for layout in layouts:
            filters = "" if layout.threads else " threads:off"
            for project in layout.projects:
                bot.projects.start(actor(), project.name, "Benchmark project.")
                slug = slugify(project.name)
                if project.repo:
                    github.add_repo(project.repo)
                    reply = bot.links.link(actor(), f"{slug} github {project.repo}{filters}").reply
                    if "webhook is set up" not in reply:
                        raise RuntimeError(f"linking {project.repo}: {reply}")
                if project.board:
                    b = project.board
                    trello.add_board(b.id, b.name, b.short_link)
                    reply = bot.links.link(actor(), f"{slug} trello {b.id}{filters}").reply
                    if "webhook is set up" not in reply:
                        raise RuntimeError(f"linking board {b.name}: {reply}")
        bot.sender.drain()
        with bot.db.session(read_only=True) as session:
            links = {(lk.source, lk.target): lk for lk in session.exec(select(Link)).all()}
            channels = {p.id: p.channel_id for p in session.exec(select(Project)).all()}
        for layout in layouts:
            for item in layout.items:
                target = item.container.lower() if item.source == "github" else item.container
                link = links[item.source, target]
                assert link.id is not None and link.webhook_id is not None
                item.message_key = item_key_of(link.id, item.item_key)
                item.channel = channels[link.project_id] or ""
                layout.summary_keys[item.container] = summary_key(link.id)
    finally:
        bot.stop()  # disposes the engine: the server opens the database afresh


# The served bot ------------------------------------------------------------------------------

# `makersbot serve` exactly as production runs it (cli.main(["serve"]): the bot is built in
# the gunicorn master, the worker starts the sender, processor and poller in
# post_worker_init), with two differences: the bind address is 127.0.0.1 instead of
# 0.0.0.0 (nothing here listens beyond loopback), and the kernel SIGTERMs the server when
# the benchmark dies (PR_SET_PDEATHSIG), as bench/_common.py does for its servers.
_SERVE = (
    "import ctypes, os, signal, sys\n"
    "ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG\n"
    "if os.getppid() != int(sys.argv[1]): sys.exit(1)\n"
    "from makersbot import cli\n"
    "_init = cli._Gunicorn.__init__\n"
    "def _loopback(self, app, options):\n"
    "    options['bind'] = '127.0.0.1:' + os.environ['PORT']\n"
    "    _init(self, app, options)\n"
    "cli._Gunicorn.__init__ = _loopback\n"
    "sys.exit(cli.main(['serve']))\n"
)


class Serve(ServerProcess):
    """`makersbot serve` as a subprocess on a given 127.0.0.1 port; stops by itself."""

    def __init__(self, env: Mapping[str, str], workdir: Path, port: int) -> None:
        self.env = dict(env)
        self.workdir = workdir
        self.port = port
        self.log_path = workdir / "makersbot-serve.log"
        self._proc: subprocess.Popen[bytes] | None = None

    name = "makersbot serve"
    stop_timeout = 15.0

    def start(self, timeout: float = 60.0) -> Serve:
        with self.log_path.open("wb") as out:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", _SERVE, str(os.getpid())],
                cwd=self.workdir,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"makersbot serve exited early\n{self.log_tail()}")
            if self.health() is not None and self.worker_pids():
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"makersbot serve not ready in {timeout:.0f}s\n{self.log_tail()}")

    def health(self) -> dict[str, Any] | None:
        """GET /healthz as JSON, or None when the server does not answer 200."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request("GET", "/healthz")
            response = conn.getresponse()
            body = response.read()
            if response.status != 200:
                return None
            data = json.loads(body)
            return data if isinstance(data, dict) else None
        except (OSError, http.client.HTTPException, ValueError):
            return None
        finally:
            conn.close()

    def worker_pids(self) -> list[int]:
        return children_of(self.pid)

    def cpu_seconds(self) -> float:
        """User + system CPU time of the worker(s) so far."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for pid in self.worker_pids():
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
        return total

    def peak_rss_kib(self) -> tuple[int, int]:
        """(worker, master) VmHWM in KiB."""
        workers = self.worker_pids()
        return max((peak_rss_kib(pid) for pid in workers), default=0), peak_rss_kib(self.pid)

    def pss_kib(self) -> int:
        """Proportional set size of master + workers now, in KiB: pages they share after the
        fork are counted once (Pss in /proc/<pid>/smaps_rollup)."""
        total = 0
        for pid in [self.pid, *self.worker_pids()]:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        return total

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def log_problems(self) -> list[str]:
        """WARNING/ERROR lines and tracebacks in the server's log."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return []
        return [line for line in lines if re.search(r"WARNING|ERROR|CRITICAL|Traceback", line)]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# Load ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ack:
    """The answer to one delivery: status, body, and when the 2xx was read (time.time())."""

    delivery: Delivery
    status: int
    body: bytes
    at: float
    latency: float
    error: str = ""


@dataclass
class Sent:
    """Every delivery's answer, and the seconds spent inside bursts."""

    acks: list[Ack] = field(default_factory=list)
    busy: float = 0.0

    @property
    def rate(self) -> float:
        return len(self.acks) / self.busy if self.busy else float("nan")

    @property
    def span(self) -> float:
        """Seconds from the first 2xx to the last, pauses included."""
        return max(a.at for a in self.acks) - min(a.at for a in self.acks) if self.acks else 0.0


def send_burst(port: int, burst: Sequence[Delivery], items: Sequence[Item], lanes: int) -> Sent:
    """POST one burst from `lanes` keep-alive clients; client n sends the items of lane n,
    each item's deliveries in order, so they are stored in the order they happened."""
    by_lane: list[list[Delivery]] = [[] for _ in range(lanes)]
    for delivery in burst:
        by_lane[items[delivery.item].lane].append(delivery)
    acks: list[list[Ack]] = [[] for _ in range(lanes)]
    start = threading.Barrier(lanes + 1)

    def client(lane: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.connect()
        finally:
            start.wait()
        try:
            for delivery in by_lane[lane]:
                began = time.perf_counter()
                try:
                    conn.request(
                        "POST", delivery.path, body=delivery.body, headers=delivery.headers
                    )
                    response = conn.getresponse()
                    body = response.read()
                except (OSError, http.client.HTTPException) as exc:
                    conn.close()
                    ack = Ack(delivery, 0, b"", time.time(), time.perf_counter() - began, repr(exc))
                    acks[lane].append(ack)
                    continue
                now = time.time()
                acks[lane].append(
                    Ack(delivery, response.status, body, now, time.perf_counter() - began)
                )
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(lanes)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join(120)
    busy = time.perf_counter() - began
    if any(thread.is_alive() for thread in threads):
        raise RuntimeError(f"a client on port {port} did not finish its burst in 120 s")
    return Sent([ack for lane in acks for ack in lane], busy)


def send_all(
    port: int,
    bursts: Sequence[Sequence[Delivery]],
    items: Sequence[Item],
    *,
    lanes: int,
    pause: float,
    before_burst: Callable[[int], None] = lambda _n: None,
) -> Sent:
    """Every burst, with `pause` seconds between them (not counted in the rate)."""
    sent = Sent()
    for n, burst in enumerate(bursts):
        before_burst(n)
        one = send_burst(port, burst, items, lanes)
        sent.acks.extend(one.acks)
        sent.busy += one.busy
        if n < len(bursts) - 1:
            time.sleep(pause)
    return sent


def bad_acks(sent: Sent, expect: bytes) -> list[str]:
    """Answers that are not 200 with the expected body."""
    return [
        f"{ack.delivery.action}: {ack.error or f'{ack.status} {ack.body[:120]!r}'}"
        for ack in sent.acks
        if ack.error or ack.status != 200 or ack.body.strip() != expect
    ]


# Checking and measuring ----------------------------------------------------------------------

_DATE = re.compile(r"<!date\^(\d+)\^")


def shown_epoch(blocks: Any) -> int | None:
    """The time of the last change a living message shows (its context line's date)."""
    found = _DATE.findall(json.dumps(blocks))
    return int(found[-1]) if found else None


def _meta_key(args: Mapping[str, Any]) -> str:
    metadata = args.get("metadata") or {}
    payload = metadata.get("event_payload") if isinstance(metadata, dict) else None
    return str(payload.get("key", "")) if isinstance(payload, dict) else ""


def expected_summary_counts(layout: Layout, container: str) -> set[str]:
    items = [i for i in layout.items if i.container == container and i.opened]
    if items and items[0].source == "github":
        counts = Counter(i.state for i in items)
        return {f"{state} {n}" for state, n in counts.items()}
    return {f"{n_} {n}" for n_, n in Counter(i.state_words for i in items).items()}


def check_item(item: Item, message: Mapping[str, Any] | None) -> str | None:
    """Why the living message does not show the item's expected final state, or None."""
    from makersbot.render import escape

    if not item.opened:
        return None if message is None else "posted though never opened"
    if message is None:
        return "no message"
    blocks = message.get("blocks") or []
    try:
        headline = str(blocks[0]["text"]["text"])
        context = str(blocks[1]["elements"][0]["text"])
    except (IndexError, KeyError, TypeError):
        return f"unexpected blocks {str(blocks)[:200]}"
    if item.source == "github":
        marker = {"open": "🟢", "closed": "⚪", "merged": "🟣"}[item.state]
        want = f"{marker} <{item.url}|#{item.number} {escape(item.title)}>"
    else:
        want = f"{'📦' if item.archived else '🗂'} <{item.url}|{escape(item.title)}>"
    if headline != want:
        return f"headline {headline!r}, expected {want!r}"
    parts = context.split(" · ")
    kind = {"issue": "issue", "pr": "PR", "card": "card"}[item.kind]
    if parts[:3] != [escape(item.container_name), kind, escape(item.state_words)]:
        want = f"{item.container_name} · {kind} · {item.state_words}"
        return f"context {context[:160]!r}, expected {want!r}"
    labels = next((p.split(" ", 1)[1].split(", ") for p in parts if p.startswith("🏷")), [])
    if sorted(labels) != sorted(escape(label) for label in item.labels):
        return f"labels {labels}, expected {item.labels}"
    people = next((p.split(" ", 1)[1].split(", ") for p in parts if p.startswith("👤")), [])
    if sorted(people) != sorted(item.people):
        return f"people {people}, expected {item.people}"
    comments = next((int(p.split(" ", 1)[1]) for p in parts if p.startswith("💬")), 0)
    if comments != item.comments:
        return f"{comments} comments shown, expected {item.comments}"
    return None


@dataclass
class Outcome:
    """What one layout's run measured and found."""

    layout: Layout
    sent: Sent
    calls: list[Call]
    drained_in: float | None  # seconds from the last 2xx until the outbox was empty
    processed_in: float | None  # seconds from the last 2xx until no delivery was pending
    cpu: float
    problems: list[str]
    item_latency: list[float]  # per item: its last delivery's 2xx -> the final message
    delivery_latency: list[float]  # per delivery: 2xx -> first Slack call showing it (or later)
    kinds: Counter[str]
    threads_expected: int
    threads_posted: int
    lag_by_rank: list[tuple[int, float]]  # (rank of the item's first post, latency)
    injected: int = 0  # 429s the fake was told to answer during this layout
    during: Counter[str] = field(default_factory=Counter)  # calls before the last 2xx, by kind
    first_item_post: float = math.nan  # seconds from the first 2xx to the first item message


def pending_deliveries(db_path: Path) -> tuple[int, int]:
    """(unprocessed, failed) deliveries, read straight from the SQLite file."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        pending = conn.execute(
            "SELECT count(*) FROM delivery WHERE processed_at IS NULL"
        ).fetchone()
        failed = conn.execute("SELECT count(*) FROM delivery WHERE error IS NOT NULL").fetchone()
        return int(pending[0]), int(failed[0])
    finally:
        conn.close()


def wait_drained(
    serve: Serve, db_path: Path, since: float, timeout: float
) -> tuple[float | None, float | None]:
    """Poll until no delivery is pending and the outbox is empty (bounded by `timeout`).

    Returns (processed_in, drained_in) in seconds after `since`, None when not reached.
    """
    processed_in = drained_in = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pending, _ = pending_deliveries(db_path)
        if pending == 0 and processed_in is None:
            processed_in = time.time() - since
        health = serve.health() or {}
        if pending == 0 and health.get("outbox_depth") == 0:
            drained_in = time.time() - since
            break
        time.sleep(0.25)
    return processed_in, drained_in


def analyse(
    layout: Layout,
    sent: Sent,
    fake: FakeSlack,
    calls: list[Call],
    all_calls: list[Call],
    cpu: float,
    timings: tuple[float | None, float | None],
) -> Outcome:
    """Correctness and latency of one layout from what the fake Slack received and holds."""
    items = layout.items
    problems: list[str] = []
    channels = sorted({item.channel for item in items})
    messages = {ch: fake.messages(ch) for ch in channels}
    by_key: dict[str, list[dict[str, Any]]] = defaultdict(list)
    ts_key: dict[tuple[str, str], str] = {}
    for ch, held in messages.items():
        for message in held:
            key = _meta_key(message)
            if key:
                by_key[key].append(message)
                ts_key[ch, str(message["ts"])] = key
    # Nothing posted twice: each outbox key in exactly one successful chat.postMessage.
    posts = Counter(
        _meta_key(c.args) for c in all_calls if c.method == "chat.postMessage" and not c.failed
    )
    twice = sorted(key for key, n in posts.items() if n > 1 and key)
    if twice:
        problems.append(f"{len(twice)} message(s) posted twice, e.g. {twice[:3]}")
    # What each call was.
    kinds: Counter[str] = Counter()
    during: Counter[str] = Counter()
    first_ack, last_ack_at = min(a.at for a in sent.acks), max(a.at for a in sent.acks)
    first_item_post = math.nan
    item_keys = {item.message_key: n for n, item in enumerate(items)}
    summary_keys = set(layout.summary_keys.values())
    shown: dict[int, list[tuple[float, int]]] = defaultdict(list)  # item -> (at, epoch shown)
    for call in calls:
        if call.failed:
            kinds[f"429 {call.method}"] += 1
            continue
        if call.method == "chat.postMessage":
            key = _meta_key(call.args)
            what = "thread reply" if call.args.get("thread_ts") else "post"
        elif call.method == "chat.update":
            key = ts_key.get((str(call.args.get("channel")), str(call.args.get("ts"))), "")
            what = "update"
        else:
            kinds[call.method] += 1
            continue
        if key in item_keys and what != "thread reply":
            kind = f"item {what}"
            epoch = shown_epoch(call.args.get("blocks"))
            if epoch is not None:
                shown[item_keys[key]].append((call.at, epoch))
            if what == "post":
                first_item_post = min(call.at - first_ack, first_item_post, key=_nan_last)
        elif key in summary_keys:
            kind = f"summary {what}"
        else:
            kind = what if what == "thread reply" else f"other {what}"
        kinds[kind] += 1
        if call.at <= last_ack_at:
            during[kind] += 1
    # The final state of every item and board summary.
    for item in items:
        held = by_key.get(item.message_key, [])
        top = [m for m in held if m.get("thread_ts") in (None, m["ts"])]
        if len(top) > 1:
            problems.append(f"{item.item_key}: {len(top)} messages in the channel")
        why = check_item(item, top[-1] if top else None)
        if why:
            problems.append(f"{item.item_key}: {why}")
    for container, key in layout.summary_keys.items():
        held = by_key.get(key, [])
        if len(held) != 1:
            problems.append(f"summary {key}: {len(held)} messages")
            continue
        first = str(held[0]["blocks"][0]["text"]["text"]).split("\n")[0]
        counts = set(first.split(" — ", 1)[-1].split(" · "))
        want = expected_summary_counts(layout, container)
        if counts != want:
            problems.append(f"summary {key}: counts {sorted(counts)}, expected {sorted(want)}")
    # Thread replies: one per state change and comment, when the link has them on.
    expected_threads = sum(1 for ack in sent.acks if ack.delivery.thread) if layout.threads else 0
    replies = Counter(
        call.args.get("thread_ts")
        for call in calls
        if call.method == "chat.postMessage" and not call.failed and call.args.get("thread_ts")
    )
    posted_threads = sum(replies.values())
    if posted_threads != expected_threads:
        problems.append(f"{posted_threads} thread replies posted, expected {expected_threads}")
    # Latency: from a delivery's 2xx to the first item call showing that change or a later one.
    delivery_latency: list[float] = []
    last_ack: dict[int, Ack] = {}
    for ack in sent.acks:
        index = ack.delivery.item
        if index not in last_ack or ack.delivery.seq > last_ack[index].delivery.seq:
            last_ack[index] = ack
        seen = next((at for at, e in sorted(shown[index]) if e >= ack.delivery.epoch), None)
        if seen is None:
            problems.append(f"{items[index].item_key}: change {ack.delivery.seq} never shown")
            continue
        delivery_latency.append(max(0.0, seen - ack.at))
    item_latency: list[float] = []
    lag_by_rank: list[tuple[int, float]] = []
    rank = {key: n for n, key in enumerate(sorted(item_keys, key=_message_order(fake, items)))}
    for index, ack in last_ack.items():
        seen = next((at for at, e in sorted(shown[index]) if e >= ack.delivery.epoch), None)
        if seen is not None:
            item_latency.append(max(0.0, seen - ack.at))
            lag_by_rank.append((rank[items[index].message_key], max(0.0, seen - ack.at)))
    return Outcome(
        layout=layout,
        sent=sent,
        calls=calls,
        drained_in=timings[1],
        processed_in=timings[0],
        cpu=cpu,
        problems=problems,
        item_latency=item_latency,
        delivery_latency=delivery_latency,
        kinds=kinds,
        threads_expected=expected_threads,
        threads_posted=posted_threads,
        lag_by_rank=sorted(lag_by_rank),
        during=during,
        first_item_post=first_item_post,
    )


def _nan_last(value: float) -> float:
    return math.inf if math.isnan(value) else value


def _message_order(fake: FakeSlack, items: Sequence[Item]) -> Callable[[str], str]:
    """Sort key: when each item's message was first posted (its ts)."""
    first: dict[str, str] = {}
    for channel in {item.channel for item in items}:
        for message in fake.messages(channel):
            first.setdefault(_meta_key(message), str(message["ts"]))
    return lambda key: first.get(key, "9")


def run_layout(
    layout: Layout,
    plan: Sequence[Delivery],
    serve: Serve,
    fake: FakeSlack,
    db_path: Path,
    args: argparse.Namespace,
) -> tuple[Outcome, list[str]]:
    """Send a layout's bursts to the served bot, inject 429s, wait, analyse."""
    start_calls = len(fake.calls())
    cpu_before = serve.cpu_seconds()
    rate_limited = {2, 5, 8}  # before these bursts the fake's next chat.update answers 429
    injected = 0

    def before_burst(n: int) -> None:
        nonlocal injected
        if n in rate_limited:
            fake.fail_next("chat.update", 429, retry_after=1)
            injected += 1
        if n == 6:
            fake.fail_next("chat.postMessage", 429, retry_after=1)
            injected += 1

    bursts = bursts_of(plan, args.bursts)
    sent = send_all(
        serve.port,
        bursts,
        layout.items,
        lanes=args.concurrency,
        pause=args.pause,
        before_burst=before_burst,
    )
    last = max(ack.at for ack in sent.acks)
    timings = wait_drained(serve, db_path, last, args.drain_timeout)
    time.sleep(0.3)  # let a call in flight land in the fake's record
    cpu = serve.cpu_seconds() - cpu_before
    all_calls = fake.calls()
    problems = bad_acks(sent, b"ok")
    outcome = analyse(layout, sent, fake, all_calls[start_calls:], all_calls, cpu, timings)
    outcome.injected = injected
    if timings[1] is None:
        outcome.problems.insert(
            0, f"outbox not drained {args.drain_timeout:.0f} s after the last 2xx"
        )
    return outcome, problems


# Report ----------------------------------------------------------------------------------------


def secs(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.1f}"


def report(
    args: argparse.Namespace,
    floor: Sent,
    outcomes: Sequence[Outcome],
    rss: tuple[int, int, int],
    floor_rss: int,
    injected: int,
    log_problems: Sequence[str],
    seeded_in: float,
    api_calls: int,
) -> None:
    print(
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}; `makersbot serve` (gunicorn "
        f"gthread 1 worker x 8 threads, sender + processor + poller in the worker); "
        f"{args.deliveries} deliveries per layout in {args.bursts} bursts from "
        f"{args.concurrency} clients, {args.pause:g} s apart; seeded in {seeded_in:.1f} s"
    )
    print(
        f"floor (bare Flask, HMAC only): {floor.rate:.0f} deliveries/s, "
        f"p50 {percentile([a.latency for a in floor.acks], 50) * 1000:.1f} ms "
        f"p99 {percentile([a.latency for a in floor.acks], 99) * 1000:.1f} ms per request"
    )
    for out in outcomes:
        lay, sent = out.layout, out.sent
        channels = len({i.channel for i in lay.items})
        total = len(out.calls)
        breakdown = ", ".join(f"{kind} {n}" for kind, n in sorted(out.kinds.items()))
        lat_d, lat_i = out.delivery_latency, out.item_latency
        acks = [a.latency for a in sent.acks]
        print(
            f"\n[{lay.name}] {len(lay.items)} items in {channels} channel(s), thread replies "
            f"{'on' if lay.threads else 'off'}"
        )
        print(
            f"  accepted: {sent.rate:.0f} deliveries/s ({sent.rate / floor.rate:.2f}x the floor); "
            f"request p50 {percentile(acks, 50) * 1000:.1f} ms p99 "
            f"{percentile(acks, 99) * 1000:.1f} ms; worker CPU {out.cpu:.1f} s "
            f"({out.cpu / len(sent.acks) * 1000:.1f} ms per delivery)"
        )
        print(
            f"  all processed {secs(out.processed_in or float('nan'))} s and outbox drained "
            f"{secs(out.drained_in or float('nan'))} s after the last 2xx"
        )
        print(
            f"  delivery 2xx -> first Slack call showing it: p50 {secs(percentile(lat_d, 50))} s "
            f"p99 {secs(percentile(lat_d, 99))} s (n={len(lat_d)})"
        )
        print(
            f"  item's last delivery 2xx -> its final message: p50 {secs(percentile(lat_i, 50))} s "
            f"p99 {secs(percentile(lat_i, 99))} s max {secs(max(lat_i, default=float('nan')))} s "
            f"(n={len(lat_i)})"
        )
        if out.lag_by_rank:
            firsts = ", ".join(f"{lag:.0f}" for _, lag in out.lag_by_rank[:5])
            lasts = ", ".join(f"{lag:.0f}" for _, lag in out.lag_by_rank[-5:])
            print(f"  final-message lag by posting order (s): first items {firsts} … last {lasts}")
        print(
            f"  Slack calls: {total} = {total / len(sent.acks):.3f} per delivery; {breakdown}; "
            f"thread replies {out.threads_posted}/{out.threads_expected} expected"
        )
        while_sending = ", ".join(f"{kind} {n}" for kind, n in sorted(out.during.items()))
        print(
            f"  while the bursts were arriving ({secs(sent.span)} s): {while_sending or 'none'}; "
            f"first item message {secs(out.first_item_post)} s after the first 2xx"
        )
        if not lay.threads:
            notes = Counter(
                lay.items[a.delivery.item].channel for a in sent.acks if a.delivery.thread
            )
            n = sum(notes.values())
            print(
                f"  with thread replies on (the default) the same deliveries add {n} posts "
                f"(+{n / len(sent.acks):.2f} per delivery), {max(notes.values(), default=0)} in "
                f"the busiest channel: at ~1 post/s that many seconds more"
            )
        print(f"  correctness: {'OK' if not out.problems else f'{len(out.problems)} problem(s)'}")
        for problem in out.problems[:10]:
            print(f"    {problem}")
    worker, master, pss = rss
    n429 = sum(n for out in outcomes for kind, n in out.kinds.items() if kind.startswith("429"))
    print(
        f"\n429s: {injected} injected, {n429} answered (Retry-After: 1); GitHub/Trello API calls "
        f"by the server: {api_calls}; peak RSS (VmHWM) worker {mb(worker)} MB, master "
        f"{mb(master)} MB; PSS master+worker at the end {mb(pss)} MB; floor worker "
        f"{mb(floor_rss)} MB; server log warnings/errors {len(log_problems)}"
    )
    for line in log_problems[:5]:
        print(f"  log: {line[:200]}")
    for out in outcomes:
        ratio = out.sent.rate / floor.rate
        calls = len(out.calls) / len(out.sent.acks)
        print(
            f"goal [{out.layout.name}]: accepted >= {GOAL_RATE}x floor: "
            f"{'met' if ratio >= GOAL_RATE else 'missed'} ({ratio:.2f}x); Slack calls per delivery "
            f"<= {GOAL_CALLS}: {'met' if calls <= GOAL_CALLS else 'missed'} ({calls:.3f}); "
            f"final state 100% correct: {'met' if not out.problems else 'missed'}"
        )


# Main ------------------------------------------------------------------------------------------


def measure(args: argparse.Namespace) -> int:
    """Seed, serve, send the floor then every layout, check, report."""
    from makersbot.settings import Settings
    from tests.fakes.github import FakeGitHub
    from tests.fakes.slack import FakeSlack
    from tests.fakes.trello import FakeTrello

    rng = random.Random(args.seed)
    layouts = [
        make_layout(name, concurrency=args.concurrency, number=n + 1)
        for n, name in enumerate(args.layouts)
    ]
    plans = {
        lay.name: Planner(lay, random.Random(args.seed)).plan(args.deliveries) for lay in layouts
    }
    warm = make_layout("warm", concurrency=args.concurrency)
    warm_plan = Planner(warm, rng).plan(args.warmup)
    with (
        temp_dir("makersbot-bench-mirror-") as tmp,
        FakeSlack() as fake,
        FakeGitHub() as github,
        FakeTrello(api_key=TRELLO_KEY, token=TRELLO_TOKEN) as trello,
    ):
        workdir = Path(tmp)
        db_path = workdir / "bench.db"
        port = free_port()
        env = settings_env(
            fake.base_url, github.base_url, trello.base_url, f"sqlite:///{db_path}", port
        )
        began = time.perf_counter()
        seed(env, layouts, github, trello)
        seeded_in = time.perf_counter() - began
        api_before = len(github.requests) + len(trello.requests)
        server_env = clean_env(drop=list(Settings.model_fields), **env)
        problems: list[str] = []
        # `makersbot serve`'s own settings (makersbot/cli.py): one gthread worker x 8 threads.
        serve_like = Gunicorn(workers=1)
        bare = Server(
            "bare", "bench._common:bare_webhook_app()", server_env, workdir, gunicorn=serve_like
        )
        with bare:
            problems += bad_acks(
                send_all(bare.port, [warm_plan], warm.items, lanes=args.concurrency, pause=0),
                b"ok",
            )
            floor = send_all(
                bare.port,
                bursts_of(plans[layouts[0].name], args.bursts),
                layouts[0].items,
                lanes=args.concurrency,
                pause=min(args.pause, 0.2),
            )
            problems += [f"floor: {p}" for p in bad_acks(floor, b"ok")]
            floor_rss = bare.peak_rss_kib()
        outcomes = []
        with Serve(server_env, workdir, port) as serve:
            warm_sent = send_all(port, [warm_plan], warm.items, lanes=args.concurrency, pause=0)
            problems += [f"warm-up: {p}" for p in bad_acks(warm_sent, b"ok")]
            wait_drained(serve, db_path, time.time(), 30)
            for layout in layouts:
                outcome, bad = run_layout(layout, plans[layout.name], serve, fake, db_path, args)
                outcomes.append(outcome)
                problems += [f"{layout.name}: {p}" for p in bad]
            rss = (*serve.peak_rss_kib(), serve.pss_kib())
            _, failed = pending_deliveries(db_path)
            if failed:
                problems.append(f"{failed} deliveries failed processing (delivery.error set)")
            log_problems = serve.log_problems()
        api_calls = len(github.requests) + len(trello.requests) - api_before
        injected = sum(out.injected for out in outcomes)
    report(args, floor, outcomes, rss, floor_rss, injected, log_problems, seeded_in, api_calls)
    for problem in problems[:10]:
        print(f"  error: {problem}")
    if len(problems) > 10:
        print(f"  …and {len(problems) - 10} more")
    wrong = problems or any(out.problems for out in outcomes)
    return 1 if wrong else 0


def layout_names(text: str) -> list[str]:
    """`--layouts`: known names, each once."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in LAYOUTS]
    if unknown or not names or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"use distinct names among {', '.join(LAYOUTS)}")
    return names


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=2000, help="per layout")
    parser.add_argument("--bursts", type=int, default=10, help="bursts per layout")
    parser.add_argument("--concurrency", type=int, default=8, help="clients in flight")
    parser.add_argument("--pause", type=float, default=1.0, help="seconds between bursts")
    parser.add_argument("--warmup", type=int, default=48, help="deliveries to unlinked items")
    parser.add_argument(
        "--layouts",
        type=layout_names,
        default=["one", "spread"],
        help=f"comma-separated, run in turn: {', '.join(LAYOUTS)} (default: one,spread)",
    )
    parser.add_argument("--drain-timeout", type=float, default=120.0, help="seconds per layout")
    parser.add_argument("--seed", type=int, default=7, help="random seed of the plan")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    # SIGTERM (run_all's timeout) unwinds like Ctrl-C: servers stop, temporary files go.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    return measure(args)


if __name__ == "__main__":
    sys.exit(main())
