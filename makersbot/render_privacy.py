"""What `/makers forget` shows: the confirmation with its button, and what was erased. Pure."""

from __future__ import annotations

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from makersbot.domain.messages import Message
from makersbot.domain.privacy import FORGET_ACTION, Erasure, ForgetPreview
from makersbot.render import SECTION_LIMIT, clip, plain


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def forget_confirmation(preview: ForgetPreview) -> Message:
    """The erasure, described, with the one button that does it (and Slack's "Are you sure?")."""
    whose = "your" if preview.is_self else f"<@{preview.slack_user_id}>'s"
    lines = [
        f"*This erases {whose} personal data from makersbot.*",
        f"• {whose.capitalize()} name, Slack id, council link, GitHub and Trello logins: deleted.",
        f"• {_count(preview.memberships, 'membership', 'memberships')} of projects: removed.",
        f"• {_count(preview.ledger_entries, 'contribution', 'contributions')} in the ledger: "
        "kept for the council, no longer linked to a person.",
        "• The bot's messages that mention them are edited to say “a former member”.",
    ]
    if preview.sole_lead_of:
        names = ", ".join(f"*{plain(n, 100)}*" for n in preview.sole_lead_of)
        lines.append(f"• {names} will have no lead until an admin chooses one (`/makers lead`).")
    lines.append("Nothing happens until the button is pressed. It cannot be undone.")
    text = "\n".join(lines)
    button = ButtonElement(
        text="Erase " + ("my data" if preview.is_self else "their data"),
        action_id=FORGET_ACTION,
        value=preview.slack_user_id,
        style="danger",
        confirm=ConfirmObject(
            title="Erase for good?",
            text="The data cannot be brought back.",
            confirm="Erase",
            deny="Keep it",
            style="danger",
        ),
    )
    blocks = [
        SectionBlock(text=MarkdownTextObject(text=clip(text, SECTION_LIMIT))),
        ActionsBlock(elements=[button]),
        ContextBlock(
            elements=[
                MarkdownTextObject(text="`/makers mydata` first sends a copy of what is held.")
            ]
        ),
    ]
    return Message(text=clip(text, 3000), blocks=[b.to_dict() for b in blocks])


def erased(erasure: Erasure, *, is_self: bool) -> str:
    """The reply once erased."""
    who = "Your personal data is" if is_self else f"<@{erasure.slack_user_id}>'s personal data is"
    parts = [
        f"{who} erased from makersbot: "
        f"{_count(erasure.memberships, 'membership', 'memberships')} removed, "
        f"{_count(erasure.ledger_entries, 'contribution', 'contributions')} kept for the "
        f"council only, {_count(erasure.messages_edited, 'message', 'messages')} edited."
    ]
    if erasure.leaderless:
        names = ", ".join(f"*{plain(n, 100)}*" for n in erasure.leaderless)
        parts.append(f"{names} now has no lead: an admin can choose one with `/makers lead`.")
    return " ".join(parts)
