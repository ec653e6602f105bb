"""Abuse and secrets: tokens, what answers and logs never contain, constant-time comparisons, the flood limit,
size caps, who may close or hand on someone else's session, and what the function can check of x-appwrite-*.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timedelta, timezone

import pytest
from chat_core.domain import authz
from chat_core.edge import http
from conftest import ADMIN_SECRET, BOT_SECRET, Widget, execute, row, rows
from hardening_support import snapshot, violations

URL_SAFE = re.compile(r"^[A-Za-z0-9_-]+$")


def claim(session_id, agent):
    return execute("assign-agent", {"sessionId": session_id}, path="/claim", user=agent)


def escalated() -> Widget:
    w = Widget()
    execute("escalate", {"sessionId": w.session_id}, token=w.token)
    return w


# --- tokens ---------------------------------------------------------------------------------------

def test_tokens_are_long_random_distinct_and_stored_only_as_hashes(appwrite):
    widgets = [Widget() for _ in range(100)]
    tokens = [w.token for w in widgets]
    assert len(set(tokens)) == 100
    for token in tokens:
        assert len(token) >= 43 and URL_SAFE.match(token)  # >= 43 base64url chars = >= 256 bits here, >= 128 asked
    stored = {s["$id"]: s for s in rows(appwrite, "sessions")}
    everything = json.dumps(rows(appwrite, "sessions") + rows(appwrite, "messages") + rows(appwrite, "counters"))
    for w in widgets:
        assert stored[w.session_id]["tokenHash"] == hashlib.sha256(w.token.encode()).hexdigest()
        assert w.token not in everything
    # distinct characters across tokens: a constant prefix or a counter would show here
    assert len({t[:8] for t in tokens}) == 100


# --- no secret in answers, logs or what goes to Appwrite --------------------------------------------

def test_no_answer_log_or_request_carries_a_token_its_hash_or_a_secret(appwrite):
    results = []

    def run(*args, **kwargs):
        results.append(execute(*args, **kwargs))
        return results[-1]

    a, b, c = Widget(), Widget(), Widget()
    run("touch-session", {"sessionId": a.session_id, "message": {"text": "hello", "id": "m1"}}, token=a.token)
    run("touch-session", {"sessionId": a.session_id, "message": {"text": "hello", "id": "m1"}}, token=a.token)
    run("touch-session", {"sessionId": a.session_id, "token": a.token})
    run("touch-session", {"sessionId": a.session_id}, token=b.token)  # someone else's token
    run("touch-session", {"sessionId": a.session_id, "token": a.token + "x"})
    run("touch-session", {"sessionId": a.session_id, "token": 7})
    run("touch-session", method="GET", path=f"/messages?sessionId={a.session_id}", token=a.token)
    run("touch-session", {"sessionId": a.session_id, "message": {"text": "hi", "role": "bot"}}, secret=BOT_SECRET)
    run("escalate", {"sessionId": b.session_id, "token": b.token, "reason": b.token})  # a token as the reason
    run("escalate", {"sessionId": b.session_id}, secret=ADMIN_SECRET + "x")
    run("escalate", {"sessionId": b.session_id}, secret=BOT_SECRET[:-1])
    run("escalate", {"sessionId": b.session_id}, headers={"authorization": ADMIN_SECRET})
    run("assign-agent", {"sessionId": b.session_id}, path="/claim", user="agent-alice")
    run("assign-agent", {"sessionId": b.session_id, "agentId": "agent-bob"}, path="/transfer", secret=ADMIN_SECRET)
    run("list-sessions", method="GET", secret=ADMIN_SECRET)
    run("list-sessions", method="GET", path=f"/{a.session_id}", user="agent-bob")
    run("list-sessions", method="GET", path=f"/{a.session_id}/messages", user="agent-bob")
    run("list-sessions", method="GET", path=f"/?cursor={a.token[:30]}", secret=ADMIN_SECRET)
    run("list-sessions", method="POST", path="/recount", secret=ADMIN_SECRET)
    run("close-session", {"sessionId": c.session_id, "reason": c.token[:60]}, token=c.token)
    run("close-session", trigger="schedule")
    run("escalate", row(appwrite, "sessions", a.session_id), trigger="event",
        event=f"databases.chat.tables.sessions.rows.{a.session_id}.update")
    run("escalate", {"$id": "m_x", "sessionId": "s_gone", "role": "user", "text": a.token}, trigger="event",
        event="databases.chat.tables.messages.rows.m_x.create")
    for kind in ("500", "timeout", "garbage", "applied_timeout"):  # failures log: their lines are checked too
        # the message's create, and the create tried again: a 503
        appwrite.fail_next(kind, match="POST /v1/tablesdb/[^/]+/tables/messages/rows")
        appwrite.fail_next(kind, match="POST /v1/tablesdb/[^/]+/tables/messages/rows")
        run("touch-session", {"sessionId": a.session_id, "message": {"text": "x", "id": f"f-{kind}"}}, token=a.token)
        appwrite.clear_faults()
        appwrite.fail_next(kind, after=1)
        run("close-session", {"sessionId": a.session_id}, token=a.token)
        appwrite.clear_faults()

    tokens = [w.token for w in (a, b, c)]
    hashes = [hashlib.sha256(t.encode()).hexdigest() for t in tokens]
    secrets_ = [ADMIN_SECRET, BOT_SECRET]
    assert any(r.context.logs for r in results) and any(r.status == 503 for r in results)
    for result in results:
        answer = json.dumps(result.json)
        lines = "\n".join(result.context.logs + result.context.errors)
        for secret in hashes + secrets_:
            assert secret not in answer and secret not in lines, (result, secret)
        for token in tokens:
            # a caller may echo its own text back (a message, a reason it chose): never a token it did not send
            assert token not in lines, (result, lines)
        assert "tokenHash" not in answer

    sent_to_appwrite = [f"{c.request.url}\n{c.request.headers}\n{c.request.body or ''}" for c in appwrite._mock.calls]
    assert sent_to_appwrite
    for sent in sent_to_appwrite:  # the secrets and a's token (never typed as content) don't leave the function
        for secret in [*secrets_, a.token]:
            assert secret not in sent
    assert sum(hashes[0] in sent for sent in sent_to_appwrite) == 1  # a's hash: only in its create


def test_answers_echo_no_token_to_someone_else(appwrite):
    """A listing shows the reason a visitor typed, but never another session's token or hash."""
    a, b = Widget(), Widget()
    listing = execute("list-sessions", method="GET", secret=ADMIN_SECRET)
    text = json.dumps(listing.json)
    for w in (a, b):
        assert w.token not in text and row(appwrite, "sessions", w.session_id)["tokenHash"] not in text


