"""What a busy desk costs per minute, on paper, from the measured per-operation costs (issue 20, item 7).

    .venv/bin/python -m bench.scale [--visitors 10000] [--agents 300] [--live-share 1]

Nothing here is a typed-in cost. The requests come from running `bench.requests_per_operation` on the fake Appwrite
(about 5 s) each time: COSTS names, per operation, the figures it prints that the operation is made of. The
executions come from appwrite.json: an operation's own executions (HTTP or schedule) plus one per function that
appwrite.json runs on each message it stores. MODEL is the traffic model; every figure printed is COSTS x MODEL.
Appwrite Cloud's plan limits are quoted with their source; a figure that could not be confirmed says so. This
project's own ceilings come from chat_core's defaults (`Settings`, `ops.schedule`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
from dataclasses import dataclass, replace
from pathlib import Path

from chat_core.config import Settings
from chat_core.ops import schedule, sweep

from devstack.functions import event_matches, event_names

ROOT = Path(__file__).resolve().parent.parent

# operation: (its own executions, messages it stores, [labels printed by bench.requests_per_operation, summed],
#             divisor, what)
COSTS: dict[str, tuple[int, int, list[str], int, str]] = {
    "open": (1, 0, ["create-session"], 1, "create-session"),
    "bot_message": (1, 2, ["an answered visitor message, in all (touch-session 4 with the FAQ bot's reply; the bot on "
                           "each row's event 0; 3 executions)"],
                    1, "a visitor message the FAQ bot answers in the visitor's write; the bot on both rows' events"),
    "escalate": (1, 0, ["escalate (HTTP), nobody free: waits, with its queue"], 1, "'Talk to a person', nobody free"),
    "assign_on_close": (1, 0, ["close-session: the freed slot assigns the next waiter"], 1,
                        "an agent closes; the freed slot assigns the next waiter"),
    "visitor_to_agent": (1, 1, ["touch-session with a message, an agent holds the session",
                                "bot (event) on a visitor message an agent holds"], 1,
                         "a visitor message in an agent's chat, and its event"),
    "agent_reply": (1, 1, ["touch-session, an agent's reply", "bot (event) on an agent's reply"], 1,
                    "an agent's reply, and its event"),
    "heartbeat": (1, 0, ["touch-session (heartbeat)"], 1, "the widget's heartbeat"),
    "waiting_check": (1, 0, ["touch-session GET /messages, waiting (the widget's poll, with its queue)"], 1,
                      "a waiting visitor's check (its place and wait)"),
    "idle_sweep_100": (1, 0, ["idle sweep: 100 idle sessions closed"], 100,
                       "the sweep, per idle session closed (100 in one run)"),
    "console_refresh": (3, 0, ["the agent console's refresh (3 list-sessions executions)"], 1,
                        "one agent console refresh: queue + summary, mine, active"),
    "console_heartbeat": (1, 0, ["assign-agent /availability: the console's heartbeat"], 1,
                          "the console's heartbeat"),
    "minute_pass": (1, 0, ["fold (schedule: nothing to fold)"], 1, "list-sessions' minute pass, nothing to fold"),
    "fold_100": (0, 0, ["fold (schedule: 100 sessions, 100 not folded yet, 100 transitions of 100 to move)"], 100,
                 "the fold, per session with one transition (100 in one run, minus the minute pass's own)"),
}
NOTHING_TO_FOLD = "fold (schedule: nothing to fold)"


def measured() -> dict[str, int]:
    """label -> Appwrite requests, as `bench.requests_per_operation` counts them on the fake Appwrite now. A label
    measured twice (the same operation from two states) keeps its higher figure."""
    from chat_core.edge import http

    from bench import requests_per_operation  # loads the tests' fake Appwrite: only when measuring

    saved_env, saved_clock = dict(os.environ), http.utcnow  # measure() sets both for its run
    try:
        figures = requests_per_operation.measure()
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        http.utcnow = saved_clock
    out: dict[str, int] = {}
    for label, requests in figures:
        out[label] = max(requests, out.get(label, 0))
    return out


def message_listeners(path: Path = ROOT / "appwrite.json") -> list[str]:
    """The functions appwrite.json runs on every stored message: an event execution each."""
    names = event_names("chat", "messages", "m_1", "create")
    return sorted(f["$id"] for f in json.loads(path.read_text(encoding="utf-8"))["functions"]
                  if any(event_matches(pattern, names) for pattern in f.get("events", [])))


def cost(name: str, figures: dict[str, int], listeners: int) -> tuple[int, float]:
    """(executions, requests) of one operation, from COSTS, the measured figures and appwrite.json's events."""
    own, messages, labels, divisor, _ = COSTS[name]
    missing = [label for label in (*labels, NOTHING_TO_FOLD) if label not in figures]
    if missing:
        raise KeyError(f"bench.requests_per_operation no longer measures {missing}: update bench.scale.COSTS")
    requests = sum(figures[label] for label in labels)
    if name == "fold_100":  # the run's own pass (lease, queue, agents) is the minute pass's line
        requests -= figures[NOTHING_TO_FOLD]
    return own + messages * listeners, requests / divisor


