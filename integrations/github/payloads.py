"""GitHub's JSON shapes, REST answers and webhook payloads, as small pydantic models.

The models read only the fields we use and ignore the rest, so new GitHub fields never
break anything; a payload that lacks what we need raises `MalformedPayload` with a one-line
reason (the webhook route answers 400). GitHub.com and Enterprise Server payloads read the
same way: `organization`, `installation` and `enterprise` are never required.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
)

from integrations.changes import MalformedPayload


def utc(value: datetime) -> datetime:
    """Stdlib-UTC aware times, so `isoformat()` (part of dedupe keys) is always `+00:00`."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(utc)]
T = TypeVar("T")
# A list GitHub may send as null (older payloads): read as empty.
Many = Annotated[tuple[T, ...], BeforeValidator(lambda value: () if value is None else value)]


class Model(BaseModel):
    """Base of every payload model: unknown fields are ignored, never an error."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


M = TypeVar("M", bound=BaseModel)


def one_line(error: ValidationError) -> str:
    """The first validation problem as `where: what`, for a 400 answer or a log line."""
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "payload"
    return f"{where}: {first['msg']}".replace("\n", " ")


def validate(model: type[M], data: Any, what: str) -> M:
    """`model` from JSON data, or `MalformedPayload` saying what is missing."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise MalformedPayload(f"{what}: {one_line(error)}") from None


# -- issues and pull requests (REST answers and webhook payloads alike) ----------------------


class User(Model):
    login: str
    type: str | None = None

    @property
    def is_bot(self) -> bool:
        """Apps act as `type: Bot` users named `something[bot]`; they earn no credit."""
        return self.type == "Bot" or self.login.endswith("[bot]")


class Label(Model):
    name: str


class PullLink(Model):
    """`issue.pull_request`: present when the "issue" is a pull request."""

    merged_at: UtcDatetime | None = None


class Milestone(Model):
    title: str


class BaseItem(Model):
    """What issues and pull requests share."""

    number: int
    title: str
    html_url: str
    state: str
    updated_at: UtcDatetime
    user: User | None = None
    labels: Many[Label] = ()
    assignees: Many[User] = ()
    comments: int | None = None
    draft: bool | None = None
    milestone: Milestone | None = None


class Issue(BaseItem):
    state_reason: str | None = None
    pull_request: PullLink | None = None
    repository_url: str | None = None


class PullRequest(BaseItem):
    merged: bool | None = None
    merged_at: UtcDatetime | None = None


# -- webhook payloads (only what integrations.github.webhook's handlers read) ---------------


class Repo(Model):
    full_name: str


class From(Model):
    from_: str | None = Field(default=None, alias="from")  # null when the old text was


class Changes(Model):
    title: From | None = None  # issues / pull_request edited
    body: From | None = None
    name: From | None = None  # label edited
    new_repository: Repo | None = None  # issues transferred


class Team(Model):
    name: str


class Event(Model):
    repository: Repo
    sender: User | None = None  # a GitHub App's own deliveries may lack it
    changes: Changes | None = None
    label: Label | None = None
    assignee: User | None = None
    milestone: Milestone | None = None
    requested_reviewer: User | None = None
    requested_team: Team | None = None


class IssuesEvent(Event):
    issue: Issue


class PullRequestEvent(Event):
    pull_request: PullRequest


class Comment(Model):
    body: str | None = None
    created_at: UtcDatetime | None = None


class CommentEvent(Event):
    issue: Issue
    comment: Comment


class Review(Model):
    id: int
    user: User | None = None
    body: str | None = None
    state: str = ""
    submitted_at: UtcDatetime | None = None


class ReviewEvent(Event):
    pull_request: PullRequest
    review: Review


class LabelEvent(Event):
    label: Label


class Forkee(Model):
    full_name: str
    owner: User
    created_at: UtcDatetime | None = None


class ForkEvent(Event):
    forkee: Forkee
