"""Plain-text views of the functions' answers: tables that fit the terminal (80 columns when not a TTY)."""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass

from chat_core.edge import views

STATUS_LABEL = {"active": "active", "agent_assigned": "assigned", "closed": "closed"}
SHORT_ID = 14  # "s_" + 12 hex digits: unique enough to type, like a short git hash


@dataclass(frozen=True)
class Style:
    """ANSI colour on a TTY only."""

    color: bool = False

    def paint(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.color and text else text

    def bold(self, text: str) -> str:
        return self.paint(text, "1")

    def dim(self, text: str) -> str:
        return self.paint(text, "2")

    def status(self, text: str, status: str) -> str:
        return self.paint(text, {"active": "32", "agent_assigned": "36", "closed": "2"}.get(status, "0"))

    def alert(self, text: str) -> str:
        return self.paint(text, "33;1")


def span(seconds: float | None) -> str:
    """`45 seconds`, `2 minutes`, `3 hours`: the functions' own wording, `-` when unknown."""
    return "-" if seconds is None else views.span(int(seconds))


def clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[:max(0, width - 1)] + "…"


def short_id(session_id: str, wide: bool) -> str:
    return session_id if wide else session_id[:SHORT_ID]


def table(headers: list[str], rows: list[list[str]], *, width: int, right: set[int] = frozenset(),
          shrink: int | None = None, styles: list[list[str]] | None = None, style: Style = Style()) -> list[str]:
    """Columns two spaces apart; when too wide, column `shrink` gives up characters (clipped with …)."""
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    excess = sum(widths) + 2 * (len(widths) - 1) - width
    if excess > 0 and shrink is not None:
        widths[shrink] = max(len(headers[shrink]), widths[shrink] - excess)

    def line(cells: list[str], painted: list[str] | None = None) -> str:
        out = []
        for i, cell in enumerate(cells):
            text = clip(cell, widths[i])
            pad = " " * (widths[i] - len(text))
            shown = painted[i] if painted and text == cell else text
            out.append(pad + shown if i in right else shown + (pad if i < len(cells) - 1 else ""))
        return "  ".join(out).rstrip()

    lines = [style.bold(line(headers))]
    for n, row in enumerate(rows):
        lines.append(line(row, styles[n] if styles else None))
    return lines


def sessions_table(sessions: list[dict], *, width: int, wide: bool, style: Style) -> list[str]:
    headers = ["ID", "STATUS", "HUMAN", "AGENT", "LAST SEEN", "MSGS", "DURATION"]
    rows, painted = [], []
    for s in sessions:
        status = STATUS_LABEL.get(s.get("status"), str(s.get("status")))
        human = "yes" if s.get("needsHuman") else "-"
        row = [short_id(s["sessionId"], wide), status, human, s.get("assignedAgent") or "-",
               s.get("lastSeenAgo") or "-", str(s.get("messageCount", 0)), s.get("duration") or "-"]
        rows.append(row)
        painted.append([row[0], style.status(status, s.get("status")), style.alert(human) if human == "yes" else human,
                        *row[3:]])
    return table(headers, rows, width=10**6 if wide else width, right={5}, shrink=3, styles=painted, style=style)


def summary_lines(summary: dict, *, width: int, style: Style) -> list[str]:
    by = summary.get("byStatus") or {}
    total = summary.get("total", 0)
    lines = [style.bold("Summary") + f"  {total} session{'' if total == 1 else 's'}: {by.get('active', 0)} active, "
             f"{by.get('agent_assigned', 0)} assigned, {by.get('closed', 0)} closed"]
    waiting = summary.get("needsHuman", 0)
    lines.append(f"Waiting for a human: {style.alert(str(waiting)) if waiting else waiting}")
    agents = summary.get("agents") or {}
    workload = ", ".join(f"{agent} {load}" for agent, load in agents.items()) or "nobody holds a session"
    lines += textwrap.wrap(f"Workload: {workload}", width=width, subsequent_indent="  ", break_on_hyphens=False)
    average = summary.get("averageSecondsToAssignment")
    count = summary.get("assignments", 0)
    lines.append(f"Average time to assignment: {span(average)}"
                 + (f" ({count} assignment{'' if count == 1 else 's'})" if count else ""))
    ratings = summary.get("ratings") or {}
    if ratings.get("count"):
        per_agent = ", ".join(f"{agent} {_rating(r)}" for agent, r in (ratings.get("byAgent") or {}).items())
        lines += textwrap.wrap(f"Ratings: {_rating(ratings)}" + (f"; by agent: {per_agent}" if per_agent else ""),
                               width=width, subsequent_indent="  ", break_on_hyphens=False)
    return lines


def _rating(figures: dict) -> str:
    count = figures.get("count", 0)
    return f"{figures.get('average')}/5 ({count} rating{'' if count == 1 else 's'})"


def list_view(answer: dict, *, width: int, wide: bool, style: Style) -> list[str]:
    sessions = answer.get("sessions") or []
    lines = sessions_table(sessions, width=width, wide=wide, style=style) if sessions else ["No sessions match."]
    if answer.get("nextCursor"):
        lines.append(style.dim(f"More: add --cursor {answer['nextCursor']}"))
    if "summary" in answer:
        lines += [""] + summary_lines(answer["summary"], width=width, style=style)
    return lines


def agents_view(answer: dict, *, width: int, style: Style) -> list[str]:
    """`sessions agents`: who is available, their load against their capacity, when their console was last heard."""
    agents = answer.get("agents") or []
    if not agents:
        return ["No agent has opened the console or held a session yet."]
    headers = ["AGENT", "AVAILABILITY", "LOAD", "CAPACITY", "HEARD FROM", "LAST ASSIGNED"]
    rows, painted = [], []
    for a in agents:
        availability = a.get("availability", "?")
        if availability != a.get("chosen"):
            availability += f" (chose {a.get('chosen')})"
        capacity = f"{a.get('capacity')}{'*' if a.get('capacityIsDefault') else ''}"
        silent = a.get("silentSeconds")
        heard = "-" if silent is None else "just now" if silent < 10 else f"{span(silent)} ago"
        row = [a.get("agentId", "?"), availability, str(a.get("load", 0)), capacity, heard,
               (a.get("lastAssignedAt") or "-")[:19].replace("T", " ")]
        rows.append(row)
        color = {"available": "32", "away": "33"}.get(a.get("availability"), "2")
        full = a.get("load", 0) >= a.get("capacity", 0)
        painted.append([row[0], style.paint(row[1], color), style.alert(row[2]) if full else row[2], *row[3:]])
    lines = table(headers, rows, width=width, right={2, 3}, shrink=1, styles=painted, style=style)
    auto = "on" if answer.get("autoAssign") else "off (sessions wait for a claim)"
    note = (f"* the default capacity ({answer.get('defaultCapacity')}); auto-assignment {auto}; a console silent "
            f"{answer.get('awayAfterSeconds')} s counts as away")
    lines += [style.dim(line) for line in textwrap.wrap(note, width=width, subsequent_indent="  ")]
    return lines


def repair_view(answer: dict, *, width: int, style: Style) -> list[str]:
    counters = answer.get("counters") or {}
    counts = answer.get("messageCounts") or {}
    lines = [f"Counters: {counters.get('repaired', 0)} of {counters.get('rows', 0)} rows rewritten"]
    counted = f"Message counts: {counts.get('repaired', 0)} repaired"
    if counts.get("unsettled"):
        counted += (f", {counts['unsettled']} left for later (written too recently: run again, or with "
                    "--settle-seconds 0 if nothing is running)")
    lines += textwrap.wrap(counted, width=width, subsequent_indent="  ", break_on_hyphens=False)
    loads = answer.get("agentLoads")
    if loads:
        line = f"Agent loads: {loads.get('repaired', 0)} of {loads.get('checked', 0)} set back to the sessions held"
        if loads.get("unsettled"):
            line += (f", {loads['unsettled']} left for later (a slot moved too recently: run again, or with "
                     "--settle-seconds 0 if nothing is running)")
        lines += textwrap.wrap(line, width=width, subsequent_indent="  ", break_on_hyphens=False)
    if "summary" in answer:
        lines += [""] + summary_lines(answer["summary"], width=width, style=style)
    return lines


def session_view(session: dict, *, width: int, style: Style) -> list[str]:
    def when(key: str) -> str:
        return session.get(key) or "-"

    status = session.get("status", "?")
    fields = [
        ("Session", session.get("sessionId", "?")),
        ("Status", style.status(status, status) + ("  (waiting for a human)" if session.get("needsHuman") else "")),
        ("Agent", (session.get("assignedAgent") or "-")
         + (f"  (since {session['assignedAt']})" if session.get("assignedAt") else "")),
        ("Created", when("createdAt")),
        ("Last seen", f"{session.get('lastSeenAgo', '-')}  ({when('lastSeen')})"),
        ("Duration", session.get("duration") or "-"),
        ("Messages", str(session.get("messageCount", 0))),
    ]
    if session.get("assignedBy") and session.get("assignedAgent"):
        fields.append(("Assigned", {"auto": "automatically", "claim": "claimed", "admin": "by an admin",
                                    "transfer": "by a transfer"}.get(session["assignedBy"], session["assignedBy"])
                       + ("  (over capacity)" if session.get("overCapacity") else "")))
    if session.get("escalatedAt"):
        fields.append(("Escalated", f"{session['escalatedAt']}  {session.get('escalationReason') or ''}".rstrip()))
    if session.get("closedAt"):
        fields.append(("Closed", f"{session['closedAt']}  {session.get('closeReason') or ''}".rstrip()))
    rating = session.get("rating")
    if rating:
        fields.append(("Rating", f"{rating.get('score')}/5" + (f"  \"{rating['comment']}\"" if rating.get("comment")
                                                             else "")))
    for key, label in (("userMeta", "User meta"), ("ownerId", "Owner")):
        value = session.get(key)
        if value:
            fields.append((label, value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)))
    lines = []
    for label, value in fields:
        lines += textwrap.wrap(f"{label:<11}{value}", width=width, subsequent_indent=" " * 11,
                               break_on_hyphens=False) or [label]
    return lines


