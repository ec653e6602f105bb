"""The server version the stack plays, and what Appwrite says to an SDK built for a newer one.

The stack plays the supported line (docs/platform.md): Appwrite 2.7.1, the self-hosted release current in November
2026. appwrite/appwrite `app/controllers/general.php` (1.9.6 line; the `init` hook of every API request): when the
request's `X-Appwrite-Response-Format` is newer than the server (PHP `version_compare($format, APP_VERSION_STABLE,
'>')`), the answer carries `X-Appwrite-Warning: The current SDK is built for Appwrite <format>. However, the current
Appwrite server version is <version>. Please downgrade your SDK ...`. The Python SDK prints each warning to stderr on
every call (`appwrite/client.py`), which lands in a function's logs. SDK 27.0.0, the one every function pins, sends
format 2.5.0 and gets no warning from a 2.7.1 server; an SDK built for a newer line than the server is warned.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

SERVER_VERSION = "2.7.1"  # the self-hosted release current in November 2026 (the supported line: docs/platform.md)


def version_tuple(text: str) -> tuple[int, ...]:
    """`1.8.0` -> (1, 8, 0), for comparing versions as PHP's `version_compare` does on plain releases."""
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def response_format_warning(headers: Mapping[str, str]) -> dict[str, str]:
    """The ``x-appwrite-warning`` header to add to an answer, if any (request header names lower-cased)."""
    requested = headers.get("x-appwrite-response-format", "")
    if not requested or version_tuple(requested) <= version_tuple(SERVER_VERSION):
        return {}
    return {"x-appwrite-warning": f"The current SDK is built for Appwrite {requested}. However, the current "
            f"Appwrite server version is {SERVER_VERSION}. Please downgrade your SDK to match the Appwrite version: "
            "https://appwrite.io/docs/sdks"}
