"""What differs between linking a GitHub repository and a Trello board, one object each.

`LinkService` runs one flow for both (find the target, record the link, register a
webhook, explain what happened); these objects hold the parts that differ: how a target is
found and named, which route and secret its webhooks use, and how hooks are made and removed.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from integrations.changes import IntegrationError
from integrations.github.webhook import EVENTS as GITHUB_EVENTS
from makersbot.domain.requests import UserError
from makersbot.render import plain

REPO = re.compile(r"^(?:https?://[^/]+/)?(?P<repo>[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+?)(?:\.git)?/?$")
# A board's URL (with or without its name), as people paste it; `short` is its short link.
TRELLO_BOARD = re.compile(
    r"(?:https?://)?(?:www\.)?trello\.com/b/(?P<short>[a-z0-9]+)(?:/[^?#]*)?", re.I
)


class GitHubApi(Protocol):
    def repository(self, full_name: str) -> Any: ...
    def create_hook(self, full_name: str, url: str, secret: str, events: Any) -> str: ...
    def delete_hook(self, full_name: str, hook_id: str) -> None: ...
    def poll_issues(self, full_name: str, *, etag: str | None, since: datetime | None) -> Any: ...


class TrelloApi(Protocol):
    def board(self, ref: str) -> Any: ...
    def create_webhook(self, board_id: str, callback_url: str, description: str) -> str: ...
    def delete_webhook(self, webhook_id: str) -> None: ...
    def actions_since(
        self, board_id: str, since_action_id: str | None, limit: int = 100
    ) -> Any: ...
    def open_cards(self, board_id: str) -> Any: ...


@dataclass(frozen=True)
class Target:
    """A repository or board as a link records it."""

    target: str  # what changes name: "owner/repo" lower case, or the board id
    name: str  # as people know it: "Owner/Repo", or the board's name
    url: str
    private: bool = False


@dataclass(frozen=True)
class HookKeys:
    """What a new link's webhook is made with: a GitHub secret or a Trello callback token."""

    webhook_secret: str | None = None
    callback_token: str | None = None


class LinkSource(Protocol):
    """One integration, as linking needs it."""

    name: str  # "github" or "trello": Link.source
    route: str  # the webhook route, appended to PUBLIC_URL
    hookable: bool  # whether its webhooks can be verified here; False: poll only

    def new_keys(self) -> HookKeys:
        """Fresh, random keys for a new link's webhook."""
        ...

    def hook_url(self, public_url: str, keys: HookKeys) -> str:
        """Where a link's webhook delivers."""
        ...

    def can_read(self, target: Target, login: str) -> bool:
        """Whether the account `login` can itself read the (private) target."""
        ...

    def find(self, ref: str) -> Target:
        """The target `ref` names; `UserError` saying why when it cannot be linked."""
        ...

    def named(self, name: str) -> str:
        """The target in a reply ("`owner/repo`", "the Trello board *Bins*")."""
        ...

    def create_hook(self, target: Target, url: str, keys: HookKeys) -> str:
        """Register a webhook delivering to `url`; its id. `IntegrationError` if refused."""
        ...

    def delete_hook(self, target: Target, hook_id: str) -> None: ...

    def refused(self, status: int | None, url: str, every: str, keys: HookKeys) -> str:
        """The reply when the webhook could not be made: what to do instead. It may hold
        the link's secret: it is shown only to the person linking."""
        ...


