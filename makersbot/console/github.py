"""GitHub played in-process for the offline console.

`ConsoleGitHub` answers the gateway calls `/makers link` makes (the repository, creating and
deleting its webhook, the first look at its issues) from a few repositories held in memory,
and plays GitHub's side: opening, merging, closing, commenting on, reviewing and forking
sends a webhook body built from the same JSON shapes GitHub sends, signed with the hook's
secret, to the bot's own intake (`DeliveryService.accept_github`). From there on everything
is the production path: stored, processed, mirrored, credited.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from integrations.changes import IntegrationError
from integrations.github.gateway import IssuePoll, RepoInfo
from integrations.github.items import item_from_issue

Clock = Callable[[], datetime]
Advance = Callable[[timedelta], None]
# What GitHub's POST reaches: the bot's intake, answering (HTTP status, reason).
Intake = Callable[[Mapping[str, str], bytes], tuple[int, str]]

# (full name, description, existing issues: (title, labels, open)).
DEFAULT_REPOS: tuple[tuple[str, str, tuple[tuple[str, tuple[str, ...], bool], ...]], ...] = (
    (
        "localgov-makers/bin-day-reminders",
        "Reminds residents which bin goes out when",
        (
            ("Add Welsh translations", ("good first issue",), True),
            ("Set up the project", (), False),
        ),
    ),
    (
        "localgov-makers/parking-permits",
        "Apply for and renew a residents' parking permit",
        (("Accessible date picker", ("help wanted",), True),),
    ),
    ("localgov-makers/tree-survey", "Record street trees and their condition", ()),
)


@dataclass(frozen=True)
class Hook:
    id: str
    url: str
    secret: str
    events: tuple[str, ...]


@dataclass
class Repo:
    """A repository: its issues and pull requests as GitHub's JSON, and its webhooks."""

    full_name: str
    description: str = ""
    issues: dict[int, dict[str, Any]] = field(default_factory=dict)
    hooks: dict[str, Hook] = field(default_factory=dict)

    @property
    def html_url(self) -> str:
        return f"https://github.com/{self.full_name}"

    def json(self) -> dict[str, Any]:
        owner = self.full_name.split("/")[0]
        return {
            "full_name": self.full_name,
            "name": self.full_name.split("/")[1],
            "html_url": self.html_url,
            "private": False,
            "owner": {"login": owner, "type": "Organization"},
        }


@dataclass(frozen=True)
class Happened:
    """What was done on GitHub, and what each webhook delivery was answered."""

    what: str
    answers: tuple[tuple[int, str], ...]


def user(login: str) -> dict[str, Any]:
    return {"login": login, "type": "Bot" if login.endswith("[bot]") else "User"}


