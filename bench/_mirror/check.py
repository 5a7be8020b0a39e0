"""What the fake Slack received and holds after a layout, against the planned state.

`analyse` finds every wrong answer: an item or board summary whose living message does
not show the expected final state, a message posted twice, a missing or extra thread
reply, a change never shown; and measures how long changes took to show.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bench._mirror.layout import Item, Layout
from bench._mirror.send import Ack, Sent

if TYPE_CHECKING:
    from tests.fakes.slack import Call, FakeSlack

_DATE = re.compile(r"<!date\^(\d+)\^")

Message = dict[str, Any]
Shown = dict[int, list[tuple[float, int]]]  # item index -> (call time, epoch the call shows)


@dataclass
class Outcome:
    """What one layout's run measured and found."""

    layout: Layout
    sent: Sent
    calls: list[Call]
    drained_in: float | None  # seconds from the last 2xx until the outbox was empty
    processed_in: float | None  # seconds from the last 2xx until no delivery was pending
    cpu: float
    problems: list[str]
    item_latency: list[float]  # per item: its last delivery's 2xx -> the final message
    delivery_latency: list[float]  # per delivery: 2xx -> first Slack call showing it (or later)
    kinds: Counter[str]
    threads_expected: int
    threads_posted: int
    lag_by_rank: list[tuple[int, float]]  # (rank of the item's first post, latency)
    injected: int = 0  # 429s the fake was told to answer during this layout
    during: Counter[str] = field(default_factory=Counter)  # calls before the last 2xx, by kind
    first_item_post: float = math.nan  # seconds from the first 2xx to the first item message
    final_shown_at: float = math.nan  # time.time() when the last item showed its final state
    bound: float = math.nan  # seconds an ideal paced sender needed after the last 2xx
    last_burst_bound: float = math.nan  # the calls the last burst alone made necessary


def shown_epoch(blocks: Any) -> int | None:
    """The time of the last change a living message shows (its context line's date)."""
    found = _DATE.findall(json.dumps(blocks))
    return int(found[-1]) if found else None


def meta_key(args: Mapping[str, Any]) -> str:
    """The outbox key a message or call carries in its metadata ("" when none)."""
    metadata = args.get("metadata") or {}
    payload = metadata.get("event_payload") if isinstance(metadata, dict) else None
    return str(payload.get("key", "")) if isinstance(payload, dict) else ""


def expected_summary_counts(layout: Layout, container: str) -> set[str]:
    items = [i for i in layout.items if i.container == container and i.opened]
    if items and items[0].source == "github":
        counts = Counter(i.state for i in items)
        return {f"{state} {n}" for state, n in counts.items()}
    return {f"{n_} {n}" for n_, n in Counter(i.state_words for i in items).items()}


def check_item(item: Item, message: Mapping[str, Any] | None) -> str | None:
    """Why the living message does not show the item's expected final state, or None."""
    from makersbot.render import escape

    if not item.opened:
        return None if message is None else "posted though never opened"
    if message is None:
        return "no message"
    blocks = message.get("blocks") or []
    try:
        headline = str(blocks[0]["text"]["text"])
        context = str(blocks[1]["elements"][0]["text"])
    except (IndexError, KeyError, TypeError):
        return f"unexpected blocks {str(blocks)[:200]}"
    if item.source == "github":
        marker = {"open": "🟢", "closed": "⚪", "merged": "🟣"}[item.state]
        want = f"{marker} <{item.url}|#{item.number} {escape(item.title)}>"
    else:
        want = f"{'📦' if item.archived else '🗂'} <{item.url}|{escape(item.title)}>"
    if headline != want:
        return f"headline {headline!r}, expected {want!r}"
    return _check_context(item, context)


def _check_context(item: Item, context: str) -> str | None:
    """The context line: container, kind and state, then labels, people and comments."""
    from makersbot.render import escape

    parts = context.split(" · ")
    kind = {"issue": "issue", "pr": "PR", "card": "card"}[item.kind]
    if parts[:3] != [escape(item.container_name), kind, escape(item.state_words)]:
        want = f"{item.container_name} · {kind} · {item.state_words}"
        return f"context {context[:160]!r}, expected {want!r}"
    labels = next((p.split(" ", 1)[1].split(", ") for p in parts if p.startswith("🏷")), [])
    if sorted(labels) != sorted(escape(label) for label in item.labels):
        return f"labels {labels}, expected {item.labels}"
    people = next((p.split(" ", 1)[1].split(", ") for p in parts if p.startswith("👤")), [])
    if sorted(people) != sorted(item.people):
        return f"people {people}, expected {item.people}"
    comments = next((int(p.split(" ", 1)[1]) for p in parts if p.startswith("💬")), 0)
    if comments != item.comments:
        return f"{comments} comments shown, expected {item.comments}"
    return None


