"""The reference bot's event handler: a `messages` row was created; answer it if the rules say so (`policy`),
from the FAQ (`faq`) or a model (`provider`), and hand off to a human.

It runs on the `messages` create event, like `escalate`, and is a client of the functions like any other bot: it
replies through a synchronous `touch-session` execution with `X-Chat-Secret: BOT_SECRET` (docs/api.md), so its
replies pass the same checks, counts and events as an external bot's. Its key can read rows and create executions
(`rows.read`, `execution.write`: Appwrite app/config/scopes.php), and write nothing itself. With a provider
(BOT_LLM_ENDPOINT), the model answers instead of the FAQ (which it gets as facts); when it fails, the FAQ.
"""

from __future__ import annotations

from typing import Any

from chat_core.bot import provider as providers
from chat_core.bot.faq import Faq
from chat_core.bot.policy import Quiet, Reply, asks_for_person, decide, quiet_reason, reply_key
from chat_core.bot.provider import Provider, ProviderError
from chat_core.core import Core
from chat_core.domain.model import Message, Session
from chat_core.errors import NotFound, Unauthorized, UpstreamRejected, UpstreamUnavailable
from chat_core.ops import consistency, escalation

TOUCH_FUNCTION = "touch-session"



def on_message(core: Core, event: str, payload: Any, faq: Faq, *, provider: Provider | None = None) -> dict:
    """A `messages` row was created: answer it if the rules say so. The answer says what was done. `provider`: the
    model to ask (default: the one the function's variables configure, if any)."""
    if not core.settings.bot_secret:  # checked first: without it the bot cannot reply, so it reads nothing
        core.log("bot: BOT_SECRET is not set, so the bot cannot reply; set it on this function and touch-session")
        return {"ignored": "no_bot_secret"}
    message = escalation.event_message(core, event, payload)  # the stored row, re-read by $id: escalate's rule
    if message is None:
        return {"ignored": "not a new chat message"}
    if message.role != "user":
        return {"ignored": "not a visitor message"}  # the bot's own replies end here, after one read
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
    return _post(core, session.id, message.id, outcome)


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
    # The model took its time: an agent may have claimed the session meanwhile.
    if reason := quiet_reason(message, consistency.load(core, session.id)):
        return Quiet(reason)
    return reply


def _post(core: Core, session_id: str, message_id: str, reply: Reply) -> dict:
    """Through touch-session, as the bot. Retried once when Appwrite fails: the idempotency key makes it safe."""
    body = {"sessionId": session_id,
            "message": {"role": "bot", "text": reply.text, "id": reply_key(message_id), "handoff": reply.handoff}}
    headers = {"X-Chat-Secret": core.settings.bot_secret}
    try:
        status, answer = core.gateway.executions.run(TOUCH_FUNCTION, body, headers=headers)
    except UpstreamUnavailable:
        status, answer = 503, None
    except Unauthorized:
        core.log("bot: Appwrite refused this execution's key for the reply: does `bot` have the execution.write scope?")
        raise
    if status == 503:
        status, answer = core.gateway.executions.run(TOUCH_FUNCTION, body, headers=headers)
    if status == 200 and isinstance(answer, dict):
        return {"replied": True, "sessionId": session_id, "handoff": reply.handoff,
                "duplicate": bool(answer.get("duplicate")), "messageId": (answer.get("message") or {}).get("messageId")}
    error = answer.get("error") if isinstance(answer, dict) and isinstance(answer.get("error"), dict) else {}
    code = error.get("code", "no JSON answer")
    if status == 409 and code == "session_closed":
        return {"ignored": "session closed", "sessionId": session_id}
    core.log(f"bot: touch-session refused the reply: {status} {code}")
    if status == 401:
        raise UpstreamRejected(f"touch-session refused the bot's secret ({code}): set the same BOT_SECRET on both")
    if status >= 500:
        raise UpstreamUnavailable(f"touch-session failed ({status} {code})")
    raise UpstreamRejected(f"touch-session refused the bot's reply ({status} {code})")