def stamp(moment: datetime) -> str:
    """GitHub's time format: UTC, whole seconds, `Z`."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def sign(secret: str, body: bytes) -> str:
    """`X-Hub-Signature-256`, as GitHub computes it."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class ConsoleGitHub:
    """A handful of repositories, the gateway calls the bot makes, and GitHub's webhooks."""

    def __init__(
        self,
        intake: Intake,
        clock: Clock,
        advance: Advance | None = None,
        repos: Iterable[tuple[str, str, Sequence[tuple[str, tuple[str, ...], bool]]]] = (
            DEFAULT_REPOS
        ),
    ) -> None:
        self.intake = intake
        self.clock = clock
        self.advance = advance
        self.repos: dict[str, Repo] = {}
        self._hook_ids = iter(range(1, 1_000_000))
        self._last: datetime | None = None
        # The issues a repository already had: a month old, so none of them is news.
        earlier = clock().replace(microsecond=0) - timedelta(days=30)
        for full_name, description, issues in repos:
            repo = Repo(full_name, description)
            self.repos[full_name.lower()] = repo
            for n, (title, labels, still_open) in enumerate(issues):
                at = stamp(earlier + timedelta(minutes=n))
                issue = self._new_issue(repo, title, "maintainer", labels=labels, pr=False, at=at)
                if not still_open:
                    issue.update(state="closed", state_reason="completed")

    # Time --------------------------------------------------------------------------------

    def _now(self) -> datetime:
        """The clock in whole seconds, one second on from the last change at least: an
        item's `updated_at` is part of its dedupe key, so two changes must not share one.
        With `advance`, the bot's clock moves on too, so it never sees a change from its
        future (a digest built now would leave it out)."""
        now = self.clock().replace(microsecond=0)
        if self._last is not None and now <= self._last:
            later = self._last + timedelta(seconds=1)
            if self.advance is not None:
                self.advance(later - self.clock())
            now = later
        self._last = now
        return now

    # The gateway (what LinkService calls) ------------------------------------------------

    def repo(self, full_name: str) -> Repo:
        """The repository, by its name in any case; IntegrationError 404 when there is none."""
        found = self.repos.get(full_name.strip().lower())
        if found is None:
            raise IntegrationError(
                f"reading {full_name}: GitHub answered 404 Not Found", status=404
            )
        return found

    def repository(self, full_name: str) -> RepoInfo:
        repo = self.repo(full_name)
        return RepoInfo(full_name=repo.full_name, html_url=repo.html_url, private=False)

    def create_hook(self, full_name: str, url: str, secret: str, events: Sequence[str]) -> str:
        repo = self.repo(full_name)
        hook = Hook(str(next(self._hook_ids)), url, secret, tuple(events))
        repo.hooks[hook.id] = hook
        return hook.id

    def delete_hook(self, full_name: str, hook_id: str) -> None:
        if self.repo(full_name).hooks.pop(str(hook_id), None) is None:
            raise IntegrationError(f"deleting webhook {hook_id}: 404 Not Found", status=404)

    def poll_issues(self, full_name: str, *, etag: str | None, since: datetime | None) -> IssuePoll:
        """Issues and PRs updated since `since`, as GitHub's issues API lists them."""
        repo = self.repo(full_name)
        listed = [
            issue
            for issue in sorted(repo.issues.values(), key=lambda i: (i["updated_at"], i["number"]))
            if since is None or issue["updated_at"] >= stamp(since)
        ]
        body = json.dumps(listed, sort_keys=True).encode()
        tag = '"' + hashlib.sha1(body).hexdigest() + '"'
        if etag == tag:
            return IssuePoll(etag=etag, not_modified=True, items=())
        items = tuple(item_from_issue(repo.full_name, issue) for issue in listed)
        return IssuePoll(etag=tag, not_modified=False, items=items)

    # Playing GitHub's side ---------------------------------------------------------------

    def open(
        self, full_name: str, title: str, *, by: str, pr: bool = False, labels: Sequence[str] = ()
    ) -> Happened:
        """Someone opens an issue (or, with `pr`, a pull request)."""
        repo = self.repo(full_name)
        issue = self._new_issue(repo, title, by, labels=labels, pr=pr)
        what = f"{by} opened {_kind(issue)} #{issue['number']} “{title}” in {repo.full_name}"
        if pr:
            return self._send(repo, "pull_request", "opened", by, what, pull_request=_pull(issue))
        return self._send(repo, "issues", "opened", by, what, issue=issue)

    def merge(self, full_name: str, number: int, *, by: str) -> Happened:
        """Someone merges a pull request: its author's council gives."""
        repo = self.repo(full_name)
        issue = self._item(repo, number)
        if "pull_request" not in issue:
            raise ValueError(f"#{number} in {repo.full_name} is an issue, not a pull request")
        if issue["state"] != "open":
            raise ValueError(f"#{number} in {repo.full_name} is already {_state(issue)}")
        now = stamp(self._now())
        issue.update(state="closed", updated_at=now, closed_at=now)
        issue["pull_request"]["merged_at"] = now
        what = f"{by} merged pull request #{number} “{issue['title']}” in {repo.full_name}"
        return self._send(repo, "pull_request", "closed", by, what, pull_request=_pull(issue))

    def close(self, full_name: str, number: int, *, by: str) -> Happened:
        """Someone closes an issue as completed (their council gives) or a PR unmerged."""
        repo = self.repo(full_name)
        issue = self._item(repo, number)
        if issue["state"] != "open":
            raise ValueError(f"#{number} in {repo.full_name} is already {_state(issue)}")
        now = stamp(self._now())
        issue.update(state="closed", updated_at=now, closed_at=now)
        what = f"{by} closed {_kind(issue)} #{number} “{issue['title']}” in {repo.full_name}"
        if "pull_request" in issue:
            return self._send(repo, "pull_request", "closed", by, what, pull_request=_pull(issue))
        issue["state_reason"] = "completed"
        return self._send(repo, "issues", "closed", by, what, issue=issue)

    def comment(self, full_name: str, number: int, text: str, *, by: str) -> Happened:
        repo = self.repo(full_name)
        issue = self._item(repo, number)
        now = stamp(self._now())
        issue.update(updated_at=now, comments=issue["comments"] + 1)
        comment = {"body": text, "created_at": now, "user": user(by)}
        what = f"{by} commented on {_kind(issue)} #{number} in {repo.full_name}: “{text}”"
        return self._send(repo, "issue_comment", "created", by, what, issue=issue, comment=comment)

    def review(
        self, full_name: str, number: int, *, by: str, approve: bool = True, text: str = ""
    ) -> Happened:
        """Someone reviews a pull request: a give for their council, unless it is theirs."""
        repo = self.repo(full_name)
        issue = self._item(repo, number)
        if "pull_request" not in issue:
            raise ValueError(f"#{number} in {repo.full_name} is an issue: only PRs are reviewed")
        now = stamp(self._now())
        issue["updated_at"] = now
        state = "approved" if approve else "changes_requested"
        review = {
            "id": int(uuid.uuid4().int % 10**9),
            "user": user(by),
            "body": text or None,
            "state": state,
            "submitted_at": now,
        }
        verdict = "approved" if approve else "asked for changes to"
        what = f"{by} {verdict} pull request #{number} in {repo.full_name}"
        return self._send(
            repo,
            "pull_request_review",
            "submitted",
            by,
            what,
            pull_request=_pull(issue),
            review=review,
        )

    def fork(self, full_name: str, *, by: str) -> Happened:
        """Someone forks the repository: a take for their council."""
        repo = self.repo(full_name)
        name = repo.full_name.split("/")[1]
        forkee = {"full_name": f"{by}/{name}", "owner": user(by), "created_at": stamp(self._now())}
        what = f"{by} forked {repo.full_name} to {by}/{name}"
        return self._send(repo, "fork", None, by, what, forkee=forkee)

    # Building and sending ----------------------------------------------------------------

    def _new_issue(
        self,
        repo: Repo,
        title: str,
        by: str,
        *,
        labels: Sequence[str],
        pr: bool,
        at: str | None = None,
    ) -> dict[str, Any]:
        number = max(repo.issues, default=0) + 1
        now = at or stamp(self._now())
        kind = "pull" if pr else "issues"
        issue: dict[str, Any] = {
            "number": number,
            "title": title,
            "html_url": f"{repo.html_url}/{kind}/{number}",
            "repository_url": f"https://api.github.com/repos/{repo.full_name}",
            "state": "open",
            "state_reason": None,
            "created_at": now,
            "updated_at": now,
            "closed_at": None,
            "user": user(by),
            "labels": [{"name": label} for label in labels],
            "assignees": [],
            "comments": 0,
            "draft": False,
        }
        if pr:
            issue["pull_request"] = {"merged_at": None, "html_url": issue["html_url"]}
        repo.issues[number] = issue
        return issue

    def _item(self, repo: Repo, number: int) -> dict[str, Any]:
        issue = repo.issues.get(number)
        if issue is None:
            raise ValueError(f"{repo.full_name} has no issue or pull request #{number}")
        return issue

    def _send(
        self, repo: Repo, event: str, action: str | None, by: str, what: str, **objects: Any
    ) -> Happened:
        """The delivery every hook on the repository that wants `event` receives."""
        payload: dict[str, Any] = {"action": action} if action else {}
        payload.update(objects)
        payload.update(repository=repo.json(), sender=user(by))
        body = json.dumps(payload).encode()
        answers = []
        for hook in repo.hooks.values():
            if event not in hook.events:
                continue
            headers = {
                "x-github-event": event,
                "x-github-delivery": str(uuid.uuid4()),
                "x-github-hook-id": hook.id,  # GitHub names the hook it delivers for
                "x-hub-signature-256": sign(hook.secret, body),
                "content-type": "application/json",
            }
            answers.append(self.intake(headers, body))
        return Happened(what, tuple(answers))


def _kind(issue: Mapping[str, Any]) -> str:
    return "pull request" if "pull_request" in issue else "issue"


def _state(issue: Mapping[str, Any]) -> str:
    pull = issue.get("pull_request") or {}
    return "merged" if pull.get("merged_at") else str(issue["state"])


def _pull(issue: Mapping[str, Any]) -> dict[str, Any]:
    """A pull request as the `pull_request` webhook object shows it."""
    merged_at = (issue.get("pull_request") or {}).get("merged_at")
    fields = {k: v for k, v in issue.items() if k not in ("pull_request", "state_reason")}
    return {**fields, "merged": merged_at is not None, "merged_at": merged_at}
