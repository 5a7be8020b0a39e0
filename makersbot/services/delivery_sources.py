"""What differs between GitHub and Trello webhook deliveries, one small table row each.

`DeliveryService` runs one flow for both (check the signature, read the body, store it,
process it later); a `DeliverySource` holds the parts that differ. `app.py` builds one per
integration from the settings.

Which key may sign a delivery, and what it may change (`admit`): a GitHub hook the bot
registered has its own secret, found by `X-GitHub-Hook-ID`; a hook added by hand is signed
with its link's secret; a Trello hook calls back on its link's own path. Each such key
changes only its own repository or board. The global secrets (GITHUB_WEBHOOK_SECRET, the
old `/trello/webhook` callback) are the fallback for older hooks: they change only
repositories and boards that an older link (one without keys of its own) mirrors. A signed
delivery for something no project links is acknowledged and ignored.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlmodel import Session

from integrations.changes import Change, MalformedPayload
from integrations.github import webhook as github
from integrations.trello import webhook as trello
from makersbot.services.link_memory import HookKeys, LinkedTargets
from makersbot.store import links as link_store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Envelope:
    """A signed delivery, identified: what is stored and how it is found again."""

    delivery_id: str  # X-GitHub-Delivery (or the body's hash); Trello's action id
    event: str  # X-GitHub-Event; Trello's action type
    payload: dict[str, Any]


@dataclass(frozen=True)
class Admitted:
    """A verified, well-formed delivery whose scope is still to be checked: what it changes
    and what the key it was signed with may change (`scope_answers`)."""

    source: str  # DeliverySource.name
    envelope: Envelope
    body: bytes  # as received: what is stored
    containers: frozenset[str]  # the repos or boards its changes concern
    target: str | None  # the signing key's own repo or board; None: the global fallback


# An answer before anything is stored: (HTTP status, one line of text).
Answer = tuple[int, str]


@dataclass(frozen=True)
class Key:
    """A secret a delivery may be signed with, and what a delivery signed with it may change."""

    secret: str
    url: str = ""  # Trello: the callback URL, signed along with the body
    target: str | None = None  # its link's repo or board; None: the global fallback
    remembered: bool = False  # taken from this process's memory of the links, not read


# The keys that may have signed a delivery: (a read-only session, opened on the first call:
# most deliveries need none; lower-case headers; body; path token; whether to read them
# afresh rather than from memory).
Keys = Callable[[Callable[[], Session], Mapping[str, str], bytes, str | None, bool], list[Key]]


@dataclass(frozen=True)
class DeliverySource:
    """One integration's webhooks, as the delivery route and processor need them."""

    name: str  # "github" or "trello": Delivery.source
    secret: str | None  # the global fallback; None: only links' own keys
    unconfigured: str
    # Whether the raw body is signed with the key: (key, body, lower-case headers).
    verify: Callable[[Key, bytes, Mapping[str, str]], bool]
    bad_signature: str
    # What a verified delivery is, or the answer to give without storing it.
    identify: Callable[[Mapping[str, str], bytes], Envelope | Answer]
    # Its changes (raises MalformedPayload): (event, payload), as stored.
    parse: Callable[[str, dict[str, Any]], list[Change]]
    keys: Keys


