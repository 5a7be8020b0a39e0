"""What the outbox tests share: publishing, reading rows, and a fake Slack that can hold a call."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from sqlmodel import select

from makersbot.app import Bot
from makersbot.domain.messages import Message
from makersbot.store.models import SlackMessage
from tests.fakes.slack import FakeSlack


def publish(bot: Bot, key: str, channel: str, text: str, **kwargs: Any) -> None:
    with bot.db.session() as session:
        bot.outbox.publish(session, key=key, channel=channel, message=Message(text), **kwargs)


def row(bot: Bot, key: str) -> SlackMessage:
    with bot.db.session(read_only=True) as session:
        return session.exec(select(SlackMessage).where(SlackMessage.key == key)).one()


def depth(bot: Bot) -> int:
    with bot.db.session(read_only=True) as session:
        return bot.outbox.depth(session)


def posts_per_key(fake: FakeSlack) -> Counter[str]:
    """How many times each outbox key was posted (chat.postMessage answered ok)."""
    posted: Counter[str] = Counter()
    for call in fake.calls("chat.postMessage"):
        metadata = call.args.get("metadata") or {}
        key = (metadata.get("event_payload") or {}).get("key")
        if key and not call.failed:
            posted[key] += 1
    return posted


class HeldSlack(FakeSlack):
    """The fake Slack, able to hold calls of one method until the test lets them go:
    Slack being slow to answer. A held call is neither recorded nor carried out yet."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._held_method: str | None = None
        self.holding = threading.Event()  # set while a call is held
        self._let_go = threading.Event()

    def hold(self, method: str) -> None:
        self._held_method = method
        self._let_go.clear()

    def let_go(self) -> None:
        self._held_method = None
        self._let_go.set()

    def _serve(self, raw_path: str, headers: dict[str, str], body: bytes) -> Any:
        if self._held_method and raw_path.split("?")[0].endswith("/" + self._held_method):
            self.holding.set()
            self._let_go.wait(timeout=30)
        return super()._serve(raw_path, headers, body)