@dataclass(frozen=True)
class Model:
    visitors: int = 10_000          # open chats at any moment
    agents: int = 300               # consoles open, each an agent at work
    capacity: int = 3               # chats an agent holds at once (AGENT_CAPACITY defaults to 5; 3 is a busy desk)
    bot_minutes: float = 8.0        # a chat the bot ends (or the visitor leaves): its length
    escalate_share: float = 0.08    # chats that ask for a person ...
    before_escalate: float = 3.0    # ... after this many minutes with the bot,
    wait_minutes: float = 2.0       # ... wait this long on average (agents free up, availability lags),
    agent_minutes: float = 8.0      # ... then talk to an agent this long; the agent closes it
    visitor_rate: float = 0.5       # messages a visitor writes per minute (bot or agent)
    agent_rate: float = 0.5         # messages an agent writes per minute per chat
    live_share: float = 1.0         # widgets with a Realtime socket (an anonymous account); the rest poll
    poll_checks: float = 28 / (230 / 60)  # checks a minute without a socket: the typical chat's 28 in 230 s
    heartbeats: float = 0.2         # a live widget's heartbeat/safety-net check: every 5 min (an upper bound)
    debounce_s: float = 0.1         # the console refreshes 100 ms after the last event (trailing) ...
    max_wait_s: float = 5.0         # ... never two, and one at least, in this long (CONSOLE_REFRESH_SECONDS) ...
    safety_net_s: float = 60.0      # ... and at least once a minute while live

    def populations(self) -> dict[str, float]:
        # visitors = arrivals x mean time in the desk (Little's law), split by state
        per_arrival = ((1 - self.escalate_share) * self.bot_minutes
                       + self.escalate_share * (self.before_escalate + self.wait_minutes + self.agent_minutes))
        arrivals = self.visitors / per_arrival
        escalations = arrivals * self.escalate_share
        return {"arrivals": arrivals, "escalations": escalations,
                "with_bot": arrivals * ((1 - self.escalate_share) * self.bot_minutes
                                        + self.escalate_share * self.before_escalate),
                "waiting": escalations * self.wait_minutes, "with_agent": escalations * self.agent_minutes,
                "bot_closes": arrivals * (1 - self.escalate_share)}


