"""Webhook deliveries: verified and stored before the 2xx, then processed from the database.

Nothing acknowledged is lost: a crash after the answer leaves the row to process on restart,
and a delivery seen twice (same X-GitHub-Delivery or Trello action id) is stored once.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col, select

from integrations.changes import Change, MalformedPayload
from makersbot.db import Database
from makersbot.intake import DeliveryIntake
from makersbot.services.mirror import MirrorService
from makersbot.store.models import Delivery, utcnow

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Parser = Callable[[str, dict[str, Any]], list[Change]]

# GitHub events worth storing; everything else is acknowledged and dropped.
GITHUB_EVENTS = {"issues", "pull_request", "issue_comment", "pull_request_review", "label", "fork"}
LEASE = timedelta(minutes=2)
MAX_ATTEMPTS = 5


class DeliveryService:
    """`POST /github/webhook` and `/trello/webhook`, and the processor that drains them."""

    def __init__(
        self,
        db: Database,
        mirror: MirrorService,
        *,
        github_secret: str | None,
        trello_secret: str | None,
        trello_callback_url: str | None,
        parse_github: Parser,
        parse_trello: Callable[[dict[str, Any]], list[Change]],
        verify_github: Callable[[str, bytes, str | None], bool],
        verify_trello: Callable[[str, bytes, str, str | None], bool],
        clock: Clock = utcnow,
        wake: Callable[[], None] | None = None,
    ) -> None:
        self.db = db
        self.mirror = mirror
        self.github_secret = github_secret
        self.trello_secret = trello_secret
        self.trello_callback_url = trello_callback_url
        self.parse_github = parse_github
        self.parse_trello = parse_trello
        self.verify_github = verify_github
        self.verify_trello = verify_trello
        self.clock = clock
        self._wake = wake or (lambda: None)
        self.intake = DeliveryIntake(db, on_stored=self._wake)

    def accept_github(self, headers: Mapping[str, str], body: bytes) -> tuple[int, str]:
        """Verify and store one GitHub delivery; the answer for the HTTP route.

        `headers` has lower-case names (HTTP header names are case-insensitive).
        """
        if self.github_secret is None:
            return 401, "GitHub webhooks are not configured here (GITHUB_WEBHOOK_SECRET)"
        if not self.verify_github(self.github_secret, body, headers.get("x-hub-signature-256")):
            return 401, "bad or missing X-Hub-Signature-256"
        event = headers.get("x-github-event")
        if not event:
            return 400, "missing X-GitHub-Event header"
        payload = _json_object(body)
        if payload is None:
            return 400, "body is not a JSON object"
        if event == "ping":
            return 200, "pong"
        if event not in GITHUB_EVENTS:
            log.debug("ignored GitHub event %s", event)
            return 200, "ignored"
        try:
            self.parse_github(event, payload)
        except MalformedPayload as exc:
            log.info("refused a malformed GitHub %s delivery: %s", event, exc)
            return 400, f"malformed payload: {exc}"
        delivery_id = headers.get("x-github-delivery") or hashlib.sha256(body).hexdigest()
        return self._store("github", delivery_id, event, body)

    def accept_trello(self, headers: Mapping[str, str], body: bytes) -> tuple[int, str]:
        """Verify and store one Trello delivery; the answer for the HTTP route."""
        if self.trello_secret is None or self.trello_callback_url is None:
            return 401, "Trello webhooks are not configured here (TRELLO_API_SECRET, PUBLIC_URL)"
        signature = headers.get("x-trello-webhook")
        if not self.verify_trello(self.trello_secret, body, self.trello_callback_url, signature):
            return 401, "bad or missing X-Trello-Webhook"
        payload = _json_object(body)
        if payload is None:
            return 400, "body is not a JSON object"
        action = payload.get("action")
        if not isinstance(action, dict) or not action.get("id"):
            return 400, "missing action.id"
        try:
            self.parse_trello(payload)
        except MalformedPayload as exc:
            log.info("refused a malformed Trello delivery: %s", exc)
            return 400, f"malformed payload: {exc}"
        return self._store("trello", str(action["id"]), str(action.get("type", "")), body)

    def _store(self, source: str, delivery_id: str, event: str, body: bytes) -> tuple[int, str]:
        new = self.intake.store(
            {
                "source": source,
                "delivery_id": delivery_id[:200],
                "event": event[:100],
                # Raw text: no second JSON encoding on the path that answers GitHub/Trello.
                "body": body.decode("utf-8", "replace"),
                "received_at": self.clock(),
                "attempts": 0,
            }
        )
        return (200, "ok") if new else (200, "duplicate")

    # Processing --------------------------------------------------------------------------

    def process_pending(self, *, batch: int = 50) -> int:
        """Process stored deliveries; returns how many were handled."""
        handled = 0
        while True:
            ids = self._claim(batch)
            if not ids:
                return handled
            for delivery_id in ids:
                self._process_one(delivery_id)
                handled += 1
            # One summary update per batch, not one per delivery.
            self.mirror.flush_summaries()

    def _claim(self, batch: int) -> list[int]:
        now = self.clock()
        with self.db.session() as session:
            stmt = (
                select(Delivery)
                .where(col(Delivery.processed_at).is_(None))
                .where(
                    (col(Delivery.claimed_until).is_(None)) | (col(Delivery.claimed_until) < now)
                )
                .order_by(col(Delivery.id))
                .limit(batch)
            )
            if self.db.is_postgres:
                stmt = stmt.with_for_update(skip_locked=True)
            rows = session.exec(stmt).all()
            for row in rows:
                row.claimed_until = now + LEASE
                session.add(row)
            return [row.id for row in rows if row.id is not None]

    def _process_one(self, delivery_id: int) -> None:
        try:
            with self.db.session() as session:
                delivery = session.get(Delivery, delivery_id)
                if delivery is None or delivery.processed_at is not None:
                    return
                try:
                    changes = self._parse(delivery)
                except MalformedPayload as exc:
                    log.warning("delivery %s is malformed: %s", delivery.delivery_id, exc)
                    delivery.error = str(exc)[:500]
                    changes = []
                for change in changes:
                    self.mirror.apply(session, change)
                delivery.processed_at = self.clock()
                delivery.claimed_until = None
                session.add(delivery)
        except Exception as exc:  # a bug or a database hiccup: retry later, then give up
            log.exception("processing delivery %s failed", delivery_id)
            with self.db.session() as session:
                delivery = session.get(Delivery, delivery_id)
                if delivery is not None:
                    delivery.attempts += 1
                    delivery.error = f"{type(exc).__name__}: {exc}"[:500]
                    delivery.claimed_until = self.clock() + timedelta(seconds=30)
                    if delivery.attempts >= MAX_ATTEMPTS:
                        delivery.processed_at = self.clock()
                    session.add(delivery)

    def _parse(self, delivery: Delivery) -> list[Change]:
        payload = _json_object(delivery.body)
        if payload is None:
            raise MalformedPayload("stored body is not a JSON object")
        if delivery.source == "github":
            return list(self.parse_github(delivery.event, payload))
        return list(self.parse_trello(payload))


def _json_object(body: bytes | str) -> dict[str, Any] | None:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return payload if isinstance(payload, dict) else None
