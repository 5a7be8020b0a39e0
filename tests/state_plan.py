"""Deliveries for the state-order tests: GitHub issues and Trello cards changed one step at a
time, each step a signed webhook delivery, with the true final state kept alongside.

Payloads start from the real fixtures (octokit's `issues` and `issue_comment`, Zulip's Trello
actions) with our own values. Change n of a plan happens at BASE + n seconds, so every
delivery of an item carries a later `updated_at` (GitHub) or `date` (Trello) than the one
before; applying them in another order must still end in the true state.
"""

from __future__ import annotations

import copy
import itertools
import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.mirror_helpers import BOARD, REPO, fixture, github_delivery, lower, trello_delivery

BASE = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
PEOPLE = ("amara", "ben", "chloe", "dev")
LABELS = ("bug", "accessibility", "research", "blocked")
LISTS = ("To do", "Doing", "Review", "Done")
_ACTION_IDS = itertools.count(1)  # Trello action ids are unique across every plan


@dataclass(frozen=True)
class Signed:
    """One webhook delivery, ready for `DeliveryService.accept`."""

    source: str  # "github" or "trello"
    headers: dict[str, str]
    body: bytes
    item: str  # the item key it changes
    step: str


@dataclass
class Truth:
    """What an item really is after the steps planned so far."""

    key: str
    title: str
    state: str = "open"  # GitHub: open / closed; Trello: the card's list
    closed: bool = False
    labels: set[str] = field(default_factory=set)
    people: set[str] = field(default_factory=set)
    comments: int = 0
    due: datetime | None = None
    opened: bool = False

    def shown(self) -> tuple[Any, ...]:
        """The fields compared with a mirrored row (see `row_state`)."""
        return (
            self.title,
            self.state,
            self.closed,
            sorted(self.labels),
            sorted(self.people),
            self.comments,
            self.due,
        )


def row_state(row: Any) -> tuple[Any, ...]:
    """A mirrored row's fields as `Truth.shown` lists them."""
    return (
        row.title,
        row.state,
        row.closed,
        sorted(row.labels),
        sorted(row.people),
        row.comments,
        row.due,
    )


def at(step: int) -> datetime:
    return BASE + timedelta(seconds=step)


def _iso(moment: datetime, millis: bool = False) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + (".000Z" if millis else "Z")


# GitHub -------------------------------------------------------------------------------------


def _user(login: str) -> dict[str, Any]:
    user: dict[str, Any] = copy.deepcopy(fixture("github/octokit/issues/opened.payload.json"))
    return {**user["sender"], "login": login, "type": "User"}


def _label(name: str) -> dict[str, Any]:
    return {"id": len(name), "name": name, "color": "ededed", "default": False}


class Issue:
    """One GitHub issue; each method plans one delivery and updates the truth."""

    def __init__(self, number: int, title: str) -> None:
        self.number = number
        self.truth = Truth(key=f"github:{REPO.lower()}#{number}", title=title)

    def _issue(self, when: datetime) -> dict[str, Any]:
        t = self.truth
        return {
            "number": self.number,
            "title": t.title,
            "html_url": f"https://github.com/{REPO}/issues/{self.number}",
            "state": t.state,
            "state_reason": "completed" if t.closed else None,
            "updated_at": _iso(when),
            "closed_at": _iso(when) if t.closed else None,
            "labels": [_label(name) for name in sorted(t.labels)],
            "assignees": [_user(login) for login in sorted(t.people)],
            "comments": t.comments,
            "user": _user("octocat"),
        }

    def _issues(self, action: str, when: datetime, **extra: Any) -> Signed:
        payload = copy.deepcopy(fixture("github/octokit/issues/opened.payload.json"))
        payload.update(action=action, issue=self._issue(when), sender=_user("octocat"), **extra)
        body, headers = github_delivery("issues", payload)
        return Signed("github", lower(headers), body, self.truth.key, f"issues.{action}")

    def step(self, name: str, when: datetime, rng: random.Random) -> Signed:
        """Plan `name` (opened, edited, labeled, unlabeled, assigned, closed, reopened,
        comment) at `when`."""
        t = self.truth
        if name == "opened":
            t.opened = True
            return self._issues("opened", when)
        if name == "edited":
            old, t.title = t.title, f"{t.title.split(' (')[0]} ({when.second})"
            return self._issues("edited", when, changes={"title": {"from": old}})
        if name in ("labeled", "unlabeled"):
            choice = rng.choice(sorted(set(LABELS) - t.labels if name == "labeled" else t.labels))
            (t.labels.add if name == "labeled" else t.labels.discard)(choice)
            return self._issues(name, when, label=_label(choice))
        if name == "assigned":
            login = rng.choice(sorted(set(PEOPLE) - t.people))
            t.people.add(login)
            return self._issues(name, when, assignee=_user(login))
        if name in ("closed", "reopened"):
            t.closed = name == "closed"
            t.state = "closed" if t.closed else "open"
            return self._issues(name, when)
        return self.comment(when)

    def comment(self, when: datetime) -> Signed:
        self.truth.comments += 1
        payload = copy.deepcopy(fixture("github/octokit/issue_comment/created.payload.json"))
        payload["issue"] = self._issue(when)
        payload["comment"].update(body=f"Comment {self.truth.comments}", created_at=_iso(when))
        payload["sender"] = _user("ben")
        body, headers = github_delivery("issue_comment", payload)
        return Signed("github", lower(headers), body, self.truth.key, "issue_comment.created")

    def choices(self) -> list[str]:
        t = self.truth
        if not t.opened:
            return ["opened"]
        names = ["edited", "comment", "comment", "reopened" if t.closed else "closed"]
        names += ["labeled"] if len(t.labels) < len(LABELS) else []
        names += ["unlabeled"] if t.labels else []
        names += ["assigned"] if len(t.people) < len(PEOPLE) else []
        return names


