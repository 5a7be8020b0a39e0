"""A fake GitHub REST API server for tests.

``FakeGitHub`` is a real HTTP server on 127.0.0.1 that answers the few endpoints the bot
uses, in GitHub's shapes, so PyGithub (``integrations.github.gateway.GitHubGateway``) runs
against it unchanged: pass ``fake.base_url`` as ``GITHUB_API_URL``. Every request is
recorded as a :class:`Request`.

Endpoints:

* ``GET /repos/{owner}/{repo}`` and ``GET /repositories/{id}``
* ``GET /repos/{owner}/{repo}/issues`` (and ``/repositories/{id}/issues``, which GitHub's
  own ``Link`` headers point at) with ``state``, ``labels``, ``since``, ``sort``,
  ``direction``, ``per_page`` and ``page``; ``Link`` pagination headers; a strong ``ETag``
  computed from the body, and ``304 Not Modified`` (no body) when ``If-None-Match`` equals it
* ``POST``/``GET /repos/{owner}/{repo}/hooks`` and ``DELETE /repos/{owner}/{repo}/hooks/{id}``
  (each hook keeps the secret it was created with: :meth:`FakeGitHub.hooks`)
* ``GET /repos/{owner}/{repo}/collaborators/{user}/permission`` (see ``add_collaborator``)
* the OAuth device flow, ``POST /login/device/code`` and ``POST /login/oauth/access_token``
  (form fields in, JSON out with ``Accept: application/json``, errors as GitHub sends them),
  and ``GET /user`` with the token it hands out: see :meth:`FakeGitHub.script_device_flow`

Paths may carry GitHub Enterprise Server's ``/api/v3`` prefix (``fake.ghes_url``).
PyGithub, given ``base_url="http://127.0.0.1:PORT"``, requests ``/repos/...`` on that host
and port (the explicit ``:443`` in DESIGN.md only concerns the default api.github.com).

Typical use::

    with FakeGitHub() as fake:
        fake.add_repo("Octo/Bins")
        fake.add_issue("Octo/Bins", 1, "Bin day reminders", labels=["help wanted"])
        gateway = GitHubGateway(fake.base_url, "ghp_test")
        ...
        assert [r.status for r in fake.requests] == [200]
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import threading
import zlib
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from tests.fakes._serving import ServedInThread

GHES_PREFIX = "/api/v3"
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
_DOCS = "https://docs.github.com/rest"


@dataclass(frozen=True)
class Request:
    """One recorded request. Header names are lower-cased; ``body`` is parsed JSON or None;
    ``path`` has no query string and no ``/api/v3`` prefix (``raw_path`` keeps it);
    ``status`` is what was answered."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    status: int
    raw_path: str = ""


@dataclass
class _DeviceScript:
    """How one device flow goes: the answers to successive polls, then the login."""

    login: str
    answers: deque[str]
    interval: int
    expires_in: int
    user_code: str = ""


@dataclass
class _Failure:
    prefix: str
    status: int
    times: int


@dataclass(frozen=True)
class _Reply:
    status: int
    body: bytes = b""
    headers: Mapping[str, str] | None = None


