"""The reference bot's rules, on the message as stored and the session as read or as the admitting write decides it
(the `bot` function reads the message off its event's payload, which only Appwrite can send: handler.py):
- only a stored `user` message gets an answer: never the bot's own messages, an agent's or another bot's;
- only while the bot should reply (no agent holds the session, not closed);
- a visitor asking for a person (HANDOFF_PHRASES, the rule `escalate` applies) gets a handoff;
- otherwise the best FAQ answer; no answer: a handoff. While the visitor already waits for a person, only FAQ
  answers (no repeated "let me get a colleague");
- the reply's idempotency key is derived from the triggering message, so a duplicate delivery stores nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from chat_core.bot.faq import Faq
from chat_core.domain import rules
from chat_core.domain.inputs import NewMessage
from chat_core.domain.model import ACTIVE, Message, Session, reply_key


@dataclass(frozen=True)
class Reply:
    """What the bot says, and whether it hands the session to a person."""

    text: str
    handoff: bool = False


def quiet_reason(message: Message, session: Session) -> str | None:
    """Why the bot must not answer this message, or None."""
    if message.role != "user":
        return "not a visitor message"  # its own replies, other bots', agents', system notes
    if session.status != ACTIVE:  # the bot should not reply: an agent has it, or it is closed
        return "an agent has the session" if session.status != "closed" else "session closed"
    return None


def asks_for_person(message: Message | NewMessage, phrases: tuple[str, ...]) -> bool:
    return rules.escalation_reason(message.role, message.text, message.handoff, phrases) is not None


def decide(message: Message, session: Session, faq: Faq, phrases: tuple[str, ...]) -> Reply | None:
    """The FAQ bot's answer to a visitor message the bot may answer (see `quiet_reason`), or None to stay quiet."""
    # `escalate` runs on the same event and may have queued the session for this very message already: that is not
    # "waiting since before", so the answer does not depend on which of the two ran first.
    waiting = session.needs_human and session.escalated_by != f"message:{message.id}"
    if asks_for_person(message, phrases):
        return Reply(faq.replies["waiting"]) if waiting else Reply(faq.replies["handoff"], True)
    answer = faq.answer(message.text)
    if answer is not None:
        return Reply(answer)
    return None if waiting else Reply(faq.replies["unknown"], True)


def bot_message(message_id: str, reply: Reply) -> NewMessage:
    """The reply as the bot posts it: under its reply key, admitted only while no agent has the session."""
    text = reply.text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    return NewMessage(role="bot", text=text, client_id=reply_key(message_id), handoff=reply.handoff,
                      only_while_active=True)


@dataclass(frozen=True)
class Quiet:
    """The bot decided to say nothing, and why."""

    reason: str
