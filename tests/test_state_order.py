"""Order-independent item state: any order of the same deliveries, processed by one worker or
by two at once, ends in the same, true state of every issue and card (issue 8, **State**).

Reproduces what two workers did to the mirror: older GitHub deliveries put back older comment
counts; older Trello changes were dropped by a whole-card timestamp check, leaving cards
archived or in the wrong list; Trello comment counters lost increments when two workers
changed the same card. Runs on SQLite, and on PostgreSQL when MAKERSBOT_TEST_POSTGRES_URL is
set.
"""

from __future__ import annotations

import itertools
import random
import threading
from collections.abc import Callable, Sequence
from typing import Any

from sqlmodel import select

from makersbot.app import Bot
from makersbot.store.models import Delivery, MirroredItem
from tests.conftest import Clock
from tests.fakes.slack import FakeSlack
from tests.mirror_helpers import (
    ALICE,
    BOARD,
    REPO,
    link,
    mirror_bot,
    start_project,
    use_shared_secrets,
)
from tests.state_plan import Card, Issue, Item, Signed, Truth, at, random_plan, row_state


def linked(bot: Bot) -> None:
    """A project mirroring the test repo and board (no thread replies: only state matters)."""
    start_project(bot)
    link(bot, f"hello-world github {REPO} threads:off")
    bot.links.link(ALICE, f"hello-world trello {BOARD} threads:off")
    use_shared_secrets(bot)  # the plans sign with the app-wide secrets


def deliver(bot: Bot, deliveries: Sequence[Signed]) -> None:
    for signed in deliveries:
        assert bot.deliveries.accept(signed.source, signed.headers, signed.body) == (200, "ok")


def items(bot: Bot) -> dict[str, MirroredItem]:
    with bot.db.session(read_only=True) as session:
        return {row.item_key: row for row in session.exec(select(MirroredItem)).all()}


def all_processed(bot: Bot) -> None:
    with bot.db.session(read_only=True) as session:
        deliveries = session.exec(select(Delivery)).all()
    assert [d.error for d in deliveries if d.error or d.processed_at is None] == []


def interleave(runs: Sequence[Sequence[Signed]]) -> list[Signed]:
    """One delivery of each run in turn: every run keeps its own order."""
    mixed = itertools.zip_longest(*runs)
    return [signed for group in mixed for signed in group if signed is not None]


def check(rows: dict[str, MirroredItem], truths: Sequence[Truth]) -> None:
    """Every item shows its true state, and the same last change as the first."""
    wrong = {t.key: (row_state(rows[t.key]), t.shown()) for t in truths}
    assert {key: pair for key, pair in wrong.items() if pair[0] != pair[1]} == {}
    last = {(rows[t.key].last_change, rows[t.key].last_change_at) for t in truths}
    assert len(last) == 1, last


# Every order of five deliveries --------------------------------------------------------


def every_order(
    make: Callable[[int], Item], steps: Sequence[str]
) -> tuple[list[Signed], list[Truth]]:
    """One item per order of `steps` (5! = 120), each given its deliveries in that order."""
    runs, truths = [], []
    for n, order in enumerate(itertools.permutations(range(len(steps))), start=1):
        item = make(n)
        rng = random.Random(0)  # the same choices (labels, lists) for every item
        planned = [item.step(name, at(i), rng) for i, name in enumerate(steps)]
        runs.append([planned[i] for i in order])
        truths.append(item.truth)
    return interleave(runs), truths


def test_every_order_of_five_github_deliveries_ends_in_the_same_state(mbot: Bot) -> None:
    linked(mbot)
    # The comment count of the last delivery must win, whichever is processed last.
    steps = ("opened", "comment", "labeled", "comment", "closed")
    deliveries, truths = every_order(lambda n: Issue(n, "Bin day reminders"), steps)
    deliver(mbot, deliveries)
    mbot.deliveries.process_pending()
    all_processed(mbot)
    rows = items(mbot)
    assert truths[0].shown() == ("Bin day reminders", "closed", True, ["research"], [], 2, None)
    check(rows, truths)


def test_every_order_of_five_trello_deliveries_ends_in_the_same_state(mbot: Bot) -> None:
    linked(mbot)
    # Archived then restored, then moved: an older restore must not be dropped.
    steps = ("created", "archived", "commented", "unarchived", "moved")
    deliveries, truths = every_order(lambda n: Card(n, "Survey residents"), steps)
    deliver(mbot, deliveries)
    mbot.deliveries.process_pending()
    all_processed(mbot)
    rows = items(mbot)
    state = truths[0].shown()
    assert state[0] == "Survey residents" and state[2:6] == (False, [], [], 1)
    check(rows, truths)


# Random orders of a larger set ---------------------------------------------------------


def twenty_items(offset: int) -> list[Item]:
    """Ten issues and ten cards, numbered from `offset` so several runs share the link."""
    issues: list[Item] = [Issue(offset + n, f"Issue {n}") for n in range(1, 11)]
    return issues + [Card(offset + n, f"Card {n}") for n in range(1, 11)]


def test_random_orders_of_300_deliveries_over_20_items_end_in_the_true_state(
    mbot: Bot,
) -> None:
    linked(mbot)
    runs, truths = [], []
    for run in range(3):  # run 0 in order, then two shuffles of the same changes
        run_items = twenty_items(100 * run)
        plan = random_plan(run_items, 300, random.Random(8))
        if run:
            random.Random(run).shuffle(plan)
        runs.append(plan)
        truths.append([item.truth for item in run_items])
    deliver(mbot, interleave(runs))
    mbot.deliveries.process_pending()
    all_processed(mbot)
    rows = items(mbot)
    for n in range(20):
        check(rows, [run[n] for run in truths])


# Two workers at once -------------------------------------------------------------------


def two_workers(first: Bot, second: Bot) -> None:
    """Both bots process the stored deliveries at the same time, a few at a time."""
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def work(bot: Bot) -> None:
        try:
            start.wait()
            bot.deliveries.process_pending(batch=3)
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(bot,)) for bot in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == [] and not any(thread.is_alive() for thread in threads)


def test_two_workers_lose_no_comment_and_no_change(
    mbot: Bot,
    database_url: str,
    fake_slack: FakeSlack,
    fake_github: Any,
    fake_trello: Any,
    clock: Clock,
) -> None:
    linked(mbot)
    # Few items, many changes each: the two workers keep changing the same card at once.
    busy: list[Item] = [Card(n, f"Card {n}") for n in range(1, 4)]
    busy += [Issue(n, f"Issue {n}") for n in range(1, 4)]
    rng = random.Random(3)
    plan = random_plan(busy, 60, rng)
    for step in range(60, 300):  # then a stream of comments, as in a busy discussion
        item = busy[step % len(busy)]
        name = "commented" if isinstance(item, Card) else "comment"
        plan.append(item.step(name, at(step), rng))
    deliver(mbot, plan)
    other = mirror_bot(database_url, fake_slack, fake_github, fake_trello, clock)
    try:
        two_workers(mbot, other)
    finally:
        other.stop()
    all_processed(mbot)
    rows = items(mbot)
    truths = [item.truth for item in busy]
    assert all(t.comments >= 40 for t in truths)
    assert {t.key: row_state(rows[t.key]) for t in truths} == {t.key: t.shown() for t in truths}
