"""Trello's JSON shapes as small pydantic models that read only the fields we use.

Trello leaves out whatever did not change and older payloads lack newer fields, so every
field here is optional and forgiving, as Trello's own clients are: a missing or oddly typed
string reads as "", a missing object as empty, an unreadable time as None. Reading a body
never fails; what identifies an action (its id, type and date) is checked by the parser.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainValidator


def parse_time(value: object) -> datetime | None:
    """Trello's ISO 8601 times ("2016-05-13T08:44:53.897Z") as aware datetimes."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _whole(value: object) -> int | None:
    return value if isinstance(value, int) else None


Text = Annotated[str, PlainValidator(_text)]
Whole = Annotated[int | None, PlainValidator(_whole)]
Time = Annotated[datetime | None, PlainValidator(parse_time)]
IsTrue = Annotated[bool, PlainValidator(lambda value: value is True)]
JsonObject = Annotated[dict[str, Any], PlainValidator(_object)]
# An object field: a missing or non-object value reads as the empty object.
Some = BeforeValidator(_object)


class Model(BaseModel):
    """Base of every Trello model: unknown fields are ignored, never an error."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


M = TypeVar("M", bound=Model)


class Named(Model):
    """Any object we know by id and name: a board, list, checklist, member or source card."""

    id: Text = ""
    name: Text = ""


class Label(Model):
    name: Text = ""
    color: Text = ""

    @property
    def text(self) -> str:
        """The label's text, or its colour when it has none (as Trello shows it)."""
        return self.name or self.color


class CheckItem(Model):
    name: Text = ""
    state: Text = ""


class Attachment(Model):
    name: Text = ""
    url: Text = ""


class Member(Model):
    username: Text = ""


class CardRef(Model):
    """The card an action is about, as much of it as the action carries."""

    id: Text = ""
    id_short: Whole = Field(default=None, alias="idShort")
    name: Text = ""
    short_link: Text = Field(default="", alias="shortLink")
    closed: IsTrue = False
    desc: Text = ""
    due: Time = None


def _board(value: object) -> dict[str, Any] | None:
    # An empty or missing data.board: the parser falls back to the board it polled.
    return value if isinstance(value, dict) and value else None


class ActionData(Model):
    board: Annotated[Named | None, BeforeValidator(_board)] = None
    card: Annotated[CardRef, Some] = CardRef()
    old: JsonObject = Field(default_factory=dict)  # previous values of what changed
    list_: Annotated[Named, Some] = Field(default=Named(), alias="list")
    list_before: Annotated[Named, Some] = Field(default=Named(), alias="listBefore")
    list_after: Annotated[Named, Some] = Field(default=Named(), alias="listAfter")
    card_source: Annotated[Named, Some] = Field(default=Named(), alias="cardSource")
    member: Annotated[Named, Some] = Named()
    label: Annotated[Label, Some] = Label()
    text: Text = ""
    checklist: Annotated[Named, Some] = Named()
    check_item: Annotated[CheckItem, Some] = Field(default=CheckItem(), alias="checkItem")
    attachment: Annotated[Attachment, Some] = Attachment()


class Action(Model):
    """One Trello action: a webhook body's `action`, or one row of `GET /boards/{id}/actions`."""

    id: Text = ""
    type: Text = ""
    date: Time = None
    data: Annotated[ActionData, Some] = ActionData()
    member_creator: Annotated[Member, Some] = Field(default=Member(), alias="memberCreator")
    member: Annotated[Member, Some] = Member()  # who was added to / removed from


def _many(model: type[M]) -> Callable[[object], tuple[M, ...]]:
    """A list of objects; anything else in it (or instead of it) is left out."""

    def read(value: object) -> tuple[M, ...]:
        rows = value if isinstance(value, list) else []
        return tuple(model.model_validate(row) for row in rows if isinstance(row, dict))

    return read


class Card(Model):
    """A card as the REST API returns it (with `members=true`)."""

    id: Text = ""
    id_short: Whole = Field(default=None, alias="idShort")
    id_list: Text = Field(default="", alias="idList")
    name: Text = ""
    short_link: Text = Field(default="", alias="shortLink")
    closed: IsTrue = False
    labels: Annotated[tuple[Label, ...], PlainValidator(_many(Label))] = ()
    members: Annotated[tuple[Member, ...], PlainValidator(_many(Member))] = ()
    badges: JsonObject = Field(default_factory=dict)
    due: Time = None
    date_last_activity: Time = Field(default=None, alias="dateLastActivity")

    @property
    def comments(self) -> int | None:
        count = self.badges.get("comments")
        return count if isinstance(count, int) else None


class Board(Model):
    """A board as `GET /boards/{id}` returns it."""

    id: Text = ""
    name: Text = ""
    url: Text = ""
    short_link: Text = Field(default="", alias="shortLink")
