"""What differs between GitHub and Trello webhook deliveries, one small table row each.

`DeliveryService` runs one flow for both (check the signature, read the body, store it,
process it later); a `DeliverySource` holds the parts that differ. `app.py` builds one per
integration from the settings.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from integrations.changes import Change
from integrations.github import webhook as github
from integrations.trello import webhook as trello

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Envelope:
    """A signed delivery, identified: what is stored and how it is found again."""

    delivery_id: str  # X-GitHub-Delivery (or the body's hash); Trello's action id
    event: str  # X-GitHub-Event; Trello's action type
    payload: dict[str, Any]


# An answer before anything is stored: (HTTP status, one line of text).
Answer = tuple[int, str]


@dataclass(frozen=True)
class DeliverySource:
    """One integration's webhooks, as the delivery route and processor need them."""

    name: str  # "github" or "trello": Delivery.source
    secret: str | None  # None: its webhooks are refused with `unconfigured`
    unconfigured: str
    # Whether the raw body is signed with the secret: (secret, body, lower-case headers).
    verify: Callable[[str, bytes, Mapping[str, str]], bool]
    bad_signature: str
    # What a verified delivery is, or the answer to give without storing it.
    identify: Callable[[Mapping[str, str], bytes], Envelope | Answer]
    # Its changes (raises MalformedPayload): (event, payload), as stored.
    parse: Callable[[str, dict[str, Any]], list[Change]]


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


def github_source(secret: str | None) -> DeliverySource:
    """`POST /github/webhook`: signed with GITHUB_WEBHOOK_SECRET, deduplicated on
    X-GitHub-Delivery."""
    return DeliverySource(
        name="github",
        secret=secret,
        unconfigured="GitHub webhooks are not configured here (GITHUB_WEBHOOK_SECRET)",
        verify=lambda key, body, headers: github.verify_signature(
            key, body, headers.get("x-hub-signature-256")
        ),
        bad_signature="bad or missing X-Hub-Signature-256",
        identify=_identify_github,
        parse=lambda event, payload: github.parse(event, payload),
    )


def _identify_trello(headers: Mapping[str, str], body: bytes) -> Envelope | Answer:
    payload = json_object(body)
    if payload is None:
        return 400, "body is not a JSON object"
    action = payload.get("action")
    if not isinstance(action, dict) or not action.get("id"):
        return 400, "missing action.id"
    return Envelope(str(action["id"]), str(action.get("type", "")), payload)


def trello_source(secret: str | None, callback_url: str | None) -> DeliverySource:
    """`POST /trello/webhook`: signed with TRELLO_API_SECRET over the body and the callback
    URL (so both are needed), deduplicated on the action id."""
    url = callback_url or ""
    return DeliverySource(
        name="trello",
        secret=secret if callback_url is not None else None,
        unconfigured="Trello webhooks are not configured here (TRELLO_API_SECRET, PUBLIC_URL)",
        verify=lambda key, body, headers: trello.verify_signature(
            key, body, url, headers.get("x-trello-webhook")
        ),
        bad_signature="bad or missing X-Trello-Webhook",
        identify=_identify_trello,
        parse=lambda event, payload: trello.parse(payload),
    )