@dataclass
class _Calls:
    """The layout's Slack calls sorted out: what each was, and what each item call showed."""

    kinds: Counter[str] = field(default_factory=Counter)
    during: Counter[str] = field(default_factory=Counter)  # made before the last 2xx
    shown: Shown = field(default_factory=lambda: defaultdict(list))
    first_item_post: float = math.nan  # seconds after the first 2xx


def analyse(
    layout: Layout,
    sent: Sent,
    fake: FakeSlack,
    calls: list[Call],
    all_calls: list[Call],
    cpu: float,
    timings: tuple[float | None, float | None],
) -> Outcome:
    """Correctness and latency of one layout from what the fake Slack received and holds."""
    items = layout.items
    by_key, ts_key = _held_messages(fake, sorted({item.channel for item in items}))
    problems = posted_twice(all_calls) + _final_state(layout, by_key)
    sorted_calls = _sort_calls(layout, sent, calls, ts_key)
    expected_threads, posted_threads, thread_problem = _thread_replies(layout, sent, calls)
    problems += thread_problem
    order = _message_order(fake, items)
    rank = {key: n for n, key in enumerate(sorted(order, key=order.__getitem__))}
    latency = _latencies(items, sent, sorted_calls.shown, rank, problems)
    return Outcome(
        layout=layout,
        sent=sent,
        calls=calls,
        drained_in=timings[1],
        processed_in=timings[0],
        cpu=cpu,
        problems=problems,
        item_latency=latency.items,
        delivery_latency=latency.deliveries,
        kinds=sorted_calls.kinds,
        threads_expected=expected_threads,
        threads_posted=posted_threads,
        lag_by_rank=sorted(latency.by_rank),
        during=sorted_calls.during,
        first_item_post=sorted_calls.first_item_post,
        final_shown_at=max(latency.finals, default=math.nan),
    )


def _held_messages(
    fake: FakeSlack, channels: Sequence[str]
) -> tuple[dict[str, list[Message]], dict[tuple[str, str], str]]:
    """(outbox key -> messages the fake holds, (channel, ts) -> outbox key)."""
    by_key: dict[str, list[Message]] = defaultdict(list)
    ts_key: dict[tuple[str, str], str] = {}
    for ch in channels:
        for message in fake.messages(ch):
            key = meta_key(message)
            if key:
                by_key[key].append(message)
                ts_key[ch, str(message["ts"])] = key
    return by_key, ts_key


def posted_twice(all_calls: Sequence[Call]) -> list[str]:
    """Nothing posted twice: each outbox key in exactly one successful chat.postMessage."""
    posts = Counter(
        meta_key(c.args) for c in all_calls if c.method == "chat.postMessage" and not c.failed
    )
    twice = sorted(key for key, n in posts.items() if n > 1 and key)
    return [f"{len(twice)} message(s) posted twice, e.g. {twice[:3]}"] if twice else []


def _sort_calls(
    layout: Layout, sent: Sent, calls: Sequence[Call], ts_key: Mapping[tuple[str, str], str]
) -> _Calls:
    """What each call was (item post/update, summary, thread reply, 429...) and, for item
    calls, which change they showed."""
    out = _Calls()
    first_ack, last_ack_at = min(a.at for a in sent.acks), max(a.at for a in sent.acks)
    item_keys = {item.message_key: n for n, item in enumerate(layout.items)}
    summary_keys = set(layout.summary_keys.values())
    for call in calls:
        if call.failed:
            out.kinds[f"429 {call.method}"] += 1
            continue
        if call.method == "chat.postMessage":
            key = meta_key(call.args)
            what = "thread reply" if call.args.get("thread_ts") else "post"
        elif call.method == "chat.update":
            key = ts_key.get((str(call.args.get("channel")), str(call.args.get("ts"))), "")
            what = "update"
        else:
            out.kinds[call.method] += 1
            continue
        if key in item_keys and what != "thread reply":
            kind = f"item {what}"
            epoch = shown_epoch(call.args.get("blocks"))
            if epoch is not None:
                out.shown[item_keys[key]].append((call.at, epoch))
            if what == "post":
                out.first_item_post = min(call.at - first_ack, out.first_item_post, key=_nan_last)
        elif key in summary_keys:
            kind = f"summary {what}"
        else:
            kind = what if what == "thread reply" else f"other {what}"
        out.kinds[kind] += 1
        if call.at <= last_ack_at:
            out.during[kind] += 1
    return out


