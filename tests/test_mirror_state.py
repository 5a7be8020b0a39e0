"""What a change to many items may post: a label renamed across a repository, and a long
burst of changes in one item's thread (issue 8, **State** and **Outbox** findings)."""

from __future__ import annotations

import copy
import json
import random
import re
import threading
from typing import Any

import pytest
from sqlalchemy import event
from sqlmodel import col, select

from makersbot.app import Bot
from makersbot.render import SECTION_LIMIT
from makersbot.services import deliveries as deliveries_module
from makersbot.services import mirror as mirror_module
from makersbot.services.mirror import MirrorService
from makersbot.store import mirror as mirror_store
from makersbot.store.models import Link, MirroredItem, SlackMessage, StaleSummary, utcnow
from tests.fakes.github import FakeGitHub
from tests.fakes.slack import FakeSlack
from tests.mirror_helpers import (
    ALICE,
    BOARD,
    REPO,
    fixture,
    github_delivery,
    issue_event,
    link,
    lower,
    messages_by_key,
    mirror_bot,
    poll_again_since,
    start_project,
    statements,
    two_linked_projects,
    use_shared_secrets,
)
from tests.state_plan import Card, at


def rows(bot: Bot, model: type) -> list[Any]:
    with bot.db.session(read_only=True) as session:
        return list(session.exec(select(model)).all())


def deliver_github(bot: Bot, event: str, payload: dict[str, Any]) -> None:
    body, headers = github_delivery(event, payload)
    assert bot.deliveries.accept_github(lower(headers), body) == (200, "ok")


def settle(bot: Bot) -> None:
    bot.deliveries.process_pending()
    bot.sender.drain()


def label_event(action: str, old: str, new: str) -> dict[str, Any]:
    """A `label` delivery from the real octokit fixture, renaming `old` to `new`."""
    payload = copy.deepcopy(fixture("github/octokit/label/edited.payload.json"))
    payload["action"] = action
    payload["label"]["name"] = new
    payload["changes"] = {"name": {"from": old}} if action == "edited" else {}
    return payload


def test_a_label_rename_edits_only_messages_already_posted(
    mbot: Bot, fake_github: FakeGitHub, fake_slack: FakeSlack
) -> None:
    # 300 labelled issues are counted by the first look; three of them then change and get
    # a living message. Renaming the label must edit those three and the summary, and post
    # nothing for the other 297 (it queued 1,971 new posts for a repo of 2,000).
    for number in range(1, 301):
        fake_github.add_issue(REPO, number, f"Issue {number}", labels=["bug", "triage"])
    start_project(mbot)
    link(mbot, f"hello-world github {REPO}")
    for number in (7, 8, 9):
        when = f"2026-12-01T10:0{number}:00Z"
        title, labels = f"Issue {number} edited", ("bug", "triage")
        payload = issue_event(number, title, labels=labels, action="edited", updated=when)
        deliver_github(mbot, "issues", payload)
    settle(mbot)
    posted_before = set(messages_by_key(fake_slack))
    fake_slack.clear()

    deliver_github(mbot, "label", label_event("edited", "bug", "defect"))
    settle(mbot)

    assert set(messages_by_key(fake_slack)) == set()  # not one new post
    link_id = rows(mbot, Link)[0].id
    shown = {f"item:{link_id}:github:{REPO.lower()}#{n}" for n in (7, 8, 9)}
    assert shown <= posted_before
    with mbot.db.session(read_only=True) as session:
        messages = {m.ts: m.key for m in session.exec(select(SlackMessage)).all()}
    updated = [messages[c.args["ts"]] for c in fake_slack.calls("chat.update")]
    # The summary is rebuilt too; it shows no labels, so Slack is not called for it.
    assert sorted(updated) == sorted(shown)
    for call in fake_slack.calls("chat.update"):
        if messages[call.args["ts"]] in shown:
            assert "🏷 triage, defect" in call.args["blocks"][1]["elements"][0]["text"]
    assert all(row.labels == ["triage", "defect"] for row in rows(mbot, MirroredItem))
    assert len(rows(mbot, SlackMessage)) == len(posted_before)

    # Deleting the label works the same way: three edits, no posts.
    fake_slack.clear()
    deliver_github(mbot, "label", label_event("deleted", "defect", "defect"))
    settle(mbot)
    assert messages_by_key(fake_slack) == {}
    assert len(fake_slack.calls("chat.update")) == 3
    assert all(row.labels == ["triage"] for row in rows(mbot, MirroredItem))


