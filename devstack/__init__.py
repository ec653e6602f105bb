"""A local, Appwrite-compatible stack for the chat-widget functions (development only)."""
