"""bot: the reference bot with a model. On each new visitor message it answers from an OpenAI-compatible chat API
when BOT_LLM_ENDPOINT is set (the FAQ, shared/chat_core/bot/faq.json, as its facts and its fallback), or from the
FAQ with BOT_INLINE off, and hands off to a human when it can't help or when asked. Without either, touch-session's
FAQ bot answered in the visitor's own write and this function ends on the row without a request.

Event  a new row in `messages` (only Appwrite runs it: execute []). It writes its reply itself, as the bot
       (chat_core.bot).
HTTP   nothing: a call that is not an event is answered 404.
"""

from chat_core.bot import faq, handler
from chat_core.edge.http import App

app = App("bot")


@app.on_event
def on_message(req):
    entries, problem = faq.shipped()
    if problem:
        req.core.log(f"bot: the FAQ is not usable, every question is handed off: {problem}")
    return handler.on_message(req.core, req.headers.get("x-appwrite-event", ""), req.json(), entries)


def main(context):
    return app.run(context)
