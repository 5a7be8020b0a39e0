"""`POST /slack/events`: signatures checked on the raw bytes before Bolt parses anything.

Bolt alone mishandled hostile and odd requests (issue 8):
- it reads `X-Slack-Request-Timestamp` with `int()` before checking the signature, so a
  non-numeric, empty, float or 5,000-digit timestamp was a 500 with a traceback, and so was
  a non-ASCII signature (`hmac.compare_digest` refuses non-ASCII text);
- it parses the body before checking anything, so an unsigned body that was not a form
  was a 400 with a traceback;
- its RequestVerification logged the whole body of every rejected request at INFO;
- its body parser takes any form containing the substring `payload` for an interactivity
  payload, so `/makers list payload` (or a channel `#payload-team`, a user `payload.bot`)
  reached no listener: 404.

Here the raw bytes are checked first (every failure is a 401 and one short log line with the
body's length and hash, never the body), then parsed by field, not by substring, and only
then handed to Bolt as an already parsed request.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from slack_bolt import App, BoltRequest, BoltResponse

log = logging.getLogger(__name__)

MAX_SKEW = 300  # seconds: Slack's own rule for a request's timestamp
# Where `web.create_web_app` keeps its endpoint, for the ASGI front (`server.bot_asgi`).
SLACK_ENDPOINT = "makersbot.slack"
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-fA-F]{64}")


def signature_problem(
    secret: str, headers: Mapping[str, str], body: bytes, now: float
) -> str | None:
    """Why a request is not signed by Slack, in a few fixed words; None when it is.

    `headers` has lower-case names. Slack signs `v0:{timestamp}:{raw body}` with
    HMAC-SHA256; timestamps more than 5 minutes off are refused (replays).
    """
    timestamp = headers.get("x-slack-request-timestamp", "").strip()
    signature = headers.get("x-slack-signature", "").strip()
    if not secret:
        return "no signing secret configured"  # an empty secret is one anyone can sign with
    if not timestamp:
        return "missing timestamp"
    if not _TIMESTAMP.fullmatch(timestamp):
        return "malformed timestamp"
    if abs(now - int(timestamp)) > MAX_SKEW:
        return "stale timestamp"
    if not signature:
        return "missing signature"
    if not _SIGNATURE.fullmatch(signature):
        return "malformed signature"
    base = b"v0:" + timestamp.encode("ascii") + b":" + body
    expected = "v0=" + hmac.new(secret.encode("utf-8"), base, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode("ascii"), signature.lower().encode("ascii")):
        return "wrong signature"
    return None


class UnusableBody(ValueError):
    """A signed body that is neither a form nor a JSON object."""


def parse_body(body: bytes, content_type: str) -> dict[str, Any]:
    """The fields of a signed Slack body, as Bolt would have them.

    JSON (Events API) when the content type says so or the body starts with `{`, as in
    Bolt; otherwise a form. A form whose *fields* include `payload` is interactivity and
    the payload is its JSON; any other form is a slash command, whatever its text says.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise UnusableBody("body is not UTF-8") from None
    if not text:
        return {}
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == "application/json" or text.startswith("{"):
        return _json_object(text)
    fields = dict(parse_qsl(text, keep_blank_values=True))
    if "payload" in fields:
        return _json_object(fields["payload"])
    return fields


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        raise UnusableBody("body is not valid JSON") from None
    if not isinstance(value, dict):
        raise UnusableBody("body is not a JSON object")
    return value


def fingerprint(body: bytes) -> str:
    """What a log line may say about a body: its length and a hash, never its content."""
    return f"{len(body)} bytes, sha256 {hashlib.sha256(body).hexdigest()[:16]}"


class SlackEndpoint:
    """Checks, parses and dispatches one Slack request to the Bolt app."""

    def __init__(
        self, bolt: App, signing_secret: str, clock: Callable[[], float] = time.time
    ) -> None:
        self.bolt = bolt
        self.signing_secret = signing_secret
        self.clock = clock

    def handle(self, headers: Mapping[str, str], query: str, body: bytes) -> BoltResponse:
        """The answer to `POST /slack/events`; `headers` has lower-case names."""
        problem = signature_problem(self.signing_secret, headers, body, self.clock())
        if problem:
            log.info("refused a Slack request: %s (%s)", problem, fingerprint(body))
            return BoltResponse(status=401, body={"error": "invalid request"})
        try:
            fields = parse_body(body, headers.get("content-type", ""))
        except UnusableBody as exc:
            log.info("refused a signed Slack request: %s (%s)", exc, fingerprint(body))
            return BoltResponse(status=400, body={"error": str(exc)})
        # Bolt takes an already parsed body only in its "socket_mode" request mode, whose
        # one other effect is to skip Bolt's own signature check: done above, on the bytes.
        request = BoltRequest(body=fields, query=query, headers=dict(headers), mode="socket_mode")
        return self.bolt.dispatch(request)
