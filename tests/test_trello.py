"""Trello: signatures, actions → Changes on real payloads, and the gateway against FakeTrello.

Payloads are in tests/fixtures/trello/ (zulip/: Zulip's real webhook bodies; edited/: the
few action types no public fixture has, each a minimal edit of a real one; rest/: ruby-trello
recordings of the REST API). See tests/fixtures/trello/README.md.
"""

from __future__ import annotations

import base64
import copy
import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from integrations.changes import Change, Credit, IntegrationError, ItemState, MalformedPayload
from integrations.trello.gateway import BoardInfo, TrelloGateway
from integrations.trello.items import card_state, looks_done
from integrations.trello.poll import ActionPage
from integrations.trello.webhook import (
    HANDLERS,
    IGNORED,
    callback_signature,
    dispatch_key,
    parse,
    parse_action,
    verify_signature,
)
from tests.fakes.signing import trello_headers
from tests.fakes.trello import FakeTrello

FIXTURES = Path(__file__).parent / "fixtures" / "trello"
WELCOME = "53582e2da0fac5676a714277"  # the board of Zulip's fixtures
IT2 = "5e93ba98614ac22d22f085c4"  # the board of ruby-trello's recordings


def fixture(name: str) -> dict[str, Any]:
    folder = "edited" if (FIXTURES / "edited" / name).exists() else "zulip"
    payload: dict[str, Any] = json.loads((FIXTURES / folder / name).read_text("utf-8"))
    return payload


def cassette(name: str) -> list[dict[str, Any]]:
    """The interactions of a VCR cassette, bodies decoded (VCR stores some as !binary)."""

    loader: Any = type("Loader", (yaml.SafeLoader,), {})  # so the constructor stays local
    loader.add_constructor("!binary", lambda loader, node: base64.b64decode(node.value).decode())
    data = yaml.load((FIXTURES / "rest" / name).read_text("utf-8"), Loader=loader)  # noqa: S506
    interactions: list[dict[str, Any]] = data["http_interactions"]
    return interactions


def recorded_actions() -> list[dict[str, Any]]:
    """The board actions ruby-trello recorded, newest first as Trello sent them."""
    [answer] = [
        i["response"]["body"]["string"]
        for i in cassette("can_get_actions_of_board.yml")
        if "/actions" in i["request"]["uri"]
    ]
    actions: list[dict[str, Any]] = json.loads(answer)
    return actions


def recorded(kind: str) -> dict[str, Any]:
    return next(action for action in recorded_actions() if action["type"] == kind)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# (id, idShort, shortLink) of cards in Zulip's fixtures
CARD_2 = ("53582e2da0fac5676a71427f", 2, "r33ylX2Z")
CARD_3 = ("53582e2da0fac5676a714280", 3, "xPKXoSTQ")
CARD_8 = ("53582e2da0fac5676a71428b", 8, "9BduUcVQ")
CARD_20 = ("572b84076b9f7ff48a8c6638", 20, "5qrgGdD5")


def card(card_id: str, number: int, short_link: str, title: str, when: str, **kw: Any) -> ItemState:
    """An ItemState of a card (on Zulip's Welcome Board unless `board` says), as a change
    reports it."""
    return ItemState(
        source="trello",
        key=f"trello:{card_id}",
        container=kw.pop("board", WELCOME),
        container_name=kw.pop("board_name", "Welcome Board"),
        kind="card",
        number=number,
        title=title,
        url=f"https://trello.com/c/{short_link}",
        state=kw.pop("state", ""),
        closed=kw.pop("closed", False),
        updated_at=at(when),
        **kw,
    )


def change(action_id: str, action: str, summary: str, item: ItemState, **kw: Any) -> Change:
    assert item.updated_at is not None
    return Change(
        source="trello",
        container=item.container,
        action=action,
        summary=summary,
        occurred_at=item.updated_at,
        dedupe_key=f"trello:{action_id}",
        actor=kw.pop("actor", "tomaszkolek"),
        item=item,
        item_key=item.key,
        **kw,
    )


# -- dispatch and fixtures --------------------------------------------------------------------


def all_actions() -> list[tuple[str, dict[str, Any]]]:
    files = sorted((FIXTURES / "zulip").glob("*.json")) + sorted((FIXTURES / "edited").glob("*"))
    found = [(path.name, fixture(path.name)["action"]) for path in files if path.suffix == ".json"]
    return found + [(f"rest:{a['id']}", a) for a in recorded_actions()]