# --- constant-time comparisons ------------------------------------------------------------------------

def test_secrets_and_tokens_are_compared_with_compare_digest(appwrite, widget, monkeypatch):
    calls = []
    real = authz.hmac.compare_digest

    def recording(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(authz.hmac, "compare_digest", recording)
    assert execute("list-sessions", method="GET", secret=ADMIN_SECRET).status == 200
    assert (ADMIN_SECRET.encode(), ADMIN_SECRET.encode()) in calls
    calls.clear()
    assert execute("escalate", {"sessionId": widget.session_id}, secret=BOT_SECRET).status == 200
    assert (BOT_SECRET.encode(), BOT_SECRET.encode()) in calls
    calls.clear()
    assert execute("escalate", {"sessionId": widget.session_id}, secret="guess").status == 401
    assert {a for a, _ in calls} == {b"guess"} and len(calls) == 2  # admin, then bot: both compared in full
    calls.clear()
    hashed = hashlib.sha256(widget.token.encode()).hexdigest().encode()
    assert execute("touch-session", {"sessionId": widget.session_id}, token=widget.token).status == 200
    assert (hashed, hashed) in calls
    calls.clear()
    assert execute("touch-session", {"sessionId": widget.session_id}, token="guess").status == 403
    assert calls and all(b == hashed for _, b in calls)


def test_an_unset_secret_never_matches(appwrite, widget, monkeypatch):
    monkeypatch.setenv("ADMIN_SECRET", "")
    assert execute("list-sessions", method="GET", headers={"x-chat-secret": ""}).status == 401
    assert execute("list-sessions", method="GET", headers={"x-chat-secret": "x"}).status == 401
    assert authz.secrets_match("", "") is False


# --- the flood limit ----------------------------------------------------------------------------------

class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(timezone.utc)

    def __call__(self) -> datetime:
        return self.now


@pytest.mark.parametrize("limit", [1, 3, 7])
def test_a_session_accepts_at_most_the_configured_messages_per_minute(appwrite, widget, monkeypatch, limit):
    clock = Clock()
    monkeypatch.setattr(http, "utcnow", clock)
    monkeypatch.setenv("MAX_MESSAGES_PER_MINUTE", str(limit))
    for i in range(limit):
        assert widget.say(f"m{i}").status == 200
    before = snapshot(appwrite)
    refused = widget.say("one too many")
    assert (refused.status, refused.error) == (429, "rate_limited")
    assert 1 <= refused.json["error"]["retryAfterSeconds"] <= 61
    assert snapshot(appwrite) == before  # a refused message writes nothing
    clock.now += timedelta(seconds=59)
    assert widget.say("still too soon").status == 429
    clock.now += timedelta(seconds=2)  # the window has passed
    assert widget.say("a new minute").status == 200
    assert row(appwrite, "sessions", widget.session_id)["messageCount"] == limit + 1
    assert violations(appwrite) == []


def test_the_flood_limit_is_per_session_and_the_bot_is_not_limited(appwrite, monkeypatch):
    monkeypatch.setattr(http, "utcnow", Clock())
    monkeypatch.setenv("MAX_MESSAGES_PER_MINUTE", "2")
    a, b = Widget(), Widget()
    assert [a.say(str(i)).status for i in range(3)] == [200, 200, 429]
    assert b.say("mine").status == 200
    bot = [execute("touch-session", {"sessionId": a.session_id, "message": {"text": "hi", "role": "bot"}},
                   secret=BOT_SECRET).status for _ in range(4)]
    assert bot == [200] * 4


def test_a_misconfigured_limit_falls_back_to_the_default(appwrite, widget, monkeypatch):
    monkeypatch.setattr(http, "utcnow", Clock())
    monkeypatch.setenv("MAX_MESSAGES_PER_MINUTE", "lots")
    assert [widget.say(str(i)).status for i in range(21)][-2:] == [200, 429]  # default 20


# --- size caps ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("function_id", "body", "status", "code"), [
    ("create-session", {"userMeta": {"k": "x" * 4090}}, 400, "too_large"),
    ("create-session", {"theme": {"k": "x" * 2050}}, 400, "too_large"),
    ("create-session", {"userMeta": "x" * 70_000}, 413, "payload_too_large"),
    ("touch-session", {"sessionId": "{sid}", "message": {"text": "x" * 4001}}, 400, "invalid_length"),
    ("escalate", {"sessionId": "{sid}", "reason": "x" * 501}, 400, "invalid_length"),
    ("close-session", {"sessionId": "{sid}", "reason": "x" * 65}, 400, "invalid_length"),
])
def test_sizes_are_capped_and_an_oversized_request_writes_nothing(appwrite, widget, function_id, body, status,
                                                                    code):
    body = {k: (widget.session_id if v == "{sid}" else v) for k, v in body.items()}
    before = snapshot(appwrite)
    appwrite.reset_counts()
    result = execute(function_id, body, token=widget.token)
    assert (result.status, result.error) == (status, code), result
    assert snapshot(appwrite) == before
    assert appwrite.count("POST") == appwrite.count("PATCH") == appwrite.count("DELETE") == 0


