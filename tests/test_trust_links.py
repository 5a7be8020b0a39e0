"""Links that cannot leak (issue 9, items 3-6): deliveries for what no project links are
ignored, each hook has its own secret or callback path, private sources stay private, and
unlink removes a link with everything it mirrored."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlmodel import select

from makersbot.app import Bot
from makersbot.domain.requests import Actor, UserError
from makersbot.store import people as people_store
from makersbot.store.models import (
    Delivery,
    LedgerEntry,
    Link,
    MirroredItem,
    MirrorEvent,
    Project,
)
from tests.conftest import Server
from tests.fakes.github import FakeGitHub
from tests.fakes.signing import github_headers, trello_headers
from tests.fakes.slack import FakeSlack
from tests.fakes.trello import FakeTrello
from tests.mirror_helpers import (
    ALICE,
    BOARD,
    GITHUB_SECRET,
    REPO,
    TRELLO_CALLBACK,
    TRELLO_SECRET,
    deliver_trello,
    fixture,
    github_delivery,
    issue_event,
    link,
    lower,
    start_project,
    two_linked_projects,
)

ADMIN = Actor(slack_user_id="U0ADMIN", display_name="ada", is_admin=True)
PRIVATE = "Codertocat/Secret-Plans"
PRIVATE_BOARD = "5f00000000000000000000aa"


def rows(bot: Bot, model: type) -> list[Any]:
    with bot.db.session(read_only=True) as session:
        return list(session.exec(select(model)).all())


def gives(bot: Bot) -> list[LedgerEntry]:
    """Ledger entries written from GitHub or Trello (starting a project writes one too)."""
    return [e for e in rows(bot, LedgerEntry) if e.verification == "webhook"]


def settle(bot: Bot) -> None:
    bot.deliveries.process_pending()
    bot.sender.drain()


def merged_pr(repo: str) -> dict[str, Any]:
    """A real `pull_request` closed+merged delivery (it earns a give), moved to `repo`."""
    payload = fixture("github/reallyfastci/webhook-pr-close.json")
    payload["repository"]["full_name"] = repo
    payload["repository"]["name"] = repo.split("/")[1]
    payload["repository"]["owner"]["login"] = repo.split("/")[0]
    return payload


def signed(payload: dict[str, Any], secret: str, hook_id: str | None = None) -> dict[str, str]:
    body = json.dumps(payload).encode()
    headers = github_headers(secret, body, "pull_request", f"d-{secret[:6]}-{hook_id}")
    if hook_id is not None:
        headers["X-GitHub-Hook-ID"] = hook_id
    return lower(headers)


def post_github(
    bot: Bot, payload: dict[str, Any], secret: str, hook_id: str | None = None
) -> tuple[int, str]:
    body = json.dumps(payload).encode()
    return bot.deliveries.accept_github(signed(payload, secret, hook_id), body)


def posts(fake_slack: FakeSlack) -> list[str]:
    return [str(c.args) for c in fake_slack.calls("chat.postMessage")]


# Unlinked sources are acknowledged and ignored ---------------------------------------


def test_a_merged_pr_for_an_unlinked_repo_writes_no_give_and_no_post(
    mbot: Bot, fake_slack: FakeSlack
) -> None:
    start_project(mbot)
    mbot.sender.drain()
    before = len(fake_slack.calls("chat.postMessage"))
    status, _ = post_github(mbot, merged_pr("someone/else"), GITHUB_SECRET)
    settle(mbot)
    assert status == 200
    assert gives(mbot) == []
    assert rows(mbot, MirroredItem) == []
    assert len(fake_slack.calls("chat.postMessage")) == before


def test_a_trello_delivery_for_an_unlinked_board_writes_nothing(mbot: Bot) -> None:
    start_project(mbot)
    move = fixture("trello/zulip/changing_cards_list.json")
    move["action"]["data"]["listAfter"]["name"] = "Done"
    body = json.dumps(move).encode()
    headers = lower(trello_headers(TRELLO_SECRET, body, TRELLO_CALLBACK))
    assert mbot.deliveries.accept_trello(headers, body)[0] == 200
    settle(mbot)
    assert gives(mbot) == [] and rows(mbot, MirroredItem) == []


# Per-link webhook secrets --------------------------------------------------------------


def test_each_hook_gets_its_own_secret_stored_with_its_link(
    mbot: Bot, fake_github: FakeGitHub
) -> None:
    two_linked_projects(mbot, fake_github)
    links = {row.target: row for row in rows(mbot, Link)}
    secrets = {
        name: fake_github.hooks(name)[0]["config"]["secret"] for name in (REPO, "Codertocat/Other")
    }
    assert secrets[REPO] == links[REPO.lower()].webhook_secret
    assert secrets["Codertocat/Other"] == links["codertocat/other"].webhook_secret
    assert len(set(secrets.values())) == 2 and GITHUB_SECRET not in secrets.values()
    assert all(len(secret) == 64 for secret in secrets.values())
    assert links[REPO.lower()].webhook_id == str(fake_github.hooks(REPO)[0]["id"])


def test_one_repos_hook_cannot_forge_into_another_project(
    mbot: Bot, fake_github: FakeGitHub
) -> None:
    two_linked_projects(mbot, fake_github)
    [mine] = fake_github.hooks(REPO)
    forged = merged_pr("Codertocat/Other")
    # Signed with the secret of REPO's hook, claiming to be that hook: refused.
    assert post_github(mbot, forged, mine["config"]["secret"], str(mine["id"]))[0] == 403
    # Signed with the global secret: that repo's link has its own, so refused too.
    assert post_github(mbot, forged, GITHUB_SECRET, "999")[0] == 403
    assert post_github(mbot, forged, GITHUB_SECRET)[0] == 403
    settle(mbot)
    assert rows(mbot, Delivery) == [] and gives(mbot) == []
    # Its own hook's delivery for its own repository is taken.
    own = merged_pr(REPO)
    assert post_github(mbot, own, mine["config"]["secret"], str(mine["id"])) == (200, "ok")
    settle(mbot)
    [give] = gives(mbot)
    [hello] = [p for p in rows(mbot, Project) if p.name == "Hello world"]
    assert give.project_id == hello.id


def test_an_older_link_keeps_working_on_the_global_secret(mbot: Bot) -> None:
    project = start_project(mbot)
    with mbot.db.session() as session:  # as migrated: a hook made with the global secret
        session.add(
            Link(
                project_id=project.id or 0,
                source="github",
                target=REPO.lower(),
                target_name=REPO,
                webhook_id="77",
            )
        )
    assert post_github(mbot, merged_pr(REPO), GITHUB_SECRET, "77") == (200, "ok")
    settle(mbot)
    assert len(gives(mbot)) == 1


def test_a_hand_made_hook_uses_a_secret_shown_only_to_the_linker(
    mbot: Bot, fake_github: FakeGitHub, fake_slack: FakeSlack
) -> None:
    fake_github.refuse_hooks(404)
    start_project(mbot)
    reply = link(mbot, f"hello-world github {REPO}")
    [row] = rows(mbot, Link)
    assert row.webhook_secret and row.webhook_id is None
    assert f"secret `{row.webhook_secret}`" in reply and "Settings → Webhooks" in reply
    mbot.sender.drain()
    assert not any(row.webhook_secret in str(call.args) for call in fake_slack.calls())
    assert row.webhook_secret not in mbot.links.links(ALICE, "hello-world").reply
    # The admin's hook (an id the bot never saw) signs with that secret: taken.
    assert post_github(mbot, merged_pr(REPO), row.webhook_secret, "4242") == (200, "ok")
    settle(mbot)
    assert len(gives(mbot)) == 1


def test_trello_hooks_call_back_on_their_own_unguessable_path(
    web: Server, fake_trello: FakeTrello
) -> None:
    server, bot = web, web.bot
    other = "5f00000000000000000000bb"
    fake_trello.add_board(other, "Other", "Oth3rBrd")
    start_project(bot)
    start_project(bot, "Second")
    link(bot, f"hello-world trello {BOARD}")
    link(bot, f"second trello {other}")
    links = {row.target: row for row in rows(bot, Link)}
    token = links[BOARD].callback_token
    assert token and len(token) >= 32 and token != links[other].callback_token
    hooks = {hook["idModel"]: hook for hook in fake_trello.webhooks.values()}
    assert hooks[BOARD]["callbackURL"] == f"{TRELLO_CALLBACK}/{token}"
    assert server.http.head(f"{server.url}/trello/webhook/{token}", timeout=5).status_code == 200

    card = fixture("trello/zulip/trello_creating_card.json")
    card["model"]["id"] = BOARD
    card["action"]["data"]["board"]["id"] = BOARD

    def post(payload: dict[str, Any], path: str, url: str) -> int:
        body = json.dumps(payload).encode()
        headers = trello_headers(TRELLO_SECRET, body, url)
        return server.post(path, body, headers).status_code

    # Signed for the old callback, or for another link's path: refused.
    assert post(card, "/trello/webhook", TRELLO_CALLBACK) == 403
    other_token = links[other].callback_token
    other_url = f"{TRELLO_CALLBACK}/{other_token}"
    assert post(card, f"/trello/webhook/{other_token}", other_url) == 403
    assert post(card, "/trello/webhook/not-a-token", f"{TRELLO_CALLBACK}/not-a-token") == 410
    assert rows(bot, Delivery) == []
    assert post(card, f"/trello/webhook/{token}", f"{TRELLO_CALLBACK}/{token}") == 200
    assert len(rows(bot, Delivery)) == 1


# Private sources stay private ----------------------------------------------------------


def private_channel(bot: Bot, fake_slack: FakeSlack, project: Project) -> str:
    """Move the project into a private channel (as if its makers had converted it)."""
    channel = fake_slack.add_channel(f"makers-private-{project.id}", is_private=True)
    with bot.db.session() as session:
        row = session.get(Project, project.id)
        assert row is not None
        row.channel_id = channel
        session.add(row)
    return channel


def prove(bot: Bot, actor: Actor, tool: str, login: str) -> None:
    with bot.db.session() as session:
        person = people_store.ensure_person(session, slack_user_id=actor.slack_user_id)
        people_store.set_login(
            session,
            person=person,
            tool=tool,
            login=login,
            verified_at=datetime(2026, 11, 1, tzinfo=UTC),
            verified_by="oauth",
        )


def test_a_private_repo_is_refused_in_a_public_channel(mbot: Bot, fake_github: FakeGitHub) -> None:
    fake_github.add_repo(PRIVATE, private=True)
    fake_github.add_collaborator(PRIVATE, "alice-gh", "admin")
    start_project(mbot)
    prove(mbot, ALICE, "github", "alice-gh")
    with pytest.raises(UserError, match="is private and <#C[A-Z0-9]+> is not"):
        mbot.links.link(ALICE, f"hello-world github {PRIVATE}")
    assert rows(mbot, Link) == [] and fake_github.hooks(PRIVATE) == []


def test_a_private_repo_needs_the_linkers_own_proven_read_access(
    mbot: Bot, fake_github: FakeGitHub, fake_slack: FakeSlack
) -> None:
    fake_github.add_repo(PRIVATE, private=True)
    project = start_project(mbot)
    private_channel(mbot, fake_slack, project)
    with pytest.raises(UserError, match="prove your own Github account"):
        mbot.links.link(ALICE, f"hello-world github {PRIVATE}")
    prove(mbot, ALICE, "github", "alice-gh")
    with pytest.raises(UserError, match="`alice-gh` cannot read it"):
        mbot.links.link(ALICE, f"hello-world github {PRIVATE}")
    assert rows(mbot, Link) == []
    fake_github.add_collaborator(PRIVATE, "alice-gh", "read")
    assert "Linked `Codertocat/Secret-Plans`" in link(mbot, f"hello-world github {PRIVATE}")
    [row] = rows(mbot, Link)
    assert row.private


def test_a_private_board_needs_membership_of_the_proven_member(
    mbot: Bot, fake_trello: FakeTrello, fake_slack: FakeSlack
) -> None:
    fake_trello.add_board(PRIVATE_BOARD, "Secret", "S3cretBd", private=True)
    project = start_project(mbot)
    with pytest.raises(UserError, match="is private"):
        mbot.links.link(ALICE, f"hello-world trello {PRIVATE_BOARD}")
    private_channel(mbot, fake_slack, project)
    prove(mbot, ALICE, "trello", "alicet")
    with pytest.raises(UserError, match="`alicet` cannot read it"):
        mbot.links.link(ALICE, f"hello-world trello {PRIVATE_BOARD}")
    fake_trello.add_board_member(PRIVATE_BOARD, "AliceT")
    assert "Linked the Trello board *Secret*" in link(mbot, f"hello-world trello {PRIVATE_BOARD}")


def test_an_admin_can_override_and_the_override_is_logged(
    mbot: Bot, fake_github: FakeGitHub, caplog: pytest.LogCaptureFixture
) -> None:
    fake_github.add_repo(PRIVATE, private=True)
    start_project(mbot)
    with pytest.raises(UserError, match="Only an admin"):
        mbot.links.link(ALICE, f"hello-world github {PRIVATE} --allow-private")
    with caplog.at_level(logging.WARNING, logger="makersbot.services.links"):
        reply = mbot.links.link(ADMIN, f"hello-world github {PRIVATE} --allow-private").reply
    assert "Linked `Codertocat/Secret-Plans`" in reply
    [line] = [r.getMessage() for r in caplog.records if "overridden" in r.getMessage()]
    assert "U0ADMIN" in line and PRIVATE.lower() in line and "hello-world" in line


# Unlink works ----------------------------------------------------------------------------


def test_unlink_removes_items_events_and_hook_and_tells_the_channel(
    mbot: Bot, fake_github: FakeGitHub, fake_slack: FakeSlack
) -> None:
    project = start_project(mbot)
    link(mbot, f"hello-world github {REPO}")
    body, headers = github_delivery(
        "issues", issue_event(5, "Bins", updated="2026-11-26T10:00:00Z")
    )
    assert mbot.deliveries.accept_github(lower(headers), body) == (200, "ok")
    settle(mbot)
    assert rows(mbot, MirroredItem) and rows(mbot, MirrorEvent)
    reply = mbot.links.unlink(ALICE, f"hello-world github https://github.com/{REPO}").reply
    assert f"Stopped mirroring `{REPO}`" in reply and "webhook is deleted" in reply
    assert rows(mbot, Link) == [] and rows(mbot, MirroredItem) == []
    assert rows(mbot, MirrorEvent) == [] and fake_github.hooks(REPO) == []
    mbot.sender.drain()
    told = [c for c in fake_slack.calls("chat.postMessage") if "stopped mirroring" in str(c.args)]
    assert len(told) == 1 and told[0].args["channel"] == project.channel_id


def test_unlink_over_slack_replies_instead_of_working_on_it_forever(
    mbot: Bot, fake_slack: FakeSlack
) -> None:
    start_project(mbot)
    link(mbot, f"hello-world github {REPO}")
    body, headers = github_delivery(
        "issues", issue_event(6, "Bins", updated="2026-11-26T10:00:00Z")
    )
    mbot.deliveries.accept_github(lower(headers), body)
    settle(mbot)
    replies: list[dict[str, Any]] = []
    command = {
        "command": "/makers",
        "text": f"unlink hello-world github {REPO}",
        "user_id": ALICE.slack_user_id,
        "user_name": "alice",
        "channel_id": "C0ELSEWHERE",
        "trigger_id": "t-unlink",
    }
    mbot.commands.dispatch(
        ack=lambda **kwargs: replies.append(kwargs),
        body=command,
        respond=lambda **kwargs: replies.append(kwargs),
        client=mbot.client,
    )
    assert "Stopped mirroring" in str(replies[-1])
    assert rows(mbot, Link) == []


def test_unlink_matches_exactly(mbot: Bot, fake_github: FakeGitHub) -> None:
    fake_github.add_repo(f"{REPO}-Two")
    start_project(mbot)
    link(mbot, f"hello-world github {REPO}-Two")  # linked first: a prefix match finds it
    link(mbot, f"hello-world github {REPO}")
    with pytest.raises(UserError, match="does not mirror"):
        mbot.links.unlink(ALICE, "hello-world github Codertocat/Hello")
    mbot.links.unlink(ALICE, f"hello-world github https://github.com/{REPO}")
    assert [row.target for row in rows(mbot, Link)] == [f"{REPO}-Two".lower()]
    assert len(fake_github.hooks(f"{REPO}-Two")) == 1


def test_deliveries_stored_before_unlink_are_ignored_after(
    mbot: Bot, fake_slack: FakeSlack
) -> None:
    start_project(mbot)
    link(mbot, f"hello-world github {REPO}")
    body, headers = github_delivery("pull_request", merged_pr(REPO))
    assert mbot.deliveries.accept_github(lower(headers), body) == (200, "ok")
    mbot.links.unlink(ALICE, f"hello-world github {REPO}")
    mbot.sender.drain()
    before = len(fake_slack.calls("chat.postMessage"))
    settle(mbot)
    assert gives(mbot) == [] and rows(mbot, MirroredItem) == []
    assert len(fake_slack.calls("chat.postMessage")) == before
    assert all(d.processed_at is not None for d in rows(mbot, Delivery))


def test_a_board_is_unlinked_by_its_url_and_its_hook_deleted(
    mbot: Bot, fake_trello: FakeTrello
) -> None:
    start_project(mbot)
    link(mbot, f"hello-world trello {BOARD}")
    move = fixture("trello/zulip/changing_cards_list.json")
    assert deliver_trello(mbot, move) == (200, "ok")
    settle(mbot)
    reply = mbot.links.unlink(ALICE, "hello-world trello https://trello.com/b/iqXXzYEj").reply
    assert "Stopped mirroring" in reply
    assert rows(mbot, Link) == [] and rows(mbot, MirroredItem) == []
    assert fake_trello.webhooks == {}


def test_a_new_link_after_unlink_never_edits_the_old_messages(
    mbot: Bot, fake_slack: FakeSlack
) -> None:
    start_project(mbot)
    link(mbot, f"hello-world github {REPO}")
    mbot.sender.drain()
    mbot.links.unlink(ALICE, f"hello-world github {REPO}")
    link(mbot, f"hello-world github {REPO}")  # SQLite may give it the same id
    mbot.sender.drain()
    summaries = [
        c for c in fake_slack.calls("chat.postMessage") if "link:" in str(c.args.get("metadata"))
    ]
    assert len(summaries) == 2
