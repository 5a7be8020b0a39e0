"""Finding the right project: "Did you mean…?" for a name that fits several, and the prompt
that shows look-alike projects before a new one is started. Pure."""

from __future__ import annotations

from collections.abc import Sequence

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from makersbot.domain.messages import Message
from makersbot.domain.projects import JOIN_ACTION, Phase
from makersbot.domain.similar import START_ANYWAY_ACTION, LooksLikeExisting, Similar
from makersbot.render import SECTION_LIMIT, TEXT_LIMIT, clip, plain, project_line


def did_you_mean(ref: str, choices: Sequence[tuple[str, str]]) -> str:
    """The reply to a project name that fits more than one, or fits one only loosely:
    each (name, slug) with the slug to type, so that nothing is picked silently."""
    typed = plain(ref, 100)
    if len(choices) == 1:
        name, slug = choices[0]
        return (
            f"No project is called “{typed}”. Did you mean *{plain(name, 100)}*? "
            f"Type `{slug}` in your command to use it."
        )
    lines = [f"• *{plain(name, 100)}* — `{slug}`" for name, slug in choices]
    return (
        f"“{typed}” could be more than one project. Did you mean:\n"
        + "\n".join(lines)
        + "\nType the one you mean (its slug is shown) in your command."
    )


def _section(text: str, accessory: ButtonElement | None = None) -> SectionBlock:
    return SectionBlock(
        text=MarkdownTextObject(text=clip(text, SECTION_LIMIT)), accessory=accessory
    )


def _match(similar: Similar) -> SectionBlock:
    """One look-alike: its catalogue line, its description, and a Join button."""
    card = similar.card
    text = project_line(card)
    if card.description:
        text += "\n" + plain(" ".join(card.description.split()), 300)
    if card.phase == Phase.RETIRED.value:
        # Nothing to join, but worth knowing: its channel holds what was learnt.
        return _section(text + "\n_Retired: its channel may still hold what was learnt._")
    button = ButtonElement(text="Join that one", action_id=JOIN_ACTION, value=card.slug)
    return _section(text, accessory=button)


def look_alike_prompt(held: LooksLikeExisting) -> Message:
    """Shown instead of starting a project that looks like existing ones: each look-alike
    with *Join that one*, and *Start mine anyway*, which starts it as typed (once)."""
    many = len(held.matches) > 1
    what = f"looks like {'projects' if many else 'a project'} that councils are already making"
    intro = (
        f"*“{plain(held.name, 100)}” {what}.* Joining forces gets more done than building "
        "the same thing twice."
    )
    blocks: list[Block] = [_section(intro)]
    blocks.extend(_match(m) for m in held.matches)
    blocks.append(
        ActionsBlock(
            elements=[
                ButtonElement(
                    text="Start mine anyway", action_id=START_ANYWAY_ACTION, value=held.token
                )
            ]
        )
    )
    blocks.append(
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text="*Start mine anyway* starts your project as you typed it, "
                    "for the next 24 hours."
                )
            ]
        )
    )
    names = ", ".join(m.card.name for m in held.matches)
    text = f"“{held.name}” {what}: {names}. Join one, or start yours anyway."
    return Message(text=plain(text, TEXT_LIMIT), blocks=[b.to_dict() for b in blocks])