def test_a_long_burst_in_one_thread_keeps_every_note(mbot: Bot, fake_slack: FakeSlack) -> None:
    # 244 comments on one card before the sender runs: the joined replies kept only the last
    # 12 lines (122 of 244 notes cut). Every note must reach the thread, in order, in replies
    # that each fit in one Slack section.
    start_project(mbot)
    mbot.links.link(ALICE, f"hello-world trello {BOARD}")
    use_shared_secrets(mbot)  # the cards' deliveries are signed with the app-wide secret
    card, rng = Card(1, "Survey residents"), random.Random(0)
    deliveries = [card.step("created", at(0), rng)]
    deliveries += [card.step("commented", at(n), rng) for n in range(1, 244)]
    for signed in deliveries:
        assert mbot.deliveries.accept(signed.source, signed.headers, signed.body)[0] == 200
    settle(mbot)
    posts = fake_slack.calls("chat.postMessage")
    replies = [c.args["text"] for c in posts if "thread_ts" in c.args]
    assert len(replies) > 1
    assert all(len(text) <= SECTION_LIMIT for text in replies)
    quoted = [line for text in replies for line in text.splitlines() if line.startswith("> ")]
    assert quoted == [f"> Note {n}" for n in range(1, 244)]
    notes = [line for text in replies for line in text.splitlines() if not line.startswith(">")]
    assert len(notes) == 244  # "created … in …" and 243 × "commented"


def test_a_card_stored_before_marks_keeps_its_labels(mbot: Bot) -> None:
    # A card mirrored before this version has labels but no marks (migration 0009): a label
    # added later joins them instead of replacing them, and one removed goes.
    start_project(mbot)
    mbot.links.link(ALICE, f"hello-world trello {BOARD}")
    use_shared_secrets(mbot)  # the cards' deliveries are signed with the app-wide secret
    card, rng = Card(1, "Survey residents"), random.Random(2)
    card.truth.labels = {"accessibility", "research"}
    card.truth.opened, card.truth.state = True, "To do"
    with mbot.db.session() as session:
        link_id = session.exec(select(Link)).one().id
        assert link_id is not None
        old = MirroredItem(link_id=link_id, item_key=card.truth.key, kind="card", state="To do")
        old.title, old.labels = "Survey residents", ["accessibility", "research"]
        session.add(old)
    deliveries = [card.step("labeled", at(1), rng), card.step("unlabeled", at(2), rng)]
    for signed in deliveries:
        assert mbot.deliveries.accept(signed.source, signed.headers, signed.body)[0] == 200
    settle(mbot)
    [row] = rows(mbot, MirroredItem)
    assert sorted(row.labels) == sorted(card.truth.labels) and len(row.labels) == 2


