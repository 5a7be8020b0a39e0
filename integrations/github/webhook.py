"""GitHub webhooks: signature check, the dispatch table, and deliveries parsed into `Change`s.

`parse(event, payload)` looks up `HANDLERS["event.action"]` (or `HANDLERS["event"]` for
events without an action, such as `fork`). Events and actions in `IGNORED`, and any we do not
know, give `[]`: the route still answers 2xx, because GitHub adds events all the time.

Each handler validates only the fields it reads (`payloads.py`), so new GitHub fields never
break parsing, and a payload missing what a handler needs raises `MalformedPayload` with a
one-line reason (the route answers 400). Items, credits and dedupe keys come from
`items.py`, shared with polling.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from integrations.changes import Change, Credit, ItemState, MalformedPayload
from integrations.github import items
from integrations.github.payloads import (
    CommentEvent,
    Event,
    ForkEvent,
    IssuesEvent,
    LabelEvent,
    PullRequestEvent,
    ReviewEvent,
    validate,
)

log = logging.getLogger(__name__)

# -- signatures -------------------------------------------------------------------------------


def verify_signature(secret: str, body: bytes, header: str | None) -> bool:
    """True when `header` (`X-Hub-Signature-256`) is `sha256=<hex HMAC-SHA256 of body>`."""
    if not secret or not header:  # an empty secret is a secret anyone can sign with
        return False
    scheme, _, digest = header.strip().partition("=")
    if scheme != "sha256" or not digest:
        return False
    expected = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    # compare_digest on bytes: constant time, and no TypeError on non-ASCII garbage.
    return hmac.compare_digest(expected.encode("ascii"), digest.lower().encode("utf-8", "replace"))


# -- building changes -------------------------------------------------------------------------

# Worth a reply in the item's thread: the item's life changed, not just its details.
_STATE_ACTIONS = frozenset(
    "opened closed merged reopened ready_for_review converted_to_draft deleted transferred".split()
)
_REASONS = {"completed": "completed", "not_planned": "not planned", "duplicate": "a duplicate"}
_REVIEWS = {"approved": "approved", "changes_requested": "changes requested"}


def _actor(event: Event) -> str | None:
    return event.sender.login if event.sender else None


def _by(event: Event) -> str:
    actor = _actor(event)
    return f" by {actor}" if actor else ""


def _edited(event: Event) -> str:
    changes = event.changes
    if changes and changes.title and changes.title.from_ is not None:
        return f"renamed from “{changes.title.from_}”"
    return "description edited" if changes and changes.body else "edited"


def _who(event: Event) -> str:
    """The reviewer a review request names: a person or a team."""
    if event.requested_reviewer:
        return event.requested_reviewer.login
    return event.requested_team.name if event.requested_team else "someone"


def _named(word: str, name: str | None) -> str:
    return f"{word} {name}" if name else word


def _new_home(event: Event) -> str | None:
    changes = event.changes
    return changes.new_repository.full_name if changes and changes.new_repository else None


def _milestone(event: Event) -> str | None:
    """The milestone an event names; GHES's `milestoned` names it only on the item."""
    item = getattr(event, "issue", None) or getattr(event, "pull_request", None)
    milestone = event.milestone or (item.milestone if item else None)
    return milestone.title if milestone else None


_SUMMARIES: dict[str, Callable[[Event], str]] = {
    "opened": lambda e: f"opened{_by(e)}",
    "reopened": lambda e: f"reopened{_by(e)}",
    "edited": _edited,
    "labeled": lambda e: _named("labelled", e.label.name if e.label else None) + _by(e),
    "unlabeled": lambda e: _named("unlabelled", e.label.name if e.label else None),
    "assigned": lambda e: _named("assigned", e.assignee.login if e.assignee else None),
    "unassigned": lambda e: _named("unassigned", e.assignee.login if e.assignee else None),
    "milestoned": lambda e: _named("added to milestone", _milestone(e)),
    "demilestoned": lambda e: _named("removed from milestone", _milestone(e)),
    "deleted": lambda e: "deleted",
    "transferred": lambda e: _named("transferred to", _new_home(e)),
    "locked": lambda e: "locked",
    "unlocked": lambda e: "unlocked",
    "ready_for_review": lambda e: "marked ready for review",
    "converted_to_draft": lambda e: "converted to draft",
    "review_requested": lambda e: f"review requested from {_who(e)}",
    "review_request_removed": lambda e: f"review request for {_who(e)} removed",
    "synchronize": lambda e: "new commits pushed",
}