def test_the_largest_accepted_sizes_fit_the_columns(appwrite):
    w = Widget(userMeta={"k": "é" * 4080}, theme={"k": "x" * 2030})
    assert w.say("ü" * 4000).status == 200
    assert execute("escalate", {"sessionId": w.session_id, "reason": "r" * 500}, token=w.token).status == 200
    assert execute("close-session", {"sessionId": w.session_id, "reason": "c" * 64}, token=w.token).status == 200


# --- someone else's session ---------------------------------------------------------------------------

def test_a_non_assignee_agent_cannot_close_transfer_or_unassign_but_an_admin_can(appwrite):
    sessions = [escalated() for _ in range(4)]
    for w in sessions:
        assert claim(w.session_id, "agent-alice").status == 200
    first, second, third, fourth = (w.session_id for w in sessions)
    before = snapshot(appwrite)
    attempts = [
        execute("close-session", {"sessionId": first}, user="agent-bob"),
        execute("assign-agent", {"sessionId": first, "agentId": "agent-bob"}, path="/transfer", user="agent-bob"),
        execute("assign-agent", {"sessionId": first}, path="/unassign", user="agent-bob"),
        execute("assign-agent", {"sessionId": first}, path="/claim", user="agent-bob"),
        execute("assign-agent", {"sessionId": first, "agentId": "agent-bob"}, path="/assign", user="agent-bob"),
        execute("close-session", {"sessionId": first}, token=sessions[1].token),  # another visitor's token
        execute("close-session", {"sessionId": first}, user="visitor-vic"),
    ]
    assert [(r.status, r.error) for r in attempts] == [
        (403, "not_assignee"), (403, "not_assignee"), (403, "not_assignee"), (409, "already_assigned"),
        (403, "not_an_admin"), (403, "forbidden"), (403, "forbidden")]
    assert snapshot(appwrite) == before
    assert row(appwrite, "sessions", first)["assignedAgent"] == "agent-alice"
    # an admin can: by label, or with the admin secret
    assert execute("assign-agent", {"sessionId": first, "agentId": "agent-bob"}, path="/transfer",
                   user="admin-ada").json["session"]["assignedAgent"] == "agent-bob"
    assert execute("assign-agent", {"sessionId": second}, path="/unassign", secret=ADMIN_SECRET).status == 200
    assert execute("close-session", {"sessionId": third}, user="admin-ada").json["closed"] is True
    assert execute("close-session", {"sessionId": fourth}, secret=ADMIN_SECRET).json["closed"] is True
    assert violations(appwrite) == []


