"""A rendered Slack message, as renderers hand it to the outbox."""

from __future__ import annotations

from dataclasses import dataclass, field
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
