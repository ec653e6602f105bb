"""The FAQ bot's FAQ: entries of keywords and an answer, and the bot's fixed replies (`faq.json` beside this module,
shipped with the common package: touch-session answers from it in the visitor's own write, the `bot` function gives
it to a model as facts). A file that does not parse is a FaqError naming what is wrong."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, NamedTuple

from chat_core.domain.model import TEXT_MAX

MAX_ENTRIES, MAX_KEYWORD = 500, 100
FAQ_FILE = Path(__file__).with_name("faq.json")


DEFAULT_REPLIES = {
    "handoff": "I'll get a colleague for you. Please stay on this page: an agent will join this chat shortly.",
    "unknown": "I'm not sure I can answer that. Let me get a colleague who can help.",
    "waiting": "You're in the queue: an agent will join this chat as soon as one is free.",
}


class FaqError(ValueError):
    """The FAQ file is not what `Faq.parse` takes; the message says where."""


class FaqEntry(NamedTuple):
    """One FAQ answer and the keywords that call it."""

    keywords: tuple[str, ...]
    answer: str

    def score(self, text: str) -> int:
        """How well this entry fits: the characters of its keywords found in the text as whole words (a plural
        `s`/`es` allowed), so a longer, more specific keyword outweighs a short one such as "hi"."""
        return sum(len(k) for k in self.keywords if re.search(rf"(?<!\w){re.escape(k)}(?:s|es)?(?!\w)", text))


class Faq(NamedTuple):
    """The bot's FAQ: its entries, and its fixed replies (`handoff`, `unknown`, `waiting`)."""

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


_loaded: dict[Path, tuple[Faq, str | None]] = {}  # per warm instance


def shipped(path: Path = FAQ_FILE) -> tuple[Faq, str | None]:
    """The FAQ, loaded once per warm instance, or an empty one and the reason: a broken file must not leave visitors
    unanswered (they are handed to a person instead), and the caller says what is wrong in every execution's log."""
    if path not in _loaded:
        try:
            _loaded[path] = (Faq.load(path), None)
        except FaqError as exc:
            _loaded[path] = (Faq.parse({"entries": []}), str(exc))
    return _loaded[path]


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
