"""The server version the stack plays, and what Appwrite says to an SDK built for a newer one.

Appwrite 1.8.1 (``app/controllers/general.php``, the ``init`` hook of every API request): when the request's
``X-Appwrite-Response-Format`` is newer than the server (PHP ``version_compare($format, APP_VERSION_STABLE, '>')``),
the answer carries ``X-Appwrite-Warning: The current SDK is built for Appwrite <format>. However, the current
Appwrite server version is 1.8.1. Please downgrade your SDK ...``. The Python SDK prints each warning to stderr on
every call (``appwrite/client.py``), which lands in a function's logs. SDK 27.0.0 sends format 2.5.0; SDK 16.0.0
(the one this project pins) sends 1.8.0 and gets no warning.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

SERVER_VERSION = "1.8.1"


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def response_format_warning(headers: Mapping[str, str]) -> dict[str, str]:
    """The ``x-appwrite-warning`` header to add to an answer, if any (request header names lower-cased)."""
    requested = headers.get("x-appwrite-response-format", "")
    if not requested or _version(requested) <= _version(SERVER_VERSION):
        return {}
    return {"x-appwrite-warning": f"The current SDK is built for Appwrite {requested}. However, the current "
            f"Appwrite server version is {SERVER_VERSION}. Please downgrade your SDK to match the Appwrite version: "
            "https://appwrite.io/docs/sdks"}
