"""`python -m tools.sessions_cli`: admins look at and act on chat sessions through the functions.

It talks to the functions only (Appwrite executions), never to the tables, so it works the same against
Appwrite and against the local stack (`make run`), which it targets with no configuration.
"""
