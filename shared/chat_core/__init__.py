"""Shared core of the chat-widget functions, in layers (docs/architecture.md; tests/test_layers.py holds them):

- `config`, `errors`, `jsonio`: the base every layer may import.
- `domain`: what the bundle means (the session, its rules, who may do what): pure, no Appwrite, HTTP or views.
- `infra`: the only code that talks to Appwrite, a repository per table.
- `core`: the context every operation takes.
- `ops`: one module per use case, over the domain and the gateway; `bot`: the reference bot.
- `edge`: the runtime's context in, JSON out: parsing, routes (`edge.api`, one module per function), views.
"""