def test_every_handled_action_type_has_a_real_or_edited_fixture() -> None:
    covered = {dispatch_key(action) for _, action in all_actions()}
    assert set(HANDLERS) <= covered, set(HANDLERS) - covered
    assert not set(HANDLERS) & IGNORED


@pytest.mark.parametrize(("name", "action"), all_actions(), ids=[n for n, _ in all_actions()])
def test_every_fixture_parses_to_at_most_one_change_the_same_by_webhook_and_by_poll(
    name: str, action: dict[str, Any]
) -> None:
    changes = parse({"model": {"id": "whatever"}, "action": action})
    assert changes == parse_action(action)
    assert len(changes) == (1 if dispatch_key(action) in HANDLERS else 0)
    for found in changes:
        assert found.dedupe_key == f"trello:{action['id']}"
        assert found.item is not None and found.item.key == f"trello:{action['data']['card']['id']}"


# -- exact changes ----------------------------------------------------------------------------


def test_card_created() -> None:
    new = card(*CARD_20, "New card", "2016-05-05T17:33:59.341", state="Intermediate")
    assert parse(fixture("trello_creating_card.json")) == [
        change(
            "572b84076b9f7ff48a8c6639",
            "opened",
            "created by tomaszkolek in Intermediate",
            new,
            state_change=True,
            destination="Intermediate",
        )
    ]


def test_card_moved_between_lists() -> None:
    moved = card(*CARD_2, "This is a card.", "2016-05-04T17:40:22.254", state="Intermediate")
    assert parse(fixture("changing_cards_list.json")) == [
        change(
            "572a340644ed9c7d8b6f9a30",
            "moved",
            "moved Basics → Intermediate by tomaszkolek",
            moved,
            state_change=True,
            destination="Intermediate",
        )
    ]


def test_card_moved_into_a_done_list_earns_the_mover_a_give() -> None:
    payload = fixture("changing_cards_list.json")
    payload["action"]["data"]["listAfter"]["name"] = "Done ✅"
    moved = card(*CARD_2, "This is a card.", "2016-05-04T17:40:22.254", state="Done ✅")
    credit = Credit(
        kind="give",
        source="trello:card_done",
        login="tomaszkolek",
        dedupe_key="trello:card_done:53582e2da0fac5676a71427f",
        description="finished “This is a card.” on Welcome Board",
    )
    assert parse(payload) == [
        change(
            "572a340644ed9c7d8b6f9a30",
            "moved",
            "moved Basics → Done ✅ by tomaszkolek",
            moved,
            state_change=True,
            credits=(credit,),
            destination="Done ✅",
            done=True,
        )
    ]


def test_card_renamed() -> None:
    renamed = card(*CARD_2, "New name", "2016-05-04T17:52:51.098")
    assert parse(fixture("trello_renaming_card.json")) == [
        change("572a36f33c7ab8948bab8064", "renamed", "renamed from “Old name”", renamed)
    ]


def test_due_date_set() -> None:
    due = at("2016-05-11T10:00:00")
    item = card(*CARD_8, "Card name", "2016-05-05T16:08:54.559", due=due)
    assert parse(fixture("setting_due_date_to_card.json")) == [
        change("572b701647e1a8d7834b186a", "due_changed", "due date set to 11 May 2016", item)
    ]


def test_card_archived() -> None:
    item = card(*CARD_8, "Card name", "2016-05-05T16:43:57.557", closed=True)
    assert parse(fixture("archiving_card.json")) == [
        change("572b784d97893f947c179ccb", "archived", "archived", item, state_change=True)
    ]


def test_comment() -> None:
    item = card(*CARD_3, "New card", "2016-05-13T11:40:42.612")
    assert parse(fixture("adding_comment_to_card.json")) == [
        change(
            "5735bd3a54bf8d93c35149bb",
            "commented",
            "commented",
            item,
            comment="New comment",
            comment_delta=1,
        )
    ]


def test_label_added_carries_the_one_label_its_colour_when_it_has_no_text() -> None:
    item = card(*CARD_2, "Card name", "2016-05-04T17:53:55.770", labels=("green",))
    assert parse(fixture("adding_label_to_card.json")) == [
        change("572a3733549f0fa0e7398918", "labeled", "added label “green”", item)
    ]