def _json(payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> _Reply:
    return _Reply(status, json.dumps(payload).encode(), headers)


def _error(status: int, message: str) -> _Reply:
    return _json({"message": message, "documentation_url": _DOCS}, status)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default of 5 drops concurrent connects (1 s SYN retry)

    def __init__(self, fake: FakeGitHub) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive, as GitHub; PyGithub reuses its connection

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        try:
            reply = self.server.fake._serve(self.command, self.path, headers, raw)
        except Exception as exc:  # a bug in the fake: make it visible to the client
            reply = _error(500, f"fake bug: {exc!r}")
        self.send_response(reply.status)
        out = dict(reply.headers or {})
        if reply.status != 304:
            out.setdefault("Content-Type", "application/json; charset=utf-8")
            out["Content-Length"] = str(len(reply.body))
        for name, value in out.items():
            self.send_header(name, value)
        self.end_headers()
        if reply.status != 304:
            self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""


class FakeGitHub(ServedInThread):
    """Fake GitHub REST API on a free 127.0.0.1 port; see the module docstring.

    ``token``: when given, requests without ``Authorization: token <token>`` (or
    ``Bearer``) get 401 ``Bad credentials``, as GitHub answers.
    """

    def __init__(self, token: str | None = None) -> None:
        self._lock = threading.RLock()
        self._token = token
        self._requests: list[Request] = []
        self._failures: deque[_Failure] = deque()
        self._repos: dict[str, dict[str, Any]] = {}  # lower-case full name -> repo JSON
        self._issues: dict[str, dict[int, dict[str, Any]]] = {}
        self._hooks: dict[str, dict[int, dict[str, Any]]] = {}
        self._refuse_hooks: int | None = None
        self._permissions: dict[tuple[str, str], str] = {}  # (repo, login) -> permission
        self._oauth_apps: dict[str, bool] = {}  # client id -> device flow enabled
        self._device_scripts: deque[_DeviceScript] = deque()
        self._devices: dict[str, _DeviceScript] = {}  # device code -> its script
        self._user_tokens: dict[str, str] = {}  # OAuth token -> login
        self._ids = itertools.count(1001)
        self._clock = _EPOCH
        self._server = _Server(self)
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``: the API root, as ``https://api.github.com``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def ghes_url(self) -> str:
        """``http://127.0.0.1:PORT/api/v3``: the same API as GitHub Enterprise Server serves it."""
        return self.base_url + GHES_PREFIX

    # -- inspection and failure injection -----------------------------------

    @property
    def requests(self) -> list[Request]:
        """Every request so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def requests_to(self, path_prefix: str, method: str | None = None) -> list[Request]:
        """The recorded requests whose path starts with ``path_prefix``."""
        return [
            r
            for r in self.requests
            if r.path.startswith(path_prefix) and (method is None or r.method == method)
        ]

    def clear(self) -> None:
        """Forget the recorded requests (the world stays)."""
        with self._lock:
            self._requests.clear()

    def fail_next(self, path_prefix: str, status: int, times: int = 1) -> None:
        """Answer the next ``times`` requests under ``path_prefix`` with ``status``."""
        with self._lock:
            self._failures.append(_Failure(path_prefix, status, times))

    def refuse_hooks(self, status: int = 404) -> None:
        """Make hook creation fail as GitHub does for a token that may not manage hooks:
        404 (no admin access: GitHub hides the endpoint) or 403 (fine-grained token
        without the ``webhooks`` permission)."""
        with self._lock:
            self._refuse_hooks = status

    # -- the world -------------------------------------------------------------

    def add_repo(self, full_name: str, private: bool = False) -> dict[str, Any]:
        """Create a repository; returns the JSON ``GET /repos/{full_name}`` serves."""
        owner, name = full_name.split("/")
        repo_id = next(self._ids)
        repo = {
            "id": repo_id,
            "node_id": f"R_{repo_id}",
            "name": name,
            "full_name": full_name,
            "private": private,
            "owner": {"login": owner, "id": next(self._ids), "type": "User"},
            "html_url": f"https://github.com/{full_name}",
            "url": f"{self.base_url}/repos/{full_name}",
            "fork": False,
            "default_branch": "main",
            "has_issues": True,
        }
        with self._lock:
            self._repos[full_name.lower()] = repo
            self._issues.setdefault(full_name.lower(), {})
            self._hooks.setdefault(full_name.lower(), {})
        return copy.deepcopy(repo)

    def add_collaborator(self, repo: str, login: str, permission: str = "read") -> None:
        """Give ``login`` a permission on ``repo`` (admin, maintain, write, triage, read)."""
        with self._lock:
            self._permissions[(self._repo(repo)["full_name"].lower(), login.lower())] = permission

    def add_issue(
        self,
        repo: str,
        number: int,
        title: str,
        state: str = "open",
        labels: Iterable[str] = (),
        pull_request: Mapping[str, Any] | None = None,
        updated_at: datetime | str | None = None,
        user: str = "octocat",
        assignees: Iterable[str] = (),
        comments: int = 0,
        body: str | None = None,
        state_reason: str | None = None,
        draft: bool = False,
        user_type: str = "User",
    ) -> dict[str, Any]:
        """Create an issue (a PR when ``pull_request`` is a dict, e.g. ``{"merged_at": …}``);
        returns the JSON the issues list serves for it. Each call without ``updated_at``
        moves the fake clock on one second, so later changes sort later."""
        full_name = self._repo(repo)["full_name"]
        kind = "pull" if pull_request is not None else "issues"
        created = self._tick(None)
        issue: dict[str, Any] = {
            "url": f"{self.base_url}/repos/{full_name}/issues/{number}",
            "repository_url": f"{self.base_url}/repos/{full_name}",
            "html_url": f"https://github.com/{full_name}/{kind}/{number}",
            "id": next(self._ids),
            "node_id": f"I_{number}",
            "number": number,
            "title": title,
            "user": {"login": user, "id": next(self._ids), "type": user_type},
            "labels": [],
            "state": state,
            "state_reason": None,
            "locked": False,
            "assignee": None,
            "assignees": [],
            "milestone": None,
            "comments": comments,
            "created_at": created,
            "updated_at": created,
            "closed_at": None,
            "author_association": "OWNER",
            "body": body,
        }
        if pull_request is not None:
            issue["draft"] = draft
            issue["pull_request"] = {
                "url": f"{self.base_url}/repos/{full_name}/pulls/{number}",
                "html_url": f"https://github.com/{full_name}/pull/{number}",
                "diff_url": f"https://github.com/{full_name}/pull/{number}.diff",
                "patch_url": f"https://github.com/{full_name}/pull/{number}.patch",
                "merged_at": None,
                **pull_request,
            }
        with self._lock:
            self._issues[full_name.lower()][number] = issue
        return self.update_issue(
            repo,
            number,
            state=state,
            labels=labels,
            assignees=assignees,
            state_reason=state_reason,
            updated_at=updated_at or created,
        )

    def update_issue(
        self, repo: str, number: int, updated_at: datetime | str | None = None, **fields: Any
    ) -> dict[str, Any]:
        """Change an issue's fields (``labels`` and ``assignees`` as names, ``merged_at`` for
        a PR) and bump its ``updated_at`` (one tick of the fake clock unless given)."""
        with self._lock:
            issue = self._issues[self._repo(repo)["full_name"].lower()][number]
            for name, value in fields.items():
                if name == "labels":
                    issue["labels"] = [self._label(label) for label in value]
                elif name == "assignees":
                    people = [{"login": login, "id": 0, "type": "User"} for login in value]
                    issue["assignees"] = people
                    issue["assignee"] = people[0] if people else None
                elif name == "merged_at":
                    issue["pull_request"]["merged_at"] = value
                else:
                    issue[name] = value
            issue["updated_at"] = self._tick(updated_at)
            # As GitHub: closing stamps closed_at and (for issues) a reason; reopening clears
            # closed_at and says "reopened".
            if issue["state"] == "closed":
                issue["closed_at"] = issue["closed_at"] or issue["updated_at"]
                if issue["state_reason"] is None and "pull_request" not in issue:
                    issue["state_reason"] = "completed"
            elif issue["closed_at"] is not None:
                issue["closed_at"] = None
                issue["state_reason"] = fields.get("state_reason", "reopened")
            return copy.deepcopy(issue)

    def repo(self, full_name: str) -> dict[str, Any]:
        """The repository's JSON (any case of its name)."""
        return copy.deepcopy(self._repo(full_name))

    def issues(self, repo: str) -> list[dict[str, Any]]:
        """All issues of a repository, by number."""
        with self._lock:
            stored = self._issues[self._repo(repo)["full_name"].lower()]
            return [copy.deepcopy(stored[n]) for n in sorted(stored)]

    def hooks(self, repo: str) -> list[dict[str, Any]]:
        """The hooks created on a repository (secrets in clear, unlike GitHub's answers)."""
        with self._lock:
            return copy.deepcopy(list(self._hooks[self._repo(repo)["full_name"].lower()].values()))

    def _repo(self, full_name: str) -> dict[str, Any]:
        with self._lock:
            return self._repos[full_name.lower()]

    def _tick(self, value: datetime | str | None) -> str:
        with self._lock:
            if value is None:
                self._clock += timedelta(seconds=1)
                return _iso(self._clock)
            when = _parse_time(value) if isinstance(value, str) else value.astimezone(UTC)
            self._clock = max(self._clock, when)
            return _iso(when)

    def _label(self, name: str) -> dict[str, Any]:
        return {"id": zlib.crc32(name.encode()), "name": name, "color": "ededed", "default": False}

    # -- serving ---------------------------------------------------------------

    def _serve(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> _Reply:
        split = urlsplit(target)
        path = split.path.removeprefix(GHES_PREFIX)
        prefix = GHES_PREFIX if split.path.startswith(GHES_PREFIX) else ""
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        reply = self._answer(method, path, prefix, query, headers, body)
        with self._lock:
            self._requests.append(
                Request(method, path, query, headers, body, reply.status, split.path)
            )
        return reply

    def _answer(
        self,
        method: str,
        path: str,
        prefix: str,
        query: dict[str, str],
        headers: dict[str, str],
        body: Any,
    ) -> _Reply:
        with self._lock:
            for failure in self._failures:
                if path.startswith(failure.prefix):
                    failure.times -= 1
                    if failure.times <= 0:
                        self._failures.remove(failure)
                    return _error(failure.status, f"fake failure {failure.status}")
        oauth = self._serve_oauth(method, path, headers, body)
        if oauth is not None:  # the device flow and GET /user: their own credentials
            return oauth
        if self._token is not None:
            scheme, _, value = headers.get("authorization", "").partition(" ")
            if scheme.lower() not in ("token", "bearer") or value != self._token:
                return _error(401, "Bad credentials")
        parts = path.strip("/").split("/")
        repo = self._find_repo(parts)
        if repo is None:
            return _error(404, "Not Found")
        rest = parts[3:] if parts[0] == "repos" else parts[2:]
        host = headers.get("host", f"127.0.0.1:{self.port}")
        root = f"http://{host}{prefix}"
        if method == "GET" and not rest:
            return _Reply(200, self._render(repo, root))
        if method == "GET" and rest == ["issues"]:
            return self._list_issues(repo, query, headers, root)
        if rest and rest[0] == "hooks":
            return self._serve_hooks(method, repo, rest[1:], body)
        if method == "GET" and len(rest) == 3 and rest[0] == "collaborators":
            return self._permission(repo, rest[1]) if rest[2] == "permission" else _error(404, "")
        return _error(404, "Not Found")

    def _permission(self, repo: dict[str, Any], login: str) -> _Reply:
        """GitHub's answer: the permission, "none" for a user with no access."""
        with self._lock:
            found = self._permissions.get((repo["full_name"].lower(), login.lower()), "none")
        legacy = {"maintain": "write", "triage": "read"}.get(found, found)
        return _json({"permission": legacy, "role_name": found, "user": {"login": login}})

    def _render(self, payload: Any, root: str) -> bytes:
        """JSON with API URLs under the root the client used (``/api/v3`` on GHES)."""
        return json.dumps(payload).replace(f"{self.base_url}/", f"{root}/").encode()

    def _find_repo(self, parts: list[str]) -> dict[str, Any] | None:
        with self._lock:
            if len(parts) >= 3 and parts[0] == "repos":
                return self._repos.get(f"{parts[1]}/{parts[2]}".lower())
            if len(parts) >= 2 and parts[0] == "repositories":
                found = [r for r in self._repos.values() if str(r["id"]) == parts[1]]
                return found[0] if found else None
        return None

    def _list_issues(
        self, repo: dict[str, Any], query: dict[str, str], headers: dict[str, str], root: str
    ) -> _Reply:
        state = query.get("state", "open")
        wanted = {name.strip().lower() for name in query.get("labels", "").split(",") if name}
        since = _parse_time(query["since"]) if "since" in query else None
        try:
            per_page = min(max(int(query.get("per_page", 30)), 1), 100)
            page = max(int(query.get("page", 1)), 1)
        except ValueError:
            return _error(422, "Validation Failed")
        with self._lock:
            issues = copy.deepcopy(list(self._issues[repo["full_name"].lower()].values()))
        issues = [
            issue
            for issue in issues
            if (state == "all" or issue["state"] == state)
            and wanted <= {label["name"].lower() for label in issue["labels"]}
            and (since is None or _parse_time(issue["updated_at"]) >= since)
        ]
        sort = {"updated": "updated_at", "comments": "comments"}.get(query.get("sort", ""))
        issues.sort(
            key=lambda issue: (issue[sort or "created_at"], issue["number"]),
            reverse=query.get("direction", "desc") != "asc",
        )
        last = max(1, -(-len(issues) // per_page))
        body = self._render(issues[(page - 1) * per_page : page * per_page], root)
        etag = '"' + hashlib.sha256(body).hexdigest()[:40] + '"'
        out = {"ETag": etag, "Cache-Control": "private, max-age=60, s-maxage=60"}
        links = self._links(root, repo["id"], query, page, last)
        if links:
            out["Link"] = links
        if headers.get("if-none-match") == etag:
            return _Reply(304, b"", out)
        return _Reply(200, body, out)

    @staticmethod
    def _links(root: str, repo_id: int, query: dict[str, str], page: int, last: int) -> str:
        # GitHub's Link headers point at /repositories/{id}/..., not at the path requested.
        def url(n: int) -> str:
            return f"{root}/repositories/{repo_id}/issues?" + urlencode({**query, "page": n})

        rels = []
        if page > 1:
            rels += [(page - 1, "prev")]
        if page < last:
            rels += [(page + 1, "next"), (last, "last")]
        if page > 1:
            rels += [(1, "first")]
        return ", ".join(f'<{url(n)}>; rel="{rel}"' for n, rel in rels)

    def _serve_hooks(self, method: str, repo: dict[str, Any], rest: list[str], body: Any) -> _Reply:
        key = repo["full_name"].lower()
        if self._refuse_hooks is not None:
            message = (
                "Not Found"
                if self._refuse_hooks == 404
                else ("Resource not accessible by personal access token")
            )
            return _error(self._refuse_hooks, message)
        with self._lock:
            hooks = self._hooks[key]
            if method == "GET" and not rest:
                return _json([self._public_hook(h) for h in hooks.values()])
            if method == "POST" and not rest:
                return self._create_hook(repo, body)
            if method == "DELETE" and len(rest) == 1 and rest[0].isdigit():
                if hooks.pop(int(rest[0]), None) is None:
                    return _error(404, "Not Found")
                return _Reply(204)
        return _error(404, "Not Found")

    def _create_hook(self, repo: dict[str, Any], body: Any) -> _Reply:
        config = body.get("config") if isinstance(body, dict) else None
        if not isinstance(config, dict) or not config.get("url"):
            return _error(422, "Validation Failed")
        hooks = self._hooks[repo["full_name"].lower()]
        if any(h["config"]["url"] == config["url"] for h in hooks.values()):
            return _error(422, "Validation Failed: Hook already exists on this repository")
        hook_id = next(self._ids)
        hook = {
            "type": "Repository",
            "id": hook_id,
            "name": body.get("name", "web"),
            "active": body.get("active", True),
            "events": body.get("events", ["push"]),
            "config": dict(config),
            "created_at": _iso(self._clock),
            "updated_at": _iso(self._clock),
            "url": f"{self.base_url}/repos/{repo['full_name']}/hooks/{hook_id}",
        }
        hooks[hook_id] = hook
        return _json(self._public_hook(hook), 201)

    @staticmethod
    def _public_hook(hook: dict[str, Any]) -> dict[str, Any]:
        """GitHub never echoes a hook's secret."""
        shown = copy.deepcopy(hook)
        if "secret" in shown["config"]:
            shown["config"]["secret"] = "********"
        return shown

    # -- the OAuth device flow ----------------------------------------------------------

    def add_oauth_app(self, client_id: str, *, device_flow: bool = True) -> None:
        """Register an OAuth app; ``device_flow=False`` is an app without "Enable Device Flow"."""
        with self._lock:
            self._oauth_apps[client_id] = device_flow

    def script_device_flow(
        self,
        login: str,
        answers: Iterable[str] = ("authorization_pending", "ok"),
        *,
        interval: int = 0,
        expires_in: int = 900,
    ) -> None:
        """Say how the next device flow goes: each poll gets the next answer, an error code
        such as ``authorization_pending``, ``slow_down``, ``expired_token``, ``access_denied``,
        or ``ok`` (a token for ``login``); once they run out, polls stay pending."""
        with self._lock:
            self._device_scripts.append(_DeviceScript(login, deque(answers), interval, expires_in))

    def user_codes(self) -> list[str]:
        """The user codes handed out so far."""
        with self._lock:
            return [script.user_code for script in self._devices.values()]

    def _serve_oauth(
        self, method: str, path: str, headers: dict[str, str], body: Any
    ) -> _Reply | None:
        form = dict(parse_qsl(body)) if isinstance(body, str) else dict(body or {})
        if method == "POST" and path == "/login/device/code":
            return self._device_code(form, headers)
        if method == "POST" and path == "/login/oauth/access_token":
            return self._access_token(form, headers)
        if method == "GET" and path == "/user":
            scheme, _, token = headers.get("authorization", "").partition(" ")
            with self._lock:
                login = self._user_tokens.get(token) if scheme.lower() == "bearer" else None
            if login is None:
                return _error(401, "Bad credentials")
            return _json({"login": login, "id": zlib.crc32(login.encode()), "type": "User"})
        return None

    def _device_code(self, form: dict[str, str], headers: dict[str, str]) -> _Reply:
        with self._lock:
            enabled = self._oauth_apps.get(form.get("client_id", ""))
            if enabled is None:
                return _oauth(headers, {"error": "incorrect_client_credentials"}, 401)
            if not enabled:
                return _oauth(headers, {"error": "device_flow_disabled"}, 400)
            script = (
                self._device_scripts.popleft()
                if self._device_scripts
                else _DeviceScript("octocat", deque(), 5, 900)
            )
            number = next(self._ids)
            device_code = hashlib.sha1(f"device-{number}".encode()).hexdigest()
            script.user_code = f"WDJB-{number:04d}"
            self._devices[device_code] = script
        return _oauth(
            headers,
            {
                "device_code": device_code,
                "user_code": script.user_code,
                "verification_uri": "https://github.com/login/device",
                "expires_in": script.expires_in,
                "interval": script.interval,
            },
        )

    def _access_token(self, form: dict[str, str], headers: dict[str, str]) -> _Reply:
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:device_code":
            return _oauth(headers, {"error": "unsupported_grant_type"})
        with self._lock:
            if form.get("client_id") not in self._oauth_apps:
                return _oauth(headers, {"error": "incorrect_client_credentials"})
            script = self._devices.get(form.get("device_code", ""))
            if script is None:
                return _oauth(headers, {"error": "incorrect_device_code"})
            answer = script.answers.popleft() if script.answers else "authorization_pending"
            if answer == "slow_down":
                script.interval += 5
                return _oauth(headers, {"error": "slow_down", "interval": script.interval})
            if answer != "ok":
                return _oauth(headers, {"error": answer})
            token = f"gho_{next(self._ids):036d}"
            self._user_tokens[token] = script.login
        return _oauth(headers, {"access_token": token, "token_type": "bearer", "scope": ""})


def _oauth(headers: dict[str, str], payload: dict[str, Any], status: int = 200) -> _Reply:
    """GitHub's OAuth endpoints answer JSON only when asked to; form-encoded otherwise."""
    if "application/json" in headers.get("accept", ""):
        return _json(payload, status)
    body = urlencode({k: str(v) for k, v in payload.items()}).encode()
    return _Reply(status, body, {"Content-Type": "application/x-www-form-urlencoded"})
