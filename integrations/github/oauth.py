"""GitHub's OAuth device flow: proves which GitHub account a person controls.

It needs no public URL and no client secret: the bot asks for a device code
(`POST /login/device/code`), the person enters the user code at `verification_uri`, the bot
polls `POST /login/oauth/access_token` at the interval GitHub asks for, and `GET /user` with
the token gives the proven login. The token is asked for with no scope, used for that one call
and dropped; it never appears in a log or an error message.

The device endpoints live on the web host (`https://github.com`, or a GitHub Enterprise
Server's own host), not on the API host: `oauth_base_url` derives one from the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

import requests

from integrations.changes import IntegrationError

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"
_TIMEOUT = 10
# GitHub's default poll interval and code lifetime, used when an answer leaves them out.
DEFAULT_INTERVAL = 5
DEFAULT_EXPIRES_IN = 900
SLOW_DOWN_STEP = 5  # seconds GitHub adds to the interval with each `slow_down`


def oauth_base_url(api_url: str) -> str:
    """The web root serving the device flow for a GitHub API base URL.

    `https://api.github.com` -> `https://github.com` (and `api.X.ghe.com` -> `X.ghe.com`);
    Enterprise Server's `https://HOST/api/v3` -> `https://HOST`; anything else keeps its host.
    """
    parts = urlsplit(api_url)
    host = parts.netloc
    if host.lower().startswith("api."):
        host = host[4:]
    return f"{parts.scheme}://{host}"


@dataclass(frozen=True)
class DeviceCode:
    """What GitHub hands out to start a device flow (`device_code` stays with the bot)."""

    device_code: str
    user_code: str
    verification_uri: str
    expires_in: int
    interval: int

    def __repr__(self) -> str:  # keep the device code out of logs and tracebacks
        return f"DeviceCode(user_code={self.user_code!r}, expires_in={self.expires_in})"


class PollStatus(StrEnum):
    """GitHub's answers to a poll (the `error` codes of its docs), plus a token."""

    TOKEN = "token"
    PENDING = "authorization_pending"
    SLOW_DOWN = "slow_down"
    EXPIRED = "expired_token"
    DENIED = "access_denied"
    DISABLED = "device_flow_disabled"
    OTHER = "other"  # unsupported_grant_type, incorrect_client_credentials, incorrect_device_code


@dataclass(frozen=True)
class Poll:
    """One poll's answer: a status, the token when there is one, a new interval on slow_down."""

    status: PollStatus
    token: str | None = None
    interval: int | None = None
    error: str = ""

    def __repr__(self) -> str:
        return f"Poll(status={self.status.value!r}, interval={self.interval!r})"


class DeviceFlowError(IntegrationError):
    """GitHub refused to start a device flow; `code` is its error code."""

    def __init__(self, code: str) -> None:
        super().__init__(f"GitHub refused the device flow: {code}")
        self.code = code


class DeviceFlow:
    """A client of GitHub's device flow for one OAuth app (`GITHUB_OAUTH_CLIENT_ID`)."""

    def __init__(
        self,
        client_id: str,
        *,
        oauth_url: str,
        api_url: str,
        http: requests.Session | None = None,
    ) -> None:
        self.client_id = client_id
        self.oauth_url = oauth_url.rstrip("/")
        self.api_url = api_url.rstrip("/")
        # The transport can be swapped: the offline console answers these calls in-process.
        self.http = http or requests.Session()

    def request_code(self) -> DeviceCode:
        """Start a flow; DeviceFlowError when GitHub refuses (e.g. `device_flow_disabled`)."""
        data = self._post("/login/device/code", {"client_id": self.client_id, "scope": ""})
        if "error" in data or "device_code" not in data:
            raise DeviceFlowError(str(data.get("error") or "no device code in the answer"))
        return DeviceCode(
            device_code=str(data["device_code"]),
            user_code=str(data["user_code"]),
            verification_uri=str(data["verification_uri"]),
            expires_in=_int(data.get("expires_in"), DEFAULT_EXPIRES_IN),
            interval=_int(data.get("interval"), DEFAULT_INTERVAL),
        )

    def poll(self, device_code: str) -> Poll:
        """Ask once whether the person has entered the code."""
        data = self._post(
            "/login/oauth/access_token",
            {"client_id": self.client_id, "device_code": device_code, "grant_type": GRANT_TYPE},
        )
        token = data.get("access_token")
        if isinstance(token, str) and token:
            return Poll(PollStatus.TOKEN, token=token)
        error = str(data.get("error") or "")
        try:
            status = PollStatus(error)
        except ValueError:
            status = PollStatus.OTHER
        interval = _int(data.get("interval"), 0) or None
        return Poll(status, interval=interval, error=error)

    def login_of(self, token: str) -> str:
        """The login of the account a token belongs to (`GET /user`)."""
        try:
            response = self.http.get(
                f"{self.api_url}/user",
                headers={
                    "Authorization": f"Bearer {token}",
                    "Accept": "application/vnd.github+json",
                },
                timeout=_TIMEOUT,
            )
        except requests.RequestException as exc:
            raise IntegrationError(
                f"GitHub did not answer GET /user ({type(exc).__name__})"
            ) from None
        if response.status_code != 200:
            raise IntegrationError(
                f"GitHub answered {response.status_code} to GET /user", status=response.status_code
            )
        login = _json(response).get("login")
        if not isinstance(login, str) or not login:
            raise IntegrationError("GitHub's GET /user answer has no login")
        return login

    def _post(self, path: str, form: dict[str, str]) -> dict[str, Any]:
        # Without Accept: application/json GitHub answers form-encoded text.
        try:
            response = self.http.post(
                self.oauth_url + path,
                data=form,
                headers={"Accept": "application/json"},
                timeout=_TIMEOUT,
            )
        except requests.RequestException as exc:
            raise IntegrationError(
                f"GitHub did not answer POST {path} ({type(exc).__name__})"
            ) from None
        data = _json(response)
        # GitHub answers most device-flow errors with 200 and an `error`; 4xx carries one too.
        if response.status_code >= 500 or (response.status_code >= 400 and "error" not in data):
            raise IntegrationError(
                f"GitHub answered {response.status_code} to POST {path}",
                status=response.status_code,
            )
        return data


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _int(value: object, default: int) -> int:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return default