def _final_state(layout: Layout, by_key: Mapping[str, list[Message]]) -> list[str]:
    """The final state of every item and board summary, as the fake holds them."""
    problems = []
    for item in layout.items:
        held = by_key.get(item.message_key, [])
        top = [m for m in held if m.get("thread_ts") in (None, m["ts"])]
        if len(top) > 1:
            problems.append(f"{item.item_key}: {len(top)} messages in the channel")
        why = check_item(item, top[-1] if top else None)
        if why:
            problems.append(f"{item.item_key}: {why}")
    for container, key in layout.summary_keys.items():
        held = by_key.get(key, [])
        if len(held) != 1:
            problems.append(f"summary {key}: {len(held)} messages")
            continue
        first = str(held[0]["blocks"][0]["text"]["text"]).split("\n")[0]
        counts = set(first.split(" — ", 1)[-1].split(" · "))
        want = expected_summary_counts(layout, container)
        if counts != want:
            problems.append(f"summary {key}: counts {sorted(counts)}, expected {sorted(want)}")
    return problems


def _thread_replies(
    layout: Layout, sent: Sent, calls: Sequence[Call]
) -> tuple[int, int, list[str]]:
    """(expected, posted, problems): one reply per state change and comment, when on."""
    expected = sum(1 for ack in sent.acks if ack.delivery.thread) if layout.threads else 0
    replies = Counter(
        call.args.get("thread_ts")
        for call in calls
        if call.method == "chat.postMessage" and not call.failed and call.args.get("thread_ts")
    )
    posted = sum(replies.values())
    if posted != expected:
        return expected, posted, [f"{posted} thread replies posted, expected {expected}"]
    return expected, posted, []


@dataclass
class _Latency:
    deliveries: list[float] = field(default_factory=list)
    items: list[float] = field(default_factory=list)
    by_rank: list[tuple[int, float]] = field(default_factory=list)
    finals: list[float] = field(default_factory=list)  # when each item's final state showed


def _latencies(
    items: Sequence[Item], sent: Sent, shown: Shown, rank: Mapping[str, int], problems: list[str]
) -> _Latency:
    """From a delivery's 2xx to the first item call showing that change or a later one;
    from each item's last 2xx to its final message. Changes never shown are problems."""

    def seen(index: int, ack: Ack) -> float | None:
        return next((at for at, e in sorted(shown[index]) if e >= ack.delivery.epoch), None)

    out = _Latency()
    last_ack: dict[int, Ack] = {}
    for ack in sent.acks:
        index = ack.delivery.item
        if index not in last_ack or ack.delivery.seq > last_ack[index].delivery.seq:
            last_ack[index] = ack
        at = seen(index, ack)
        if at is None:
            problems.append(f"{items[index].item_key}: change {ack.delivery.seq} never shown")
            continue
        out.deliveries.append(max(0.0, at - ack.at))
    for index, ack in last_ack.items():
        at = seen(index, ack)
        if at is not None:
            out.finals.append(at)
            out.items.append(max(0.0, at - ack.at))
            out.by_rank.append((rank[items[index].message_key], max(0.0, at - ack.at)))
    return out


def _nan_last(value: float) -> float:
    return math.inf if math.isnan(value) else value


def _message_order(fake: FakeSlack, items: Sequence[Item]) -> dict[str, str]:
    """Each item's outbox key -> the ts its message was first posted with ("9" if never),
    so that sorting the keys by it gives the posting order."""
    first: dict[str, str] = {}
    for channel in {item.channel for item in items}:
        for message in fake.messages(channel):
            first.setdefault(meta_key(message), str(message["ts"]))
    return {item.message_key: first.get(item.message_key, "9") for item in items}