def per_minute(m: Model, figures: dict[str, int], listeners: int = 1,
               ) -> tuple[dict[str, tuple[float, float]], dict[str, float]]:
    """{line: (executions, requests)} a minute, and the Realtime figures. `figures`: `measured()`; `listeners`: how
    many functions run on each stored message (`len(message_listeners())`)."""
    p = m.populations()
    lines: dict[str, tuple[float, float]] = {}

    def add(line, name, times):
        executions, requests = cost(name, figures, listeners)
        lines[line] = (executions * times, requests * times)

    # Realtime events: one per stored message (its row, to the session's widget and to the console of the agent who
    # holds it: consoles subscribe to their own chats' rows), one per session signal (a change of status only:
    # escalate 1, close and the next waiter's assignment 2, an idle close 1; to the widget and every console), one
    # per move of the queue's row (to the waiting widgets and every console)
    queue_moves = p["escalations"] * 2          # someone joins, someone is served
    stored = p["with_bot"] * m.visitor_rate * 2 + p["with_agent"] * (m.visitor_rate + m.agent_rate)
    session_signals = p["escalations"] * 1 + p["escalations"] * 2 + p["bot_closes"]
    add("open", "open", p["arrivals"])
    add("visitor messages the bot answers", "bot_message", p["with_bot"] * m.visitor_rate)
    add("ask for a person", "escalate", p["escalations"])
    add("agent closes, next waiter assigned", "assign_on_close", p["escalations"])
    add("visitor messages to an agent", "visitor_to_agent", p["with_agent"] * m.visitor_rate)
    add("agent replies", "agent_reply", p["with_agent"] * m.agent_rate)
    live = m.live_share
    add("widget heartbeats and safety-net checks (live)", "heartbeat",
        (p["with_bot"] + p["with_agent"]) * live * m.heartbeats)
    # A live waiting widget checks every 60 s; a move of the queue's row costs it nothing: it counts its place from
    # the row's line (web/widget/queue.js; beyond the line's 100 it keeps the figure told until its next check)
    add("waiting visitors' checks (live: every 60 s)", "waiting_check", p["waiting"] * live * 1.0)
    add("checks without a socket (polling)", "waiting_check", m.visitors * (1 - live) * m.poll_checks)
    add("idle sweep closes (the bot's chats; one run a minute)", "idle_sweep_100", p["bot_closes"])
    lines["idle sweep closes (the bot's chats; one run a minute)"] = (
        1, lines["idle sweep closes (the bot's chats; one run a minute)"][1])
    add("the minute's pass", "minute_pass", 1)
    folded = p["bot_closes"] * 2 + p["escalations"] * 4   # start+close; start, escalate, assign, close
    add("the fold (one per changed session and transition)", "fold_100", folded)
    lines["the fold (one per changed session and transition)"] = (0, lines[
        "the fold (one per changed session and transition)"][1])
    # Events a second a console hears: every signal and queue move, and its own chats' messages. A refresh follows
    # the first event by the time to a 100 ms pause (a Poisson stream: (e^(rate d) - 1) / rate), at most max_wait_s,
    # and never comes sooner than max_wait_s after the last one (web/shared/realtime.js, coalesce)
    own = m.capacity * (m.visitor_rate + m.agent_rate)
    rate = (session_signals + queue_moves + own) / 60
    cycle = max(m.max_wait_s, 1 / rate + min(m.max_wait_s, math.expm1(rate * m.debounce_s) / rate))
    refreshes = max(60 / cycle, 60 / m.safety_net_s)
    add("agent consoles' refreshes", "console_refresh", m.agents * refreshes)
    add("agent consoles' heartbeats", "console_heartbeat", m.agents * min(2.0, refreshes))
    connections = m.visitors * live + m.agents
    messages = (session_signals * (live + m.agents) + queue_moves * (p["waiting"] * live + m.agents)
                + stored * live + p["with_agent"] * (m.visitor_rate + m.agent_rate))
    realtime = {"connections": connections, "messages": messages, "events_per_second": rate,
                "console_refreshes_per_minute": refreshes}
    return lines, realtime


MINUTES_A_MONTH = 30 * 24 * 60
# Appwrite Cloud, Pro plan, a month. (figure or None, source, how sure)
CLOUD_PRO = {
    "executions": (3_500_000, "third-party summary of appwrite.io/pricing (api-evangelist/appwrite "
                   "plans/appwrite-plans-pricing.yml, read 2026-09-12); not confirmed on an Appwrite page here"),
    "database operations (reads 1,750,000 + writes 750,000)": (2_500_000, "appwrite/website docs "
                   "advanced/platform/database-reads-and-writes: counted per ROW read or written, not per request"),
    "Realtime concurrent connections": (500, "the same third-party summary and an Appwrite changelog draft "
                   "(appwrite/website PR 2825, open); a peak, not a monthly sum (appwrite discussion 11785)"),
    "Realtime messages": (6_000_000, "only an Appwrite changelog draft (appwrite/website PR 2825, open, "
                   "enforcement from 2026-04-15); not confirmed"),
}


def ceilings(m: Model, settings: Settings | None = None) -> list[tuple[str, float, float]]:
    """This project's own per-minute ceilings at its defaults (or `settings`) against what the desk needs:
    (what, ceiling, needed)."""
    settings = settings or Settings(endpoint="", project_id="")
    p = m.populations()
    return [("new sessions a minute (SESSIONS_PER_MINUTE)", settings.sessions_per_minute, p["arrivals"]),
            ("idle sessions the sweep closes a run (sweep_capacity)", sweep.sweep_capacity(settings),
             p["bot_closes"]),
            ("sessions the minute's fold moves (fold_capacity)", schedule.fold_capacity(settings),
             p["bot_closes"] * 2 + p["escalations"] * 4)]


