"""Slack calls that need an answer before the bot can go on: channels (create, join, invite,
look up by name), permalinks and file uploads.

Messages never go through here: they go through the outbox. These wrappers turn slack_sdk
errors into `SlackError` (or `ChannelError`) with Slack's error code, which services put into
plain words, so no service imports slack_sdk.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)

MAX_SUFFIX = 20


class SlackError(Exception):
    """A call Slack refused; `code` is Slack's error string."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class ChannelError(SlackError):
    """A channel operation Slack refused."""


@dataclass(frozen=True)
class Channel:
    id: str
    name: str


@dataclass(frozen=True)
class Reserved:
    """Channels a new project must never take: the digest channel, other projects' channels."""

    ids: frozenset[str] = frozenset()
    names: frozenset[str] = frozenset()


class SlackChannels:
    """Creates project channels (never taking over someone else's) and invites people."""

    def __init__(self, client: WebClient) -> None:
        self.client = client
        self._bot_user_id: str | None = None

    def ensure_channel(self, name: str, *, reserved: Reserved | None = None) -> Channel:
        """Create `name`, or the first free `name-2`, `name-3`…

        An existing channel of that name is reused only when the bot created it and it is
        not reserved, so a start that failed half-way finds its own channel again while a
        channel someone else made (or the digest's, or another project's) is never taken.
        """
        reserved = reserved or Reserved()
        for attempt in range(1, MAX_SUFFIX + 1):
            candidate = name if attempt == 1 else f"{name[: 80 - 4]}-{attempt}"
            if candidate in reserved.names:
                continue
            try:
                response = self.client.conversations_create(name=candidate)
                channel = response["channel"]
                return Channel(id=channel["id"], name=channel["name"])
            except SlackApiError as exc:
                code = str(exc.response.get("error"))
                if code != "name_taken":
                    raise ChannelError(code) from None
            existing = self._find_public(candidate)
            if (
                existing is not None
                and existing["id"] not in reserved.ids
                and existing.get("creator") == self._bot_user()
                and self._join(existing["id"], candidate)
            ):
                return Channel(id=existing["id"], name=candidate)
        raise ChannelError("name_taken")

    def _bot_user(self) -> str:
        """The bot's own user id (asked once): the creator of the channels it made."""
        if self._bot_user_id is None:
            try:
                self._bot_user_id = str(self.client.auth_test()["user_id"])
            except SlackApiError as exc:
                raise ChannelError(str(exc.response.get("error"))) from None
        return self._bot_user_id

    def _join(self, channel_id: str, name: str) -> bool:
        try:
            self.client.conversations_join(channel=channel_id)
        except SlackApiError as exc:
            log.info("cannot join existing #%s: %s", name, exc.response.get("error"))
            return False
        return True

    def _find_public(self, name: str) -> dict[str, Any] | None:
        """The public, unarchived channel called `name`, as Slack describes it, or None."""
        for channel in public_channels(self.client):
            if channel.get("name") == name:
                return dict(channel)
        return None

    def invite(self, channel_id: str, user_id: str) -> None:
        """Invite a person; already being there is fine."""
        try:
            self.client.conversations_invite(channel=channel_id, users=user_id)
        except SlackApiError as exc:
            code = str(exc.response.get("error"))
            if code in {"already_in_channel", "cant_invite_self"}:
                return
            if code == "not_in_channel":
                # The bot was removed from the channel: join again, then invite.
                try:
                    self.client.conversations_join(channel=channel_id)
                    self.client.conversations_invite(channel=channel_id, users=user_id)
                    return
                except SlackApiError as again:
                    code = str(again.response.get("error"))
                    if code == "already_in_channel":
                        return
            raise ChannelError(code) from None


def public_channels(client: WebClient) -> Iterator[dict[str, Any]]:
    """Every public, unarchived channel, page by page (ChannelError when Slack refuses)."""
    cursor: str | None = None
    while True:
        try:
            page = client.conversations_list(
                types="public_channel", exclude_archived=True, limit=1000, cursor=cursor
            )
        except SlackApiError as exc:
            raise ChannelError(str(exc.response.get("error"))) from None
        yield from page.get("channels") or []
        cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
        if not cursor:
            return


class SlackGateway:
    """What the bot asks of Slack besides posting: find a channel, link to a message, open
    a direct message, upload a file (into a thread or a direct message)."""

    def __init__(self, client: WebClient) -> None:
        self.client = client

    def find_channel(self, name: str) -> str | None:
        """The id of the public channel called `name` (any case); None when there is none."""
        for channel in public_channels(self.client):
            if str(channel.get("name", "")).lower() == name.lower():
                return str(channel["id"])
        return None

    def is_private(self, channel: str) -> bool:
        """Whether a channel is private (conversations.info); False when Slack will not say."""
        try:
            found = self.client.conversations_info(channel=channel)["channel"]
        except SlackApiError:
            return False
        return bool(found.get("is_private")) if isinstance(found, dict) else False

    def permalink(self, channel: str, ts: str) -> str:
        """A link to a message; when Slack will not say, the link Slack's own links redirect to."""
        try:
            return str(self.client.chat_getPermalink(channel=channel, message_ts=ts)["permalink"])
        except SlackApiError:
            return f"https://slack.com/archives/{channel}/p{ts.replace('.', '')}"

    def upload_file(
        self,
        content: bytes,
        *,
        filename: str,
        title: str,
        alt_text: str,
        channel: str,
        thread_ts: str | None = None,
        comment: str | None = None,
    ) -> None:
        """Upload a file into a channel or thread (files.getUploadURLExternal +
        completeUploadExternal), with `comment` as its message when given.

        SlackError when Slack refuses; connection errors are raised as they come.
        """
        try:
            self.client.files_upload_v2(
                content=content,
                filename=filename,
                title=title,
                alt_txt=alt_text,
                channel=channel,
                thread_ts=thread_ts,
                initial_comment=comment,
            )
        except SlackApiError as exc:
            raise SlackError(str(exc.response.get("error"))) from None

    def direct_message_channel(self, user_id: str) -> str:
        """The id of the bot's direct-message channel with a person (conversations.open):
        a file can only be shared into a channel id, not a user id."""
        try:
            return str(self.client.conversations_open(users=user_id)["channel"]["id"])
        except SlackApiError as exc:
            raise SlackError(str(exc.response.get("error"))) from None