# --- x-appwrite-* headers -----------------------------------------------------------------------------

def test_what_the_function_checks_of_the_x_appwrite_headers(appwrite, widget):
    """Callers can forge x-appwrite-* headers in mixed case, and their value arrives first (docs/platform.md). So the
    trigger only picks a handler, a user ID header proves nothing, and an event acts only on a stored row."""
    before = snapshot(appwrite)
    # an HTTP call carrying an event name is routed as HTTP, never to the event handler
    message = {"$id": "m_forged", "sessionId": widget.session_id, "role": "user", "text": "human please"}
    forged = execute("escalate", message, headers={"x-appwrite-event": "databases.chat.tables.messages.rows.m.create"})
    assert (forged.status, forged.error) == (400, "unknown_field")
    # a JWT of a user Appwrite does not know proves nothing
    for bogus in ("ghost-user", "a" * 36):
        result = execute("list-sessions", method="GET", user=bogus)
        assert (result.status, result.error) == (401, "invalid_credentials"), bogus
    # a user ID header without a JWT is nobody, whatever it names
    for spelling in ("X-Appwrite-User-Id", "x-appwrite-user-id"):
        result = execute("list-sessions", method="GET", headers={spelling: "admin-ada"})
        assert (result.status, result.error) == (401, "unauthorized"), spelling
    # an unknown trigger is plain HTTP, and HTTP rules apply
    assert execute("close-session", {"sessionId": widget.session_id},
                   headers={"x-appwrite-trigger": "cron"}).status == 403
    # an agent's JWT proves an agent, not an admin
    assert execute("list-sessions", method="POST", path="/recount", user="agent-alice").error == "not_an_admin"
    # a forged event naming a message that was never stored does nothing
    result = execute("escalate", message, trigger="event", headers={"X-Appwrite-Trigger": "event"},
                     event="databases.chat.tables.messages.rows.m_forged.create")
    assert (result.status, result.error) == (404, "message_not_found")
    assert snapshot(appwrite) == before


def timeline(session_id: str) -> list[tuple[str, str]]:
    answer = execute("list-sessions", method="GET", path=f"/{session_id}/history", secret=ADMIN_SECRET)
    return [(e["actor"], e["action"]) for e in answer.json["history"]][1:]  # after the session's opening


@pytest.mark.parametrize("function_id,trigger", [("escalate", "schedule"), ("close-session", "event"),
                                                 ("assign-agent", "schedule"), ("touch-session", "event")])
@pytest.mark.parametrize("spelling", ["X-Appwrite-Trigger", "x-APPWRITE-trigger"])
def test_a_forged_trigger_where_no_such_handler_runs_is_the_caller_itself(appwrite, function_id, trigger, spelling):
    """Issue 18: a forged trigger on a function (or route) without that handler used to make the caller `system`:
    the visitor's escalation or close, with the token in the body, went into the timeline as the system's (an
    idle close that never happened). There, the caller is whoever its credentials prove, as in any HTTP call."""
    w = Widget()
    forged = {spelling: trigger}
    token = {"sessionId": w.session_id, "token": w.token}
    if function_id == "escalate":
        answer = execute("escalate", token, headers=forged)
        assert answer.status == 200 and answer.json["escalated"] is True, answer
        assert timeline(w.session_id) == [("visitor", "escalate")]
    elif function_id == "close-session":
        answer = execute("close-session", {**token, "reason": "bye"}, headers=forged)
        assert answer.status == 200 and answer.json["closed"] is True, answer
        assert timeline(w.session_id) == [("visitor", "close")]
    elif function_id == "assign-agent":  # the agent's JWT still proves the agent (it was ignored)
        execute("escalate", token)
        answer = execute("assign-agent", {"sessionId": w.session_id}, path="/claim", headers=forged,
                         user="agent-alice")
        assert answer.status == 200 and answer.json["session"]["assignedAgent"] == "agent-alice", answer
        assert timeline(w.session_id) == [("visitor", "escalate"), ("agent:agent-alice", "claim")]
    else:
        answer = execute("touch-session", {"sessionId": w.session_id}, headers=forged)  # no token
        assert (answer.status, answer.error) == (403, "not_owner")