def report(m: Model, figures: dict[str, int], listeners: list[str]) -> str:
    p = m.populations()
    lines, rt = per_minute(m, figures, len(listeners))
    out = [f"Per operation, measured now (bench.requests_per_operation; executions from appwrite.json: "
           f"{', '.join(listeners) or 'nothing'} on each stored message):",
           f"{'operation':<90}{'executions':>11}{'requests':>10}"]
    for name, (_, _, _, _, what) in COSTS.items():
        executions, requests = cost(name, figures, len(listeners))
        out.append(f"{what:<90}{executions:>11}{requests:>10.2f}")
    out += ["", f"Traffic model: {m.visitors:,} open chats, {m.agents} agents x {m.capacity} chats; "
            f"{p['arrivals']:,.0f} chats start a minute; {m.escalate_share:.0%} ask for a person after "
            f"{m.before_escalate:g} min, wait {m.wait_minutes:g} min, talk {m.agent_minutes:g} min; the bot's chats "
            f"last {m.bot_minutes:g} min and end by the idle sweep; {m.visitor_rate:g} visitor and {m.agent_rate:g} "
            f"agent messages a minute; {m.live_share:.0%} of widgets on Realtime.",
            f"At a moment: {p['with_bot']:,.0f} with the bot, {p['waiting']:,.0f} waiting, "
            f"{p['with_agent']:,.0f} with an agent ({p['with_agent'] / (m.agents * m.capacity):.0%} of the slots).",
            "", f"{'per minute':<70}{'executions':>12}{'requests':>12}"]
    total_e = total_r = 0.0
    for line, (e, r) in lines.items():
        out.append(f"{line:<70}{e:>12,.0f}{r:>12,.0f}")
        total_e += e
        total_r += r
    out += [f"{'total':<70}{total_e:>12,.0f}{total_r:>12,.0f}", "",
            f"Realtime: {rt['connections']:,.0f} concurrent connections; {rt['messages']:,.0f} messages a minute "
            "(each message row to its widget and its agent's console; each signal to its widget and every "
            f"console). A console hears {rt['events_per_second']:.0f} events a second: it refreshes "
            f"{rt['console_refreshes_per_minute']:.1f} times a minute, never twice in {m.max_wait_s:g} s (the "
            "refresh period): as often as it would poll without a socket, no more.",
            "", "This project's own ceilings (defaults), which bind before any Appwrite limit:"]
    for what, ceiling, needed in ceilings(m):
        verdict = "BINDS: raise it" if needed > ceiling else f"fits ({needed / ceiling:.0%} used)"
        out.append(f"- {what}: {ceiling:,.0f}; this desk needs {needed:,.0f}: {verdict}.")
    out += ["  SESSIONS_PER_MINUTE sizes the other two (ops.sweep, ops.schedule): raising it to the desk's rate "
            "raises them with it.", "", "Appwrite Cloud Pro, included a month, and how long this load takes to use "
            "it up:"]
    use = {"executions": total_e, "database operations (reads 1,750,000 + writes 750,000)": total_r,
           "Realtime messages": rt["messages"]}
    binding = []
    for limit, (figure, source) in CLOUD_PRO.items():
        if limit == "Realtime concurrent connections":
            verdict = f"exceeded from the first minute ({rt['connections']:,.0f} at once)"
            binding.append((0.0, limit))
        else:
            minutes = figure / use[limit]
            binding.append((minutes, limit))
            verdict = f"used up in {minutes:,.0f} min ({use[limit] * MINUTES_A_MONTH / figure:,.0f}x a month)"
        out.append(f"- {limit}: {figure:,}: {verdict}. Source: {source}.")
    out += ["  Database requests are a floor for billed operations: a list is billed per row it returns.",
            f"Binds first: {min(binding)[1]}; then " + ", ".join(b for _, b in sorted(binding)[1:]) + ".",
            "On Pro each is bought beyond the plan up to the budget cap (not a hard stop).",
            "",
            "Appwrite's own per-IP limits, on Cloud and self-hosted alike unless _APP_OPTIONS_ABUSE=disabled "
            "(docs/platform.md): Realtime takes 128 connections a minute per IP, so "
            f"{m.agents} consoles behind one office IP need {math.ceil(m.agents / 128)} minutes to (re)connect "
            "after an outage; 32 messages a minute per connection counts what a client sends (its authentication, "
            "subscription and pings: 5 a minute), not the events it receives; anonymous accounts, which the widget "
            "signs each visitor in with, are 50 an hour per IP (visitors behind one shared IP beyond that cannot "
            "sign in and fall back to polling as guests, on the guests' shared budgets).",
            f"Self-hosted, the plan limits do not apply: the database must serve {total_r / 60:,.0f} requests a "
            "second (this project's local stack served 450 to 500 a second on 2 shared cores, `bench.stack`; it is not "
            "Appwrite, and no self-hosted Appwrite figure is known here)."]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visitors", type=int, default=Model.visitors)
    parser.add_argument("--agents", type=int, default=Model.agents)
    parser.add_argument("--live-share", type=float, default=Model.live_share)
    args = parser.parse_args()
    print(report(replace(Model(), visitors=args.visitors, agents=args.agents, live_share=args.live_share),
                 measured(), message_listeners()))


if __name__ == "__main__":
    main()