def _change(event: Event, item: ItemState, action: str, summary: str, **more: Any) -> Change:
    """A change to an item; by default dated and deduplicated by the item's `updated_at`,
    exactly as a poll of the same change would be."""
    more.setdefault("occurred_at", item.updated_at)
    more.setdefault("dedupe_key", items.item_dedupe_key(item))
    return Change(
        source="github",
        container=item.container,
        action=action,
        summary=summary,
        actor=_actor(event),
        item=item,
        item_key=item.key,
        state_change=action in _STATE_ACTIONS,
        **more,
    )


def _closed(event: Event, item: ItemState, reason: str | None) -> Change:
    """A close: a merged PR (credit to its author), an unmerged PR, or an issue (credit to
    whoever closed it as completed)."""
    by = _by(event)
    if item.state == "merged":
        credits = items.merged_credit(item)
        return _change(event, item, "merged", f"merged{by}", credits=credits)
    if item.kind == "pr":
        return _change(event, item, "closed", f"closed without merging{by}")
    if not reason:
        summary = f"closed{by}"
    else:
        summary = f"closed as {_REASONS.get(reason, reason.replace('_', ' '))}{by}"
    if reason not in (None, "completed"):  # not planned, duplicate: nothing was delivered
        return _change(event, item, "closed", summary)
    credits = items.closed_credit(item, event.sender)
    return _change(event, item, "closed", summary, credits=credits)


def _item_change(event: Event, item: ItemState, action: str, reason: str | None) -> Change:
    if action == "closed":
        return _closed(event, item, reason)
    if action in ("deleted", "transferred"):
        summary = _SUMMARIES[action](event)
        key = items.gone_key(item, action)
        return _change(event, item, action, summary, deleted=True, dedupe_key=key)
    return _change(event, item, action, _SUMMARIES[action](event))


Handler = Callable[[Mapping[str, Any], datetime], list[Change]]


def _issues(action: str) -> Handler:
    def handle(payload: Mapping[str, Any], now: datetime) -> list[Change]:
        event = validate(IssuesEvent, payload, f"issues.{action}")
        item = items.issue_state(event.repository.full_name, event.issue)
        return [_item_change(event, item, action, event.issue.state_reason)]

    return handle


def _pull_request(action: str) -> Handler:
    def handle(payload: Mapping[str, Any], now: datetime) -> list[Change]:
        event = validate(PullRequestEvent, payload, f"pull_request.{action}")
        item = items.pull_request_state(event.repository.full_name, event.pull_request)
        return [_item_change(event, item, action, None)]

    return handle


def _comment_created(payload: Mapping[str, Any], now: datetime) -> list[Change]:
    event = validate(CommentEvent, payload, "issue_comment.created")
    item = items.issue_state(event.repository.full_name, event.issue)  # kind "pr" on a PR
    # The dedupe key stays the item's: the comment bumped the issue's updated_at.
    return [
        _change(
            event,
            item,
            "commented",
            f"commented{_by(event)}",
            occurred_at=event.comment.created_at or item.updated_at,
            comment=event.comment.body,
            comment_delta=0 if item.comments is not None else 1,
        )
    ]


def _review_submitted(payload: Mapping[str, Any], now: datetime) -> list[Change]:
    event = validate(ReviewEvent, payload, "pull_request_review.submitted")
    review = event.review
    item = items.pull_request_state(event.repository.full_name, event.pull_request)
    reviewer = review.user or event.sender
    verb = _REVIEWS.get(review.state.lower(), "reviewed")
    credits: tuple[Credit, ...] = ()
    # A PR's author answering review comments also makes a "commented" review: no credit.
    if reviewer is not None and reviewer.login != item.author:
        credits = items.review_credit(item, reviewer, review.id)
    summary = f"{verb} by {reviewer.login}" if reviewer else verb
    when = review.submitted_at or item.updated_at
    return [
        _change(
            event, item, "reviewed", summary, occurred_at=when, comment=review.body, credits=credits
        )
    ]


def _label_change(
    event: LabelEvent, action: str, summary: str, old: str, new: str | None, now: datetime
) -> list[Change]:
    container = event.repository.full_name.lower()
    return [
        Change(
            source="github",
            container=container,
            action=action,
            summary=summary,
            occurred_at=now,  # label payloads carry no time of their own
            dedupe_key=items.label_key(container, old, new),
            actor=_actor(event),
            label_rename=(old, new),
        )
    ]


def _label_edited(payload: Mapping[str, Any], now: datetime) -> list[Change]:
    event = validate(LabelEvent, payload, "label.edited")
    old = event.changes.name.from_ if event.changes and event.changes.name else None
    # (no old name: only the colour or description changed)
    new = event.label.name
    if old is None or old == new:
        return []  # nothing people see changed
    return _label_change(event, "label_renamed", f"label “{old}” renamed to “{new}”", old, new, now)


