"""The reference bot: answers a visitor from a FAQ (or an OpenAI-compatible chat API) and hands off to a human.

It runs on the `messages` create event, like `escalate`, and is a client of the functions like any other bot: it
replies through a synchronous `touch-session` execution with `X-Chat-Secret: BOT_SECRET` (README "Requests and
answers"), so its replies pass the same checks, counts and events as an external bot's. Its key can read rows and
create executions (`rows.read`, `execution.write`: Appwrite app/config/scopes.php), and write nothing itself.

Rules (`decide`), each on the rows as stored, never on the event's payload (callers can forge events):
- only a stored `user` message gets an answer: never the bot's own messages, an agent's or another bot's;
- only while `botShouldReply` (no agent holds the session, not closed);
- a visitor asking for a person (HANDOFF_PHRASES, the rule `escalate` applies) gets a handoff;
- otherwise the best FAQ answer; no answer: a handoff. While the visitor already waits for a person, only FAQ
  answers (no repeated "let me get a colleague");
- the reply's idempotency key is derived from the triggering message, so a duplicate delivery stores nothing twice.
With BOT_LLM_ENDPOINT set, the model answers instead of the FAQ (which it gets as facts); when it fails, the FAQ.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chat_core.core import Core
from chat_core.domain import rules
from chat_core.domain.model import Message, Session
from chat_core.edge.validation import CLIENT_ID_PATTERN, TEXT_MAX
from chat_core.edge.views import owner_view
from chat_core.errors import NotFound, Unauthorized, UpstreamRejected, UpstreamUnavailable
from chat_core.ops import service

TOUCH_FUNCTION = "touch-session"
REPLY_PREFIX = "re-"
MAX_ENTRIES, MAX_KEYWORD = 500, 100
DEFAULT_REPLIES = {
    "handoff": "I'll get a colleague for you. Please stay on this page: an agent will join this chat shortly.",
    "unknown": "I'm not sure I can answer that. Let me get a colleague who can help.",
    "waiting": "You're in the queue: an agent will join this chat as soon as one is free.",
}


class FaqError(ValueError):
    """The FAQ file is not what `Faq.parse` takes; the message says where."""


# --- the FAQ --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FaqEntry:
    keywords: tuple[str, ...]
    answer: str

    def score(self, text: str) -> int:
        """How well this entry fits: the characters of its keywords found in the text as whole words (a plural
        `s`/`es` allowed), so a longer, more specific keyword outweighs a short one such as "hi"."""
        return sum(len(k) for k in self.keywords if re.search(rf"(?<!\w){re.escape(k)}(?:s|es)?(?!\w)", text))


@dataclass(frozen=True)
class Faq:
    entries: tuple[FaqEntry, ...]
    replies: dict[str, str]

    @classmethod
    def parse(cls, data: Any) -> Faq:
        """`{"entries": [{"keywords": [...], "answer": "..."}], "replies": {"handoff", "unknown", "waiting"}}`."""
        if not isinstance(data, dict) or set(data) - {"entries", "replies"}:
            raise FaqError("the FAQ must be an object with 'entries' and optionally 'replies'")
        entries = data.get("entries")
        if not isinstance(entries, list) or len(entries) > MAX_ENTRIES:
            raise FaqError(f"'entries' must be a list of at most {MAX_ENTRIES}")
        parsed = tuple(_entry(i, entry) for i, entry in enumerate(entries))
        replies = data.get("replies", {})
        if not isinstance(replies, dict) or set(replies) - set(DEFAULT_REPLIES):
            raise FaqError(f"'replies' may only hold {', '.join(DEFAULT_REPLIES)}")
        for name, text in replies.items():
            _text(text, f"replies.{name}")
        return cls(parsed, {**DEFAULT_REPLIES, **replies})

    @classmethod
    def load(cls, path: Path) -> Faq:
        try:
            return cls.parse(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise FaqError(f"{path.name}: {exc}") from None
        except FaqError as exc:
            raise FaqError(f"{path.name}: {exc}") from None

    def answer(self, text: str) -> str | None:
        """The answer of the best-fitting entry (the first of equals), or None."""
        lowered = text.lower()
        best, best_score = None, 0
        for entry in self.entries:
            score = entry.score(lowered)
            if score > best_score:
                best, best_score = entry, score
        return best.answer if best else None


def _entry(index: int, entry: Any) -> FaqEntry:
    where = f"entries[{index}]"
    if not isinstance(entry, dict) or set(entry) != {"keywords", "answer"}:
        raise FaqError(f"{where} must have exactly 'keywords' and 'answer'")
    keywords = entry["keywords"]
    if not isinstance(keywords, list) or not keywords:
        raise FaqError(f"{where}.keywords must be a non-empty list")
    for keyword in keywords:
        if not isinstance(keyword, str) or not 0 < len(keyword.strip()) <= MAX_KEYWORD:
            raise FaqError(f"{where}.keywords must be strings of 1 to {MAX_KEYWORD} characters")
    return FaqEntry(tuple(k.strip().lower() for k in keywords), _text(entry["answer"], f"{where}.answer"))


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not 0 < len(value.strip()) <= TEXT_MAX:
        raise FaqError(f"{where} must be a string of 1 to {TEXT_MAX} characters")
    return value.strip()


# --- the rules ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Reply:
    text: str
    handoff: bool = False


def quiet_reason(message: Message, session: Session) -> str | None:
    """Why the bot must not answer this message, or None."""
    if message.role != "user":
        return "not a visitor message"  # its own replies, other bots', agents', system notes
    if not owner_view(session)["botShouldReply"]:
        return "an agent has the session" if session.status != "closed" else "session closed"
    return None


def asks_for_person(message: Message, phrases: tuple[str, ...]) -> bool:
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


def reply_key(message_id: str) -> str:
    """The reply's idempotency key (`message.id`): one per triggering message, so a redelivered event or a
    retried reply is stored once."""
    key = REPLY_PREFIX + message_id
    if CLIENT_ID_PATTERN.fullmatch(key):
        return key
    return REPLY_PREFIX + hashlib.sha256(message_id.encode()).hexdigest()[:40]


# --- an OpenAI-compatible chat API ----------------------------------------------------------------

HANDOFF_MARKER = "HANDOFF"
PROMPT = (
    "You are the assistant in a website's support chat. Answer the visitor's last message briefly (at most three "
    "sentences, in the visitor's language) using only the facts below. If the facts do not answer it, or the "
    f"visitor wants a person, reply with {HANDOFF_MARKER} followed by one short sentence saying a colleague will "
    "join.\n\nFacts:\n"
)


class LlmError(Exception):
    """The chat API failed or answered something unusable; the message never holds the key."""


@dataclass(frozen=True)
class LlmSettings:
    endpoint: str = ""
    key: str = ""
    model: str = "gpt-4o-mini"
    timeout_seconds: float = 12.0
    history: int = 12

    @property
    def enabled(self) -> bool:
        return bool(self.endpoint)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> LlmSettings:
        env = os.environ if env is None else env
        return cls(endpoint=env.get("BOT_LLM_ENDPOINT", "").strip().rstrip("/"),
                   key=env.get("BOT_LLM_API_KEY", "").strip(),
                   model=env.get("BOT_LLM_MODEL", "").strip() or cls.model,
                   timeout_seconds=float(_bounded(env.get("BOT_LLM_TIMEOUT_SECONDS"), 12, 1, 25)),
                   history=_bounded(env.get("BOT_LLM_HISTORY"), 12, 1, 50))


def _bounded(raw: str | None, default: int, low: int, high: int) -> int:
    try:
        return min(high, max(low, int(raw))) if raw else default
    except ValueError:
        return default


def completion_request(settings: LlmSettings, faq: Faq, history: list[Message]) -> dict:
    """The chat-completions body: the FAQ as facts, then the conversation (visitor = user, bot/agent = assistant)."""
    facts = "\n".join(f"- {entry.answer}" for entry in faq.entries) or "- (none)"
    turns = [{"role": "user" if m.role == "user" else "assistant", "content": m.text}
             for m in history if m.role in ("user", "bot", "agent")]
    return {"model": settings.model, "messages": [{"role": "system", "content": PROMPT + facts}, *turns],
            "temperature": 0.2, "max_tokens": 400}


def parse_completion(data: Any, faq: Faq) -> Reply:
    """The reply in a chat-completions answer; a leading HANDOFF marker asks for a person."""
    try:
        content = data["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise LlmError("the answer has no choices[0].message.content") from None
    if not isinstance(content, str) or not content.strip():
        raise LlmError("the answer's content is empty")
    text = content.strip()
    if text.upper().startswith(HANDOFF_MARKER):
        rest = text[len(HANDOFF_MARKER):].lstrip(" :-\u2013\u2014\n").strip()
        return Reply((rest or faq.replies["handoff"])[:TEXT_MAX], True)
    return Reply(text[:TEXT_MAX])


def ask_llm(settings: LlmSettings, faq: Faq, history: list[Message]) -> Reply:
    import requests

    url = settings.endpoint if settings.endpoint.endswith("/chat/completions") else \
        settings.endpoint + "/chat/completions"
    headers = {"content-type": "application/json"}
    if settings.key:
        headers["authorization"] = f"Bearer {settings.key}"
    try:
        answer = requests.post(url, json=completion_request(settings, faq, history), headers=headers,
                               timeout=settings.timeout_seconds, allow_redirects=False)
    except requests.RequestException as exc:
        raise LlmError(f"the chat API is unreachable ({type(exc).__name__})") from None
    if answer.status_code != 200:
        raise LlmError(f"the chat API answered {answer.status_code}")
    try:
        return parse_completion(answer.json(), faq)
    except ValueError:
        raise LlmError("the chat API's answer is not JSON") from None


# --- the event handler ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Quiet:
    """The bot decided to say nothing, and why."""

    reason: str


def on_message(core: Core, event: str, payload: Any, faq: Faq, *,
               llm: LlmSettings | None = None) -> dict:
    """A `messages` row was created: answer it if the rules say so. The answer says what was done."""
    if not core.settings.bot_secret:  # checked first: without it the bot cannot reply, so it reads nothing
        core.log("bot: BOT_SECRET is not set, so the bot cannot reply; set it on this function and touch-session")
        return {"ignored": "no_bot_secret"}
    message = service.event_message(core, event, payload)  # the stored row, re-read by $id: escalate's rule
    if message is None:
        return {"ignored": "not a new chat message"}
    if message.role != "user":
        return {"ignored": "not a visitor message"}  # the bot's own replies end here, after one read
    try:
        session = service.load(core, message.session_id)
    except NotFound:
        core.log(f"bot: session {message.session_id} not found")
        return {"ignored": "session_not_found"}
    if reason := quiet_reason(message, session):
        return {"ignored": reason, "sessionId": session.id}
    llm = llm or LlmSettings.from_env()
    if llm.enabled and not asks_for_person(message, core.settings.handoff_phrases):
        outcome = _llm_reply(core, llm, faq, message, session)
    else:
        outcome = decide(message, session, faq, core.settings.handoff_phrases) or \
            Quiet("nothing to add while the visitor waits")
    if isinstance(outcome, Quiet):
        return {"ignored": outcome.reason, "sessionId": session.id}
    return _post(core, session.id, message.id, outcome)


def _llm_reply(core: Core, llm: LlmSettings, faq: Faq, message: Message, session: Session) -> Reply | Quiet:
    history = core.gateway.messages.latest(session.id, llm.history + 10)
    if any(m.role == "bot" and m.client_message_id == reply_key(message.id) for m in history):
        return Quiet("already answered")  # a duplicate delivery: the model is not asked (or paid) twice
    # The conversation up to the message being answered (a later message gets its own event and answer).
    earlier = [m for m in reversed(history) if m.created_at <= message.created_at][-llm.history:]
    try:
        reply = ask_llm(llm, faq, earlier)
    except LlmError as exc:
        core.log(f"bot: {exc}; answering from the FAQ")
        return decide(message, session, faq, core.settings.handoff_phrases) or Quiet("nothing to add")
    # The model took its time: an agent may have claimed the session meanwhile.
    if reason := quiet_reason(message, service.load(core, session.id)):
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