def test_a_batch_of_changes_makes_its_round_trips_per_batch(mbot: Bot) -> None:
    # A worker spent 6-11 ms of CPU per delivery on PostgreSQL (bench/mirror.py, Procfile
    # topology), most of it in round trips made once per change: the item's lock, its
    # event, its message read and then written. Only each item's own UPDATE may grow with
    # the batch; the rest is the same for 3 changes as for 10 (one transaction on SQLite).
    start_project(mbot)
    link(mbot, f"hello-world github {REPO}")
    for number in range(1, 13):
        deliver_github(
            mbot, "issues", issue_event(number, "New", updated=f"2026-01-01T00:00:{number:02}Z")
        )
    settle(mbot)

    def process_edits(numbers: range, minute: int) -> list[str]:
        for number in numbers:
            edited = issue_event(
                number,
                f"Edited {minute}",
                action="edited",
                updated=f"2026-01-01T00:{minute:02}:{number:02}Z",
            )
            deliver_github(mbot, "issues", edited)
        with statements(mbot) as sent:
            assert mbot.deliveries.process_pending() == len(numbers)
        return sent

    few, many = process_edits(range(1, 4), 1), process_edits(range(1, 11), 2)
    item_updates = [s for s in many if s.startswith("UPDATE mirrored_item")]
    assert 1 <= len(item_updates) <= 10
    others = [s for s in many if not s.startswith("UPDATE mirrored_item")]
    assert len(others) == len([s for s in few if not s.startswith("UPDATE mirrored_item")])
    titles = {row.item_key: row.title for row in rows(mbot, MirroredItem)}
    assert sorted(titles.values()) == ["Edited 2"] * 10 + ["New"] * 2


def test_a_board_summary_counts_in_the_database(mbot: Bot) -> None:
    # The summary is rebuilt after every batch that changes a link. It loaded every item
    # of the link to count them: 2,000 rows a batch for a repository of 2,000 issues. Now it
    # counts with one GROUP BY and loads only the 5 items it lists.
    start_project(mbot)
    link(mbot, f"hello-world github {REPO}")
    with mbot.db.session() as session:
        link_row = session.exec(select(Link)).one()
        assert link_row.id is not None
        for n in range(300):
            state = "open" if n % 3 else "closed"
            session.add(
                MirroredItem(
                    link_id=link_row.id,
                    item_key=f"github:{REPO}#{n}",
                    kind="issue",
                    number=n,
                    title=f"Issue {n}",
                    state=state,
                    closed=state == "closed",
                    deleted=n == 299,
                    last_change=f"change {n}",
                    last_change_at=at(n),
                )
            )
    loaded: list[MirroredItem] = []
    listen = (MirroredItem, "load", lambda target, _context: loaded.append(target))
    event.listen(*listen)
    try:
        with mbot.db.session() as session:
            mbot.mirror.publish_summary(session, session.exec(select(Link)).one())
    finally:
        event.remove(*listen)
    assert len(loaded) == 5
    with mbot.db.session(read_only=True) as session:
        summary = session.exec(select(SlackMessage).where(col(SlackMessage.pin))).all()
    message = next(m for m in summary if m.key.endswith(":summary"))
    assert message.text.endswith(": open 199, closed 100")  # the deleted one not counted
    shown = json.dumps(message.blocks, ensure_ascii=False)
    assert "open 199 · closed 100" in shown
    listed = {int(n) for n in re.findall(r"Issue (\d+)", shown)}
    assert listed == {294, 295, 296, 297, 298}, shown  # newest first; 299 was deleted