def test_member_added_carries_the_one_username() -> None:
    item = card(*CARD_8, "Card name", "2016-05-05T15:56:54.348", people=("tomaszkolek",))
    assert parse(fixture("trello_adding_member_to_card.json")) == [
        change("572b6d4635b843ed3faa7dc0", "assigned", "added tomaszkolek", item)
    ]


@pytest.mark.parametrize(
    "name",
    [
        "moving_card_within_single_list.json",
        "create_check_item.json",
        "adding_new_list_to_board.json",
        "trello_adding_member_to_board.json",
    ],
)
def test_ignored_actions_give_nothing(name: str) -> None:
    assert parse(fixture(name)) == []


@pytest.mark.parametrize(
    ("name", "action", "summary", "fields"),
    [
        ("reopening_card.json", "unarchived", "restored from the archive", {"closed": False}),
        ("removing_due_date_from_card.json", "due_changed", "due date removed", {"due": None}),
        ("removing_member_from_card.json", "unassigned", "removed trello", {"people": ("trello",)}),
        (
            "trello_removing_label_from_card.json",
            "unlabeled",
            "removed label “green”",
            {"labels": ("green",)},
        ),
        ("adding_description_to_card.json", "edited", "description updated", {}),
        ("adding_attachment_to_card.json", "attached", "attached “attachment_name”", {}),
        ("adding_checklist_to_card.json", "checklist_added", "checklist “Checklist” added", {}),
        ("check_item_on_card_checklist.json", "checked", "checked “Tomatoes” in “Checklist”", {}),
        (
            "uncheck_item_on_card_checklist.json",
            "unchecked",
            "unchecked “Tomatoes” in “Checklist”",
            {},
        ),
        (
            "moving_card_to_board.json",
            "moved_in",
            "moved here from another board into Intermediate",
            {"state": "Intermediate"},
        ),
        ("moving_card_from_board.json", "moved_out", "moved to another board", {"state": ""}),
    ],
)
def test_other_card_actions(name: str, action: str, summary: str, fields: dict[str, Any]) -> None:
    [found] = parse(fixture(name))
    assert (found.action, found.summary) == (action, summary)
    assert found.item is not None
    for field, value in fields.items():
        assert getattr(found.item, field) == value
    assert found.deleted == (action == "moved_out")
    assert found.state_change == (action in ("unarchived", "moved_in", "moved_out"))


def test_rest_actions_recorded_by_ruby_trello() -> None:
    copied = card(
        "5e93c827fb102a6f40c5fa2b",
        3,
        "iK30ThVk",
        "Test Trello::Card.create",
        "2020-04-13T02:02:15.238",
        state="L1",
        board=IT2,
        board_name="IT 2",
    )
    assert parse_action(recorded("copyCard")) == [
        change(
            "5e93c827fb102a6f40c5fa32",
            "opened",
            "copied from “C1”",
            copied,
            actor="hoppertest",
            state_change=True,
            destination="L1",
        )
    ]
    [deleted] = parse_action(recorded("deleteCard"))
    assert deleted.item is not None
    assert (deleted.action, deleted.deleted, deleted.item.closed, deleted.item.title) == (
        "deleted",
        True,
        True,
        "",  # Trello sends no name: the mirror keeps the one it has
    )
    assert parse_action(recorded("updateCustomFieldItem")) == []


def test_a_card_created_in_a_done_list_is_credited_but_not_without_an_actor() -> None:
    payload = fixture("trello_creating_card.json")
    payload["action"]["data"]["list"]["name"] = "Complete"
    [found] = parse(payload)
    assert [c.login for c in found.credits] == ["tomaszkolek"]
    del payload["action"]["memberCreator"]
    [found] = parse(payload)
    assert (found.actor, found.credits) == (None, ())


@pytest.mark.parametrize(
    ("name", "done"),
    [
        ("Done", True),
        ("DONE", True),
        ("Done ✅", True),
        ("Complete", True),
        ("Completed", True),
        ("Done this sprint", True),
        ("Finished", True),
        ("Shipped 🚀", True),
        ("Live", True),
        ("Gone live", True),
        ("Review / Done", True),
        ("Not done", False),
        ("Undone", False),
        ("not yet done", False),
        ("Not quite done", False),
        ("Isn't done", False),
        ("To be done", False),
        ("To complete", False),
        ("Incomplete", False),
        ("Going live", False),
        ("Ready to go live", False),
        ("Live issues", False),
        ("Definition of Done", False),
        ("Almost finished", False),
        ("Doing", False),
        ("Donezo", False),
        ("", False),
    ],
)
def test_which_lists_look_done(name: str, done: bool) -> None:
    assert looks_done(name) is done


