"""The Node system's collections (Aamirgheewale/ai-support `apps/api` at 920d408), as data, made on our stand-in through
its management routes so that the system we replace can run against the same stand-in as ours (bench/story.py).

Read from their documents at that commit, not from their code: `SETUP_APPWRITE_CHATS.md` (sessions),
`FIX_COLLECTION_ATTRIBUTES.md` (messages: `createdAt`, not `timestamp`, which their code never writes),
`FIX_COLLECTION_SCHEMA.md` (sessions' `createdAt`), `WHAT_IS_IN_SESSIONS.md` and `AGENT_ROUTING_FIX.md`
(`startTime`, `assignedAgent`, `aiPaused`: with them a takeover is one write; without, their code writes, meets 400,
and writes again), `migrate_create_ai_accuracy_collection.js` (its attribute list: `ai_accuracy`, one row per bot
reply). No indexes: their documents declare none. `users`, `roleChanges` and `accuracy_audit` are not made: the
story never reaches them (their dev-mode admin token and socket events do not read users).
"""

from __future__ import annotations

import time

import requests

DATABASE = "node"  # APPWRITE_DATABASE_ID
SESSIONS, MESSAGES = "sessions", "messages"  # APPWRITE_SESSIONS_COLLECTION_ID, APPWRITE_MESSAGES_COLLECTION_ID

# (key, type, extra attributes of the create request)
COLLECTIONS: dict[str, list[tuple[str, str, dict]]] = {
    SESSIONS: [
        ("sessionId", "string", {"size": 255, "required": True}),
        ("status", "string", {"size": 50, "required": True}),
        ("lastSeen", "datetime", {"required": False}),
        ("startTime", "datetime", {"required": False}),
        ("createdAt", "datetime", {"required": False}),
        ("userMeta", "string", {"size": 1000, "required": False}),
        ("theme", "string", {"size": 2000, "required": False}),
        ("needsHuman", "boolean", {"required": False, "default": False}),
        ("assignedAgent", "string", {"size": 255, "required": False}),
        ("aiPaused", "boolean", {"required": False}),
    ],
    MESSAGES: [
        ("sessionId", "string", {"size": 255, "required": True}),
        ("sender", "string", {"size": 50, "required": True}),
        ("text", "string", {"size": 10000, "required": True}),
        ("createdAt", "datetime", {"required": True}),
        ("metadata", "string", {"size": 2000, "required": False}),
        ("confidence", "float", {"required": False}),
    ],
    "ai_accuracy": [
        ("messageId", "string", {"size": 255, "required": False}),
        ("sessionId", "string", {"size": 255, "required": True}),
        ("aiText", "string", {"size": 10000, "required": False}),
        ("confidence", "float", {"required": False, "min": 0, "max": 1}),
        ("tokens", "integer", {"required": False}),
        ("latencyMs", "integer", {"required": False}),
        ("responseType", "string", {"size": 50, "required": False}),
        ("humanMark", "string", {"size": 50, "required": False}),
        ("evaluation", "string", {"size": 5000, "required": False}),
        ("createdAt", "datetime", {"required": True}),
        ("metadata", "string", {"size": 10000, "required": False}),
    ],
}


def create(endpoint: str, project: str, key: str, timeout: float = 30) -> None:
    """Make the database, the collections and their attributes (as an admin would in the console, or their
    migration script), then wait until every attribute is `available`."""
    headers = {"x-appwrite-project": project, "x-appwrite-key": key, "content-type": "application/json"}

    def post(path: str, body: dict) -> None:
        answer = requests.post(f"{endpoint}{path}", json=body, headers=headers, timeout=timeout)
        if answer.status_code not in (200, 201, 202):
            raise RuntimeError(f"POST {path}: {answer.status_code} {answer.text[:300]}")

    post("/tablesdb", {"databaseId": DATABASE, "name": "ai-support (Node system)"})
    for collection, attributes in COLLECTIONS.items():
        post(f"/tablesdb/{DATABASE}/tables", {"tableId": collection, "name": collection})
        for key_, type_, extra in attributes:
            post(f"/databases/{DATABASE}/collections/{collection}/attributes/{type_}", {"key": key_, **extra})
    deadline = time.monotonic() + timeout
    for collection in COLLECTIONS:
        while True:
            listed = requests.get(f"{endpoint}/databases/{DATABASE}/collections/{collection}/attributes",
                                  headers=headers, timeout=timeout).json()
            if all(a["status"] == "available" for a in listed["attributes"]):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{collection}'s attributes are not available")
            time.sleep(0.05)
