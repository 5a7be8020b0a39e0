"""GitHub deliveries of the plan: the next change to an issue or PR, its expected state, and
the signed `issues` / `pull_request` / `issue_comment` payload GitHub would send.

Payloads start from octokit's fixtures in tests/fixtures with our own values; every
delivery carries a strictly increasing `updated_at` per item.
"""

from __future__ import annotations

import copy
import json
import random
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bench._mirror.layout import COMMENTS, GITHUB_SECRET, PEOPLE, Delivery, Item, fixture, iso

GITHUB_LABELS = (
    "bug",
    "enhancement",
    "accessibility",
    "good first issue",
    "needs research",
    "blocked",
    "security",
)
# Changes the mirror also notes in the item's thread (when the link has thread replies on).
THREADED = ("opened", "closed", "reopened", "merged", "comment")

Choice = tuple[str, float]


class GitHubPlanner:
    """Plans one issue/PR delivery at a time and keeps the item's expected state."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.issue_base = fixture("github/octokit/issues/opened.payload.json")
        self.pull_base = fixture("github/octokit/pull_request/opened.payload.json")
        self.comment_base = fixture("github/octokit/issue_comment/created.payload.json")
        self.user_base = self.issue_base["issue"]["user"]
        self.merged_at: dict[int, str] = {}  # item index -> when its PR was merged

    def delivery(self, index: int, item: Item, seq: int, when: datetime) -> Delivery:
        """The next change to `item` (Layout.items[index]), as change number `seq`."""
        from tests.fakes.signing import github_headers

        action = self._choose(item)
        updated = iso(when)
        sender = self.rng.choice(PEOPLE)
        extra = self._change(index, item, action, updated)
        event, payload = self._payload(index, item, action, seq, updated, sender)
        payload["repository"] = self._repository(payload["repository"], item.container)
        payload["sender"] = self._user(sender)
        payload.update(extra)
        body = json.dumps(payload).encode()
        headers = github_headers(GITHUB_SECRET, body, event, str(uuid.uuid4()))
        name = f"{event}.{payload['action']}" + (" (merged)" if action == "merged" else "")
        return Delivery(index, seq, name, "/github/webhook", body, headers, action in THREADED)

    def _choose(self, item: Item) -> str:
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

    def _change(self, index: int, item: Item, action: str, updated: str) -> dict[str, Any]:
        """Apply `action` to the item's expected state; returns the payload fields it adds."""
        rng = self.rng
        extra: dict[str, Any] = {}
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
            extra["changes"] = {"title": {"from": item.rename()}}
        elif action == "comment":
            item.comments += 1
        elif action in ("closed", "reopened"):
            item.state = "closed" if action == "closed" else "open"
        elif action == "merged":
            item.state = "merged"
            self.merged_at[index] = updated
        elif action == "review_requested":
            extra["requested_reviewer"] = self._user(rng.choice(PEOPLE))
        return extra

    def _payload(
        self, index: int, item: Item, action: str, seq: int, updated: str, sender: str
    ) -> tuple[str, dict[str, Any]]:
        """(event name, payload) for the change, before repository and sender are set."""
        if action == "comment":
            return "issue_comment", self._comment(index, item, seq, updated, sender)
        if item.kind == "pr":
            payload = copy.deepcopy(self.pull_base)
            payload["action"] = "closed" if action == "merged" else action
            payload["number"] = item.number
            pull = payload["pull_request"]
            self._item_fields(item, updated, pull)
            merged_at = self.merged_at.get(index)
            pull.update(merged=merged_at is not None, merged_at=merged_at)
            return "pull_request", payload
        payload = copy.deepcopy(self.issue_base)
        payload["action"] = action
        self._item_fields(item, updated, payload["issue"])
        payload["issue"]["state_reason"] = "completed" if item.state == "closed" else None
        return "issues", payload

    def _comment(
        self, index: int, item: Item, seq: int, updated: str, sender: str
    ) -> dict[str, Any]:
        payload = copy.deepcopy(self.comment_base)
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
            body=self.rng.choice(COMMENTS),
            created_at=updated,
            updated_at=updated,
            html_url=f"{item.url}#issuecomment-{seq}",
            id=seq + 1,
        )
        payload["comment"]["user"] = self._user(sender)
        return payload

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
