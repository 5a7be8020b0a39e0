"""The pacing bound of `--topology procfile`: when an ideal sender would have shown every item.

The ideal sender is what ours would be with nothing of its own in the way: it sees each
change the moment its delivery is acknowledged, spends no time on the database or on its
calls, and is held back only by what Slack imposes, at the same pace as ours:

- one call per channel per SLACK_CHANNEL_PACE, to the message whose latest change is the
  oldest (as ours orders them), several changes to one message before its call costing
  that one call; every delivery changes its item and its board's summary (the summary
  changes less often in truth: the bound may count a summary call ours need not make);
- the very answers Slack gave our sender in that channel, in the same order (the k-th call
  it makes in a channel gets the k-th answer ours got there; successes once those run out):
  a 429 holds the channel (and, for chat.update, every channel's edits) Retry-After seconds,
  and the message waits as long; a 5xx did nothing, so it is tried again at once.

Counting only the last burst's messages, as the bound first did, left out the ones still
waiting from earlier bursts: with 50 new items in one channel at one post a second, a
fault-free run cannot post them all while the bursts arrive, so that bound was below what
any sender could reach. The simulation carries that backlog, and the 429s Slack answered,
instead of guessing either.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bench._mirror.faults import FAULTED, FaultySlack
from bench._mirror.layout import Layout
from bench._mirror.send import Ack
from tests.fakes.slack import _Reply


@dataclass(frozen=True)
class Answer:
    """What Slack answered one chat call: when, in which channel, the status and Retry-After."""

    at: float
    method: str
    channel: str
    status: int
    retry_after: float = 0.0


class RecordedSlack(FaultySlack):
    """FaultySlack that keeps every chat call's answer, for the ideal sender to replay."""

    def __init__(self, rate: float = 0.0, seed: int = 20) -> None:
        super().__init__(rate, seed)
        self.answers: list[Answer] = []

    def _record_and_reply(
        self,
        method: str,
        args: dict[str, Any],
        headers: dict[str, str],
        body: bytes,
        path: str,
        parse_error: str | None,
    ) -> _Reply:
        reply = super()._record_and_reply(method, args, headers, body, path, parse_error)
        if method in FAULTED:
            retry = float(reply.headers.get("Retry-After", 0) or 0)
            answer = Answer(time.time(), method, str(args.get("channel", "")), reply.status, retry)
            with self._faults_lock:
                self.answers.append(answer)
        return reply


@dataclass(frozen=True)
class Change:
    at: float
    channel: str
    key: str


def changes_of(layout: Layout, acks: Iterable[Ack]) -> list[Change]:
    """Each acknowledged delivery changes its item's message and its board's summary."""
    out = []
    for ack in acks:
        item = layout.items[ack.delivery.item]
        for key in (item.message_key, layout.summary_keys[item.container]):
            out.append(Change(ack.at, item.channel, key))
    return sorted(out, key=lambda c: c.at)


class IdealSender:
    """The simulation: `run()` returns when every item's last change was shown."""

    def __init__(
        self,
        changes: list[Change],
        answers: Iterable[Answer],
        *,
        pace: float,
        posted: set[str],
        items: set[str],
    ) -> None:
        self.changes = deque(changes)
        self.answers: Mapping[str, deque[Answer]] = defaultdict(deque)
        for answer in answers:
            self.answers[answer.channel].append(answer)
        self.pace, self.posted, self.items = pace, set(posted), items
        self.channel: dict[str, str] = {}
        self.dirty: dict[str, float] = {}  # key -> its latest change, not shown yet
        self.due: dict[str, float] = {}  # key -> when a 429 lets it be tried again
        self.gate: dict[str, float] = defaultdict(float)  # channel -> next call allowed
        self.edits_gate = 0.0  # chat.update, after a 429 on it
        self.shown: dict[str, float] = {}  # item key -> when its latest change showed

    def run(self) -> float:
        now = self.changes[0].at if self.changes else 0.0
        while True:
            while self.changes and self.changes[0].at <= now:
                change = self.changes.popleft()
                self.channel[change.key] = change.channel
                self.dirty[change.key] = change.at
                self.shown.pop(change.key, None)
            # Calls made at the same moment learn nothing from each other's answers.
            edits_open = self.edits_gate <= now
            for channel in sorted({self.channel[key] for key in self.dirty}):
                self._turn(channel, now, edits_open)
            later = self._next_time(now)
            if later is None:
                return max(self.shown.values(), default=now)
            now = later

    def _turn(self, channel: str, now: float, edits_open: bool) -> None:
        """The channel's call, if its gate is open."""
        if self.gate[channel] > now:
            return
        waiting = [
            key
            for key in self.dirty
            if self.channel[key] == channel
            and self.due.get(key, 0.0) <= now
            and (edits_open or key not in self.posted)
        ]
        if not waiting:
            return
        # One delivery changes an item and its summary at once: the item first.
        key = min(waiting, key=lambda k: (self.dirty[k], k not in self.items))
        answers = self.answers[channel]
        answer = answers.popleft() if answers else None
        while answer is not None and answer.status >= 500:  # did nothing: again at once
            answer = answers.popleft() if answers else None
        if answer is not None and answer.status == 429:
            wait = answer.retry_after
            self.gate[channel] = now + max(self.pace, wait)
            self.due[key] = now + wait
            if key in self.posted:
                self.edits_gate = max(self.edits_gate, now + wait)
            return
        self.gate[channel] = now + self.pace
        del self.dirty[key]
        self.posted.add(key)
        if key in self.items:
            self.shown[key] = now

    def _next_time(self, now: float) -> float | None:
        """The next moment something can change: a change arrives, a gate or a wait ends."""
        times = [self.changes[0].at] if self.changes else []
        for key in self.dirty:
            times += [self.gate[self.channel[key]], self.due.get(key, 0.0)]
            if key in self.posted:
                times.append(self.edits_gate)
        later = [t for t in times if t > now]
        if not later:
            return None if not self.dirty else now + self.pace
        return min(later)


def ideal_finish(
    layout: Layout,
    acks: Iterable[Ack],
    answers: Iterable[Answer],
    *,
    pace: float,
    posted: set[str],
) -> float:
    """time.time() at which the ideal sender shows the last item's final state."""
    items = {item.message_key for item in layout.items}
    sender = IdealSender(changes_of(layout, acks), answers, pace=pace, posted=posted, items=items)
    return sender.run()
