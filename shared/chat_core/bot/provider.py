"""The bot's model provider: a small interface (`Provider`), and the one this bundle ships, an OpenAI-compatible
chat API (`ChatApi`, BOT_LLM_ENDPOINT). A provider that fails raises ProviderError; the bot then answers from the
FAQ."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Protocol

from chat_core.bot.faq import Faq
from chat_core.bot.policy import Reply
from chat_core.domain.model import TEXT_MAX, Message

HANDOFF_MARKER = "HANDOFF"


PROMPT = (
    "You are the assistant in a website's support chat. Answer the visitor's last message briefly (at most three "
    "sentences, in the visitor's language) using only the facts below. If the facts do not answer it, or the "
    f"visitor wants a person, reply with {HANDOFF_MARKER} followed by one short sentence saying a colleague will "
    "join.\n\nFacts:\n"
)


class Provider(Protocol):
    """A model that writes the bot's reply: given the FAQ (as facts) and the conversation up to the visitor's message
    (oldest first, at most `history` messages), a Reply; ProviderError when it cannot."""

    history: int

    def reply(self, faq: Faq, conversation: list[Message]) -> Reply: ...


class LlmError(Exception):
    """The chat API failed or answered something unusable; the message never holds the key."""


ProviderError = LlmError


@dataclass(frozen=True)
class LlmSettings:
    """The optional model behind the bot (`BOT_LLM_*` variables); disabled without an endpoint."""

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


class ChatApi:
    """An OpenAI-compatible chat-completions API as the bot's provider (BOT_LLM_ENDPOINT and friends)."""

    def __init__(self, settings: LlmSettings) -> None:
        self.settings = settings
        self.history = settings.history

    def reply(self, faq: Faq, conversation: list[Message]) -> Reply:
        return ask_llm(self.settings, faq, conversation)


def from_env(env: dict[str, str] | None = None) -> Provider | None:
    """The provider the function's variables configure, or None (the FAQ answers)."""
    settings = LlmSettings.from_env(env)
    return ChatApi(settings) if settings.enabled else None
