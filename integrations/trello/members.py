"""Proving a Trello account: the authorize link, and who a pasted token belongs to.

Trello's authorize page (`/1/authorize` on the web host, `trello.com`) shows a person a token
for the bot's API key; pasted back, `GET /1/members/me` with it names the member. The token is
used for that one call and never stored; no error message or log line ever holds it (it
travels in the query string, which `requests` would repeat in its own errors).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

import requests

from integrations.changes import IntegrationError

_TIMEOUT = 10


def web_base_url(api_url: str) -> str:
    """The web root for an API base: `https://api.trello.com/1` -> `https://trello.com/1`."""
    parts = urlsplit(api_url)
    host = parts.netloc[4:] if parts.netloc.lower().startswith("api.") else parts.netloc
    return f"{parts.scheme}://{host}{parts.path.rstrip('/')}"


@dataclass(frozen=True)
class TrelloMember:
    """The member a token belongs to."""

    id: str
    username: str
    full_name: str = ""


class InvalidToken(IntegrationError):
    """Trello refused the token (expired, revoked, mistyped or for another app)."""


class TrelloMembers:
    """Who a Trello token belongs to, for the bot's API key (`TRELLO_API_KEY`)."""

    def __init__(self, api_url: str, api_key: str, *, http: requests.Session | None = None) -> None:
        self.api_url = api_url.rstrip("/")
        self._key = api_key
        # The transport can be swapped: the offline console answers members/me in-process.
        self.http = http or requests.Session()

    def authorize_url(self, *, app_name: str = "makersbot") -> str:
        """The page where a person lets the bot read their account for an hour and gets a
        token to paste back (no return URL: Trello shows the token on the page)."""
        query = urlencode(
            {
                "expiration": "1hour",
                "name": app_name,
                "scope": "read",
                "response_type": "token",
                "key": self._key,
            }
        )
        return f"{web_base_url(self.api_url)}/authorize?{query}"

    def member_of(self, token: str) -> TrelloMember:
        """The member behind `token` (`GET /1/members/me`); InvalidToken when refused."""
        try:
            response = self.http.get(
                f"{self.api_url}/members/me",
                params={"key": self._key, "token": token, "fields": "username,fullName"},
                timeout=_TIMEOUT,
            )
        except requests.RequestException as exc:
            raise IntegrationError(
                f"Trello did not answer GET /members/me ({type(exc).__name__})"
            ) from None
        if response.status_code in (400, 401):
            raise InvalidToken("Trello refused the token", status=response.status_code)
        if response.status_code != 200:
            raise IntegrationError(
                f"Trello answered {response.status_code} to GET /members/me",
                status=response.status_code,
            )
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict) or not isinstance(data.get("username"), str):
            raise IntegrationError("Trello's GET /members/me answer has no username")
        return TrelloMember(
            id=str(data.get("id") or ""),
            username=data["username"],
            full_name=str(data.get("fullName") or ""),
        )
