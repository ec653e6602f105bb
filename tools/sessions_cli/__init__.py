"""The `sessions` command (`make venv` installs it in .venv/bin): admins look at and act on chat sessions.

It talks to the functions only (Appwrite executions), never to the tables, so it works the same against
Appwrite and against the local stack (`make run`), which it targets with no configuration.
"""
