"""`sessions history ID`, `sessions audit --agent --from --to` and the rating in `show` and `list`, against an
in-process local stack: real executions, real HTTP."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

from test_cli import cli, env, run, server, stack  # noqa: F401  (fixtures)


def rated_session(stack, agent: str = "agent-alice", score: int = 4) -> str:  # noqa: F811
    fn = server(stack)
    created = run(fn, "create-session", {})
    sid, token = created["sessionId"], {"x-session-token": created["token"]}
    run(fn, "touch-session", {"sessionId": sid, "message": {"text": "I need a human"}}, headers=token)
    run(server(stack, agent), "assign-agent", {"sessionId": sid}, path="/claim")
    run(fn, "close-session", {"sessionId": sid, "rating": {"score": score, "comment": "Kind and quick."}},
        headers=token)
    stack.wait_idle()
    return sid


def test_history_prints_the_timeline_of_a_short_id(stack, env):  # noqa: F811
    sid = rated_session(stack)
    code, out, err = cli(env, "sessions", "history", sid[:12])
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == f"Timeline of {sid}"
    steps: list[str] = []
    for line in lines[1:]:  # an entry's line, or the wrapped rest of its reason
        if line.startswith(" "):
            steps[-1] += " " + line.strip()
        else:
            steps.append(re.sub(r"^\S+ \S+  ", "", line))
    assert steps == ["visitor  open  - -> active",
                     "visitor  escalate  active -> waiting  (visitor asked for a person ('human'))",
                     "agent:agent-alice  claim  waiting -> assigned:agent-alice",
                     "visitor  close  assigned:agent-alice -> closed  (closed by visitor)",
                     "visitor  rate  closed -> rated:4  (4/5 with a comment)"]
    assert max(len(line) for line in lines) <= 80
    code, out, _ = cli(env, "sessions", "history", sid, "--limit", "2")
    assert code == 0 and "More: add --cursor 2" in out
    code, out, _ = cli(env, "sessions", "history", sid, "--limit", "2", "--all", "--json")
    assert [e["seq"] for e in json.loads(out)["history"]] == [0, 1, 2, 3, 4]


def test_show_and_list_tell_the_rating(stack, env):  # noqa: F811
    sid = rated_session(stack, "agent-bob", score=2)
    code, out, _ = cli(env, "sessions", "show", sid)
    assert code == 0 and 'Rating     2/5  "Kind and quick."' in out
    code, out, _ = cli(env, "sessions", "list", "--status", "closed")
    assert code == 0
    ratings = " ".join(line.strip() for line in out.splitlines()[out.splitlines().index("") + 1:])
    assert re.search(r"Ratings: [\d.]+/5 \(\d+ ratings?\); by agent: .*agent-bob 2\.0/5 \(1 rating\)", ratings), out


def test_audit_lists_the_trail_by_agent_and_time_range(stack, env):  # noqa: F811
    before = datetime.now(timezone.utc) - timedelta(seconds=1)
    mine = rated_session(stack, "agent-alice")
    theirs = rated_session(stack, "agent-bob")
    stack.fire_schedule("list-sessions")  # the fold moves the trail to the audit table
    assert stack.wait_idle(30)
    later = datetime.now(timezone.utc) + timedelta(minutes=1)
    start, end = before.strftime("%Y-%m-%dT%H:%M:%SZ"), later.strftime("%Y-%m-%dT%H:%M:%SZ")
    code, out, err = cli(env, "sessions", "audit", "--agent", "agent-alice", "--from", start, "--to", end, "--all")
    assert (code, err) == (0, ""), err
    assert mine[:14] in out and theirs[:14] not in out
    assert [line.split()[4] for line in out.splitlines() if mine[:14] in line] == ["claim", "close", "rate"]
    code, out, _ = cli(env, "sessions", "audit", "--from", start, "--json", "--limit", "100")
    assert {e["sessionId"] for e in json.loads(out)["audit"]} >= {mine, theirs}
    code, _, err = cli(env, "sessions", "audit", "--from", "yesterday")
    assert code == 1 and err.startswith("error: invalid_query")
    code, _, err = cli(env, "--as", "agent-alice", "sessions", "audit")
    assert code == 1 and err.startswith("error: not_an_admin")