def test_a_burst_rebuilds_each_board_summary_once(
    mbot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The summary was rebuilt after every claim of a burst: a transaction per link each
    # time, a quarter of `serve`'s delivery processing in bench/mirror.py, and one more
    # paced call in the channel for each. While claims keep coming it is rebuilt at most
    # every SUMMARY_EVERY seconds, and always once the burst is processed.
    start_project(mbot)
    link(mbot, f"hello-world github {REPO}")
    settle(mbot)
    rebuilt: list[int] = []
    publish_summary = mbot.mirror.publish_summary

    def counted(session: Any, link_row: Link) -> None:
        rebuilt.append(int(link_row.id or 0))
        publish_summary(session, link_row)

    monkeypatch.setattr(mbot.mirror, "publish_summary", counted)
    monkeypatch.setattr(deliveries_module, "SUMMARY_EVERY", 3600.0)
    for number in range(1, 11):
        event = issue_event(number, f"Issue {number}", updated=f"2026-01-01T00:00:{number:02}Z")
        deliver_github(mbot, "issues", event)
    assert mbot.deliveries.process_pending(batch=2) == 10  # five claims
    assert len(rebuilt) == 1
    summary = next(m for m in rows(mbot, SlackMessage) if m.key.endswith(":summary"))
    assert summary.text.endswith(": open 10")

    monkeypatch.setattr(deliveries_module, "SUMMARY_EVERY", 0.0)  # the old cadence
    for number in range(1, 11):
        event = issue_event(
            number,
            "Closed",
            action="closed",
            state="closed",
            updated=f"2026-01-01T00:01:{number:02}Z",
        )
        deliver_github(mbot, "issues", event)
    assert mbot.deliveries.process_pending(batch=2) == 10
    assert len(rebuilt) == 1 + 5  # after each claim (nothing left for the end)
    summary = next(m for m in rows(mbot, SlackMessage) if m.key.endswith(":summary"))
    assert summary.text.endswith(": closed 10")


def summary_text(bot: Bot, link_id: int) -> str:
    return str(next(m.text for m in rows(bot, SlackMessage) if m.key == f"link:{link_id}:summary"))


def test_a_summary_left_stale_by_a_dying_worker_is_rebuilt_by_the_next(
    mbot: Bot,
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
    fake_slack: FakeSlack,
    fake_github: FakeGitHub,
    fake_trello: Any,
    clock: Any,
) -> None:
    # Which summaries a committed batch left stale lived in the worker's memory until its
    # next flush: a worker that died in between left them stale until the link's next
    # change. The marks are rows now, written in the batch's own transaction.
    start_project(mbot)
    link(mbot, f"hello-world github {REPO}")
    settle(mbot)
    [link_row] = rows(mbot, Link)
    monkeypatch.setattr(mbot.mirror, "flush_summaries", lambda: 0)  # dies before any flush
    for number in range(1, 4):
        deliver_github(
            mbot,
            "issues",
            issue_event(number, f"Issue {number}", updated=f"2026-01-01T00:00:{number:02}Z"),
        )
    assert mbot.deliveries.process_pending() == 3
    assert not summary_text(mbot, link_row.id).endswith(": open 3")
    restarted = mirror_bot(database_url, fake_slack, fake_github, fake_trello, clock)
    try:
        assert restarted.mirror.flush_summaries() == 1
        assert restarted.mirror.flush_summaries() == 0  # taken once
    finally:
        restarted.stop()
    assert summary_text(mbot, link_row.id).endswith(": open 3")


def test_a_summary_that_fails_to_build_keeps_its_mark_and_holds_back_no_other(
    mbot: Bot, fake_github: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    two_linked_projects(mbot, fake_github)
    settle(mbot)
    monkeypatch.setattr(mirror_module, "ORPHANS_EVERY", 0.0)  # marks not made by its batches
    first, second = sorted(row.id for row in rows(mbot, Link))
    with mbot.db.session() as session:
        mirror_store.mark_summaries_stale(session, link_ids=[first, second], now=utcnow())
    publish_summary = mbot.mirror.publish_summary

    def broken_for_first(session: Any, link_row: Link) -> None:
        if link_row.id == first:
            raise RuntimeError("a bug in one summary")
        publish_summary(session, link_row)

    monkeypatch.setattr(mbot.mirror, "publish_summary", broken_for_first)
    assert mbot.mirror.flush_summaries() == 1  # the second, past the first
    assert [row.link_id for row in rows(mbot, StaleSummary)] == [first]
    monkeypatch.setattr(mbot.mirror, "publish_summary", publish_summary)
    assert mbot.mirror.flush_summaries() == 1
    assert rows(mbot, StaleSummary) == []


def test_a_flush_waits_for_the_changes_behind_a_mark(
    mbot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Any worker now rebuilds any stale summary. One that flushes while another worker's
    # batch of the same link is still open must not build the summary without the batch's
    # changes and drop the mark: it waits for the batch (whose rows lock the link, and
    # whose upsert holds the mark), and its summary shows what the batch changed.
    start_project(mbot)
    link(mbot, f"hello-world github {REPO}")
    deliver_github(mbot, "issues", issue_event(1, "Bins", updated="2026-01-01T00:00:01Z"))
    settle(mbot)  # the item exists: changing it locks no link row
    [link_row] = rows(mbot, Link)
    monkeypatch.setattr(mirror_module, "ORPHANS_EVERY", 0.0)  # the flush looks at every mark
    with mbot.db.session() as session:  # marked by an earlier batch, not yet flushed
        mirror_store.mark_summaries_stale(session, link_ids=[link_row.id], now=utcnow())
    marked, release = threading.Event(), threading.Event()
    mark = mirror_store.mark_summaries_stale

    def held_open(session: Any, **kwargs: Any) -> None:
        mark(session, **kwargs)
        marked.set()
        assert release.wait(10)  # the batch's transaction stays open until released

    monkeypatch.setattr(mirror_store, "mark_summaries_stale", held_open)
    monkeypatch.setattr(mbot.mirror, "flush_summaries", lambda: 0)  # only the other flush
    closed = issue_event(1, "Bins", action="closed", state="closed", updated="2026-01-01T00:00:02Z")
    deliver_github(mbot, "issues", closed)
    batch = threading.Thread(target=mbot.deliveries.process_pending, daemon=True)
    batch.start()
    assert marked.wait(10)
    flushed: list[int] = []
    other = threading.Thread(
        target=lambda: flushed.append(MirrorService.flush_summaries(mbot.mirror)), daemon=True
    )
    other.start()
    other.join(0.5)
    assert other.is_alive() and flushed == []  # waiting for the batch
    release.set()
    batch.join(10)
    other.join(10)
    assert flushed == [1]
    assert summary_text(mbot, link_row.id).endswith(": closed 1")


def test_a_poll_publishes_its_summary_and_leaves_no_mark(
    mbot: Bot, fake_github: FakeGitHub
) -> None:
    # Polling applies its changes and publishes the summary in one transaction: a mark
    # left behind would only make a flush rebuild the same summary again.
    start_project(mbot)
    link(mbot, f"hello-world github {REPO}")
    settle(mbot)
    fake_github.add_issue(REPO, 7, "Parking permits", updated_at="2026-11-26T11:00:00Z")
    poll_again_since(mbot, "2026-11-26T10:00:00+00:00")
    [link_row] = rows(mbot, Link)
    assert mbot.links.poll_link(link_row.id) == 1
    assert rows(mbot, StaleSummary) == []
    assert summary_text(mbot, link_row.id).endswith(": open 1")


def test_an_idle_flush_reads_nothing_and_still_finds_orphaned_marks(
    mbot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An idle worker flushes twice a second; a query for marks each time cost more CPU
    # than the rebuilds (bench/mirror.py --topology procfile: 2.4 -> 3.1 ms per delivery).
    # It reads only when its own batches marked a summary, or every ORPHANS_EVERY seconds.
    start_project(mbot)
    link(mbot, f"hello-world github {REPO}")
    settle(mbot)  # the first flush looked for orphaned marks
    with statements(mbot) as sent:
        assert mbot.mirror.flush_summaries() == 0
    assert sent == []
    [link_row] = rows(mbot, Link)
    with mbot.db.session() as session:  # a mark a stopped worker left
        mirror_store.mark_summaries_stale(session, link_ids=[link_row.id], now=utcnow())
    assert mbot.mirror.flush_summaries() == 0  # not yet looked for
    monkeypatch.setattr(mirror_module, "ORPHANS_EVERY", 0.0)  # as if 30 s had passed
    assert mbot.mirror.flush_summaries() == 1
    assert rows(mbot, StaleSummary) == []
