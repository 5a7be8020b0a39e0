"""GitHub issues and pull requests as `ItemState`, the credits they earn, and every GitHub
dedupe key.

Webhook parsing (`webhook.py`) and polling (`poll.py`) both map items and build keys here,
so the same change seen both ways becomes the same `ItemState`, the same key and the same
credit: each key is written in exactly one function below.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from integrations.changes import Credit, ItemState
from integrations.github.payloads import BaseItem, Issue, PullRequest, User, validate

# -- ItemState --------------------------------------------------------------------------------


def _state(item: BaseItem, merged: bool) -> str:
    if merged:
        return "merged"
    if item.state == "closed":
        return "closed"
    return "draft" if item.draft else "open"


def _item_state(repo_full_name: str, item: BaseItem, *, kind: str, merged: bool) -> ItemState:
    container = repo_full_name.lower()
    return ItemState(
        source="github",
        key=f"github:{container}#{item.number}",
        container=container,
        container_name=repo_full_name,
        kind=kind,
        number=item.number,
        title=item.title,
        url=item.html_url,
        state=_state(item, merged),
        closed=item.state == "closed" or merged,
        labels=tuple(label.name for label in item.labels),
        people=tuple(person.login for person in item.assignees),
        author=item.user.login if item.user else None,
        author_is_bot=bool(item.user and item.user.is_bot),
        comments=item.comments,
        updated_at=item.updated_at,
    )


def issue_state(repo_full_name: str, issue: Issue) -> ItemState:
    """The state of an issue, or of a PR seen through the issues API (kind "pr")."""
    pull = issue.pull_request
    return _item_state(
        repo_full_name,
        issue,
        kind="pr" if pull is not None else "issue",
        merged=pull is not None and pull.merged_at is not None,
    )


def pull_request_state(repo_full_name: str, pull: PullRequest) -> ItemState:
    """The state of a PR from a `pull_request` object (webhooks of PR events)."""
    merged = bool(pull.merged) or pull.merged_at is not None
    return _item_state(repo_full_name, pull, kind="pr", merged=merged)


def item_from_issue(repo_full_name: str, issue_json: Mapping[str, Any]) -> ItemState:
    """`ItemState` of a REST / webhook issue object; raises `MalformedPayload` if it lacks
    number, title, html_url, state or updated_at."""
    return issue_state(repo_full_name, validate(Issue, issue_json, "issue"))


def ref(item: ItemState) -> str:
    """`Owner/Repo#42`, as people write it."""
    return f"{item.container_name}#{item.number}"


# -- dedupe keys ------------------------------------------------------------------------------


def item_dedupe_key(item: ItemState) -> str:
    """`github:owner/repo#42@<updated_at ISO>`: what a webhook and a poll of the same change
    both compute, so the mirror applies it once."""
    if item.updated_at is None:
        raise ValueError(f"{item.key} has no updated_at")
    return f"{item.key}@{item.updated_at.isoformat()}"


def gone_key(item: ItemState, action: str) -> str:
    """An item deleted or transferred away. Its updated_at stays as it was (it may equal the
    previous change's) and a poll never sees an item leave, so these keys are their own."""
    return f"{item.key}@{action}"


def label_key(container: str, old: str, new: str | None) -> str:
    """A label renamed (`new`) or deleted (`new` None) in a repository."""
    return f"github:label:{container}:{old}->{new or ''}"


def fork_key(fork_full_name: str) -> str:
    """A fork: once per fork, whoever sees it."""
    return f"github:fork:{fork_full_name.lower()}"


def pr_merged_key(item: ItemState) -> str:
    return f"github:pr_merged:{item.container}#{item.number}"


def issue_closed_key(item: ItemState) -> str:
    return f"github:issue_closed:{item.container}#{item.number}"


def review_key(review_id: int) -> str:
    return f"github:review:{review_id}"


# -- credits ----------------------------------------------------------------------------------


def _credit(kind: str, source: str, login: str, key: str, text: str) -> tuple[Credit, ...]:
    return (Credit(kind=kind, source=source, login=login, dedupe_key=key, description=text),)


def merged_credit(item: ItemState) -> tuple[Credit, ...]:
    """The give a merged PR earns its author; none for an unknown author or a bot."""
    if not item.author or item.author_is_bot:
        return ()
    text = f"pull request {ref(item)} merged: {item.title}"
    return _credit("give", "github:pr_merged", item.author, pr_merged_key(item), text)


def closed_credit(item: ItemState, closer: User | None) -> tuple[Credit, ...]:
    """The give an issue closed as completed earns whoever closed it."""
    if closer is None or closer.is_bot:
        return ()
    text = f"closed issue {ref(item)}: {item.title}"
    return _credit("give", "github:issue_closed", closer.login, issue_closed_key(item), text)


def review_credit(item: ItemState, reviewer: User, review_id: int) -> tuple[Credit, ...]:
    """The give a review earns its reviewer (the caller leaves out the PR's own author)."""
    if reviewer.is_bot:
        return ()
    text = f"reviewed pull request {ref(item)}: {item.title}"
    return _credit("give", "github:review", reviewer.login, review_key(review_id), text)


def fork_credit(source_full_name: str, fork_full_name: str, owner: User) -> tuple[Credit, ...]:
    """The take a fork earns its owner's council: they reuse the code."""
    if owner.is_bot:
        return ()
    text = f"forked {source_full_name} to {fork_full_name}"
    return _credit("take", "github:fork", owner.login, fork_key(fork_full_name), text)