def admit(
    session: Callable[[], Session],
    source: DeliverySource,
    headers: Mapping[str, str],
    body: bytes,
    token: str | None = None,
) -> Admitted | Answer:
    """A delivery verified with the key it claims and well formed, or the answer to give
    without storing it. Whether it changes only what that key may change is checked with
    the other deliveries of its batch, as they are stored (`scope_answers`): at most one
    query for a batch instead of one per delivery. A key taken from memory
    (`link_memory.HookKeys`) that does not verify is read afresh and tried again."""
    keys = source.keys(session, headers, body, token, False)
    key = next((key for key in keys if source.verify(key, body, headers)), None)
    if key is None and any(key.remembered for key in keys):  # a hook re-keyed elsewhere?
        keys = source.keys(session, headers, body, token, True)
        key = next((key for key in keys if source.verify(key, body, headers)), None)
    if not keys:
        return (410, "unknown webhook") if token else (401, source.unconfigured)
    if key is None:
        return 401, source.bad_signature
    envelope = source.identify(headers, body)
    if not isinstance(envelope, Envelope):
        return envelope
    try:
        changes = source.parse(envelope.event, envelope.payload)
    except MalformedPayload as exc:
        log.info("refused a malformed %s %s delivery: %s", source.name, envelope.event, exc)
        return 400, f"malformed payload: {exc}"
    containers = frozenset(change.container for change in changes)
    return Admitted(source.name, envelope, body, containers, key.target)


def scope_answers(
    connection: Connection,
    admitted: Sequence[Admitted],
    linked_targets: LinkedTargets,
) -> list[Answer | None]:
    """For each delivery, None when its key may change everything it changes; else the
    answer to give instead of storing it. At most one query for the whole batch, none when
    every key names its own repo or board and the deliveries change only that, or when
    `linked_targets` remembers every link asked about and nothing is refused."""
    unsure = {
        (one.source, container)
        for one in admitted
        for container in one.containers
        if container != one.target
    }
    if not unsure:
        return [None] * len(admitted)
    linked, remembered = linked_targets.lookup(connection, unsure)
    answers = [_in_scope(one, linked) for one in admitted]
    if remembered and any(answers):  # never refuse on what memory says
        linked, _ = linked_targets.lookup(connection, unsure, fresh=True)
        answers = [_in_scope(one, linked) for one in admitted]
    for one, answer in zip(admitted, answers, strict=True):
        if answer == _SIGNED_ELSEWHERE:
            log.warning("refused a %s delivery signed for another repository or board", one.source)
        elif answer == _NOT_LINKED:
            log.debug("ignored a %s delivery for something no project links", one.source)
    return answers


_SIGNED_ELSEWHERE: Answer = (403, "not signed for this repository or board")
_NOT_LINKED: Answer = (200, "ignored: not linked")


def _in_scope(one: Admitted, linked: Mapping[tuple[str, str], bool]) -> Answer | None:
    """None when the key may change everything the delivery changes; else the answer.

    `linked`: every (source, target) some link mirrors, True when one of those links has
    no key of its own (its hook signs with the global secret or the old Trello callback).
    """
    containers = one.containers
    if not containers:
        return None
    if one.target is not None:
        allowed: set[str] | frozenset[str] = containers & {one.target}
    else:
        allowed = {c for c in containers if linked.get((one.source, c), False)}
    outside = containers - allowed
    if not outside:
        return None
    if any((one.source, container) in linked for container in outside):
        return _SIGNED_ELSEWHERE
    if not allowed:
        return _NOT_LINKED
    return None


