"""The FAQ bot in the visitor's own write (issue 20: an answered question is one execution, not two).

Unless BOT_INLINE is off, touch-session hands `ops.messages` the bot's rules (`policy`): the conditional write that
admits a visitor's message decides, on the session as it admits it, the reply the bot function would have posted
(only while the bot should reply: no agent, not closed; a hand-off phrase: the hand-off reply, escalating; no FAQ
answer: the hand-off reply and the escalation; while the visitor waits: FAQ answers only), under the same reply key.
Both rows are stored by one request, and the visitor's row carries `botDecided`, so the `bot` function ends on
either row's event without a request (`handler`).

With a model (BOT_LLM_ENDPOINT), only a message asking for a person is decided here: the bot function never asks
the model about those either (it answers them from the rules), so deciding them in the visitor's write is the same
reply, without the bot's execution and its three requests. Every other message is left to the model, unmarked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chat_core.bot import faq as faqs
from chat_core.bot.policy import asks_for_person, bot_message, decide, quiet_reason
from chat_core.domain.inputs import NewMessage
from chat_core.domain.model import Message, Session

if TYPE_CHECKING:
    from chat_core.core import Core
    from chat_core.ops.messages import Answerer


def answerer(core: Core, new: NewMessage) -> Answerer | None:
    """The FAQ bot's answer for `ops.sessions.post`, or None: not a visitor's message, or the `bot` function
    answers (BOT_INLINE off; with a model provider, every message but one asking for a person)."""
    if new.role != "user" or not core.settings.bot_inline:
        return None
    phrases = core.settings.handoff_phrases
    if core.settings.bot_model and not asks_for_person(new, phrases):
        return None
    faq, problem = faqs.shipped()
    if problem:
        core.log(f"bot: the FAQ is not usable, every question is handed off: {problem}")

    def answer(message: Message, session: Session) -> NewMessage | None:
        if quiet_reason(message, session):
            return None
        reply = decide(message, session, faq, phrases)
        return None if reply is None else bot_message(message.id, reply)
    return answer
