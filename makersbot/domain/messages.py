"""A rendered Slack message, as renderers hand it to the outbox."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Message:
    """A rendered Slack message: `text` is the fallback for notifications and screen readers."""

    text: str
    blocks: list[dict[str, object]] = field(default_factory=list)

    def as_kwargs(self) -> dict[str, object]:
        """Arguments for chat.postMessage / respond / ack."""
        kwargs: dict[str, object] = {"text": self.text}
        if self.blocks:
            kwargs["blocks"] = self.blocks
        return kwargs
