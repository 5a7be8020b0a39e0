"""A rendered Slack message, as renderers hand it to the outbox."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any


@dataclass(frozen=True)
class Message:
    """A rendered Slack message: `text` is the fallback for notifications and screen readers."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)

    def as_kwargs(self) -> dict[str, object]:
        """Arguments for chat.postMessage / respond / ack."""
        kwargs: dict[str, object] = {"text": self.text}
        if self.blocks:
            kwargs["blocks"] = self.blocks
        return kwargs

    @cached_property
    def ephemeral_body(self) -> str:
        """The message as the JSON body of an ephemeral reply to a slash command.

        Encoded once per message: renderers cache the messages `/makers list` and `info`
        answer with, so a busy process encodes each answer once, not once per request.
        """
        return json.dumps({**self.as_kwargs(), "response_type": "ephemeral"})
