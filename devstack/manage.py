"""Appwrite's management REST routes that ``appwrite push tables`` and ``appwrite push functions`` call.

The requests and the answers the CLI reads were taken from npm ``appwrite-cli`` 12.0.1 (``lib/commands/push.js``,
``tables-db.js``, ``databases.js``, ``functions.js``, ``proxy.js``); routes, parameters, scopes and models from
Appwrite's own API description for 1.8.1 (``open-api3-1.8.1-server.json``) and its sources
(``src/Appwrite/Platform/Modules/{Databases,Functions,Proxy}``, error names in ``app/config/errors.php``).

Only what a push of this project calls (logged from CLI 12.0.1 pushing appwrite.json to a blank stack), what
``tools/deploy.py`` reads back, and what the tests use to set a project up:

- TablesDB databases and tables: create, get, list, update (the CLI updates a table whose settings changed).
- Columns and indexes through the LEGACY ``/databases/{db}/collections/{table}/attributes|indexes`` routes, the only
  ones CLI 12 calls, with their error names (``attribute_*``, ``collection_*``): columns create, list, update;
  indexes create, list. The CLI polls the lists until each ``status`` is ``available``. Column types: those
  appwrite.json declares (string, enum, integer, boolean, datetime), no arrays; index types key and unique.
- Functions: create, get, update; a variable's create (the tests and docs/deploy.md set variables with SDK 27's
  ``create_variable``; CLI 12's ``--with-variables`` fails on the supported line); deployments: create (multipart
  upload, chunked with ``content-range`` + ``x-appwrite-id`` when over 5 MB; ``activate`` makes a ready build the
  active one), get, download. Builds run in ``devstack.builds``.
- ``GET /proxy/rules``: the CLI lists a function's rules after a deploy; a project pushed with an API key has none
  (creating one needs a console session, which the CLI 12 asks for and an API key cannot give).

The routes live in ``devstack.manage_tables`` (TablesDB) and ``devstack.manage_functions`` (Functions,
deployments, variables, proxy rules); the request and its parameter checks in ``devstack.manage_params``.

Not served (404 ``general_route_not_found``): deletes, the TablesDB ``/columns`` and ``/indexes`` spellings, single
column or index reads, function and deployment lists, activating a deployment by hand, reading, changing or deleting
variables; other column types (float, email, url, ip, relationship, spatial, text), fulltext indexes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote

from .engine import EngineError
from .manage_functions import FunctionsApi
from .manage_params import Handler, Request, Response, _error, _parse_body
from .manage_tables import TablesApi
from .project import ProjectState

log = logging.getLogger("devstack.manage")


class ManagementApi(TablesApi, FunctionsApi):
    """Serves the routes above; ``handle`` returns None for any other path (the row API takes those)."""

    def __init__(self, state: ProjectState, deployments: Any, keys: Any, project: str) -> None:
        self.state = state
        self.deployments = deployments  # devstack.builds.Deployments
        self.keys = keys
        self.project = project

    # ---- entry

    def handle(self, method: str, path: str, query_string: str, headers: Mapping[str, str],
               body: bytes) -> Response | None:
        segments = [unquote(s) for s in path.partition("?")[0][len("/v1"):].split("/") if s]
        route = self._route(method.upper(), segments)
        if route is None:
            return None
        handler, scopes = route
        lower = {k.lower(): v for k, v in headers.items()}
        try:
            self._authorize(lower, scopes)
            params, files = _parse_body(method.upper(), lower, body)
            request = Request(method.upper(), segments, parse_qsl(query_string, keep_blank_values=True), lower,
                              params, files)
            return handler(request)
        except EngineError as exc:
            return _error(exc.code, exc.type, exc.message)
        except Exception:
            log.exception("unexpected error serving %s %s", method, path)
            return _error(500, "general_unknown", "Server Error")

    def _authorize(self, headers: dict[str, str], scopes: tuple[str, ...]) -> None:
        project, key = headers.get("x-appwrite-project", ""), headers.get("x-appwrite-key")
        if project != self.project:
            raise EngineError(404, "project_not_found", "Project with the requested ID could not be found.")
        if not any(self.keys.check(key, scope) for scope in scopes):
            raise EngineError(401, "general_unauthorized_scope",
                              f"User (role: guests) missing scopes ([\"{scopes[0]}\"])")

    def _route(self, method: str, s: list[str]) -> tuple[Handler, tuple[str, ...]] | None:
        n = len(s)
        if s[:1] == ["tablesdb"] and n <= 4 and s[1:2] != ["transactions"] and (n < 3 or s[2] == "tables"):
            return self._tablesdb_route(method, n)
        if s[:1] == ["databases"] and n >= 5 and s[2] == "collections":
            return self._attribute_route(method, s[4], s[5:])
        if s[:1] == ["functions"] and s[2:3] != ["executions"]:
            return self._functions_route(method, s)
        if s == ["proxy", "rules"] and method == "GET":
            return self._list_rules, ("rules.read",)
        return None

    def _tablesdb_route(self, method: str, n: int) -> tuple[Handler, tuple[str, ...]] | None:
        read, write = ("tables.read", "collections.read"), ("tables.write", "collections.write")
        table: dict[tuple[int, str], tuple[Handler, tuple[str, ...]]] = {
            (1, "GET"): (self._list_databases, ("databases.read",)),
            (1, "POST"): (self._create_database, ("databases.write",)),
            (2, "GET"): (self._get_database, ("databases.read",)),
            (2, "PUT"): (self._update_database, ("databases.write",)),
            (3, "GET"): (self._list_tables, read),
            (3, "POST"): (self._create_table, write),
            (4, "GET"): (self._get_table, read),
            (4, "PUT"): (self._update_table, write),
        }
        return table.get((n, method))

    def _attribute_route(self, method: str, kind: str, rest: list[str]) -> tuple[Handler, tuple[str, ...]] | None:
        """Columns and indexes through the legacy Databases routes, the ones CLI 12's `push tables` calls."""
        read, write = ("collections.read",), ("collections.write",)
        if kind == "attributes":
            if not rest and method == "GET":
                return self._list_columns, read
            if len(rest) == 1 and method == "POST":
                return (lambda r: self._create_column(r, rest[0])), write
            if len(rest) == 2 and method == "PATCH":
                return (lambda r: self._update_column(r, rest[0], rest[1])), write
        if kind == "indexes" and not rest:
            return {"GET": (self._list_indexes, read), "POST": (self._create_index, write)}.get(method)
        return None

    def _functions_route(self, method: str, s: list[str]) -> tuple[Handler, tuple[str, ...]] | None:
        read, write = ("functions.read",), ("functions.write",)
        routes: dict[tuple[str, ...], dict[str, tuple[Handler, tuple[str, ...]]]] = {
            (): {"POST": (self._create_function, write)},
            ("*",): {"GET": (self._get_function, read), "PUT": (self._update_function, write)},
            ("*", "deployments"): {"POST": (self._create_deployment, write)},
            ("*", "deployments", "*"): {"GET": (self._get_deployment, read)},
            ("*", "deployments", "*", "download"): {"GET": (self._download, read)},
            ("*", "variables"): {"POST": (self._create_variable, write)},
        }
        shape = tuple("*" if i % 2 == 0 else part for i, part in enumerate(s[1:]))
        return routes.get(shape, {}).get(method)