# -- malformed --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        [],
        "x",
        None,
        {},
        {"action": []},
        {"action": {"type": "createCard"}},
        {"action": {"id": "", "type": "createCard"}},
        {"action": {"id": "a1"}},
        {"action": {"id": "a1", "type": "createCard", "date": "yesterday", "data": {}}},
    ],
)
def test_malformed_bodies_raise_with_a_one_line_reason(body: Any) -> None:
    with pytest.raises(MalformedPayload) as raised:
        parse(body)
    assert str(raised.value) and "\n" not in str(raised.value)


def test_unknown_action_types_and_actions_without_a_card_give_nothing() -> None:
    assert parse({"action": {"id": "a1", "type": "somethingNew2030", "data": {}}}) == []
    assert (
        parse(
            {
                "action": {
                    "id": "a1",
                    "type": "createCard",
                    "date": "2020-01-01T00:00:00Z",
                    "data": {"list": {"name": "Done"}},
                }
            }
        )
        == []
    )


def test_odd_field_types_read_as_missing_as_trello_clients_do() -> None:
    # Trello leaves out what did not change; a value of the wrong type is read as absent,
    # never as a reason to refuse the delivery.
    payload = fixture("trello_creating_card.json")
    action = payload["action"]
    action["data"]["card"].update(name=5, idShort="20", shortLink=None, closed="yes")
    action["data"]["list"] = "Intermediate"
    action["data"]["board"] = []  # no board: the poll's board is used, here none
    action["memberCreator"] = {"username": ["tomaszkolek"]}
    [found] = parse(payload)
    assert found.item == ItemState(
        source="trello",
        key="trello:572b84076b9f7ff48a8c6638",
        container="",
        container_name="",
        kind="card",
        number=None,
        title="",
        url="",
        state="",
        closed=False,
        updated_at=at("2016-05-05T17:33:59.341"),
    )
    assert (found.summary, found.actor, found.destination) == ("created", None, None)


# -- signatures -------------------------------------------------------------------------------

SECRET = "app-secret-1234"
CALLBACK = "https://makers.example.gov.uk/trello/webhook"
BODY = '{"action":{"id":"5735bd3a54bf8d93c35149bb","type":"commentCard","data":{"text":"Café ✅"}}}'
# Computed outside Python: printf '%s%s' "$BODY" "$CALLBACK" |
#   openssl dgst -sha1 -hmac app-secret-1234 -binary | base64
SIGNATURE = "MMCNWwtVf1O8McCcvOB7CCdngU0="


def test_signature_matches_one_computed_by_hand() -> None:
    body = BODY.encode("utf-8")
    assert callback_signature(SECRET, body, CALLBACK) == SIGNATURE
    assert verify_signature(SECRET, body, CALLBACK, SIGNATURE)
    assert verify_signature(
        SECRET, body, CALLBACK, trello_headers(SECRET, body, CALLBACK)["X-Trello-Webhook"]
    )


@pytest.mark.parametrize(
    ("secret", "body", "url", "header"),
    [
        ("wrong-secret", BODY, CALLBACK, SIGNATURE),
        (SECRET, BODY + " ", CALLBACK, SIGNATURE),
        (SECRET, BODY, CALLBACK + "/", SIGNATURE),
        (SECRET, BODY, CALLBACK, None),
        (SECRET, BODY, CALLBACK, ""),
        (SECRET, BODY, CALLBACK, "not base64 ✗"),
        ("", BODY, CALLBACK, SIGNATURE),
    ],
)
def test_bad_or_missing_signatures_are_refused(
    secret: str, body: str, url: str, header: str | None
) -> None:
    assert not verify_signature(secret, body.encode("utf-8"), url, header)


# -- the gateway against FakeTrello -----------------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeTrello]:
    with FakeTrello() as server:
        server.add_board(IT2, "IT 2", "y1TF9GTa")
        yield server


@pytest.fixture
def gateway(fake: FakeTrello) -> TrelloGateway:
    return TrelloGateway(fake.base_url, fake.api_key, fake.token, timeout=5)


def assert_no_secrets(fake: FakeTrello, error: IntegrationError) -> None:
    assert fake.api_key not in str(error) and fake.token not in str(error)
    assert error.__cause__ is None and error.__suppress_context__


