"""The same operations through the in-memory fake gateway (tests/fakes/) and through the real gateway over the fake
Appwrite (the SDK, HTTP encoding behind `responses`, devstack's SQLite engine): what a unit test of an operation
pays for each. Quoted in docs/testing.md.

    .venv/bin/python -m bench.fake_gateway [rounds]
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from chat_core.config import Settings  # noqa: E402
from chat_core.core import Core  # noqa: E402
from chat_core.domain.authz import Caller  # noqa: E402
from chat_core.domain.inputs import Assignment, NewMessage, NewSession, Rating, SessionRequest  # noqa: E402
from chat_core.domain.model import utcnow  # noqa: E402
from chat_core.ops import assignment, counters, escalation, sessions  # noqa: E402

from bench import ROOMY_BUDGETS  # noqa: E402


def story(gateway, settings: Settings, agent: Caller) -> None:
    """One visitor: start, three messages, ask for a person, an agent's claim, close with a rating, a fold, the
    summary."""
    def core(caller: Caller) -> Core:
        return Core(gateway, settings, caller, utcnow(), lambda line: None)

    visitor = Caller("anonymous", settings)
    started = sessions.create(core(visitor), NewSession("{}", "{}"))
    sid, token = started.session.id, started.token
    for n in range(3):
        sessions.post(core(visitor), SessionRequest(sid, token, message=NewMessage("user", f"m{n}", None, False)),
                      token)
    escalation.escalate(core(visitor), SessionRequest(sid, token, reason="help"), token)
    assignment.claim(core(agent), Assignment(sid))
    sessions.close(core(visitor), SessionRequest(sid, token, rating=Rating(5, None)), token)
    counters.fold(core(Caller.system(settings)))
    counters.summary(core(Caller("admin", settings)))


def timed(rounds: int, run) -> float:
    run()  # warm
    start = time.perf_counter()
    for _ in range(rounds):
        run()
    return (time.perf_counter() - start) / rounds


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    os.environ.update(ROOMY_BUDGETS)
    from conftest import ENDPOINT, KEY, PROJECT, fake_appwrite
    from fakes.gateway import SETTINGS, FakeGateway

    settings = SETTINGS._replace(**{k: 10**6 for k in ("sessions_per_minute", "guest_sessions_per_minute",
                                                          "guest_messages_per_minute", "guest_escalations_per_minute",
                                                          "agent_capacity")})
    fake = FakeGateway(settings)
    jwt = fake.users.put("agent-alice", ("agent",))
    agent = Caller("user", settings, jwt=jwt, verify=fake.users.account_for_jwt)
    on_fake = timed(rounds, lambda: story(fake, settings, agent))
    calls = len(fake.calls) / (rounds + 1)

    from chat_core.infra.gateway import Gateway
    real_settings = settings._replace(endpoint=ENDPOINT, project_id=PROJECT)
    with fake_appwrite():
        gateway = Gateway(real_settings, KEY)
        real_agent = Caller("user", real_settings, jwt="x", verify=lambda _: fake.users.account_for_jwt(jwt))
        on_stack = timed(rounds, lambda: story(gateway, real_settings, real_agent))
    print(f"one visitor's story ({rounds} rounds): fake gateway {on_fake * 1000:.2f} ms, real gateway over the "
          f"fake Appwrite {on_stack * 1000:.1f} ms ({on_stack / on_fake:.0f}x); {calls:.0f} repository calls each")


if __name__ == "__main__":
    main()