def _label_deleted(payload: Mapping[str, Any], now: datetime) -> list[Change]:
    event = validate(LabelEvent, payload, "label.deleted")
    name = event.label.name
    return _label_change(event, "label_deleted", f"label “{name}” deleted", name, None, now)


def _fork(payload: Mapping[str, Any], now: datetime) -> list[Change]:
    event = validate(ForkEvent, payload, "fork")
    forkee, source = event.forkee, event.repository.full_name
    return [
        Change(
            source="github",
            container=source.lower(),
            action="forked",
            summary=f"forked to {forkee.full_name}",
            occurred_at=forkee.created_at or now,
            dedupe_key=items.fork_key(forkee.full_name),
            actor=_actor(event),
            credits=items.fork_credit(source, forkee.full_name, forkee.owner),
        )
    ]


# -- dispatch ---------------------------------------------------------------------------------

ISSUE_ACTIONS = (
    "opened edited closed reopened labeled unlabeled assigned unassigned milestoned "
    "demilestoned deleted transferred locked unlocked"
).split()
PULL_REQUEST_ACTIONS = (
    "opened edited closed reopened ready_for_review converted_to_draft labeled unlabeled "
    "review_requested review_request_removed synchronize assigned unassigned"
).split()

HANDLERS: dict[str, Handler] = {
    **{f"issues.{action}": _issues(action) for action in ISSUE_ACTIONS},
    **{f"pull_request.{action}": _pull_request(action) for action in PULL_REQUEST_ACTIONS},
    "issue_comment.created": _comment_created,
    "pull_request_review.submitted": _review_submitted,
    "label.edited": _label_edited,
    "label.deleted": _label_deleted,
    "fork": _fork,
}

# Deliberately ignored (answered 2xx, nothing recorded): whole events, or event.action keys.
IGNORED: frozenset[str] = frozenset(
    """ping meta star watch push create delete release status public member gollum
    check_run check_suite workflow_run workflow_job workflow_dispatch deployment
    deployment_status page_build commit_comment pull_request_review_comment
    pull_request_review_thread discussion discussion_comment milestone project project_card
    project_column projects_v2 projects_v2_item installation installation_repositories
    installation_target repository repository_dispatch branch_protection_rule merge_group
    package registry_package sponsorship team team_add organization membership
    code_scanning_alert secret_scanning_alert dependabot_alert security_advisory
    repository_vulnerability_alert security_and_analysis label.created
    issue_comment.edited issue_comment.deleted issues.pinned issues.unpinned issues.typed
    issues.untyped pull_request.locked pull_request.unlocked pull_request.milestoned
    pull_request.demilestoned pull_request.auto_merge_enabled pull_request.auto_merge_disabled
    pull_request.enqueued pull_request.dequeued pull_request_review.edited
    pull_request_review.dismissed""".split()
)

# The events a handler reads (what a repository webhook subscribes to, and what the delivery
# route stores); every other event is answered 2xx and dropped before it is stored.
EVENTS: tuple[str, ...] = tuple(dict.fromkeys(key.split(".")[0] for key in HANDLERS))
# Events whose handlers need an action: a delivery of one without it is malformed.
_ACTION_EVENTS = frozenset(key.split(".")[0] for key in HANDLERS if "." in key)


def dispatch_key(event: str, payload: Mapping[str, Any]) -> str:
    """`"event.action"`, or `"event"` when the payload has no action (`fork`, `ping`)."""
    action = payload.get("action")
    return f"{event}.{action}" if isinstance(action, str) and action else event


def parse(event: str, payload: Mapping[str, Any], *, now: datetime | None = None) -> list[Change]:
    """The changes one delivery describes. `event` is the `X-GitHub-Event` header; `now`
    stamps label changes, whose payloads carry no time (default: the current time)."""
    if not event:
        raise MalformedPayload("no X-GitHub-Event header")
    if not isinstance(payload, Mapping):
        raise MalformedPayload("the body is not a JSON object")
    action = payload.get("action")
    if action is not None and not isinstance(action, str):
        raise MalformedPayload("action is not a string")
    key = dispatch_key(event, payload)
    handler = HANDLERS.get(key)
    if handler is not None:
        return handler(payload, now or datetime.now(UTC))
    if event in _ACTION_EVENTS and not action:
        raise MalformedPayload(f"a {event} delivery without an action")
    ignored = key in IGNORED or event in IGNORED
    log.debug("GitHub %s delivery %s", key, "ignored" if ignored else "not handled")
    return []
