"""GitHub's and Trello's sign-in pages and endpoints, played in-process for the console.

Proving an account offline runs the production code: `integrations/github/oauth.py`'s device
flow and `integrations/trello/members.py`'s `members/me`. Only their transport differs: a
`requests` session whose adapter answers here, so nothing leaves the process. The console
plays the person's side too. After the bot hands out a GitHub code, the person signs in to
GitHub and enters it (`enter_new_codes`); Trello's authorisation page shows them a token
(`trello_token`). On both they are the login they typed (`/makers iam github <login>`), or
else their console name.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3 import HTTPResponse

# Where the console's GitHub and Trello "are": nothing resolves these names.
GITHUB_URL = "https://github.console.invalid"
GITHUB_API_URL = "https://api.github.console.invalid"
TRELLO_API_URL = "https://api.trello.console.invalid/1"
CLIENT_ID = "makersbot-console"
# Trello's API keys are public (every authorize link carries one); this one opens nothing.
TRELLO_KEY = "console0trello0key0opens0nothing"
CODE_LIFETIME = 900  # seconds a device code lasts, as on GitHub
POLL_INTERVAL = 5  # seconds GitHub asks the bot to wait between polls

Answer = tuple[int, dict[str, Any] | str]


@dataclass(frozen=True)
class SignedIn:
    """Who the person at the keyboard is on GitHub and on Trello."""

    github: str
    trello: str


@dataclass
class _DeviceCode:
    device_code: str
    user_code: str
    login: str | None = None  # set when the person has entered the code


class ConsoleAccounts:
    """GitHub's device flow and `GET /user`, and Trello's `members/me`, answered here."""

    def __init__(self) -> None:
        # Who is typing: the console sets this to read the person's logins when needed.
        self.at_keyboard: Callable[[], SignedIn] = lambda: SignedIn("you", "you")
        self._codes: dict[str, _DeviceCode] = {}
        self._new_codes: list[_DeviceCode] = []
        self._github_tokens: dict[str, str] = {}  # access token → login
        self._trello_tokens: dict[str, str] = {}  # token → username
        # Counted, not random: the demo prints the same codes every time.
        self._numbers = itertools.count(1)

    def http(self) -> requests.Session:
        """A session whose every request is answered by this object."""
        session = requests.Session()
        adapter = _InProcess(self.answer)
        # Mounted on every URL, not only ours: nothing asked of it ever leaves the process.
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session

    # The person's side -------------------------------------------------------------------

    def enter_new_codes(self) -> list[tuple[str, str]]:
        """The person enters every code the bot handed out since the last call, signed in to
        GitHub as their login; (user code, login) for each."""
        login = self.at_keyboard().github
        entered = []
        for code in self._new_codes:
            code.login = login
            entered.append((code.user_code, login))
        self._new_codes.clear()
        return entered

    def trello_token(self) -> tuple[str, str]:
        """The person allows the bot on Trello's authorisation page: the token the page
        shows, and the username it belongs to."""
        username = self.at_keyboard().trello
        token = _hex(f"trello-token-{next(self._numbers)}", 64)
        self._trello_tokens[token] = username
        return token, username

    # GitHub's and Trello's side ----------------------------------------------------------

    def answer(
        self, method: str, url: str, form: Mapping[str, str], headers: Mapping[str, str]
    ) -> Answer:
        """(HTTP status, JSON or text) for one request, as GitHub or Trello would answer."""
        parts = urlsplit(url)
        where = f"{parts.scheme}://{parts.netloc}"
        query = dict(parse_qsl(parts.query))
        if where == GITHUB_URL and method == "POST" and parts.path == "/login/device/code":
            return self._device_code(form)
        if where == GITHUB_URL and method == "POST" and parts.path == "/login/oauth/access_token":
            return self._access_token(form)
        if where == GITHUB_API_URL and method == "GET" and parts.path == "/user":
            return self._user(headers.get("Authorization", ""))
        if url.startswith(TRELLO_API_URL + "/members/me") and method == "GET":
            return self._member_me(query)
        return 404, {"message": "Not Found"}

    def _device_code(self, form: Mapping[str, str]) -> Answer:
        if form.get("client_id") != CLIENT_ID:
            return 401, {"error": "incorrect_client_credentials"}
        n = next(self._numbers)
        letters = "".join("BCDFGHJKLMNPQRSTVWXZ"[b % 20] for b in bytes.fromhex(_hex(n, 16)))
        code = _DeviceCode(_hex(f"device-{n}", 40), f"{letters[:4]}-{letters[4:]}")
        self._codes[code.device_code] = code
        self._new_codes.append(code)
        return 200, {
            "device_code": code.device_code,
            "user_code": code.user_code,
            "verification_uri": f"{GITHUB_URL}/login/device",
            "expires_in": CODE_LIFETIME,
            "interval": POLL_INTERVAL,
        }

    def _access_token(self, form: Mapping[str, str]) -> Answer:
        if form.get("client_id") != CLIENT_ID:
            return 200, {"error": "incorrect_client_credentials"}
        code = self._codes.get(form.get("device_code", ""))
        if code is None:
            return 200, {"error": "incorrect_device_code"}
        if code.login is None:
            return 200, {"error": "authorization_pending"}
        del self._codes[code.device_code]  # a code is exchanged once
        token = "gho_" + _hex(f"token-{next(self._numbers)}", 36)
        self._github_tokens[token] = code.login
        return 200, {"access_token": token, "token_type": "bearer", "scope": ""}

    def _user(self, authorization: str) -> Answer:
        scheme, _, token = authorization.partition(" ")
        login = self._github_tokens.get(token) if scheme.lower() == "bearer" else None
        if login is None:
            return 401, {"message": "Bad credentials"}
        return 200, {"login": login, "id": int(_hex(login, 8), 16), "type": "User"}

    def _member_me(self, query: Mapping[str, str]) -> Answer:
        if query.get("key") != TRELLO_KEY:
            return 401, "invalid key"
        token = query.get("token", "")
        # A token this console's Trello page showed belongs to whoever it was shown to; any
        # other is one Trello showed the person pasting it.
        username = self._trello_tokens.get(token) or self.at_keyboard().trello
        return 200, {"id": _hex(username, 24), "username": username, "fullName": username}


class _InProcess(HTTPAdapter):
    """A `requests` transport that hands each request to a function instead of a socket."""

    def __init__(self, answer: Callable[[str, str, Mapping[str, str], Mapping[str, str]], Answer]):
        super().__init__()
        self._answer = answer

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        body = request.body.decode() if isinstance(request.body, bytes) else request.body or ""
        status, payload = self._answer(
            request.method or "GET", request.url or "", dict(parse_qsl(body)), request.headers
        )
        if isinstance(payload, str):
            data, kind = payload.encode(), "text/plain; charset=utf-8"
        else:
            data, kind = json.dumps(payload).encode(), "application/json; charset=utf-8"
        raw = HTTPResponse(
            body=io.BytesIO(data),
            headers={"Content-Type": kind, "Content-Length": str(len(data))},
            status=status,
            reason=HTTPStatus(status).phrase,
            preload_content=False,
            decode_content=False,
            request_url=request.url,
        )
        return self.build_response(request, raw)


def _hex(seed: object, length: int) -> str:
    """`length` hex digits that depend only on `seed`."""
    digits = ""
    while len(digits) < length:
        digits += hashlib.sha256(f"{seed}:{len(digits)}".encode()).hexdigest()
    return digits[:length]
