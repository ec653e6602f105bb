"""The reference bot with a model (BOT_LLM_ENDPOINT) and an agent who claims the session while the model thinks.

The bot reads the session once, before asking the model; it does not read it again after the model answered. Its
reply is admitted only while no agent has the session (`NewMessage.only_while_active`), a rule of the admitting
conditional write: a claim that came in between makes that write lose (the row changed since the bot read it), the
write reads again and refuses, and no reply is stored. Fast, on the fake gateway; tests/test_bot_stack.py runs the
same race with the real functions."""

from __future__ import annotations

from chat_core.bot import handler
from chat_core.bot.faq import FAQ_FILE, Faq
from chat_core.bot.policy import Reply
from chat_core.domain.inputs import Assignment, NewMessage, SessionRequest
from chat_core.domain.model import iso
from chat_core.ops import assignment, sessions
from fakes.world import World

FAQ = Faq.load(FAQ_FILE)


class Model:
    """A model whose answer takes long enough for `meanwhile` to happen (an agent's claim)."""

    history = 4

    def __init__(self, meanwhile=None) -> None:
        self.meanwhile = meanwhile
        self.asked = 0

    def reply(self, faq, conversation) -> Reply:
        self.asked += 1
        if self.meanwhile:
            self.meanwhile()
        return Reply("Yes, it is waterproof.")


def _visitor_message(world: World):
    started = world.started()
    said = sessions.post(world.core(world.visitor(started.token)), SessionRequest(
        started.session.id, started.token, message=NewMessage("user", "Is the blue tent waterproof?", "c1", False)),
        started.token).message
    event = f"databases.chat.tables.messages.rows.{said.id}.create"
    payload = {"$id": said.id, "$createdAt": iso(said.created_at), "sessionId": said.session_id, "role": "user",
               "text": said.text, "handoff": False, "authorId": None, "clientMessageId": "c1", "admission": "x"}
    return started.session.id, event, payload


def test_a_model_reply_is_stored_with_four_requests_and_no_second_read_of_the_session():
    world = World()
    session_id, event, payload = _visitor_message(world)
    model = Model()
    world.gw.store.calls.clear()
    answer = handler.on_message(world.core(world.system()), event, payload, FAQ, provider=model)
    assert answer["replied"] is True and model.asked == 1
    assert world.gw.store.calls == ["sessions.get", "messages.latest", "sessions.update", "messages.create"]
    bot = [m for m in world.gw.messages.rows.values() if m.role == "bot"]
    assert [m.text for m in bot] == ["Yes, it is waterproof."]


def test_an_agent_who_claims_while_the_model_thinks_keeps_the_reply_out_without_a_re_read():
    world = World()
    world.available("agent-bob")
    session_id, event, payload = _visitor_message(world)
    claimed: list[str] = []

    def claim():
        before = len(world.gw.store.calls)
        assignment.claim(world.core(world.agent("agent-bob")), Assignment(session_id))
        claimed.extend(world.gw.store.calls[before:])
        del world.gw.store.calls[before:]

    world.gw.store.calls.clear()
    answer = handler.on_message(world.core(world.system()), event, payload, FAQ, provider=Model(claim))
    assert claimed and world.session(session_id).assigned_agent == "agent-bob"
    assert answer == {"ignored": "an agent has the session", "sessionId": session_id}
    assert [m.role for m in world.gw.messages.rows.values()] == ["user"]  # nothing written into Bob's chat
    # The read before the model; the admitting write, which loses to the claim, reads again and refuses.
    assert world.gw.store.calls == ["sessions.get", "messages.latest", "sessions.update", "sessions.get"]
    assert world.session(session_id).message_count == 1