@pytest.mark.parametrize(
    "ref",
    ["https://trello.com/b/y1TF9GTa/it-2", "<https://trello.com/b/y1TF9GTa>", "y1TF9GTa", IT2],
)
def test_board_from_url_short_link_or_id(
    fake: FakeTrello, gateway: TrelloGateway, ref: str
) -> None:
    assert gateway.board(ref) == BoardInfo(
        IT2, "IT 2", "https://trello.com/b/y1TF9GTa/it-2", "y1TF9GTa"
    )
    [request] = fake.requests
    assert request.query["key"] == fake.api_key and request.query["token"] == fake.token


@pytest.mark.parametrize(("ref", "status"), [("Zz9Zz9Zz", 404), ("../webhooks", 400)])
def test_unknown_board_is_an_integration_error(
    fake: FakeTrello, gateway: TrelloGateway, ref: str, status: int
) -> None:
    with pytest.raises(IntegrationError) as raised:
        gateway.board(ref)
    assert raised.value.status == status
    assert_no_secrets(fake, raised.value)


def test_create_and_delete_a_webhook(fake: FakeTrello, gateway: TrelloGateway) -> None:
    hook_id = gateway.create_webhook(IT2, CALLBACK, "makersbot")
    [request] = fake.requests_to("POST", "/1/webhooks")
    assert request.body == {"idModel": IT2, "callbackURL": CALLBACK, "description": "makersbot"}
    assert (request.query["key"], request.query["token"]) == (fake.api_key, fake.token)
    # The fake answers with the fields Trello answered in ruby-trello's recording.
    [real] = cassette("can_success_create_a_webhook.yml")
    assert fake.webhooks[hook_id].keys() == json.loads(real["response"]["body"]["string"]).keys()
    gateway.delete_webhook(hook_id)
    gateway.delete_webhook(hook_id)  # already gone: nothing to do
    assert fake.webhooks == {}
    assert [r.status for r in fake.requests_to("DELETE")] == [200, 404]


def test_a_refused_webhook_is_an_integration_error_without_secrets(
    fake: FakeTrello, gateway: TrelloGateway
) -> None:
    fake.refuse_webhooks(400, "URL (https://makers.example/trello/webhook) did not return 200")
    with pytest.raises(IntegrationError) as raised:
        gateway.create_webhook(IT2, CALLBACK, "makersbot")
    assert raised.value.status == 400
    assert "did not return 200" in str(raised.value)
    assert_no_secrets(fake, raised.value)


def test_a_wrong_token_is_a_401_that_names_no_secret(fake: FakeTrello) -> None:
    gateway = TrelloGateway(fake.base_url, fake.api_key, "wrong-token-5678")
    with pytest.raises(IntegrationError) as raised:
        gateway.board(IT2)
    assert raised.value.status == 401 and "wrong-token-5678" not in str(raised.value)
    assert_no_secrets(fake, raised.value)


def test_no_answer_is_an_integration_error_that_names_no_secret() -> None:
    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    gateway = TrelloGateway(f"http://127.0.0.1:{port}/1", "key-abcdef", "token-abcdef", timeout=2)
    with pytest.raises(IntegrationError) as raised:
        gateway.board(IT2)
    assert raised.value.status is None
    assert "key-abcdef" not in str(raised.value) and "token-abcdef" not in str(raised.value)


def test_actions_since_returns_only_new_handled_actions_oldest_first(
    fake: FakeTrello, gateway: TrelloGateway
) -> None:
    history = list(reversed(recorded_actions()))  # oldest first, as they happened
    for action in history:
        fake.add_action(IT2, action)
    first = gateway.actions_since(IT2, None)
    handled = [a for a in history if dispatch_key(a) in HANDLERS]
    assert [c.dedupe_key for c in first.changes] == [f"trello:{a['id']}" for a in handled]
    assert first.newest_action_id == handled[-1]["id"]
    [request] = fake.requests_to("GET", f"/1/boards/{IT2}/actions")
    assert "updateCard" in request.query["filter"].split(",") and "since" not in request.query

    assert gateway.actions_since(IT2, first.newest_action_id).changes == ()
    later = [
        fixture(name)["action"]
        for name in (
            "trello_creating_card.json",
            "changing_cards_list.json",
            "moving_card_within_single_list.json",
            "adding_comment_to_card.json",
        )
    ]
    for action in later:
        fake.add_action(IT2, action)
    page = gateway.actions_since(IT2, first.newest_action_id, limit=1)  # one per request
    assert [c.action for c in page.changes] == ["opened", "moved", "commented"]
    assert page.newest_action_id == later[-1]["id"]
    assert gateway.actions_since(IT2, page.newest_action_id).newest_action_id == later[-1]["id"]


