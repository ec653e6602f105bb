"""Appwrite requests per operation, counted on the fake Appwrite behind `responses` (the same engine as the stack).

    .venv/bin/python -m bench.requests_per_operation

Steady state: the counter rows exist, the agent's JWT was verified once already (a warm instance keeps a
verified JWT for LABEL_CACHE_SECONDS; a JWT seen for the first time adds one request), and this minute's budget
rows exist (the first use of a budget in a minute adds one request; not for a signed-in visitor's message asking for a
person, whose message and escalation budgets are one upsertRows that creates the rows; a guest's are two bounded
increments, the guests' rows being shared). The clock is held still, so the whole run is
one budget minute. No lost races: under contention a conditional write that loses costs one read and one write
more per try.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("APPWRITE_FUNCTION_API_ENDPOINT", "http://appwrite.test/v1")

import conftest  # noqa: E402
from chat_core.edge import http  # noqa: E402
from conftest import ADMIN_SECRET, BOT_SECRET, Widget, execute  # noqa: E402

from bench import ROOMY_BUDGETS  # noqa: E402


def measure() -> list[tuple[str, int]]:
    os.environ.update({"APPWRITE_FUNCTION_API_ENDPOINT": conftest.ENDPOINT, "APPWRITE_FUNCTION_PROJECT_ID":
                       conftest.PROJECT, "ADMIN_SECRET": ADMIN_SECRET, "BOT_SECRET": BOT_SECRET, **ROOMY_BUDGETS,
                       "BOT_INLINE": "on"})  # as deployed: the FAQ bot answers in the visitor's write
    clock = [datetime.now(timezone.utc).replace(second=1)]
    http.utcnow = lambda: clock[0]
    figures = []
    with conftest.fake_appwrite() as fake:

        def count(name, action):
            fake.reset_counts()
            action()
            figures.append((name, len(fake.requests)))

        warm = Widget()
        execute("touch-session", {"sessionId": warm.session_id}, token=warm.token)  # the minute's budget rows exist
        execute("escalate", {"sessionId": warm.session_id}, token=warm.token)
        execute("assign-agent", {"sessionId": warm.session_id}, path="/claim", user="agent-alice")
        execute("assign-agent", {"sessionId": warm.session_id, "agentId": "agent-bob"}, path="/transfer",
                user="agent-alice")  # agent-bob's labels and both JWTs are known now
        execute("list-sessions", method="GET", path="/?summary=false", user="agent-bob")
        for _ in range(30):
            Widget().say("hello")
        execute("list-sessions", trigger="schedule")  # the counter rows exist: steady state
        holder = {}
        count("create-session", lambda: holder.update(w=Widget()))
        w = holder["w"]
        count("touch-session (heartbeat)", lambda: execute("touch-session", {"sessionId": w.session_id},
                                                           token=w.token))
        count("touch-session (with a message)", lambda: holder.update(said=w.say("where is my order?", id="o1")))
        count("touch-session (the same message again)", lambda: w.say("where is my order?", id="o1"))
        count("touch-session (a message asking for a person)", lambda: holder.update(asked=w.say("I need a human")))
        owned = Widget(user="visitor-vic")  # signed in, as the widget signs visitors in: the owner's own budget rows
        count("touch-session (a signed-in visitor's message asking for a person)",
              lambda: owned.say("I need a human"))
        execute("close-session", {"sessionId": owned.session_id}, token=owned.token)  # out of the queue again

        def bot(message_id: str):
            message = fake.engine.get_row("chat", "messages", message_id)
            return execute("bot", message, trigger="event",
                           event=f"databases.chat.tables.messages.rows.{message_id}.create")

        asking = Widget()

        def answered():  # the widget's message and the FAQ bot's reply, then the bot function on each row's event
            answer = asking.say("What are your opening hours?").json
            holder["inline"] = (answer["message"]["messageId"], answer["reply"]["messageId"])
            bot(holder["inline"][0])
            bot(holder["inline"][1])
        count("an answered visitor message, in all (touch-session 4 with the FAQ bot's reply; the bot on each row's "
              "event 0; 3 executions)", answered)
        count("bot (event) on a visitor message the FAQ bot answered in its write", lambda: bot(holder["inline"][0]))
        count("bot (event) on its own reply", lambda: bot(holder["inline"][1]))
        os.environ["BOT_INLINE"] = "off"  # the bot function answers: with a model (one more request), or the FAQ

        def by_event():  # the widget's message, the bot on its event, the bot on its own reply's event
            said = asking.say("What are your opening hours?").json["message"]
            reply = bot(said["messageId"]).json
            bot(reply["messageId"])
        count("an answered visitor message, the bot function answering (BOT_INLINE off), in all (widget 4, bot 3, "
              "bot on its reply 0; 3 executions)", by_event)
        bot_other = Widget()
        bot_said = bot_other.say("Do you take PayPal?").json["message"]["messageId"]
        count("bot (event) answering a visitor message (BOT_INLINE off)", lambda: bot(bot_said))
        os.environ["BOT_INLINE"] = "on"
        other = Widget()
        count("escalate (HTTP)", lambda: execute("escalate", {"sessionId": other.session_id}, token=other.token))
        count("assign-agent /claim", lambda: execute("assign-agent", {"sessionId": w.session_id}, path="/claim",
                                                     user="agent-alice"))
        count("assign-agent /transfer", lambda: execute("assign-agent", {"sessionId": w.session_id,
                                                                         "agentId": "agent-bob"},
                                                        path="/transfer", user="agent-alice"))
        count("assign-agent /unassign", lambda: execute("assign-agent", {"sessionId": w.session_id},
                                                        path="/unassign", user="agent-bob"))
        count("close-session", lambda: execute("close-session", {"sessionId": w.session_id}, user="agent-alice"))
        count("close-session /rate (the visitor rates the closed session)", lambda: execute(
            "close-session", {"sessionId": w.session_id, "rating": {"score": 4}}, path="/rate", token=w.token))
        rated = Widget()
        execute("escalate", {"sessionId": rated.session_id}, token=rated.token)
        execute("assign-agent", {"sessionId": rated.session_id}, path="/claim", user="agent-alice")
        count("close-session with a rating (the visitor closes and rates at once)", lambda: execute(
            "close-session", {"sessionId": rated.session_id, "rating": {"score": 5, "comment": "thanks"}},
            token=rated.token))
        made = fake.engine.get_row("chat", "sessions", w.session_id)["auditSeq"]
        count(f"list-sessions /{{id}}/history ({made} transitions, none moved yet)", lambda: execute(
            "list-sessions", method="GET", path=f"/{w.session_id}/history", user="agent-alice"))
        def pending() -> str:
            sessions = fake.engine.list_rows("chat", "sessions", ['{"method":"limit","values":[5000]}'])["rows"]
            return f"{len(sessions)} sessions, {sum(1 for r in sessions if r['dirty'])} not folded yet"

        count(f"list-sessions page + summary ({pending()})", lambda: execute(
            "list-sessions", method="GET", path="/?limit=100", secret=ADMIN_SECRET))
        for _ in range(100):
            Widget()
        count(f"list-sessions page + summary ({pending()})", lambda: execute(
            "list-sessions", method="GET", path="/?limit=100", secret=ADMIN_SECRET))
        count("list-sessions queue, oldest waiting first", lambda: execute(
            "list-sessions", method="GET", path="/?needsHuman=true&sort=escalatedAt&order=asc&limit=100",
            secret=ADMIN_SECRET))

        # Availability, auto-assignment and the queue (chat_core.availability, assignment, queueing). Alice is
        # available with one slot; each figure below starts from a steady state (rows exist, her slots row too).
        execute("close-session", {"sessionId": other.session_id}, secret=ADMIN_SECRET)  # nobody else waits
        count("assign-agent /availability: going available (nobody waits)",
              lambda: execute("assign-agent", {"availability": "available"}, path="/availability", user="agent-alice"))
        count("assign-agent /availability: the console's heartbeat",
              lambda: execute("assign-agent", {}, path="/availability", user="agent-alice"))
        execute("assign-agent", {"agentId": "agent-alice", "capacity": 1}, path="/capacity", secret=ADMIN_SECRET)
        first, second = Widget(), Widget()
        count("escalate (HTTP), auto-assigned at once", lambda: holder.update(auto=execute(
            "escalate", {"sessionId": first.session_id}, token=first.token)))
        assert holder["auto"].json["session"]["assignedAgent"] == "agent-alice", holder["auto"]
        count("escalate (HTTP), nobody free: waits, with its queue", lambda: holder.update(waits=execute(
            "escalate", {"sessionId": second.session_id}, token=second.token)))
        assert holder["waits"].json["session"]["queue"]["position"] == 0, holder["waits"]
        count("touch-session heartbeat, waiting (with its queue)",
              lambda: execute("touch-session", {"sessionId": second.session_id}, token=second.token))
        count("touch-session GET /messages, waiting (the widget's poll, with its queue)", lambda: execute(
            "touch-session", method="GET", path=f"/messages?sessionId={second.session_id}", token=second.token))
        count("close-session: the freed slot assigns the next waiter", lambda: execute(
            "close-session", {"sessionId": first.session_id}, user="agent-alice"))
        assert fake.engine.get_row("chat", "sessions", second.session_id)["assignedAgent"] == "agent-alice"
        third = Widget()
        count("touch-session, a message asking for a person (nobody free)",
              lambda: third.say("can I talk to a human please"))
        count("close-session: the freed slot assigns the next waiter", lambda: execute(
            "close-session", {"sessionId": second.session_id}, user="agent-alice"))
        execute("assign-agent", {"availability": "offline"}, path="/availability", user="agent-alice")

        def with_trail() -> str:
            sessions = fake.engine.list_rows("chat", "sessions", ['{"method":"limit","values":[5000]}'])["rows"]
            moving = [json.loads(r["transitions"] or "[]") for r in sessions if r["auditPending"]]
            return f"{pending()}, {sum(map(len, moving))} transitions of {len(moving)} to move"

        count(f"fold (schedule: {with_trail()})", lambda: execute("list-sessions", trigger="schedule"))
        count("fold (schedule: nothing to fold)", lambda: execute("list-sessions", trigger="schedule"))
        count(f"list-sessions /{{id}}/history ({made} transitions, all moved)", lambda: execute(
            "list-sessions", method="GET", path=f"/{w.session_id}/history", user="agent-alice"))
        count("list-sessions /audit?agent=agent-alice (admin; one page)", lambda: execute(
            "list-sessions", method="GET", path="/audit?agent=agent-alice&limit=100", secret=ADMIN_SECRET))
        messages = len(fake.engine.list_rows("chat", "messages", ['{"method":"limit","values":[5000]}'])["rows"])
        count(f"POST /recount ({pending().split(',')[0]}, {messages} messages)", lambda: execute(
            "list-sessions", {}, path="/recount", secret=ADMIN_SECRET))

        # Transcript exports, one execution per page (100 messages by default): a session of 250 messages.
        long = Widget()
        for i in range(250):
            execute("touch-session", {"sessionId": long.session_id, "message": {"role": "bot", "text": f"line {i}"}},
                    secret=BOT_SECRET)
        cursors: dict[str, str] = {}

        def export(name, function, path, **who):
            def page():
                cursor = f"&cursor={cursors[name]}" if name in cursors else ""
                answer = execute(function, method="GET", path=path + cursor, **who)
                assert answer.status == 200 and answer.json["messages"] == 100, answer
                cursors[name] = answer.json["nextCursor"]
            count(f"{name}, first page", page)
            count(f"{name}, next page", page)

        export("export (agent, CSV)", "list-sessions", f"/{long.session_id}/export?format=csv", user="agent-alice")
        export("export (admin secret, JSON)", "list-sessions", f"/{long.session_id}/export?format=json",
               secret=ADMIN_SECRET)
        export("export (visitor, CSV)", "touch-session", f"/export?sessionId={long.session_id}&format=csv",
               token=long.token)

        # The sweep (close-session's schedule), an hour later: first 100 empty sessions, closed as empty by one run
        # and deleted by the next once folded, then idle ones with a message. Each run: the lease (2), dropping past
        # budget windows (1), the lists.
        fake.engine.delete_rows("chat", "sessions")
        fake.engine.delete_rows("chat", "counters")
        for _ in range(100):
            Widget()
        execute("list-sessions", trigger="schedule")  # folded: nothing pending
        clock[0] += timedelta(hours=1)
        count("idle sweep: 100 empty sessions closed as empty", lambda: execute("close-session", trigger="schedule"))
        execute("list-sessions", trigger="schedule")
        clock[0] += timedelta(minutes=1)
        count("idle sweep: 100 sessions closed as empty deleted", lambda: execute("close-session", trigger="schedule"))
        for _ in range(100):
            Widget().say("hello")
        clock[0] += timedelta(hours=1)
        count("idle sweep: 100 idle sessions closed", lambda: execute("close-session", trigger="schedule"))
        # The 100 sessions closed as empty wait for their trail (one `empty_close` each) to reach the audit table.
        clock[0] += timedelta(minutes=1)
        count(f"fold (schedule: {with_trail()})", lambda: execute("list-sessions", trigger="schedule"))
        clock[0] += timedelta(minutes=1)
        count("idle sweep: the 100 sessions closed as empty deleted", lambda: execute("close-session",
                                                                                      trigger="schedule"))

        # A chat an agent holds (bench.scale's traffic model), measured last so that nothing above moves: the
        # agent's reply, the bot's event on it, a visitor message the bot leaves to the agent, and what one refresh
        # of the agent console costs (its three lists: the queue with the summary, the agent's own, the active ones).
        held = Widget()
        held.say("hello")
        execute("escalate", {"sessionId": held.session_id}, token=held.token)
        execute("assign-agent", {"sessionId": held.session_id}, path="/claim", user="agent-bob")
        count("touch-session, an agent's reply", lambda: holder.update(reply=execute(
            "touch-session", {"sessionId": held.session_id, "message": {"role": "agent", "text": "Hi, Bob here"}},
            user="agent-bob")))
        count("bot (event) on an agent's reply", lambda: bot(holder["reply"].json["message"]["messageId"]))
        count("touch-session with a message, an agent holds the session", lambda: holder.update(
            to_agent=held.say("thanks, my order is 42")))
        count("bot (event) on a visitor message an agent holds", lambda: bot(
            holder["to_agent"].json["message"]["messageId"]))

        def console_refresh():
            for query in ("needsHuman=true&sort=escalatedAt&order=asc&summary=true&limit=100",
                          "status=agent_assigned&assignedAgent=agent-bob&summary=false&limit=100",
                          "status=active%2Cagent_assigned&summary=false&limit=100"):
                answer = execute("list-sessions", method="GET", path="/?" + query, user="agent-bob")
                assert answer.status == 200, answer
        count("the agent console's refresh (3 list-sessions executions)", console_refresh)
    return figures


def main() -> None:
    print(f"{'operation':<80}{'requests':>9}")
    for name, requests in measure():
        print(f"{name:<80}{requests:>9}")


if __name__ == "__main__":
    main()
