"""Modals at the console: a form the bot opens is filled in field by field, then submitted to
the bot's own view listeners, as Slack would submit it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from makersbot.console.repl import Console

MAX_TRIES = 3


def _inputs(view: dict[str, Any]) -> list[dict[str, Any]]:
    return [block for block in view.get("blocks") or [] if block.get("type") == "input"]


def _ask(console: Console, block: dict[str, Any]) -> str | None:
    """One field's answer ("" for a skipped optional one); None to cancel the form."""
    label = block["label"]["text"]
    optional = bool(block.get("optional"))
    limit = block["element"].get("max_length")
    while True:
        answer = console.read(f"  {label}{' (optional)' if optional else ''}: ")
        if answer is None or (not answer and not optional):
            return None
        if limit and len(answer) > limit:
            console.print(f"  Keep it to {limit} characters.")
            continue
        return answer


def _validate(console: Console, view: dict[str, Any]) -> dict[str, str]:
    """The errors the bot's validation answers, by block id (none: accepted)."""
    errors: dict[str, str] = {}

    def ack(response_action: str | None = None, **kwargs: Any) -> None:
        if response_action == "errors":
            errors.update(kwargs.get("errors") or {})

    console.bot.views.validate(ack=ack, view=view)
    return errors


def fill_in(console: Console, view: dict[str, Any]) -> None:
    """Prompt for each field, submit, and show the errors the bot answers (as the modal
    would) until the form is accepted or cancelled."""
    title = (view.get("title") or {}).get("text", "A form")
    console.print(
        f"[a form opens: {title}] Fill it in here; Enter on an empty required field cancels it."
    )
    for _ in range(MAX_TRIES):
        values: dict[str, Any] = {}
        for block in _inputs(view):
            answer = _ask(console, block)
            if answer is None:
                console.print("[the form is closed: nothing was sent]")
                return
            element = block["element"]
            values[block["block_id"]] = {
                element["action_id"]: {"type": element["type"], "value": answer or None}
            }
        submitted = {**view, "state": {"values": values}}
        errors = _validate(console, submitted)
        if not errors:
            body = {"type": "view_submission", "user": console.actor(), "view": submitted}
            console.bot.views.start(body=body, view=submitted, client=console.slack)
            return
        labels = {block["block_id"]: block["label"]["text"] for block in _inputs(view)}
        for block_id, error in errors.items():
            console.print(f"  [the form says, under “{labels.get(block_id, block_id)}”] {error}")
    console.print("[the form is closed: nothing was sent]")
