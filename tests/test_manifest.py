"""manifest.yml stays in step with the code: commands, events, request URLs and scopes.

A Slack app only receives the commands and events its manifest declares, and can only call
the Web API methods its scopes allow; these tests fail when a listener or a Web API call is
added without the matching line in manifest.yml.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from slack_bolt import App

import handlers
from makersbot import app as app_module
from makersbot.app import Bot, build
from makersbot.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "manifest.yml"
SLACK_ROUTE = "/slack/events"

# The bot scope each Web API method the code calls needs (None: no scope needed).
# https://docs.slack.dev/reference/methods lists the scope of every method.
METHOD_SCOPES: dict[str, str | None] = {
    "auth_test": None,
    "chat_getPermalink": None,
    "chat_postMessage": "chat:write",
    "chat_postEphemeral": "chat:write",
    "chat_update": "chat:write",
    "conversations_create": "channels:manage",
    "conversations_invite": "channels:manage",
    "conversations_join": "channels:join",
    "conversations_list": "channels:read",
    "conversations_history": "channels:history",
    "conversations_info": "groups:read",  # whether a project channel is private
    "conversations_replies": "channels:history",
    "conversations_open": "im:write",
    "files_completeUploadExternal": "files:write",
    "files_getUploadURLExternal": "files:write",
    "files_upload_v2": "files:write",
    "pins_add": "pins:write",
    "users_info": "users:read",
    "views_open": None,
    "views_publish": None,
}
_CLIENT_CALL = re.compile(r"\bclient\.([a-z]+_[A-Za-z]+)\(")


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    data = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    assert isinstance(data, dict), "manifest.yml must be a YAML mapping"
    return data


@pytest.fixture
def built(sqlite_url: str) -> Iterator[Bot]:
    values: dict[str, Any] = {
        "database_url": sqlite_url,
        "slack_bot_token": "xoxb-test-token",
        "slack_signing_secret": "test-signing-secret",
        "slack_api_url": "http://127.0.0.1:9/api/",
    }
    settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
    bot = build(settings)
    yield bot
    bot.stop()


def _commands(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    return list(manifest["features"].get("slash_commands") or [])


def _bot_events(manifest: dict[str, Any]) -> list[str]:
    return list(manifest["settings"]["event_subscriptions"]["bot_events"])


def _constraint(listener: Any, name: str) -> Any:
    """The value a Bolt builtin matcher closes over (`event_type`, `command`, ...)."""
    for matcher in listener.matchers:
        func = getattr(matcher, "func", None)
        if func is None:
            continue
        nonlocals = inspect.getclosurevars(func).nonlocals
        if name in nonlocals:
            return nonlocals[name]
    return None


def _real_listeners(app: App) -> list[Any]:
    """Listeners that do something: not the catch-alls that acknowledge and ignore."""
    return [
        listener
        for listener in app._listeners
        if getattr(listener, "ack_function", None) is not app_module._ignore
    ]


def test_it_is_a_version_1_manifest(manifest: dict[str, Any]) -> None:
    assert manifest["_metadata"]["major_version"] == 1
    assert manifest["features"]["bot_user"]["display_name"] == "makersbot"
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    settings = manifest["settings"]
    assert settings["socket_mode_enabled"] is False
    assert settings["org_deploy_enabled"] is False
    assert settings["token_rotation_enabled"] is False
    assert settings["interactivity"]["is_enabled"] is True


def test_slash_commands_are_the_handlers_commands(manifest: dict[str, Any]) -> None:
    names = [command["command"] for command in _commands(manifest)]
    assert sorted(names) == sorted(handlers.COMMANDS)
    assert len(names) == len(set(names)), "a command is declared twice"
    for command in _commands(manifest):
        assert command.get("description"), f"{command['command']} needs a description"
        assert command.get("usage_hint"), f"{command['command']} needs a usage_hint"


def test_bot_events_are_the_handlers_events(manifest: dict[str, Any]) -> None:
    events = _bot_events(manifest)
    assert sorted(events) == sorted(handlers.EVENTS)
    assert len(events) == len(set(events)), "an event is declared twice"


def test_every_request_url_is_the_slack_route(manifest: dict[str, Any], built: Bot) -> None:
    settings = manifest["settings"]
    urls = [command["url"] for command in _commands(manifest)]
    urls.append(settings["event_subscriptions"]["request_url"])
    urls.append(settings["interactivity"]["request_url"])
    assert len(urls) == len(handlers.COMMANDS) + 2
    for url in urls:
        assert url.startswith("https://"), url
        assert url.endswith(SLACK_ROUTE), url

    # ...and that route is the one the web app serves Slack on.
    from makersbot.web import create_web_app

    web = create_web_app(built)
    rules = {rule.rule: rule.methods or set() for rule in web.url_map.iter_rules()}
    assert SLACK_ROUTE in rules
    assert "POST" in rules[SLACK_ROUTE]


def test_every_event_the_bolt_app_listens_to_is_in_the_manifest(
    manifest: dict[str, Any], built: Bot
) -> None:
    declared = set(_bot_events(manifest))
    listened: set[str] = set()
    for listener in _real_listeners(built.bolt_app()):
        event_type = _constraint(listener, "event_type")
        if event_type is None:
            constraints = _constraint(listener, "constraints")
            if isinstance(constraints, dict) and "type" in constraints:
                event_type = constraints["type"]
        if event_type is None:
            continue
        assert isinstance(event_type, str), (
            f"{listener.ack_function} listens to events matching {event_type!r}: "
            "name the event types, so that the manifest can declare them"
        )
        listened.add(event_type)
    assert listened, "found no event listener: has Bolt changed how it stores matchers?"
    assert listened <= declared, f"missing from manifest.yml bot_events: {listened - declared}"
    assert declared <= listened, f"declared but nothing listens: {declared - listened}"


def test_every_command_the_bolt_app_listens_to_is_in_the_manifest(
    manifest: dict[str, Any], built: Bot
) -> None:
    declared = {command["command"] for command in _commands(manifest)}
    listened = {
        command
        for listener in _real_listeners(built.bolt_app())
        if isinstance(command := _constraint(listener, "command"), str)
    }
    assert listened, "found no command listener: has Bolt changed how it stores matchers?"
    assert listened == declared


def _client_calls() -> dict[str, list[str]]:
    """Every `client.<method>(` call in the bot's code, with where it is."""
    calls: dict[str, list[str]] = {}
    for folder in ("makersbot", "handlers", "integrations"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for method in _CLIENT_CALL.findall(path.read_text(encoding="utf-8")):
                calls.setdefault(method, []).append(str(path.relative_to(ROOT)))
    return calls


def test_the_bot_has_a_scope_for_every_web_api_method_it_calls(
    manifest: dict[str, Any],
) -> None:
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    calls = _client_calls()
    assert "chat_postMessage" in calls, "found no Web API calls: has the code moved?"
    unknown = {method: where for method, where in calls.items() if method not in METHOD_SCOPES}
    assert not unknown, f"add these methods and their scopes to METHOD_SCOPES: {unknown}"
    for method in calls:
        scope = METHOD_SCOPES[method]
        assert scope is None or scope in scopes, f"{method} needs the {scope} scope"
    if _commands(manifest):
        assert "commands" in scopes


def test_every_scope_says_why_it_is_needed() -> None:
    lines = MANIFEST.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "bot:")
    for line in lines[start + 1 :]:
        if not line.strip().startswith("- "):
            break
        scope, _, why = line.strip()[2:].partition("#")
        assert why.strip(), f"scope {scope.strip()} has no comment saying why it is needed"
