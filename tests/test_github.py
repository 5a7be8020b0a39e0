"""GitHub: webhook signatures, parsing of real deliveries into Changes, and the gateway
against a fake GitHub REST server (tests/fakes/github.py).

The payloads are in tests/fixtures/github/ (sources and licences in its README); `FIXTURES`
maps every file there to the `X-GitHub-Event` / action it was delivered as.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from integrations.changes import Change, Credit, IntegrationError, ItemState, MalformedPayload
from integrations.github import poll as github_poll
from integrations.github.gateway import GitHubGateway, IssuePoll, RepoInfo
from integrations.github.items import item_dedupe_key, item_from_issue
from integrations.github.webhook import HANDLERS, IGNORED, dispatch_key, parse, verify_signature
from tests.fakes.github import FakeGitHub
from tests.fakes.signing import github_signature

ROOT = Path(__file__).parent / "fixtures" / "github"
NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
TOKEN = "ghp_s3cretTokenThatMustNeverLeak0000000000"

# Every fixture file -> the dispatch key ("event.action", or the event) it was delivered as.
FIXTURES: dict[str, str] = {
    "octokit/issues/opened.payload.json": "issues.opened",
    "octokit/issues/opened.with-empty-body.payload.json": "issues.opened",
    "octokit/issues/edited.payload.json": "issues.edited",
    "zulip/issues__closed.json": "issues.closed",
    "edited/issues/closed.not_planned.json": "issues.closed",
    "octokit/issues/reopened.payload.json": "issues.reopened",
    "octokit/issues/labeled.payload.json": "issues.labeled",
    "octokit/issues/unlabeled.with-organization.payload.json": "issues.unlabeled",
    "octokit/issues/assigned.with-organization.payload.json": "issues.assigned",
    "octokit/issues/unassigned.payload.json": "issues.unassigned",
    "octokit/issues/milestoned.with-organization.payload.json": "issues.milestoned",
    "octokit/issues/demilestoned.with-organization.payload.json": "issues.demilestoned",
    "octokit/issues/deleted.payload.json": "issues.deleted",
    "edited/issues/transferred.payload.json": "issues.transferred",
    "octokit/issues/locked.payload.json": "issues.locked",
    "octokit/issues/unlocked.payload.json": "issues.unlocked",
    "go-playground/issues.json": "issues.opened",
    "octokit/pull_request/opened.payload.json": "pull_request.opened",
    "octokit/pull_request/opened.with-null-body.json": "pull_request.opened",
    "reallyfastci/webhook-pr-open.json": "pull_request.opened",
    "edited/pull_request/edited.payload.json": "pull_request.edited",
    "octokit/pull_request/closed.payload.json": "pull_request.closed",
    "reallyfastci/webhook-pr-close.json": "pull_request.closed",
    "octokit/pull_request/reopened.payload.json": "pull_request.reopened",
    "octokit/pull_request/ready_for_review.with-organization.payload.json": (
        "pull_request.ready_for_review"
    ),
    "octokit/pull_request/converted_to_draft.with-organization.payload.json": (
        "pull_request.converted_to_draft"
    ),
    "octokit/pull_request/labeled.payload.json": "pull_request.labeled",
    "octokit/pull_request/unlabeled.with-organization.payload.json": "pull_request.unlabeled",
    "octokit/pull_request/review_requested.payload.json": "pull_request.review_requested",
    "edited/pull_request/review_request_removed.payload.json": (
        "pull_request.review_request_removed"
    ),
    "edited/pull_request/synchronize.payload.json": "pull_request.synchronize",
    "octokit/pull_request/assigned.with-organization.payload.json": "pull_request.assigned",
    "octokit/pull_request/unassigned.payload.json": "pull_request.unassigned",
    "octokit/issue_comment/created.payload.json": "issue_comment.created",
    "octokit/issue_comment/created.with-installation.payload.json": "issue_comment.created",
    "go-playground/pull-request-issue-comment.json": "issue_comment.created",
    "edited/pull_request_review/submitted.payload.json": "pull_request_review.submitted",
    "octokit/label/edited.payload.json": "label.edited",
    "edited/label/edited.name.payload.json": "label.edited",
    "edited/label/deleted.payload.json": "label.deleted",
    "edited/fork/payload.json": "fork",
    # GitHub Enterprise Server 3.5
    "ghes/issues/opened.json": "issues.opened",
    "ghes/issues/labeled.json": "issues.labeled",
    "ghes/issues/assigned.json": "issues.assigned",
    "ghes/issues/milestoned.json": "issues.milestoned",
    "ghes/pull_request/opened.json": "pull_request.opened",
    "ghes/pull_request/closed.json": "pull_request.closed",
    "ghes/pull_request/labeled.json": "pull_request.labeled",
    "ghes/issue_comment/created.json": "issue_comment.created",
    # deliberately ignored
    "octokit/ping/payload.json": "ping",
    "octokit/ping/with-organization.payload.json": "ping",
    "ghes/ping/payload.json": "ping",
    "octokit/issue_comment/edited.payload.json": "issue_comment.edited",
    "octokit/issue_comment/deleted.with-organization.payload.json": "issue_comment.deleted",
    "octokit/label/created.payload.json": "label.created",
    "ghes/label/created.json": "label.created",
    "octokit/pull_request/locked.with-organization.payload.json": "pull_request.locked",
}


def load(name: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((ROOT / name).read_text(encoding="utf-8"))
    return payload


def parse_fixture(name: str) -> list[Change]:
    return parse(FIXTURES[name].split(".")[0], load(name), now=NOW)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# -- fixtures cover the dispatch table ----------------------------------------------------------


def test_every_handler_has_a_real_fixture() -> None:
    assert set(HANDLERS) - set(FIXTURES.values()) == set()


def test_every_fixture_file_is_mapped_to_its_event() -> None:
    files = {p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*.json")}
    assert files == set(FIXTURES)


def test_handled_and_ignored_do_not_overlap() -> None:
    assert set(HANDLERS) & IGNORED == set()
    assert {"ping", "issue_comment.edited", "issues.pinned", "star", "push"} <= IGNORED


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_each_fixture_parses(name: str) -> None:
    key = FIXTURES[name]
    payload = load(name)
    assert dispatch_key(key.split(".")[0], payload) == key
    changes = parse_fixture(name)
    if key in IGNORED or key.split(".")[0] in IGNORED:
        assert changes == []
        return
    assert key in HANDLERS
    if name == "octokit/label/edited.payload.json":  # only the colour changed
        assert changes == []
        return
    [change] = changes
    assert change.source == "github"
    assert change.container == payload["repository"]["full_name"].lower()
    assert change.occurred_at.tzinfo is not None
    assert change.dedupe_key and change.summary and "\n" not in change.summary
    if change.item is not None:
        assert change.item_key == change.item.key
        assert change.item.key.startswith(f"github:{change.container}#")
        assert change.item.updated_at is not None and change.item.updated_at.utcoffset() == (
            UTC.utcoffset(None)
        )


# -- exact changes for the main events ----------------------------------------------------------

HELLO = "Codertocat/Hello-World"
ISSUE_1 = ItemState(
    source="github",
    key="github:codertocat/hello-world#1",
    container="codertocat/hello-world",
    container_name=HELLO,
    kind="issue",
    number=1,
    title="Spelling error in the README file",
    url="https://github.com/Codertocat/Hello-World/issues/1",
    state="open",
    closed=False,
    labels=("bug",),
    people=("Codertocat",),
    author="Codertocat",
    author_is_bot=False,
    comments=0,
    updated_at=datetime(2019, 5, 15, 15, 20, 18, tzinfo=UTC),
)
PR_2 = replace(
    ISSUE_1,
    key="github:codertocat/hello-world#2",
    kind="pr",
    number=2,
    title="Update the README with new information.",
    url="https://github.com/Codertocat/Hello-World/pull/2",
)


def test_issue_opened() -> None:
    assert parse_fixture("octokit/issues/opened.payload.json") == [
        Change(
            source="github",
            container="codertocat/hello-world",
            action="opened",
            summary="opened by Codertocat",
            occurred_at=ISSUE_1.updated_at or NOW,
            dedupe_key="github:codertocat/hello-world#1@2019-05-15T15:20:18+00:00",
            actor="Codertocat",
            item=ISSUE_1,
            item_key=ISSUE_1.key,
            state_change=True,
        )
    ]


def test_issue_closed_as_completed_credits_the_closer() -> None:
    item = ItemState(
        source="github",
        key="github:pritesh-30/test-repo#8",
        container="pritesh-30/test-repo",
        container_name="Pritesh-30/test-repo",
        kind="issue",
        number=8,
        title="Bug related to the bot",
        url="https://github.com/Pritesh-30/test-repo/issues/8",
        state="closed",
        closed=True,
        author="Pritesh-30",
        comments=0,
        updated_at=at("2026-01-31T08:11:37Z"),
    )
    expected = Change(
        source="github",
        container="pritesh-30/test-repo",
        action="closed",
        summary="closed as completed by Pritesh-30",
        occurred_at=at("2026-01-31T08:11:37Z"),
        dedupe_key="github:pritesh-30/test-repo#8@2026-01-31T08:11:37+00:00",
        actor="Pritesh-30",
        item=item,
        item_key=item.key,
        state_change=True,
        credits=(
            Credit(
                kind="give",
                source="github:issue_closed",
                login="Pritesh-30",
                dedupe_key="github:issue_closed:pritesh-30/test-repo#8",
                description="closed issue Pritesh-30/test-repo#8: Bug related to the bot",
            ),
        ),
    )
    assert parse_fixture("zulip/issues__closed.json") == [expected]
    # Closed as not planned: the same change in other words, and nothing delivered to credit.
    assert parse_fixture("edited/issues/closed.not_planned.json") == [
        replace(expected, summary="closed as not planned by Pritesh-30", credits=())
    ]
    # Older payloads have no state_reason: a plain close still counts as done.
    old = load("zulip/issues__closed.json")
    del old["issue"]["state_reason"]
    [change] = parse("issues", old)
    assert change.summary == "closed by Pritesh-30"
    assert change.credits == expected.credits


def test_pr_merged_from_a_fork_credits_the_author_not_the_merger() -> None:
    item = ItemState(
        source="github",
        key="github:ailisp/gcbapp-buildconfig-example#3",
        container="ailisp/gcbapp-buildconfig-example",
        container_name="ailisp/gcbapp-buildconfig-example",
        kind="pr",
        number=3,
        title="Byao1276 patch 1",
        url="https://github.com/ailisp/gcbapp-buildconfig-example/pull/3",
        state="merged",
        closed=True,
        author="byao1276",
        comments=0,
        updated_at=at("2019-11-26T07:01:13Z"),
    )
    assert parse_fixture("reallyfastci/webhook-pr-close.json") == [
        Change(
            source="github",
            container="ailisp/gcbapp-buildconfig-example",
            action="merged",
            summary="merged by ailisp",
            occurred_at=at("2019-11-26T07:01:13Z"),
            dedupe_key="github:ailisp/gcbapp-buildconfig-example#3@2019-11-26T07:01:13+00:00",
            actor="ailisp",
            item=item,
            item_key=item.key,
            state_change=True,
            credits=(
                Credit(
                    kind="give",
                    source="github:pr_merged",
                    login="byao1276",
                    dedupe_key="github:pr_merged:ailisp/gcbapp-buildconfig-example#3",
                    description=(
                        "pull request ailisp/gcbapp-buildconfig-example#3 merged: Byao1276 patch 1"
                    ),
                ),
            ),
        )
    ]


def test_pr_closed_without_merging_earns_nothing() -> None:
    item = replace(
        PR_2, state="closed", closed=True, updated_at=datetime(2019, 5, 15, 15, 21, 18, tzinfo=UTC)
    )
    assert parse_fixture("octokit/pull_request/closed.payload.json") == [
        Change(
            source="github",
            container="codertocat/hello-world",
            action="closed",
            summary="closed without merging by Codertocat",
            occurred_at=item.updated_at or NOW,
            dedupe_key="github:codertocat/hello-world#2@2019-05-15T15:21:18+00:00",
            actor="Codertocat",
            item=item,
            item_key=item.key,
            state_change=True,
        )
    ]


def test_issue_labeled() -> None:
    assert parse_fixture("octokit/issues/labeled.payload.json") == [
        Change(
            source="github",
            container="codertocat/hello-world",
            action="labeled",
            summary="labelled bug by Codertocat",
            occurred_at=ISSUE_1.updated_at or NOW,
            dedupe_key="github:codertocat/hello-world#1@2019-05-15T15:20:18+00:00",
            actor="Codertocat",
            item=ISSUE_1,
            item_key=ISSUE_1.key,
        )
    ]


def test_review_submitted_credits_the_reviewer() -> None:
    item = replace(PR_2, updated_at=datetime(2019, 5, 15, 15, 20, 38, tzinfo=UTC))
    expected = Change(
        source="github",
        container="codertocat/hello-world",
        action="reviewed",
        summary="approved by octocat",
        occurred_at=datetime(2019, 5, 15, 15, 20, 38, tzinfo=UTC),
        dedupe_key="github:codertocat/hello-world#2@2019-05-15T15:20:38+00:00",
        actor="octocat",
        item=item,
        item_key=item.key,
        comment="Looks good to me.",
        credits=(
            Credit(
                kind="give",
                source="github:review",
                login="octocat",
                dedupe_key="github:review:237895671",
                description=(
                    "reviewed pull request Codertocat/Hello-World#2: "
                    "Update the README with new information."
                ),
            ),
        ),
    )
    assert parse_fixture("edited/pull_request_review/submitted.payload.json") == [expected]

    payload = load("edited/pull_request_review/submitted.payload.json")
    payload["review"].update(state="changes_requested", body="")
    [change] = parse("pull_request_review", payload)
    assert (change.summary, change.comment) == ("changes requested by octocat", "")

    # The author answering review comments makes a "commented" review: no credit for that.
    payload["review"].update(state="commented", body=None, user=payload["pull_request"]["user"])
    [change] = parse("pull_request_review", payload)
    assert (change.summary, change.comment, change.credits) == (
        "reviewed by Codertocat",
        None,
        (),
    )


def test_comment_on_a_pull_request_is_about_the_pr() -> None:
    item = ItemState(
        source="github",
        key="github:chhsia0/knative-route-demo#3",
        container="chhsia0/knative-route-demo",
        container_name="chhsia0/knative-route-demo",
        kind="pr",
        number=3,
        title="Updated to v2.",
        url="https://github.com/chhsia0/knative-route-demo/pull/3",
        state="open",
        closed=False,
        author="chhsia0",
        comments=17,
        updated_at=at("2019-10-26T16:09:23Z"),
    )
    assert parse_fixture("go-playground/pull-request-issue-comment.json") == [
        Change(
            source="github",
            container="chhsia0/knative-route-demo",
            action="commented",
            summary="commented by chhsia0",
            occurred_at=at("2019-10-26T16:09:23Z"),
            dedupe_key="github:chhsia0/knative-route-demo#3@2019-10-26T16:09:23+00:00",
            actor="chhsia0",
            item=item,
            item_key=item.key,
            comment="/build",
        )
    ]
    # Without the issue's comment count, the change says "one more".
    payload = load("go-playground/pull-request-issue-comment.json")
    del payload["issue"]["comments"]
    [change] = parse("issue_comment", payload)
    assert (change.comment_delta, change.item and change.item.comments) == (1, None)


def test_label_renamed_and_deleted() -> None:
    assert parse_fixture("edited/label/edited.name.payload.json") == [
        Change(
            source="github",
            container="codertocat/hello-world",
            action="label_renamed",
            summary="label “bug” renamed to “:bug: Bugfix”",
            occurred_at=NOW,
            dedupe_key="github:label:codertocat/hello-world:bug->:bug: Bugfix",
            actor="Codertocat",
            label_rename=("bug", ":bug: Bugfix"),
        )
    ]
    assert parse_fixture("octokit/label/edited.payload.json") == []  # colour only
    assert parse_fixture("edited/label/deleted.payload.json") == [
        Change(
            source="github",
            container="codertocat/hello-world",
            action="label_deleted",
            summary="label “:bug: Bugfix” deleted",
            occurred_at=NOW,
            dedupe_key="github:label:codertocat/hello-world::bug: Bugfix->",
            actor="Codertocat",
            label_rename=(":bug: Bugfix", None),
        )
    ]


def test_fork_is_a_take_by_the_forks_owner() -> None:
    assert parse_fixture("edited/fork/payload.json") == [
        Change(
            source="github",
            container="codertocat/hello-world",
            action="forked",
            summary="forked to octocat/Hello-World",
            occurred_at=at("2019-05-15T15:20:42Z"),
            dedupe_key="github:fork:octocat/hello-world",
            actor="octocat",
            credits=(
                Credit(
                    kind="take",
                    source="github:fork",
                    login="octocat",
                    dedupe_key="github:fork:octocat/hello-world",
                    description="forked Codertocat/Hello-World to octocat/Hello-World",
                ),
            ),
        )
    ]


def test_transferred_and_deleted_issues_are_gone() -> None:
    assert parse_fixture("edited/issues/transferred.payload.json") == [
        Change(
            source="github",
            container="codertocat/hello-world",
            action="transferred",
            summary="transferred to Codertocat/Hello-World-Docs",
            occurred_at=ISSUE_1.updated_at or NOW,
            dedupe_key="github:codertocat/hello-world#1@transferred",
            actor="Codertocat",
            item=ISSUE_1,
            item_key=ISSUE_1.key,
            deleted=True,
            state_change=True,
        )
    ]
    deleted_at = datetime(2021, 10, 11, 16, 40, 56, tzinfo=UTC)
    item = replace(ISSUE_1, state="closed", closed=True, updated_at=deleted_at)
    assert parse_fixture("octokit/issues/deleted.payload.json") == [
        Change(
            source="github",
            container="codertocat/hello-world",
            action="deleted",
            summary="deleted",
            occurred_at=deleted_at,
            dedupe_key="github:codertocat/hello-world#1@deleted",
            actor="Codertocat",
            item=item,
            item_key=item.key,
            deleted=True,
            state_change=True,
        )
    ]


@pytest.mark.parametrize(
    ("name", "action", "summary", "state_change", "state"),
    [
        ("octokit/issues/edited.payload.json", "edited", "edited", False, "open"),
        ("octokit/issues/reopened.payload.json", "reopened", "reopened by Codertocat", True,
         "open"),
        ("octokit/issues/unlabeled.with-organization.payload.json", "unlabeled", "unlabelled bug",
         False, "open"),
        ("octokit/issues/assigned.with-organization.payload.json", "assigned",
         "assigned Codertocat", False, "open"),
        ("octokit/issues/unassigned.payload.json", "unassigned", "unassigned Codertocat", False,
         "open"),
        ("octokit/issues/milestoned.with-organization.payload.json", "milestoned",
         "added to milestone v1.0", False, "open"),
        ("octokit/issues/demilestoned.with-organization.payload.json", "demilestoned",
         "removed from milestone v1.0", False, "open"),
        ("octokit/issues/locked.payload.json", "locked", "locked", False, "open"),
        ("octokit/issues/unlocked.payload.json", "unlocked", "unlocked", False, "open"),
        ("edited/pull_request/edited.payload.json", "edited",
         "renamed from “Update the README”", False, "open"),
        ("octokit/pull_request/ready_for_review.with-organization.payload.json",
         "ready_for_review", "marked ready for review", True, "open"),
        ("octokit/pull_request/converted_to_draft.with-organization.payload.json",
         "converted_to_draft", "converted to draft", True, "draft"),
        ("octokit/pull_request/review_requested.payload.json", "review_requested",
         "review requested from octocat", False, "open"),
        ("edited/pull_request/review_request_removed.payload.json", "review_request_removed",
         "review request for octocat removed", False, "open"),
        ("edited/pull_request/synchronize.payload.json", "synchronize", "new commits pushed",
         False, "open"),
        ("octokit/pull_request/opened.with-null-body.json", "opened", "opened by Codertocat",
         True, "open"),
        ("ghes/issues/milestoned.json", "milestoned", "added to milestone v1.0", False, "open"),
        ("ghes/pull_request/closed.json", "closed", "closed without merging by Codertocat", True,
         "closed"),
    ],
)  # fmt: skip
def test_other_actions_in_plain_words(
    name: str, action: str, summary: str, state_change: bool, state: str
) -> None:
    [change] = parse_fixture(name)
    assert (change.action, change.summary, change.state_change) == (action, summary, state_change)
    assert change.item is not None and change.item.state == state
    assert change.credits == () and change.deleted is False


def test_issues_events_on_a_pull_request_are_about_the_pr() -> None:
    [change] = parse_fixture("octokit/issues/milestoned.with-organization.payload.json")
    assert change.item is not None and change.item.kind == "pr"
    assert change.item.url == "https://github.com/Codertocat/Hello-World/pull/2"


def test_review_requested_from_a_team() -> None:
    payload = load("octokit/pull_request/review_requested.payload.json")
    del payload["requested_reviewer"]
    payload["requested_team"] = {"name": "Bin day makers", "id": 1, "slug": "bin-day-makers"}
    [change] = parse("pull_request", payload)
    assert change.summary == "review requested from Bin day makers"


def test_enterprise_server_payloads_parse_like_github_com() -> None:
    [ghes] = parse_fixture("ghes/issues/opened.json")
    [dotcom] = parse_fixture("octokit/issues/opened.payload.json")
    assert ghes.item == replace(
        ISSUE_1,
        url="https://octocoders.github.io/Codertocat/Hello-World/issues/1",
        labels=(),
        updated_at=datetime(2019, 5, 15, 19, 37, 53, tzinfo=UTC),
    )
    assert (ghes.action, ghes.summary) == (dotcom.action, dotcom.summary)


def test_bots_earn_no_credit() -> None:
    payload = load("reallyfastci/webhook-pr-close.json")
    payload["pull_request"]["user"].update(login="dependabot[bot]", type="Bot")
    [change] = parse("pull_request", payload)
    assert change.action == "merged" and change.credits == ()
    assert change.item is not None and change.item.author_is_bot

    payload = load("zulip/issues__closed.json")
    payload["sender"].update(login="stale[bot]", type="Bot")
    [change] = parse("issues", payload)
    assert change.action == "closed" and change.credits == ()

    payload = load("edited/fork/payload.json")
    payload["forkee"]["owner"]["login"] = "renovate[bot]"  # a login alone marks a bot too
    [change] = parse("fork", payload)
    assert change.credits == ()


def test_new_fields_from_github_do_not_break_parsing() -> None:
    payload = load("octokit/issues/opened.payload.json")
    payload["brand_new_top_level"] = {"x": 1}
    payload["issue"]["sub_issues_summary"] = {"total": 3}
    payload["issue"]["user"]["user_view_type"] = "public"
    assert parse("issues", payload, now=NOW) == parse_fixture("octokit/issues/opened.payload.json")


def test_nulls_where_github_has_sent_them() -> None:
    payload = load("octokit/issues/opened.payload.json")
    payload["issue"].update(labels=None, assignees=None, body=None, milestone=None)
    [change] = parse("issues", payload)
    assert change.item is not None and (change.item.labels, change.item.people) == ((), ())

    payload = load("edited/pull_request/edited.payload.json")
    payload["changes"] = {"body": {"from": None}}
    [change] = parse("pull_request", payload)
    assert change.summary == "description edited"


def test_webhook_item_is_the_item_of_the_issue_json() -> None:
    payload = load("octokit/issues/opened.payload.json")
    [change] = parse("issues", payload)
    assert item_from_issue(HELLO, payload["issue"]) == change.item


# -- polling: what changed since the last look -------------------------------------------------


@dataclass(frozen=True)
class Stored:
    """What the mirror stored of an item, as `integrations.github.poll` reads it."""

    state: str = "open"
    closed: bool = False
    title: str = "Byao1276 patch 1"
    labels: tuple[str, ...] = ()
    people: tuple[str, ...] = ()
    source_updated_at: datetime | None = datetime(2019, 11, 26, 7, tzinfo=UTC)


def test_a_merge_seen_by_poll_earns_the_credit_a_webhook_gives() -> None:
    # The key and the words of a merge's credit are built in one place for both paths.
    [by_webhook] = parse_fixture("reallyfastci/webhook-pr-close.json")
    assert by_webhook.item is not None and by_webhook.credits
    seen = {by_webhook.item.key: Stored()}
    [by_poll] = github_poll.changes([by_webhook.item], seen, now=NOW)
    assert (by_poll.action, by_poll.summary, by_poll.state_change) == ("merged", "merged", True)
    assert by_poll.dedupe_key == by_webhook.dedupe_key
    assert by_poll.credits == by_webhook.credits
    # Seen merged before: a later change earns nothing again. Not newer: nothing to apply.
    [again] = github_poll.changes(
        [by_webhook.item], {by_webhook.item.key: Stored("merged")}, now=NOW
    )
    assert (again.action, again.credits) == ("updated", ())
    assert by_webhook.item.updated_at is not None
    current = Stored(source_updated_at=by_webhook.item.updated_at)
    assert github_poll.changes([by_webhook.item], {by_webhook.item.key: current}, now=NOW) == []


@pytest.mark.parametrize(
    ("stored", "action", "summary"),
    [
        (None, "opened", "opened by Codertocat"),
        (Stored(state="closed", closed=True), "reopened", "reopened"),
        (Stored(title="Spelling error"), "edited", "renamed from “Spelling error”"),
        (Stored(title=ISSUE_1.title, labels=("x",)), "labeled", "labels: bug"),
        (Stored(title=ISSUE_1.title, labels=("bug",)), "assigned", "assigned: Codertocat"),
        (
            Stored(title=ISSUE_1.title, labels=("bug",), people=("Codertocat",)),
            "updated",
            "updated",
        ),
    ],
)
def test_poll_names_what_changed_as_a_webhook_would(
    stored: Stored | None, action: str, summary: str
) -> None:
    item = replace(ISSUE_1, updated_at=NOW)
    seen = {} if stored is None else {item.key: stored}
    [change] = github_poll.changes([item], seen, now=NOW)
    assert (change.action, change.summary, change.credits) == (action, summary, ())
    assert change.dedupe_key == item_dedupe_key(item)


# -- signatures ---------------------------------------------------------------------------------

DOCS_SECRET = "It's a Secret to Everybody"
DOCS_BODY = b"Hello, World!"
DOCS_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_signature_docs_vector() -> None:
    assert verify_signature(DOCS_SECRET, DOCS_BODY, DOCS_SIGNATURE)
    assert github_signature(DOCS_SECRET, DOCS_BODY) == DOCS_SIGNATURE


def test_signature_of_a_real_body() -> None:
    body = (ROOT / "reallyfastci/webhook-pr-close.json").read_bytes()
    assert verify_signature("s3cret", body, github_signature("s3cret", body))
    assert not verify_signature("s3cret", body + b" ", github_signature("s3cret", body))


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "sha256=",
        "sha1=" + DOCS_SIGNATURE.removeprefix("sha256="),
        DOCS_SIGNATURE.removeprefix("sha256="),
        DOCS_SIGNATURE[:-1],
        DOCS_SIGNATURE + "00",
        "sha256=zz" + DOCS_SIGNATURE[9:],
        "sha256=ünïcødé",
        "garbage",
    ],
)
def test_signature_rejects_missing_or_garbled_headers(header: str | None) -> None:
    assert not verify_signature(DOCS_SECRET, DOCS_BODY, header)


def test_signature_rejects_the_wrong_secret_and_an_empty_one() -> None:
    assert not verify_signature("It's a Secret to Nobody", DOCS_BODY, DOCS_SIGNATURE)
    assert not verify_signature("", b"", github_signature("", b""))


def test_signature_accepts_upper_case_hex() -> None:
    assert verify_signature(DOCS_SECRET, DOCS_BODY, "sha256=" + DOCS_SIGNATURE[7:].upper())


# -- malformed, ignored and unknown deliveries --------------------------------------------------


def _without(name: str, *path: str) -> dict[str, Any]:
    payload = load(name)
    target = payload
    for part in path[:-1]:
        target = target[part]
    del target[path[-1]]
    return payload


@pytest.mark.parametrize(
    ("event", "payload", "reason"),
    [
        ("issues", _without("octokit/issues/opened.payload.json", "repository", "full_name"),
         "repository.full_name"),
        ("issues", _without("octokit/issues/opened.payload.json", "repository"), "repository"),
        ("issues", _without("octokit/issues/opened.payload.json", "issue", "number"),
         "issue.number"),
        ("issues", _without("octokit/issues/opened.payload.json", "issue", "updated_at"),
         "issue.updated_at"),
        ("pull_request", _without("octokit/pull_request/opened.payload.json", "pull_request"),
         "pull_request"),
        ("issue_comment", _without("octokit/issue_comment/created.payload.json", "comment"),
         "comment"),
        ("pull_request_review",
         _without("edited/pull_request_review/submitted.payload.json", "review", "id"),
         "review.id"),
        ("label", _without("edited/label/deleted.payload.json", "label"), "label"),
        ("fork", _without("edited/fork/payload.json", "forkee", "owner"), "forkee.owner"),
        ("issues", {**load("octokit/issues/opened.payload.json"), "issue": "not an object"},
         "issue"),
        ("issues", _without("octokit/issues/opened.payload.json", "action"), "without an action"),
        ("issues", {**load("octokit/issues/opened.payload.json"), "action": 7}, "action"),
        ("issues", [], "not a JSON object"),
        ("", load("octokit/issues/opened.payload.json"), "X-GitHub-Event"),
    ],
)  # fmt: skip
def test_malformed_payloads_say_why_in_one_line(event: str, payload: Any, reason: str) -> None:
    with pytest.raises(MalformedPayload) as raised:
        parse(event, payload)
    message = str(raised.value)
    assert reason in message and "\n" not in message and len(message) < 200


@pytest.mark.parametrize(
    ("event", "payload"),
    [
        ("ping", load("octokit/ping/with-organization.payload.json")),  # no repository
        ("ping", {"zen": "Design for failure.", "hook_id": 1}),  # a GitHub App's ping
        ("star", {"action": "created", "repository": {"full_name": "o/r"}}),
        ("push", {"ref": "refs/heads/main"}),
        ("issues", {"action": "pinned"}),  # ignored before anything is validated
        ("pull_request_review", {"action": "dismissed"}),
        ("sponsorship_tier_2030", {"action": "invented"}),  # unknown to us: still 2xx
        ("issues", {"action": "typed_in_2031", "issue": {}}),
    ],
)
def test_ignored_and_unknown_events_give_nothing(event: str, payload: dict[str, Any]) -> None:
    assert parse(event, payload) == []


# -- the gateway against the fake GitHub --------------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub(token=TOKEN) as server:
        server.add_repo("Octo/Bins")
        yield server


@pytest.fixture
def gateway(fake: FakeGitHub) -> GitHubGateway:
    return GitHubGateway(fake.base_url, TOKEN, timeout=5, retries=2, backoff_factor=0)


def test_repository(fake: FakeGitHub, gateway: GitHubGateway) -> None:
    fake.add_repo("Octo/Secret", private=True)
    assert gateway.repository("octo/bins") == RepoInfo(
        full_name="Octo/Bins", html_url="https://github.com/Octo/Bins", private=False
    )
    assert gateway.repository("Octo/Secret").private is True
    assert [(r.method, r.path, r.status) for r in fake.requests] == [
        ("GET", "/repos/octo/bins", 200),
        ("GET", "/repos/Octo/Secret", 200),
    ]
    assert fake.requests[0].headers["authorization"] == f"token {TOKEN}"


def test_repository_missing(fake: FakeGitHub, gateway: GitHubGateway) -> None:
    with pytest.raises(IntegrationError) as raised:
        gateway.repository("octo/nowhere")
    assert raised.value.status == 404
    assert TOKEN not in str(raised.value)


@pytest.mark.parametrize("name", ["octo", "octo/bins/issues", "../x", "octo/..", "o/b ins", ""])
def test_names_that_are_not_repositories_make_no_request(
    fake: FakeGitHub, gateway: GitHubGateway, name: str
) -> None:
    with pytest.raises(IntegrationError):
        gateway.repository(name)
    assert fake.requests == []


def test_create_and_delete_hook(fake: FakeGitHub, gateway: GitHubGateway) -> None:
    events = ("issues", "pull_request", "issue_comment", "pull_request_review", "label", "fork")
    hook_id = gateway.create_hook("octo/bins", "https://bot.example/github/webhook", "hush", events)
    [request] = fake.requests
    assert (request.method, request.path, request.status) == ("POST", "/repos/octo/bins/hooks", 201)
    assert request.body["config"]["url"] == "https://bot.example/github/webhook"
    assert request.body["config"]["secret"] == "hush"
    assert request.body["config"]["content_type"] == "json"
    assert request.body["events"] == list(events)
    assert request.body["active"] is True and request.body["name"] == "web"
    assert [str(h["id"]) for h in fake.hooks("Octo/Bins")] == [hook_id]

    gateway.delete_hook("octo/bins", hook_id)
    assert fake.hooks("Octo/Bins") == []
    with pytest.raises(IntegrationError) as raised:
        gateway.delete_hook("octo/bins", hook_id)
    assert raised.value.status == 404


@pytest.mark.parametrize("status", [404, 403])
def test_create_hook_refused(fake: FakeGitHub, gateway: GitHubGateway, status: int) -> None:
    fake.refuse_hooks(status)
    with pytest.raises(IntegrationError) as raised:
        gateway.create_hook("octo/bins", "https://bot.example/github/webhook", "hush", ["issues"])
    error = raised.value
    assert error.status == status
    assert TOKEN not in str(error) and TOKEN not in repr(error) and "hush" not in str(error)
    assert len(fake.requests) == 1  # refusals are not retried


def test_wrong_token_is_an_integration_error_without_the_token(fake: FakeGitHub) -> None:
    wrong = "ghp_wrongTokenAlsoSecret"
    with pytest.raises(IntegrationError) as raised:
        GitHubGateway(fake.base_url, wrong, retries=0).repository("octo/bins")
    assert raised.value.status == 401
    assert wrong not in str(raised.value)


def test_unreachable_github_is_an_integration_error() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    gateway = GitHubGateway(f"http://127.0.0.1:{port}", TOKEN, timeout=2, retries=0)
    with pytest.raises(IntegrationError) as raised:
        gateway.poll_issues("octo/bins", etag=None, since=None)
    assert raised.value.status is None and TOKEN not in str(raised.value)


def test_server_errors_are_retried_then_reported(fake: FakeGitHub, gateway: GitHubGateway) -> None:
    fake.add_issue("octo/bins", 1, "Bin day reminders")
    fake.fail_next("/repos/octo/bins/issues", 502)
    assert len(gateway.poll_issues("octo/bins", etag=None, since=None).items) == 1
    assert [r.status for r in fake.requests] == [502, 200]

    fake.clear()
    fake.fail_next("/repos/octo/bins/issues", 500, times=3)
    with pytest.raises(IntegrationError) as raised:
        gateway.poll_issues("octo/bins", etag=None, since=None)
    assert raised.value.status == 500
    assert [r.status for r in fake.requests] == [500, 500, 500]  # 1 try + 2 retries


def test_poll_with_etag_costs_one_304_each(fake: FakeGitHub, gateway: GitHubGateway) -> None:
    fake.add_issue("octo/bins", 1, "Bin day reminders", labels=["help wanted"], user="ana")
    fake.add_issue("octo/bins", 2, "Street lights map", state="closed")
    first = gateway.poll_issues("octo/bins", etag=None, since=None)
    assert first.etag and not first.not_modified
    assert [(i.number, i.state, i.labels, i.author) for i in first.items] == [
        (1, "open", ("help wanted",), "ana"),
        (2, "closed", (), "octocat"),
    ]
    [request] = fake.requests
    assert request.query == {"state": "all", "sort": "updated", "direction": "asc",
                             "per_page": "100"}  # fmt: skip

    fake.clear()
    for _ in range(100):
        poll = gateway.poll_issues("octo/bins", etag=first.etag, since=None)
        assert poll == IssuePoll(etag=first.etag, not_modified=True, items=())
    assert len(fake.requests) == 100
    assert {(r.method, r.path, r.status) for r in fake.requests} == {
        ("GET", "/repos/octo/bins/issues", 304)
    }
    assert {r.headers["if-none-match"] for r in fake.requests} == {first.etag}

    fake.clear()
    fake.update_issue("octo/bins", 1, title="Bin day reminders by text")
    changed = gateway.poll_issues("octo/bins", etag=first.etag, since=None)
    assert not changed.not_modified and changed.etag not in (None, first.etag)
    assert [(i.number, i.title) for i in changed.items] == [
        (2, "Street lights map"),
        (1, "Bin day reminders by text"),  # oldest update first
    ]
    assert [r.status for r in fake.requests] == [200]


def test_poll_since_asks_for_recent_updates_only(fake: FakeGitHub, gateway: GitHubGateway) -> None:
    fake.add_issue("octo/bins", 1, "Old", updated_at="2026-01-01T09:00:00Z")
    fake.add_issue("octo/bins", 2, "New", updated_at="2026-01-02T09:00:00Z")
    poll = gateway.poll_issues("octo/bins", etag=None, since=datetime(2026, 1, 2, 9, tzinfo=UTC))
    assert [i.number for i in poll.items] == [2]
    assert fake.requests[0].query["since"] == "2026-01-02T09:00:00Z"


def test_poll_maps_pull_requests(fake: FakeGitHub, gateway: GitHubGateway) -> None:
    fake.add_issue("octo/bins", 1, "Plain issue")
    fake.add_issue("octo/bins", 2, "Open PR", pull_request={})
    fake.add_issue("octo/bins", 3, "Draft PR", pull_request={}, draft=True)
    fake.add_issue(
        "octo/bins", 4, "Merged PR", state="closed",
        pull_request={"merged_at": "2026-01-01T12:00:00Z"},
    )  # fmt: skip
    fake.add_issue("octo/bins", 5, "Closed PR", state="closed", pull_request={})
    fake.add_issue("octo/bins", 6, "Bot PR", pull_request={}, user="dependabot[bot]",
                   user_type="Bot")  # fmt: skip
    items = gateway.poll_issues("octo/bins", etag=None, since=None).items
    assert [(i.number, i.kind, i.state, i.closed, i.author_is_bot) for i in items] == [
        (1, "issue", "open", False, False),
        (2, "pr", "open", False, False),
        (3, "pr", "draft", False, False),
        (4, "pr", "merged", True, False),
        (5, "pr", "closed", True, False),
        (6, "pr", "open", False, True),
    ]
    assert items[3].url == "https://github.com/Octo/Bins/pull/4"
    assert {i.container_name for i in items} == {"Octo/Bins"}  # as GitHub spells it


def test_poll_follows_every_page(fake: FakeGitHub, gateway: GitHubGateway) -> None:
    for number in range(1, 251):
        fake.add_issue("octo/bins", number, f"Issue {number}")
    poll = gateway.poll_issues("octo/bins", etag=None, since=None)
    assert [i.number for i in poll.items] == list(range(1, 251))
    # GitHub's ETag covers the first page only: with more pages it cannot be trusted.
    assert poll.etag is None
    repo_id = fake.repo("octo/bins")["id"]  # GitHub's Link headers use /repositories/{id}
    assert [(r.path, r.query.get("page")) for r in fake.requests] == [
        ("/repos/octo/bins/issues", None),
        (f"/repositories/{repo_id}/issues", "2"),
        (f"/repositories/{repo_id}/issues", "3"),
    ]
    assert all(r.headers["authorization"] == f"token {TOKEN}" for r in fake.requests)


def test_poll_and_webhook_agree_on_state_and_dedupe_key(
    fake: FakeGitHub, gateway: GitHubGateway
) -> None:
    fake.add_issue("octo/bins", 7, "Bin day reminders", labels=["bug"], assignees=["ana"])
    issue = fake.update_issue("octo/bins", 7, state="closed")
    [polled] = gateway.poll_issues("octo/bins", etag=None, since=None).items
    delivery = {
        "action": "closed",
        "issue": issue,
        "repository": {"full_name": "Octo/Bins"},
        "sender": {"login": "ana", "type": "User"},
    }
    [change] = parse("issues", delivery)
    assert change.item == polled
    assert change.dedupe_key == item_dedupe_key(polled)
    assert change.dedupe_key == f"github:octo/bins#7@{issue['updated_at'][:-1]}+00:00"


def test_enterprise_server_base_url(fake: FakeGitHub) -> None:
    gateway = GitHubGateway(fake.ghes_url, TOKEN, retries=0)
    for number in range(1, 151):
        fake.add_issue("octo/bins", number, f"Issue {number}")
    assert gateway.repository("octo/bins").full_name == "Octo/Bins"
    assert len(gateway.poll_issues("octo/bins", etag=None, since=None).items) == 150
    hook_id = gateway.create_hook("octo/bins", "https://bot.example/hook", "hush", ["issues"])
    gateway.delete_hook("octo/bins", hook_id)
    assert all(r.raw_path.startswith("/api/v3/") for r in fake.requests)
    assert [r.status for r in fake.requests] == [200, 200, 200, 201, 204]
