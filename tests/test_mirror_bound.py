"""The procfile benchmark's pacing bound: the ideal sender it is measured against."""

from __future__ import annotations

from collections.abc import Sequence

from bench._mirror.bound import Answer, Change, IdealSender


def ideal(
    changes: list[tuple[float, str, str]],
    answers: Sequence[tuple[str, str, int, float]] = (),
    *,
    posted: set[str] | None = None,
) -> float:
    items = {key for _, _, key in changes if not key.startswith("summary")}
    sender = IdealSender(
        [Change(at, channel, key) for at, channel, key in changes],
        [Answer(0.0, method, channel, status, wait) for method, channel, status, wait in answers],
        pace=1.0,
        posted=posted or set(),
        items=items,
    )
    return sender.run()


def test_one_post_per_channel_per_pace_with_the_backlog_counted() -> None:
    # Three new items at once in one channel: the third shows two paces later.
    assert ideal([(10.0, "C1", "a"), (10.0, "C1", "b"), (10.0, "C1", "c")]) == 12.0
    # In three channels they all show at once.
    assert ideal([(10.0, "C1", "a"), (10.0, "C2", "b"), (10.0, "C3", "c")]) == 10.0


def test_changes_before_a_call_cost_that_one_call() -> None:
    changes = [(10.0, "C1", "other")] + [(10.0 + n / 10, "C1", "busy") for n in range(5)]
    assert ideal(changes) == 11.0  # "busy" shows its fifth change one pace later


def test_a_429_holds_the_channel_and_a_5xx_costs_nothing() -> None:
    changes = [(10.0, "C1", "a"), (10.0, "C1", "b")]
    assert ideal(changes, [("chat.postMessage", "C1", 503, 0.0)]) == 11.0
    assert ideal(changes, [("chat.postMessage", "C1", 429, 3.0)]) == 14.0


def test_a_429_on_an_edit_holds_every_edit_but_not_posts() -> None:
    changes = [(10.0, "C1", "a"), (10.0, "C2", "b"), (11.5, "C2", "c"), (11.5, "C3", "d")]
    posted = {"a", "b", "d"}
    # C1's edit and C2's edit go out together at 10 (neither knows of the other's 429);
    # C2's post of "c" goes at 11.5, the edit of "d" waits for chat.update until 13.
    answers = [("chat.update", "C1", 429, 3.0)]
    assert ideal(changes, answers, posted=posted) == 13.0
