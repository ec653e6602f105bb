"""bot: the reference bot. On each new visitor message it answers from faq.json (beside this file), or from an
OpenAI-compatible chat API when BOT_LLM_ENDPOINT is set, and hands off to a human when it can't help or when asked.

Event  a new row in `messages` (only Appwrite runs it: execute []). It writes its reply itself, as the bot
       (chat_core.bot).
HTTP   nothing: a call that is not an event is answered 404.
"""

from pathlib import Path

from chat_core.bot import handler
from chat_core.bot.faq import Faq, FaqError
from chat_core.edge.http import App

app = App("bot")
FAQ_FILE = Path(__file__).with_name("faq.json")
_faq: list[tuple[Faq, str | None]] = []  # loaded once per warm instance


def faq() -> tuple[Faq, str | None]:
    """The FAQ, or an empty one and the reason: a broken file must not leave visitors unanswered (they are handed
    to a person instead), and says what is wrong in every execution's log."""
    if not _faq:
        try:
            _faq.append((Faq.load(FAQ_FILE), None))
        except FaqError as exc:
            _faq.append((Faq.parse({"entries": []}), str(exc)))
    return _faq[0]


@app.on_event
def on_message(req):
    entries, problem = faq()
    if problem:
        req.core.log(f"bot: the FAQ is not usable, every question is handed off: {problem}")
    return handler.on_message(req.core, req.headers.get("x-appwrite-event", ""), req.json(), entries)


def main(context):
    return app.run(context)
