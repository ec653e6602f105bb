"""The reference bot's event handler: a `messages` row was created; answer it if the rules say so (`policy`),
from the FAQ (`faq`) or a model (`provider`), and hand off to a human.

It is the only function on the `messages` create event, and only Appwrite runs it (`execute: []` in appwrite.json:
docs/security.md), so the event's payload is the row as stored: it is read off the payload, never re-read. Its
own replies (any message that is not a visitor's) end there, without a request, and so does a visitor's row the FAQ
bot decided on in the visitor's own write (`botDecided`, chat_core.bot.inline: without a model, the default).
What follows is the bot with a model provider (whose visitor's rows asking for a person come marked too: the
model is never asked about those), or with BOT_INLINE off. It writes its reply itself, as the
bot, through the same operation touch-session runs (`ops.sessions.post`: the same admission, checks, counts,
budgets and escalation), with its key's `rows.read` and `rows.write` (Appwrite app/config/scopes.php). An answered
question costs the bot three requests: the session, the admitting write, the message row (which reaches the
visitor's socket itself: no signal). With a provider (BOT_LLM_ENDPOINT), the model answers instead of the FAQ
(which it gets as facts); when it fails, the FAQ.

An agent may claim the session between the bot's read and its reply (the model takes seconds): the reply is
admitted only while no agent has the session (`NewMessage.only_while_active`), checked by the admitting
conditional write itself, so a claim that came first makes the write lose, read again and refuse; the session is
not read again after the model answered.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from chat_core.bot import provider as providers
from chat_core.bot.faq import Faq
from chat_core.bot.policy import Quiet, Reply, asks_for_person, bot_message, decide, quiet_reason, reply_key
from chat_core.bot.provider import Provider, ProviderError
from chat_core.core import Core
from chat_core.domain.authz import Caller
from chat_core.domain.inputs import SessionRequest
from chat_core.domain.model import Message, Session
from chat_core.errors import Conflict, NotFound, UpstreamUnavailable


def on_message(core: Core, event: str, payload: Any, faq: Faq, *, provider: Provider | None = None) -> dict:
    """A `messages` row was created: answer it if the rules say so. The answer says what was done. `provider`: the
    model to ask (default: the one the function's variables configure, if any)."""
    from chat_core.ops import consistency
    message = core.gateway.messages.from_event(event, payload)  # trusted: only Appwrite runs this function
    if message is None:
        core.log(f"event ignored: {event[:200]}")
        return {"ignored": "not a new chat message"}
    if message.role != "user":
        return {"ignored": "not a visitor message"}  # the bot's own replies end here, without a request
    if message.bot_decided:  # the FAQ bot answered in the visitor's own write (chat_core.bot.inline)
        if providers.from_env() is not None and not asks_for_person(message, core.settings.handoff_phrases):
            core.log("bot: touch-session answered from the FAQ; for the model to answer, set BOT_LLM_ENDPOINT on "
                     "touch-session too (a project variable)")
        return {"ignored": "answered in the visitor's write"}
    core = replace(core, caller=Caller.reference_bot(core.settings))
    try:
        session = consistency.load(core, message.session_id)
    except NotFound:
        core.log(f"bot: session {message.session_id} not found")
        return {"ignored": "session_not_found"}
    if reason := quiet_reason(message, session):
        return {"ignored": reason, "sessionId": session.id}
    model = provider or providers.from_env()
    if model is not None and not asks_for_person(message, core.settings.handoff_phrases):
        outcome = _model_reply(core, model, faq, message, session)
    else:
        outcome = decide(message, session, faq, core.settings.handoff_phrases) or \
            Quiet("nothing to add while the visitor waits")
    if isinstance(outcome, Quiet):
        return {"ignored": outcome.reason, "sessionId": session.id}
    return _post(core, session, message.id, outcome)


def _model_reply(core: Core, model: Provider, faq: Faq, message: Message, session: Session) -> Reply | Quiet:
    history = core.gateway.messages.latest(session.id, model.history + 10)
    if any(m.role == "bot" and m.client_message_id == reply_key(message.id) for m in history):
        return Quiet("already answered")  # a duplicate delivery: the model is not asked (or paid) twice
    # The conversation up to the message being answered (a later message gets its own event and answer).
    earlier = [m for m in reversed(history) if m.created_at <= message.created_at][-model.history:]
    try:
        reply = model.reply(faq, earlier)
    except ProviderError as exc:
        core.log(f"bot: {exc}; answering from the FAQ")
        return decide(message, session, faq, core.settings.handoff_phrases) or Quiet("nothing to add")
    # The model took its time and an agent may have claimed the session meanwhile: the admitting write tells (_post).
    return reply


def _post(core: Core, session: Session, message_id: str, reply: Reply) -> dict:
    """As the bot, through ops.sessions.post. Retried once (reading the session again) when Appwrite fails: the
    idempotency key makes it safe."""
    from chat_core.ops import sessions
    request = SessionRequest(session.id, None, message=bot_message(message_id, reply))
    try:
        try:
            touched = sessions.post(core, request, None, first=session)
        except UpstreamUnavailable:
            touched = sessions.post(core, request, None)
    except Conflict as exc:
        quiet = {"session_closed": "session closed", "already_assigned": "an agent has the session"}
        if exc.code not in quiet:
            raise
        return {"ignored": quiet[exc.code], "sessionId": session.id}
    assert touched.message is not None
    return {"replied": True, "sessionId": session.id, "handoff": reply.handoff, "duplicate": touched.duplicate,
            "messageId": touched.message.id}