# Trello -------------------------------------------------------------------------------------


def _action(name: str) -> dict[str, Any]:
    action = fixture(f"trello/zulip/{name}.json")["action"]
    assert isinstance(action, dict)
    return copy.deepcopy(action)


def _list(name: str) -> dict[str, str]:
    return {"name": name, "id": f"{LISTS.index(name) + 1:024x}"}


class Card:
    """One Trello card; each method plans one action and updates the truth."""

    def __init__(self, number: int, title: str) -> None:
        self.number = number
        self.card_id = f"c0ffee{number:018x}"
        self.truth = Truth(key=f"trello:{self.card_id}", title=title, state="")

    def _signed(self, fixture_name: str, when: datetime, step: str, **data: Any) -> Signed:
        action = _action(fixture_name)
        # Like Trello's ids (MongoDB ObjectIds): 4 bytes of time first.
        action["id"] = f"{int(when.timestamp()):08x}{next(_ACTION_IDS):016x}"
        action["date"] = _iso(when, millis=True)
        card = {
            "id": self.card_id,
            "idShort": self.number,
            "shortLink": f"sl{self.number:06d}",
            "name": self.truth.title,
        }
        old_data = action["data"]
        action["data"] = {"board": {**old_data["board"], "id": BOARD}, "card": card, **data}
        body, headers = trello_delivery({"model": {"id": BOARD}, "action": action})
        return Signed("trello", lower(headers), body, self.truth.key, step)

    def step(self, name: str, when: datetime, rng: random.Random) -> Signed:
        """Plan `name` (created, moved, renamed, archived, unarchived, commented, labeled,
        unlabeled, joined, left, due) at `when`."""
        t = self.truth
        if name == "created":
            t.opened, t.state = True, rng.choice(LISTS[:2])
            return self._signed("trello_creating_card", when, name, list=_list(t.state))
        if name == "moved":
            before, t.state = t.state, rng.choice([n for n in LISTS if n != t.state])
            moves = {"listBefore": _list(before), "listAfter": _list(t.state)}
            was = {"idList": _list(before)["id"]}
            return self._signed("changing_cards_list", when, name, old=was, **moves)
        if name == "renamed":
            old, t.title = t.title, f"{t.title.split(' (')[0]} ({when.second})"
            return self._signed("trello_renaming_card", when, name, old={"name": old})
        if name in ("archived", "unarchived"):
            t.closed = name == "archived"
            signed = self._signed("archiving_card", when, name, old={"closed": not t.closed})
            return self._with_card(signed, closed=t.closed)
        if name == "commented":
            t.comments += 1
            return self._signed("adding_comment_to_card", when, name, text=f"Note {t.comments}")
        if name in ("labeled", "unlabeled"):
            return self._label(name, when, rng)
        if name in ("joined", "left"):
            return self._member(name, when, rng)
        t.due = at(86_400 * rng.randint(1, 30)).replace(hour=10, second=0)
        signed = self._signed("setting_due_date_to_card", when, name, old={"due": None})
        return self._with_card(signed, due=_iso(t.due, millis=True))

    def _with_card(self, signed: Signed, **card: Any) -> Signed:
        payload = json.loads(signed.body)
        payload["action"]["data"]["card"].update(card)
        body, headers = trello_delivery(payload)
        return Signed("trello", lower(headers), body, signed.item, signed.step)

    def _label(self, name: str, when: datetime, rng: random.Random) -> Signed:
        t = self.truth
        choice = rng.choice(sorted(set(LABELS) - t.labels if name == "labeled" else t.labels))
        (t.labels.add if name == "labeled" else t.labels.discard)(choice)
        label = {"id": f"{LABELS.index(choice) + 1:024x}", "name": choice, "color": "green"}
        kind = "adding_label_to_card" if name == "labeled" else "trello_removing_label_from_card"
        return self._signed(kind, when, name, label=label, text=choice)

    def _member(self, name: str, when: datetime, rng: random.Random) -> Signed:
        t = self.truth
        who = rng.choice(sorted(set(PEOPLE) - t.people if name == "joined" else t.people))
        (t.people.add if name == "joined" else t.people.discard)(who)
        kind = "trello_adding_member_to_card" if name == "joined" else "removing_member_from_card"
        signed = self._signed(kind, when, name, idMember=f"{len(who):024x}")
        payload = json.loads(signed.body)
        payload["action"]["member"] = {"id": f"{len(who):024x}", "username": who}
        body, headers = trello_delivery(payload)
        return Signed("trello", lower(headers), body, signed.item, signed.step)

    def choices(self) -> list[str]:
        t = self.truth
        if not t.opened:
            return ["created"]
        names = ["moved", "moved", "renamed", "commented", "commented", "due"]
        names += ["unarchived" if t.closed else "archived"]
        names += ["labeled"] if len(t.labels) < len(LABELS) else []
        names += ["unlabeled"] if t.labels else []
        names += ["joined"] if len(t.people) < len(PEOPLE) else []
        names += ["left"] if t.people else []
        return names


Item = Issue | Card


def random_plan(
    items: list[Item], count: int, rng: random.Random, first_step: int = 0
) -> list[Signed]:
    """`count` deliveries, each the next change to a random item, in the order they happen."""
    plan = []
    for n in range(count):
        item = rng.choice(items)
        plan.append(item.step(rng.choice(item.choices()), at(first_step + n), rng))
    return plan
