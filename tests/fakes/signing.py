"""Sign inbound webhook requests the way Slack, GitHub and Trello do.

Pure functions, no I/O: tests build a body, sign it with the same secret the bot
is configured with and post both to the bot's HTTP endpoints.
"""

from __future__ import annotations

import base64
import hmac
import json
import time
from typing import Any
from urllib.parse import urlencode

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
JSON_CONTENT_TYPE = "application/json"

# Slack's slash-command fields, in the order Slack sends them.
_SLASH_DEFAULTS: dict[str, str] = {
    "token": "fake-verification-token",
    "team_id": "T0001",
    "team_domain": "fake",
    "channel_id": "C0123456789",
    "channel_name": "general",
    "user_id": "U0123456789",
    "user_name": "alice",
    "command": "/makers",
    "text": "",
    "api_app_id": "A0123456789",
    "is_enterprise_install": "false",
    "response_url": "https://hooks.slack.com/commands/T0001/1234567890/fakeResponseToken",
    "trigger_id": "1234567890.1234567890.0123456789abcdef0123456789abcdef",
}


def _as_bytes(body: bytes | str) -> bytes:
    return body.encode("utf-8") if isinstance(body, str) else body


def _hmac(secret: str, message: bytes, digest: str) -> bytes:
    return hmac.new(secret.encode("utf-8"), message, digest).digest()


def slack_signature(secret: str, body: bytes | str, timestamp: int) -> str:
    """Return ``v0=<hex HMAC-SHA256 of "v0:{timestamp}:{body}">`` (Slack's signing scheme)."""
    base = b"v0:" + str(timestamp).encode("ascii") + b":" + _as_bytes(body)
    return "v0=" + _hmac(secret, base, "sha256").hex()


def slack_headers(
    secret: str,
    body: bytes | str,
    timestamp: int | None = None,
    content_type: str = FORM_CONTENT_TYPE,
) -> dict[str, str]:
    """Headers of a request signed by Slack; ``timestamp`` defaults to now (epoch seconds)."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": slack_signature(secret, body, ts),
    }


def slash_command_body(**fields: str | None) -> str:
    """Form-encoded slash-command body: Slack's fields with defaults, overridden by ``fields``.

    A field given as ``None`` is left out; unknown field names are appended.
    """
    merged: dict[str, str | None] = {**_SLASH_DEFAULTS, **fields}
    return urlencode({key: value for key, value in merged.items() if value is not None})


def interactivity_body(payload: dict[str, Any]) -> str:
    """Form-encoded interactivity body: a single ``payload`` field holding the JSON payload."""
    return urlencode({"payload": json.dumps(payload)})


def github_signature(secret: str, body: bytes) -> str:
    """Return ``sha256=<hex HMAC-SHA256 of body>`` (GitHub's ``X-Hub-Signature-256``)."""
    return "sha256=" + _hmac(secret, body, "sha256").hex()


def github_headers(secret: str, body: bytes, event: str, delivery: str) -> dict[str, str]:
    """Headers of a GitHub webhook delivery signed with ``secret``."""
    return {
        "Content-Type": JSON_CONTENT_TYPE,
        "User-Agent": "GitHub-Hookshot/abc",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": github_signature(secret, body),
    }


def trello_signature(secret: str, body: bytes, callback_url: str) -> str:
    """Return base64 of HMAC-SHA1 over ``body + callback_url`` (UTF-8), keyed by the app secret."""
    return base64.b64encode(_hmac(secret, body + callback_url.encode("utf-8"), "sha1")).decode()


def trello_headers(secret: str, body: bytes, callback_url: str) -> dict[str, str]:
    """Headers of a Trello webhook delivery to ``callback_url`` signed with ``secret``."""
    return {
        "Content-Type": JSON_CONTENT_TYPE,
        "X-Trello-Webhook": trello_signature(secret, body, callback_url),
    }
