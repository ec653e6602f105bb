"""Issue 22, item 9: saved replies. Admins add and remove canned answers (list-sessions /replies); agents read
them (the console's `/` picker); the shortcut is the row's identity, so it is held once."""

from __future__ import annotations

from chat_core.domain.replies import MAX_REPLIES, reply_id
from conftest import ADMIN_SECRET, Widget, execute


def replies(user: str = "agent-alice") -> list[dict]:
    answer = execute("list-sessions", method="GET", path="/replies", user=user)
    assert answer.status == 200, answer
    return answer.json["replies"]


def add(shortcut, text, **who):
    return execute("list-sessions", {"shortcut": shortcut, "text": text}, path="/replies", **who)


def test_admins_add_and_remove_agents_read_them_by_shortcut(appwrite):
    assert replies() == []
    made = add("/refund", "Refunds take 3 to 5 working days.", secret=ADMIN_SECRET)
    assert made.status == 201, made
    assert made.json["reply"]["shortcut"] == "refund" and made.json["reply"]["createdBy"] == "admin"
    assert add("hello", "Hi! How can I help?", user="admin-ada").json["reply"]["createdBy"] == "agent:admin-ada"
    assert [(r["shortcut"], r["text"]) for r in replies()] == [
        ("hello", "Hi! How can I help?"), ("refund", "Refunds take 3 to 5 working days.")]

    taken = add("refund", "other", secret=ADMIN_SECRET)
    assert taken.status == 409 and taken.error == "reply_exists"
    removed = execute("list-sessions", method="DELETE", path="/replies/refund", secret=ADMIN_SECRET)
    assert removed.status == 200 and removed.json == {"removed": "refund"}
    assert [r["shortcut"] for r in replies()] == ["hello"]
    gone = execute("list-sessions", method="DELETE", path="/replies/refund", secret=ADMIN_SECRET)
    assert gone.status == 404 and gone.error == "reply_not_found"


def test_only_admins_change_them_and_only_staff_read_them(appwrite):
    assert add("x", "y", user="agent-alice").error == "not_an_admin"
    assert execute("list-sessions", method="DELETE", path="/replies/x", user="agent-bob").error == "not_an_admin"
    w = Widget()
    visitor = execute("list-sessions", method="GET", path="/replies", token=w.token)
    assert visitor.status == 401


def test_shortcuts_and_texts_are_checked(appwrite):
    for bad in ("", "Refund", "a b", "x" * 33, "/", 7):
        answer = add(bad, "text", secret=ADMIN_SECRET)
        assert answer.status == 400 and answer.error in ("invalid_shortcut", "missing_field"), (bad, answer)
    assert add("ok", "", secret=ADMIN_SECRET).error == "invalid_length"
    assert add("ok", "x" * 4001, secret=ADMIN_SECRET).error == "invalid_length"
    assert add("ok", "text", secret=ADMIN_SECRET).status == 201
    # A shortcut is the same row however often it is added: the ID is derived from it.
    assert reply_id("ok") == reply_id("ok") != reply_id("ok2") and len(reply_id("ok")) == 34
    assert MAX_REPLIES == 200