class GitHubLinks:
    """Linking GitHub repositories (`gateway` None: GitHub is not set up)."""

    name = "github"
    route = "/github/webhook"
    hookable = True  # every new hook has its own secret, GITHUB_WEBHOOK_SECRET or not

    def __init__(self, gateway: GitHubApi | None, secret: str | None) -> None:
        self.gateway = gateway
        self.secret = secret  # the global fallback: only hooks made before per-link secrets

    def new_keys(self) -> HookKeys:
        return HookKeys(webhook_secret=secrets.token_hex(32))

    def hook_url(self, public_url: str, keys: HookKeys) -> str:
        return f"{public_url}{self.route}"

    def can_read(self, target: Target, login: str) -> bool:
        # Optional in the protocol: a gateway that cannot tell (the console's) says no.
        permission = getattr(self.gateway, "permission", None)
        if permission is None:
            return False
        try:
            return str(permission(target.name, login)) not in ("", "none")
        except IntegrationError as exc:
            raise UserError(f"GitHub did not answer ({exc}). Try again in a minute.") from None

    def find(self, ref: str) -> Target:
        if self.gateway is None:
            raise UserError("GitHub is not set up on this bot (GITHUB_TOKEN). Ask its maintainer.")
        match = REPO.match(ref.strip("<>").split("|")[0])
        if not match:
            raise UserError(f"“{plain(ref, 100)}” is not a repository: use owner/repo.")
        try:
            repo = self.gateway.repository(match["repo"])
        except IntegrationError as exc:
            if exc.status == 404:
                raise UserError(
                    f"I can't see `{plain(match['repo'], 100)}`: check the name, and that "
                    "the bot's GitHub token can read it."
                ) from None
            raise UserError(f"GitHub did not answer ({exc}). Try again in a minute.") from None
        return Target(repo.full_name.lower(), repo.full_name, repo.html_url, bool(repo.private))

    def named(self, name: str) -> str:
        return f"`{plain(name, 100)}`"

    def create_hook(self, target: Target, url: str, keys: HookKeys) -> str:
        assert self.gateway is not None and keys.webhook_secret is not None
        return self.gateway.create_hook(target.name, url, keys.webhook_secret, GITHUB_EVENTS)

    def delete_hook(self, target: Target, hook_id: str) -> None:
        if self.gateway is not None:
            self.gateway.delete_hook(target.name, hook_id)

    def refused(self, status: int | None, url: str, every: str, keys: HookKeys) -> str:
        return (
            f"I could not add a webhook (GitHub said {status or 'no'}), so I will check "
            f"every {every}. For instant updates, a repo admin can add one in Settings → "
            f"Webhooks → Add webhook: payload URL `{url}`, content type `application/json`, "
            f"secret `{keys.webhook_secret}` (this link's own: only you see it here, keep it "
            "to that form), and the events Issues, Pull requests, Issue comments, Pull "
            "request reviews, Labels and Forks."
        )


class TrelloLinks:
    """Linking Trello boards (`gateway` None: Trello is not set up)."""

    name = "trello"
    route = "/trello/webhook"

    def __init__(self, gateway: TrelloApi | None, secret: str | None) -> None:
        self.gateway = gateway
        self.secret = secret  # TRELLO_API_SECRET: Trello signs every delivery with it
        self.hookable = secret is not None

    def new_keys(self) -> HookKeys:
        return HookKeys(callback_token=secrets.token_urlsafe(24))

    def hook_url(self, public_url: str, keys: HookKeys) -> str:
        # An unguessable path per link: a delivery on it can change only that board.
        suffix = f"/{keys.callback_token}" if keys.callback_token else ""
        return f"{public_url}{self.route}{suffix}"

    def can_read(self, target: Target, login: str) -> bool:
        board_members = getattr(self.gateway, "board_members", None)
        if board_members is None:
            return False
        try:
            members = board_members(target.target)
        except IntegrationError as exc:
            raise UserError(f"Trello did not answer ({exc}). Try again in a minute.") from None
        return login.lower() in members

    def find(self, ref: str) -> Target:
        if self.gateway is None:
            raise UserError(
                "Trello is not set up on this bot (TRELLO_API_KEY, TRELLO_TOKEN). "
                "Ask its maintainer."
            )
        try:
            board = self.gateway.board(ref.strip("<>").split("|")[0])
        except IntegrationError as exc:
            if exc.status in (400, 401, 404):
                raise UserError(
                    f"I can't see the Trello board “{plain(ref, 100)}”: check the link, and "
                    "that the bot's Trello account is a member of the board."
                ) from None
            raise UserError(f"Trello did not answer ({exc}). Try again in a minute.") from None
        return Target(board.id, board.name, board.url, bool(getattr(board, "private", False)))

    def named(self, name: str) -> str:
        return f"the Trello board *{plain(name, 100)}*"

    def create_hook(self, target: Target, url: str, keys: HookKeys) -> str:
        assert self.gateway is not None
        return self.gateway.create_webhook(target.target, url, "makersbot")

    def delete_hook(self, target: Target, hook_id: str) -> None:
        if self.gateway is not None:
            self.gateway.delete_webhook(hook_id)

    def refused(self, status: int | None, url: str, every: str, keys: HookKeys) -> str:
        return (
            f"I could not add a Trello webhook ({status or 'no answer'}), so I will "
            f"check every {every}. Trello creates webhooks only through its API: check that "
            f"the bot's Trello account is a member of the board and that `{url}` answers "
            "HEAD with 200 from the internet, then link the board again."
        )


def every(seconds: int) -> str:
    """A poll interval in words: "5 minutes", "90 seconds"."""
    return f"{seconds // 60} minutes" if seconds >= 120 else f"{seconds} seconds"