def json_object(body: bytes | str) -> dict[str, Any] | None:
    """The body as a JSON object; None when it is not one."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return payload if isinstance(payload, dict) else None


def _identify_github(headers: Mapping[str, str], body: bytes) -> Envelope | Answer:
    event = headers.get("x-github-event")
    if not event:
        return 400, "missing X-GitHub-Event header"
    payload = json_object(body)
    if payload is None:
        return 400, "body is not a JSON object"
    if event == "ping":
        return 200, "pong"
    if event not in github.EVENTS:  # worth storing only when a handler reads it
        log.debug("ignored GitHub event %s", event)
        return 200, "ignored"
    delivery_id = headers.get("x-github-delivery") or hashlib.sha256(body).hexdigest()
    return Envelope(delivery_id, event, payload)


def _github_keys(fallback: str | None) -> Keys:
    memory = HookKeys()  # one per process, as the source is

    def keys(
        session: Callable[[], Session],
        headers: Mapping[str, str],
        body: bytes,
        _token: str | None,
        fresh: bool,
    ) -> list[Key]:
        hook_id = headers.get("x-github-hook-id")
        if not hook_id:  # GitHub always names the hook: only an older sender would not
            return [Key(fallback)] if fallback else []
        hooked, remembered = memory.lookup(session, "github", hook_id, fresh=fresh)
        if hooked is not None:
            secret, target = hooked
            return [Key(secret, target=target, remembered=remembered)]
        # A hook added by hand: GitHub's id for it is not known here, its link's secret is.
        found = [
            Key(link.webhook_secret, target=link.target)
            for link in link_store.links_to(session(), source="github", target=_repository(body))
            if link.webhook_secret and link.webhook_id is None
        ]
        return found + ([Key(fallback)] if fallback else [])

    return keys


def _repository(body: bytes) -> str:
    """The repository a GitHub body names ("owner/repo", lower case); "" if none."""
    payload = json_object(body) or {}
    repo = payload.get("repository")
    name = repo.get("full_name") if isinstance(repo, dict) else None
    return name.lower() if isinstance(name, str) else ""


def github_source(secret: str | None) -> DeliverySource:
    """`POST /github/webhook`: signed with the hook's own secret (GITHUB_WEBHOOK_SECRET for
    older hooks), deduplicated on X-GitHub-Delivery."""
    return DeliverySource(
        name="github",
        secret=secret,
        unconfigured="GitHub webhooks are not configured here (GITHUB_WEBHOOK_SECRET)",
        verify=lambda key, body, headers: github.verify_signature(
            key.secret, body, headers.get("x-hub-signature-256")
        ),
        bad_signature="bad or missing X-Hub-Signature-256",
        identify=_identify_github,
        parse=lambda event, payload: github.parse(event, payload),
        keys=_github_keys(secret),
    )


def _identify_trello(headers: Mapping[str, str], body: bytes) -> Envelope | Answer:
    payload = json_object(body)
    if payload is None:
        return 400, "body is not a JSON object"
    action = payload.get("action")
    if not isinstance(action, dict) or not action.get("id"):
        return 400, "missing action.id"
    return Envelope(str(action["id"]), str(action.get("type", "")), payload)


def _trello_keys(secret: str | None, callback_url: str | None) -> Keys:
    def keys(
        session: Callable[[], Session],
        _headers: Mapping[str, str],
        _body: bytes,
        token: str | None,
        _fresh: bool,
    ) -> list[Key]:
        if secret is None or callback_url is None:
            return []
        if token is None:
            return [Key(secret, url=callback_url)]  # the old callback, for older links
        link = link_store.link_by_token(session(), token=token)
        if link is None or link.source != "trello":
            return []
        return [Key(secret, url=f"{callback_url}/{token}", target=link.target)]

    return keys


def callback_token(url: str) -> str | None:
    """The link token a Trello callback URL ends in (`…/trello/webhook/<token>`), if any."""
    head, found, token = url.rpartition("/trello/webhook/")
    return token if found and token and "/" not in token else None


def trello_source(secret: str | None, callback_url: str | None) -> DeliverySource:
    """`POST /trello/webhook[/<token>]`: signed with TRELLO_API_SECRET over the body and the
    callback URL (so both are needed), deduplicated on the action id. `callback_url` is the
    old shared callback; each link's own is that URL plus `/<its token>`."""
    return DeliverySource(
        name="trello",
        secret=secret if callback_url is not None else None,
        unconfigured="Trello webhooks are not configured here (TRELLO_API_SECRET, PUBLIC_URL)",
        verify=lambda key, body, headers: trello.verify_signature(
            key.secret, body, key.url, headers.get("x-trello-webhook")
        ),
        bad_signature="bad or missing X-Trello-Webhook",
        identify=_identify_trello,
        parse=lambda event, payload: trello.parse(payload),
        keys=_trello_keys(secret, callback_url),
    )
