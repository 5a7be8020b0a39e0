"""The Slack Web API methods the fake answers, each registered under its Slack name."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

from tests.fakes.slack_world import (
    BOT_ID,
    BOT_USER_ID,
    CHANNEL_NAME_RE,
    TEAM_ID,
    TEAM_NAME,
    TEAM_URL,
    USER_ID_RE,
    Args,
    SlackError,
    SlackWorld,
    flag,
    paginate,
    required,
    users_arg,
)

MethodImpl = Callable[[Any, Args], dict[str, Any]]
METHODS: dict[str, MethodImpl] = {}


def api_method(name: str) -> Callable[[MethodImpl], MethodImpl]:
    """Register a Web API method implementation under its Slack name."""

    def register(impl: MethodImpl) -> MethodImpl:
        METHODS[name] = impl
        return impl

    return register


class SlackMethods(SlackWorld):
    """The Web API methods, as methods of the world they change."""

    def _upload_url(self, file_id: str) -> str:
        """Where a file's bytes go; the server knows its own address."""
        raise NotImplementedError

    @api_method("api.test")
    def _api_test(self, args: Args) -> dict[str, Any]:
        return {"args": {k: v for k, v in args.items() if k != "token"}}

    @api_method("auth.test")
    def _auth_test(self, args: Args) -> dict[str, Any]:
        return {
            "url": TEAM_URL,
            "team": TEAM_NAME,
            "user": self._users[BOT_USER_ID]["name"],
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    @api_method("chat.postMessage")
    def _chat_post_message(self, args: Args) -> dict[str, Any]:
        channel_id = self._writable_channel(args.get("channel"))
        if not (args.get("text") or args.get("blocks") or args.get("attachments")):
            raise SlackError("no_text")
        message = self._store_message(channel_id, args)
        return {"channel": channel_id, "ts": message["ts"], "message": copy.deepcopy(message)}

    @api_method("chat.update")
    def _chat_update(self, args: Args) -> dict[str, Any]:
        channel_id = self._message_channel(args.get("channel"))
        message = self._find_message(channel_id, args.get("ts"))
        if message.get("bot_id") != BOT_ID:
            raise SlackError("cant_update_message")
        for key in ("text", "blocks", "attachments", "metadata"):
            if args.get(key) is not None:
                message[key] = args[key]
        message["edited"] = {"user": BOT_USER_ID, "ts": self._new_ts()}
        return {
            "channel": channel_id,
            "ts": message["ts"],
            "text": message["text"],
            "message": copy.deepcopy(message),
        }

    @api_method("chat.postEphemeral")
    def _chat_post_ephemeral(self, args: Args) -> dict[str, Any]:
        self._writable_channel(args.get("channel"))
        if not USER_ID_RE.fullmatch(str(args.get("user") or "")):
            raise SlackError("user_not_in_channel")
        if not (args.get("text") or args.get("blocks") or args.get("attachments")):
            raise SlackError("no_text")
        return {"message_ts": self._new_ts()}

    @api_method("chat.delete")
    def _chat_delete(self, args: Args) -> dict[str, Any]:
        channel_id = self._message_channel(args.get("channel"))
        message = self._find_message(channel_id, args.get("ts"))
        if message.get("bot_id") != BOT_ID:
            raise SlackError("cant_delete_message")
        self._messages[channel_id].remove(message)
        return {"channel": channel_id, "ts": message["ts"]}

    @api_method("chat.getPermalink")
    def _chat_get_permalink(self, args: Args) -> dict[str, Any]:
        channel_id = self._message_channel(args.get("channel"))
        message = self._find_message(channel_id, args.get("message_ts"))
        return {"channel": channel_id, "permalink": self._permalink(channel_id, message)}

    @api_method("conversations.create")
    def _conversations_create(self, args: Args) -> dict[str, Any]:
        name = str(args.get("name") or "")
        if not name:
            raise SlackError("invalid_name_required")
        if len(name) > 80:
            raise SlackError("invalid_name_maxlength")
        if not CHANNEL_NAME_RE.fullmatch(name):
            raise SlackError("invalid_name_specials")
        if not name.strip("-_"):
            raise SlackError("invalid_name_punctuation")
        if self._find_by_name(name) is not None:
            raise SlackError("name_taken")
        channel = self._new_channel(
            name, is_private=flag(args.get("is_private")), creator=BOT_USER_ID
        )
        channel["members"] = [BOT_USER_ID]
        return {"channel": {**self._channel_obj(channel), "last_read": "0000000000.000000"}}

    @api_method("conversations.list")
    def _conversations_list(self, args: Args) -> dict[str, Any]:
        types = set(users_arg(args.get("types") or "public_channel"))
        exclude_archived = flag(args.get("exclude_archived"))
        matching = [
            self._channel_obj(ch, num_members=True)
            for ch in self._channels.values()
            if not (exclude_archived and ch["is_archived"])
            and (
                ("public_channel" in types and not ch["is_private"])
                or (
                    "private_channel" in types and ch["is_private"] and BOT_USER_ID in ch["members"]
                )
            )
        ]
        page, next_cursor = paginate(matching, args)
        return {"channels": page, "response_metadata": {"next_cursor": next_cursor}}

    @api_method("conversations.info")
    def _conversations_info(self, args: Args) -> dict[str, Any]:
        record = self._visible_channel(args.get("channel"))
        return {"channel": self._channel_obj(record, flag(args.get("include_num_members")))}

    @api_method("conversations.open")
    def _conversations_open(self, args: Args) -> dict[str, Any]:
        """A direct message with one user (as chat.postMessage to a user id reaches it)."""
        users = users_arg(args.get("users"))
        if len(users) != 1 or users[0] not in self._users:
            raise SlackError("user_not_found")
        dm = "D" + users[0][1:]
        self._messages.setdefault(dm, [])
        return {"channel": {"id": dm, "is_im": True, "user": users[0]}}

    @api_method("conversations.join")
    def _conversations_join(self, args: Args) -> dict[str, Any]:
        record = self._visible_channel(args.get("channel"))
        if record["is_private"]:
            raise SlackError("method_not_supported_for_channel_type")
        if record["is_archived"]:
            raise SlackError("is_archived")
        if BOT_USER_ID in record["members"]:
            return {
                "channel": self._channel_obj(record),
                "warning": "already_in_channel",
                "response_metadata": {"warnings": ["already_in_channel"]},
            }
        record["members"].append(BOT_USER_ID)
        return {"channel": self._channel_obj(record)}

    @api_method("conversations.invite")
    def _conversations_invite(self, args: Args) -> dict[str, Any]:
        record = self._visible_channel(args.get("channel"))
        users = users_arg(args.get("users"))
        if not users:
            raise SlackError("no_user")
        if len(users) > 1000:
            raise SlackError("too_many_users")
        if record["is_archived"]:
            raise SlackError("is_archived")
        if BOT_USER_ID not in record["members"]:
            raise SlackError("not_in_channel")
        if BOT_USER_ID in users:
            raise SlackError("cant_invite_self")
        if unknown := [u for u in users if not USER_ID_RE.fullmatch(u)]:
            raise SlackError(
                "user_not_found",
                errors=[{"user": u, "ok": False, "error": "user_not_found"} for u in unknown],
            )
        new = [u for u in dict.fromkeys(users) if u not in record["members"]]
        if not new:
            raise SlackError(
                "already_in_channel",
                errors=[{"user": u, "ok": False, "error": "already_in_channel"} for u in users],
            )
        record["members"].extend(new)
        return {"channel": self._channel_obj(record)}

    @api_method("conversations.history")
    def _conversations_history(self, args: Args) -> dict[str, Any]:
        record = self._visible_channel(args.get("channel"))
        if BOT_USER_ID not in record["members"]:
            raise SlackError("not_in_channel")
        top_level = [
            copy.deepcopy(m)
            for m in reversed(self._messages[record["id"]])
            if m.get("thread_ts") in (None, m["ts"])
        ]
        page, next_cursor = paginate(top_level, args)
        return {
            "messages": page,
            "has_more": bool(next_cursor),
            "pin_count": len(self._pins.get(record["id"], [])),
            "response_metadata": {"next_cursor": next_cursor},
        }

    @api_method("conversations.replies")
    def _conversations_replies(self, args: Args) -> dict[str, Any]:
        record = self._visible_channel(args.get("channel"))
        if BOT_USER_ID not in record["members"]:
            raise SlackError("not_in_channel")
        parent = str(args.get("ts") or "")
        thread = [
            copy.deepcopy(m)
            for m in self._messages[record["id"]]
            if m["ts"] == parent or m.get("thread_ts") == parent
        ]
        if not thread:
            raise SlackError("thread_not_found")
        page, next_cursor = paginate(thread, args)
        return {
            "messages": page,
            "has_more": bool(next_cursor),
            "response_metadata": {"next_cursor": next_cursor},
        }

    @api_method("conversations.setTopic")
    def _conversations_set_topic(self, args: Args) -> dict[str, Any]:
        return self._set_channel_text(args, "topic", 250)

    @api_method("conversations.setPurpose")
    def _conversations_set_purpose(self, args: Args) -> dict[str, Any]:
        return self._set_channel_text(args, "purpose", 250)

    def _set_channel_text(self, args: Args, key: str, max_length: int) -> dict[str, Any]:
        record = self._visible_channel(args.get("channel"))
        value = str(args.get(key) or "")
        if record["is_archived"]:
            raise SlackError("is_archived")
        if BOT_USER_ID not in record["members"]:
            raise SlackError("not_in_channel")
        if len(value) > max_length:
            raise SlackError("too_long")
        record[key] = {"value": value, "creator": BOT_USER_ID, "last_set": int(time.time())}
        return {"channel": self._channel_obj(record)}

    @api_method("conversations.archive")
    def _conversations_archive(self, args: Args) -> dict[str, Any]:
        record = self._visible_channel(args.get("channel"))
        if record["is_archived"]:
            raise SlackError("already_archived")
        if BOT_USER_ID not in record["members"]:
            raise SlackError("not_in_channel")
        record["is_archived"] = True
        return {}

    @api_method("conversations.members")
    def _conversations_members(self, args: Args) -> dict[str, Any]:
        record = self._visible_channel(args.get("channel"))
        page, next_cursor = paginate(list(record["members"]), args)
        return {"members": page, "response_metadata": {"next_cursor": next_cursor}}

    @api_method("pins.add")
    def _pins_add(self, args: Args) -> dict[str, Any]:
        channel_id = self._message_channel(args.get("channel"))
        if not args.get("timestamp"):
            raise SlackError("no_item_specified")
        message = self._find_message(channel_id, args["timestamp"])
        pins = self._pins.setdefault(channel_id, [])
        if any(pin["ts"] == message["ts"] for pin in pins):
            raise SlackError("already_pinned")
        pins.append({"ts": message["ts"], "created": int(time.time()), "created_by": BOT_USER_ID})
        message["pinned_to"] = [*message.get("pinned_to", []), channel_id]
        return {}

    @api_method("pins.list")
    def _pins_list(self, args: Args) -> dict[str, Any]:
        channel_id = self._message_channel(args.get("channel"))
        items = []
        for pin in reversed(self._pins.get(channel_id, [])):
            message = copy.deepcopy(self._find_message(channel_id, pin["ts"]))
            message["permalink"] = self._permalink(channel_id, message)
            items.append(
                {
                    "type": "message",
                    "channel": channel_id,
                    "created": pin["created"],
                    "created_by": pin["created_by"],
                    "message": message,
                }
            )
        return {"items": items}

    @api_method("views.open")
    def _views_open(self, args: Args) -> dict[str, Any]:
        trigger_id = str(required(args, "trigger_id"))
        if trigger_id in self._used_triggers:
            raise SlackError("exchanged_trigger_id")
        view = self._build_view(required(args, "view"), self._new_id("V"))
        self._used_triggers.add(trigger_id)
        return {"view": copy.deepcopy(view)}

    @api_method("views.update")
    def _views_update(self, args: Args) -> dict[str, Any]:
        view_id = args.get("view_id")
        if not view_id and args.get("external_id"):
            view_id = next(
                (v["id"] for v in self._views.values() if v["external_id"] == args["external_id"]),
                None,
            )
        current = self._views.get(str(view_id or ""))
        if current is None:
            raise SlackError("not_found")
        if args.get("hash") and args["hash"] != current["hash"]:
            raise SlackError("hash_conflict")
        view = self._build_view(required(args, "view"), current["id"], current["root_view_id"])
        return {"view": copy.deepcopy(view)}

    @api_method("views.publish")
    def _views_publish(self, args: Args) -> dict[str, Any]:
        user_id = str(required(args, "user_id"))
        if not USER_ID_RE.fullmatch(user_id):
            raise SlackError("user_not_found")
        view_arg = required(args, "view")
        if isinstance(view_arg, dict) and view_arg.get("type") != "home":
            raise SlackError(
                "invalid_arguments",
                response_metadata={"messages": ["[ERROR] view type must be home"]},
            )
        current_id = self._home_views.get(user_id)
        if current_id and args.get("hash") and args["hash"] != self._views[current_id]["hash"]:
            raise SlackError("hash_conflict")
        view = self._build_view(view_arg, current_id or self._new_id("V"))
        self._home_views[user_id] = view["id"]
        return {"view": copy.deepcopy(view)}

    @api_method("users.info")
    def _users_info(self, args: Args) -> dict[str, Any]:
        user = self._users.get(str(args.get("user") or ""))
        if user is None:
            raise SlackError("user_not_found")
        return {"user": copy.deepcopy(user)}

    @api_method("users.lookupByEmail")
    def _users_lookup_by_email(self, args: Args) -> dict[str, Any]:
        email = str(args.get("email") or "").lower()
        for user in self._users.values():
            if str(user["profile"].get("email", "")).lower() == email and email:
                return {"user": copy.deepcopy(user)}
        raise SlackError("users_not_found")

    @api_method("files.getUploadURLExternal")
    def _files_get_upload_url(self, args: Args) -> dict[str, Any]:
        filename = str(required(args, "filename"))
        try:
            length = int(required(args, "length"))
        except ValueError:
            raise SlackError("invalid_arguments") from None
        file_id = self._new_id("F")
        self._files[file_id] = {"id": file_id, "name": filename, "length": length, "content": None}
        return {"upload_url": self._upload_url(file_id), "file_id": file_id}

    @api_method("files.completeUploadExternal")
    def _files_complete_upload(self, args: Args) -> dict[str, Any]:
        entries = required(args, "files")
        if not isinstance(entries, list) or not entries:
            raise SlackError("invalid_arguments")
        files = []
        for entry in entries:
            record = self._files.get(str(entry.get("id") if isinstance(entry, dict) else ""))
            if record is None or record["content"] is None:
                raise SlackError("file_not_found")
            record["title"] = entry.get("title") or record["name"]
            files.append(
                {
                    "id": record["id"],
                    "name": record["name"],
                    "title": record["title"],
                    "size": len(record["content"]),
                }
            )
        if channel := args.get("channel_id"):
            channel_id = self._writable_channel(channel)
            self._store_message(
                channel_id,
                {
                    "text": args.get("initial_comment") or "",
                    "files": copy.deepcopy(files),
                    "thread_ts": args.get("thread_ts"),
                },
            )
        return {"files": files}
