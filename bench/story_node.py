"""The story bench's shared parts: the request counter with its trace, and the Node system's side of the story
(Aamirgheewale/ai-support `apps/api` at 920d408, not part of this repository, started separately against the
bench's stand-in; see bench/story.py and docs/reliability.md, "Against the system we replace").

Their side speaks their own interface: Socket.IO for the visitor and the agent (`start_session`, `user_message`,
`agent_takeover`, `agent_message`; bench/socketio_lite.py) and HTTP for the admin (`GET /admin/sessions`, bearer
token: their ADMIN_SHARED_SECRET). A step's latency ends when the visitor (or the admin) receives the outcome:
`session_started`, the bot's `bot_message` (their bot emits it after storing the reply), the visitor's
`agent_joined` and `agent_message`, the list's HTTP answer (the first page as their admin app asks for it,
`?limit=20&offset=0`).
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import requests

from bench.socketio_lite import Client

QUESTIONS = ("What are your opening hours?", "How long does shipping take?", "How do I return an item?")
HANDOFF = "I want to talk to a person"
AGENT_REPLY = "Hello, I am here to help."
STEPS = ("open", "question 1", "question 2", "question 3", "ask for a human", "claim", "agent reply", "admin list")
_ID_AFTER = re.compile(r"/(rows|documents|users)/[^/?]+")


@dataclass
class Step:
    requests: int
    ms: float
    trace: list[str] = field(default_factory=list)  # method + path of each request (IDs as {id}) @ ms into the step
    request_ms: float = 0.0  # time the stand-in spent serving them (summed; they do not overlap within a side)
    answered_ms: float | None = None  # ours: when the caller's execution answered (the bot's event runs after)


class Traced:
    """Counts, and lists, the TablesDB/Users (and legacy Databases) requests the stack serves, with the time spent
    serving them, and the time of the last committed row write; `wait_quiet` waits until no request has been in
    flight for a while (the Node system's writes after it answered the visitor)."""

    def __init__(self, stack) -> None:
        self._lock = threading.Lock()
        self._handle = stack.rest.handle
        stack.rest.handle = self.handle
        stack.engine.subscribe(self._wrote)
        self.begin()

    def begin(self) -> None:
        with self._lock:
            self.count, self.trace, self.request_ms, self.in_flight = 0, [], 0.0, 0
            self.began = self.last_activity = self.last_write = time.perf_counter()

    def handle(self, method: str, path: str, *args, **kwargs):
        started = time.perf_counter()
        with self._lock:
            self.count += 1
            self.in_flight += 1
            at = (started - self.began) * 1000  # when it arrived, in ms since the step began
            self.trace.append(f"{method} " + _ID_AFTER.sub(r"/\1/{id}", path.split("?")[0]) + f" @{at:.1f}")
        try:
            return self._handle(method, path, *args, **kwargs)
        finally:
            ended = time.perf_counter()
            with self._lock:
                self.in_flight -= 1
                self.request_ms += (ended - started) * 1000
                self.last_activity = ended

    def _wrote(self, _event) -> None:
        self.last_write = time.perf_counter()

    def wait_quiet(self, quiet: float, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                idle = self.in_flight == 0 and time.perf_counter() - self.last_activity >= quiet
            if idle:
                return
            if time.monotonic() > deadline:
                raise TimeoutError("the stand-in did not become idle")
            time.sleep(quiet / 5)

    def close(self, started: float, seen: float) -> Step:
        with self._lock:
            return Step(self.count, (seen - started) * 1000, list(self.trace), self.request_ms)


QUIET = 0.3  # no request for this long: the Node system is done with the step (its writes follow in ms)


def their_story(url: str, token: str, traced: Traced, agent_id: str, timeout: float = 30.0) -> dict[str, Step]:
    figures: dict[str, Step] = {}
    sid = f"s_{uuid.uuid4().hex[:13]}"
    visitor, agent = Client(url), Client(url)
    try:
        def step(name: str, action: Callable[[], None], event: str) -> None:
            traced.wait_quiet(QUIET)
            traced.begin()
            mark = visitor.mark()
            started = time.perf_counter()
            action()
            seen = visitor.wait(event, mark, timeout)
            traced.wait_quiet(QUIET)
            figures[name] = traced.close(started, seen)

        step("open", lambda: visitor.emit("start_session", {"sessionId": sid, "userMeta": {}}), "session_started")
        for i, text in enumerate((*QUESTIONS, HANDOFF), 1):
            name = f"question {i}" if i <= len(QUESTIONS) else "ask for a human"
            step(name, lambda text=text: visitor.emit("user_message", {"sessionId": sid, "text": text}),
                 "bot_message")
        step("claim", lambda: agent.emit("agent_takeover", {"sessionId": sid, "agentId": agent_id}), "agent_joined")
        step("agent reply", lambda: agent.emit("agent_message", {"sessionId": sid, "agentId": agent_id,
                                                                 "text": AGENT_REPLY}), "agent_message")
        traced.wait_quiet(QUIET)
        traced.begin()
        started = time.perf_counter()
        answer = requests.get(f"{url}/admin/sessions", params={"limit": 20, "offset": 0},  # as their SessionsList
                              headers={"Authorization": f"Bearer {token}"}, timeout=timeout)
        seen = time.perf_counter()
        answer.raise_for_status()
        if not answer.json().get("items"):
            raise RuntimeError(f"their admin list is empty: {answer.text[:300]}")
        traced.wait_quiet(QUIET)
        figures["admin list"] = traced.close(started, seen)
    finally:
        visitor.close()
        agent.close()
    return figures