def messages_view(answer: dict, *, width: int, style: Style) -> list[str]:
    messages = answer.get("messages") or []
    if not messages:
        return ["No messages."]
    lines = []
    for m in messages:
        stamp = (m.get("createdAt") or "")[:19].replace("T", " ")
        role = m.get("role", "?")
        author = f" ({m['authorId']})" if m.get("authorId") else ""
        head = f"{stamp}  {role:<6}"
        text = " ".join(str(m.get("text", "")).split()) + author
        wrapped = textwrap.wrap(text, width=max(20, width - len(head) - 1)) or [""]
        lines.append(f"{style.dim(stamp)}  {style.bold(f'{role:<6}')} {wrapped[0]}")
        lines += [" " * (len(head) + 1) + more for more in wrapped[1:]]
    if answer.get("nextCursor"):
        lines.append(style.dim(f"More: add --cursor {answer['nextCursor']}"))
    return lines


def _entry_line(entry: dict, *, width: int, style: Style, with_session: bool) -> list[str]:
    """`2026-11-25 12:00:01  agent:alice  claim  waiting -> assigned:alice  (why)`, wrapped under its text."""
    stamp = (entry.get("at") or "")[:19].replace("T", " ")
    move = f"{entry.get('from') or '-'} -> {entry.get('to') or '-'}"
    text = f"{entry.get('actor', '?')}  {entry.get('action', '?')}  {move}"
    if with_session:
        text = f"{short_id(entry.get('sessionId') or '', False)}  {text}"
    if entry.get("why"):
        text += f"  ({' '.join(str(entry['why']).split())})"
    head = f"{stamp}  "
    wrapped = textwrap.wrap(text, width=max(20, width - len(head)), break_on_hyphens=False) or [""]
    return [style.dim(stamp) + "  " + wrapped[0]] + [" " * len(head) + more for more in wrapped[1:]]


def history_view(answer: dict, *, width: int, style: Style) -> list[str]:
    """A session's timeline, oldest first: who moved it from which state to which, when and why."""
    entries = answer.get("history") or []
    lines = [style.bold(f"Timeline of {(answer.get('session') or {}).get('sessionId', '?')}")]
    for entry in entries:
        lines += _entry_line(entry, width=width, style=style, with_session=False)
    if not entries:
        lines.append("No transitions.")
    if answer.get("nextCursor"):
        lines.append(style.dim(f"More: add --cursor {answer['nextCursor']}"))
    return lines


def audit_view(answer: dict, *, width: int, style: Style) -> list[str]:
    entries = answer.get("audit") or []
    if not entries:
        lines = ["No audit entries match (the trail reaches the table within a minute of each transition)."]
    else:
        lines = []
        for entry in entries:
            lines += _entry_line(entry, width=width, style=style, with_session=True)
    if answer.get("nextCursor"):
        lines.append(style.dim(f"More: add --cursor {answer['nextCursor']}"))
    return lines
