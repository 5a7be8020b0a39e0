"""The GitHub REST client: the only place PyGithub is used.

`GitHubGateway` returns our own frozen dataclasses (issue JSON becomes `ItemState` through
`items.py`, exactly as webhooks do) and turns every PyGithub / requests failure into
`IntegrationError`, whose message never holds the token.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests
import urllib3
from github import Auth, Github, GithubException, GithubRetry
from github.GithubException import BadAttributeException

from integrations.changes import IntegrationError, ItemState
from integrations.github.items import item_from_issue
from integrations.github.payloads import utc

# -- the gateway ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RepoInfo:
    full_name: str  # as GitHub spells it ("Octo/Bins"), whatever case was asked for
    html_url: str
    private: bool


@dataclass(frozen=True)
class IssuePoll:
    """One poll of a repository's issues and PRs.

    `etag` is what to send next time; it is None when the answer ran over several pages,
    because GitHub's ETag covers the first page only and, sorted oldest-update first, a
    change lands on the last page. Pass `since` = the newest `updated_at` seen to keep the
    answer to one page (and the 304s free).
    """

    etag: str | None
    not_modified: bool
    items: tuple[ItemState, ...]


_REPO_NAME = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
_LOGIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})")
_NEXT_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="next"')
_MAX_PAGES = 100  # 10,000 issues per poll: a runaway Link chain must end somewhere


def _repo_name(full_name: str) -> str:
    name = full_name.strip()
    # Checked before it becomes part of a URL path: no "..", no extra segments.
    if not _REPO_NAME.fullmatch(name) or {".", ".."} & set(name.split("/")):
        raise IntegrationError(f"not a GitHub repository name (owner/repo): {full_name!r}")
    return name


def _iso(value: datetime) -> str:
    return utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def _loads(body: str) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


def _message(data: Any) -> str:
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return str(data["message"])
    return ""


class GitHubGateway:
    """What the services ask of GitHub, through PyGithub, against `base_url` (github.com,
    `https://HOST/api/v3` for Enterprise Server, or a fake in tests)."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: int = 15,
        retries: int = 2,
        backoff_factor: float = 0.5,
    ) -> None:
        self._token = token
        self._github = Github(
            base_url=base_url.rstrip("/"),
            auth=Auth.Token(token),
            timeout=timeout,
            # raise_on_status=False: when retries run out, the last 5xx reaches PyGithub,
            # which raises GithubException with its status (not a status-less RetryError).
            retry=GithubRetry(total=retries, backoff_factor=backoff_factor, raise_on_status=False),
            # Our own scheduler paces the calls; PyGithub's default sleeps would slow tests.
            seconds_between_requests=None,
            seconds_between_writes=None,
            lazy=True,  # get_repo() makes no request; create_hook() is then a single POST
        )

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """Turn any failure under the block into `IntegrationError(…, status=…)`."""
        try:
            yield
        except IntegrationError as error:
            raise IntegrationError(self._clean(f"{what}: {error}"), status=error.status) from None
        except GithubException as error:
            detail = _message(error.data) or "error"
            raise IntegrationError(
                self._clean(f"{what}: GitHub answered {error.status} {detail}"),
                status=error.status,
            ) from error
        except (
            requests.RequestException,
            urllib3.exceptions.HTTPError,
            OSError,
            BadAttributeException,
            ValueError,  # a body that is not the JSON we expect (MalformedPayload included)
        ) as error:
            raise IntegrationError(self._clean(f"{what}: {type(error).__name__}")) from error

    def _clean(self, message: str) -> str:
        """Belt and braces: whatever went wrong, the token never reaches a message."""
        return message.replace(self._token, "[token]") if self._token else message

    def repository(self, full_name: str) -> RepoInfo:
        """The repository, as the token sees it (404 when missing or invisible)."""
        name = _repo_name(full_name)
        with self._errors(f"reading {name}"):
            repo = self._github.get_repo(name).complete()
            return RepoInfo(full_name=repo.full_name, html_url=repo.html_url, private=repo.private)

    def create_hook(self, full_name: str, url: str, secret: str, events: Sequence[str]) -> str:
        """Create an active JSON webhook delivering `events` to `url`; returns its id."""
        name = _repo_name(full_name)
        config = {"url": url, "content_type": "json", "secret": secret, "insecure_ssl": "0"}
        with self._errors(f"creating a webhook on {name}"):
            hook = self._github.get_repo(name).create_hook(
                "web", config, events=list(events), active=True
            )
            return str(hook.id)

    def permission(self, full_name: str, login: str) -> str:
        """What `login` may do in the repository: admin, maintain, write, triage, read or
        none (GitHub's collaborator permission; a login GitHub does not know is "none")."""
        name = _repo_name(full_name)
        if not _LOGIN.fullmatch(login):
            return "none"
        path = f"/repos/{name}/collaborators/{login}/permission"
        try:
            with self._errors(f"reading {login}'s permission on {name}"):
                _, data = self._github.requester.requestJsonAndCheck("GET", path)
        except IntegrationError as error:
            if error.status == 404:
                return "none"
            raise
        found = data.get("permission") if isinstance(data, dict) else None
        return found if isinstance(found, str) else "none"

    def delete_hook(self, full_name: str, hook_id: str) -> None:
        """Delete a webhook (a hook already gone answers 404: `IntegrationError` status 404)."""
        name = _repo_name(full_name)
        if not str(hook_id).isdigit():
            raise IntegrationError(f"not a GitHub hook id: {hook_id!r}")
        with self._errors(f"deleting webhook {hook_id} of {name}"):
            self._github.requester.requestJsonAndCheck("DELETE", f"/repos/{name}/hooks/{hook_id}")

    def poll_issues(self, full_name: str, *, etag: str | None, since: datetime | None) -> IssuePoll:
        """Issues and PRs updated since `since`, oldest update first, every page.

        PyGithub's paginated lists cannot send `If-None-Match`, so this calls the requester
        itself; a 304 costs no rate limit and makes no further request.
        """
        name = _repo_name(full_name)
        params: dict[str, Any] = {
            "state": "all",
            "sort": "updated",
            "direction": "asc",
            "per_page": 100,
        }
        if since is not None:
            params["since"] = _iso(since)
        headers = {"If-None-Match": etag} if etag else {}
        requester = self._github.requester
        with self._errors(f"polling issues of {name}"):
            status, response_headers, body = requester.requestJson(
                "GET", f"/repos/{name}/issues", parameters=params, headers=headers
            )
            if status == 304:
                return IssuePoll(etag=etag, not_modified=True, items=())
            found: dict[str, ItemState] = {}
            self._collect(name, status, body, found)
            new_etag = response_headers.get("etag")
            pages, seen = 1, set()
            next_url = self._next(response_headers)
            if next_url:
                new_etag = None  # see IssuePoll: the ETag does not cover later pages
            while next_url and next_url not in seen and pages < _MAX_PAGES:
                seen.add(next_url)
                # An absolute URL: PyGithub sends its path to our own host, with our token.
                status, response_headers, body = requester.requestJson("GET", next_url)
                self._collect(name, status, body, found)
                pages += 1
                next_url = self._next(response_headers)
            return IssuePoll(etag=new_etag, not_modified=False, items=tuple(found.values()))

    @staticmethod
    def _next(headers: Mapping[str, Any]) -> str | None:
        match = _NEXT_LINK.search(str(headers.get("link", "")))
        return match.group(1) if match else None

    @staticmethod
    def _repo_of(issue: Any, asked: str) -> str:
        """The repository's name as GitHub spells it (from `repository_url`), so a poll
        names it exactly as webhooks do, whatever case the link was typed in."""
        url = issue.get("repository_url") if isinstance(issue, dict) else None
        if isinstance(url, str):
            parts = url.rstrip("/").split("/")
            if len(parts) >= 2 and f"{parts[-2]}/{parts[-1]}".lower() == asked.lower():
                return f"{parts[-2]}/{parts[-1]}"
        return asked

    def _collect(self, name: str, status: int, body: str, found: dict[str, ItemState]) -> None:
        """Add one page's items; a later sighting of an item (it was updated while we paged,
        so it moved to the end) replaces the earlier one."""
        data = _loads(body)
        if status >= 400:
            raise IntegrationError(f"GitHub answered {status} {_message(data)}", status=status)
        if not isinstance(data, list):
            raise IntegrationError(f"GitHub answered {status} without a list of issues")
        for issue in data:
            item = item_from_issue(self._repo_of(issue, name), issue)
            found.pop(item.key, None)
            found[item.key] = item
