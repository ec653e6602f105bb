"""Shared core of the chat-widget functions.

Layers: `rules` (pure lifecycle, escalation and authorization decisions), `gateway`
(the only module that talks to Appwrite), `service` (operations that combine the two),
`http` (runtime context in, JSON answer out).
"""
