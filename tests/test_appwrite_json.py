"""appwrite.json in the shape the pinned CLI reads (the real proof is tests/test_deploy_local.py, which runs it).

Column types: the CLI 12 creates only `string` (plain, or `format` email/url/ip/enum), `integer`, `double`,
`boolean`, `datetime`, relationship and spatial types (`createAttribute` in lib/commands/push.js); anything else
throws "Unsupported attribute type". Newer CLIs also want `"default": null` on required columns.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = json.loads((ROOT / "appwrite.json").read_text())
FUNCTIONS = {f["$id"]: f for f in CONFIG["functions"]}
CLI_TYPES = {"string", "integer", "double", "boolean", "datetime"}


def test_the_file_is_in_the_clis_own_format():
    # `appwrite client --project-id` rewrites appwrite.json with JSONbig.stringify(data, null, 4) and no final
    # newline (lib/config.js, Config.write): kept in that form, the deploy leaves the file byte for byte as it was.
    text = (ROOT / "appwrite.json").read_text()
    assert text == json.dumps(json.loads(text), indent=4, ensure_ascii=False)


def test_every_function_declares_what_appwrite_needs():
    for fid, function in FUNCTIONS.items():
        assert function["runtime"] == "python-3.12"
        assert (ROOT / function["path"] / function["entrypoint"]).is_file(), fid
        for key in ("execute", "scopes", "events", "schedule", "timeout", "commands", "ignore"):
            assert key in function, (fid, key)
    assert FUNCTIONS["bot"]["events"] and FUNCTIONS["escalate"]["events"] == []
    assert FUNCTIONS["close-session"]["schedule"]
    assert FUNCTIONS["list-sessions"]["schedule"] == "* * * * *"  # the fold (chat_core.consistency)
    assert {t["$id"] for t in CONFIG["tables"]} == {"sessions", "messages", "counters", "agents", "jobs",
                                                        "limits", "audit", "replies", "signals"}
    # No table grants anything; only the signal and message rows grant read, each to its own readers
    # (docs/security.md, "Realtime: what a browser can receive").
    assert all(t["$permissions"] == [] for t in CONFIG["tables"])
    assert {t["$id"] for t in CONFIG["tables"] if t["rowSecurity"]} == {"signals", "messages"}
    assert "databases" not in CONFIG and "collections" not in CONFIG  # never mix with tablesDB


def test_columns_use_only_types_the_cli_can_create():
    for table in CONFIG["tables"]:
        for column in table["columns"]:
            assert column["type"] in CLI_TYPES, (table["$id"], column)
            if column.get("format") == "enum":
                assert column["type"] == "string" and column["elements"], column
            if column["required"]:
                assert "default" in column and column["default"] is None, column


# The functions that serve the front end import neither the SDK nor chat_core: each ships its own folder and the
# web/ folders it serves (web/shared/: the helpers both use), nothing else.
WEB_FUNCTIONS = {"widget": "widget", "agent-console": "console"}


def test_each_function_ships_only_itself_and_what_it_imports():
    # CLI 12: a function's `ignore` REPLACES .gitignore (lib/commands/functions.js, createDeployment), so the
    # rules allow-list instead of listing what to leave out.
    for fid, function in FUNCTIONS.items():
        ignore = function["ignore"]
        own = ["/*", "!/functions/", "/functions/*", f"!/functions/{fid}/"]
        if fid in WEB_FUNCTIONS:
            assert ignore[:8] == [*own, "!/web/", "/web/*", f"!/web/{WEB_FUNCTIONS[fid]}/", "!/web/shared/"], fid
            assert not any("shared/" in rule and "web" not in rule for rule in ignore), fid
        else:
            assert ignore[:5] == [*own, "!/shared/"], fid
            assert "*.egg-info/" in ignore and not any("web" in rule for rule in ignore), fid
        assert {"__pycache__/", ".env", ".env.*"} <= set(ignore)


def test_functions_install_the_sdk_built_for_the_server_line():
    pins = {re.search(r"appwrite==([\d.]+)", (ROOT / "functions" / fid / "requirements.txt").read_text()).group(1)
            for fid in FUNCTIONS if fid not in WEB_FUNCTIONS}
    shared = re.search(r"appwrite==([\d.]+)", (ROOT / "shared" / "pyproject.toml").read_text()).group(1)
    assert pins == {shared} == {"27.0.0"}
    assert all("--no-cache-dir" not in f["commands"] for f in FUNCTIONS.values())  # keep the build cache useful
    for fid in WEB_FUNCTIONS:  # nothing to install: no SDK, no shared package
        requirements = (ROOT / "functions" / fid / "requirements.txt").read_text().splitlines()
        assert [line for line in requirements if line.strip() and not line.startswith("#")] == [], fid
        assert FUNCTIONS[fid]["commands"] == f"pip install -r functions/{fid}/requirements.txt", fid


def row_width(table: dict) -> int:
    """The bytes MariaDB reserves for one row, as Appwrite estimates them before it creates a column (utopia-php/
    database src/Database/Adapter/SQL.php getAttributeWidth: 1,067 for the system columns; a string of more than
    16,381 characters is TEXT, stored off the row, 20 bytes; a shorter one VARCHAR, 4 bytes per character plus its
    length; an integer 8 (Appwrite makes it BIGINT past the 32-bit range), a datetime 7, a boolean 1). An enum is a
    string of 255."""
    total = 1067
    for column in table["columns"]:
        if column["type"] == "string":
            size = 255 if column.get("format") == "enum" else column["size"]
            total += 20 if size > 16381 else size * 4 + (2 if size > 255 else 1)
        else:
            total += {"integer": 8, "double": 8, "datetime": 7, "boolean": 1}[column["type"]]
    return total


def test_every_table_fits_mariadbs_row_width():
    # Past 65,535 bytes Appwrite refuses the next column (column_limit_exceeded): the sessions table holds the
    # largest strings (userMeta 4,096, theme 2,048, ratingComment 1,000); `transitions` is TEXT on purpose.
    widths = {table["$id"]: row_width(table) for table in CONFIG["tables"]}
    assert all(width < 65535 for width in widths.values()), widths
    transitions = next(c for t in CONFIG["tables"] if t["$id"] == "sessions" for c in t["columns"]
                       if c["key"] == "transitions")
    assert transitions["size"] > 16381