def test_rate_limited_poll_is_an_integration_error_with_status_429(
    fake: FakeTrello, gateway: TrelloGateway
) -> None:
    fake.fail_next(f"/1/boards/{IT2}/actions", status=429)
    with pytest.raises(IntegrationError) as raised:
        gateway.actions_since(IT2, None)
    assert raised.value.status == 429
    assert_no_secrets(fake, raised.value)
    assert gateway.actions_since(IT2, None) == ActionPage((), None)  # the next poll works


def test_a_hung_trello_times_out_as_an_integration_error() -> None:
    with socket.socket() as sock:  # accepts connections (backlog) but never answers
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/1"
        gateway = TrelloGateway(url, "key-abcdef", "token-abcdef", timeout=0.2)
        with pytest.raises(IntegrationError, match="timed out") as raised:
            gateway.board(IT2)
    assert raised.value.status is None and "token-abcdef" not in str(raised.value)


def test_open_cards_reads_the_open_cards_of_open_lists(
    fake: FakeTrello, gateway: TrelloGateway
) -> None:
    for list_id, name in [("l1", "To do"), ("l2", "Help wanted 🙋"), ("l3", "Up for grabs")]:
        fake.add_list(IT2, list_id, name)
    fake.add_list(IT2, "l4", "Good first issues", closed=True)
    fake.add_card(IT2, "l1", "c1", "Not this one")
    fake.add_card(
        IT2,
        "l3",
        "c2",
        "Bin day API",
        short_link="BinDay01",
        id_short=7,
        labels=[("", "red"), ("API", "blue")],
        members=["amira"],
        due="2026-12-01T09:00:00.000Z",
    )
    fake.add_card(IT2, "l2", "c3", "Accessibility audit", short_link="Audit001", id_short=8)
    fake.add_card(IT2, "l2", "c4", "Archived", closed=True)
    fake.add_card(IT2, "l4", "c5", "In a closed list")
    common: dict[str, Any] = {
        "container": IT2,
        "container_name": "IT 2",
        "kind": "card",
        "source": "trello",
        "updated_at": at("2026-11-20T10:00:00"),
        "comments": 0,
    }
    audit = ItemState(
        key="trello:c3",
        number=8,
        title="Accessibility audit",
        url="https://trello.com/c/Audit001",
        state="Help wanted 🙋",
        closed=False,
        **common,
    )
    bins = ItemState(
        key="trello:c2",
        number=7,
        title="Bin day API",
        url="https://trello.com/c/BinDay01",
        state="Up for grabs",
        closed=False,
        labels=("red", "API"),
        people=("amira",),
        due=at("2026-12-01T09:00:00"),
        **common,
    )
    cards = gateway.open_cards(IT2)
    # Archived cards and cards in closed lists are left out; the rest keep Trello's order.
    assert [card.key for card in cards] == ["trello:c1", "trello:c3", "trello:c2"]
    assert cards[1:] == (audit, bins)


def test_card_state_reads_a_card_as_the_rest_api_recorded_it() -> None:
    [answer] = [
        i["response"]["body"]["string"]
        for i in cassette("can_get_cards_of_board.yml")
        if "/cards" in i["request"]["uri"]
    ]
    real = next(c for c in json.loads(answer) if c["shortLink"] == "iK30ThVk")
    assert card_state(real, IT2, "IT 2", "L1") == ItemState(
        source="trello",
        key="trello:5e93c827fb102a6f40c5fa2b",
        container=IT2,
        container_name="IT 2",
        kind="card",
        number=3,
        title="Test Trello::Card.create",
        url="https://trello.com/c/iK30ThVk",
        state="L1",
        closed=False,
        labels=("green", "orange"),
        due=at("2020-12-22T01:59:00"),
        comments=1,
        updated_at=at("2020-04-13T02:02:15.308"),
    )


def test_the_payload_fixtures_are_not_changed_by_parsing() -> None:
    payload = fixture("changing_cards_list.json")
    before = copy.deepcopy(payload)
    parse(payload)
    assert payload == before
