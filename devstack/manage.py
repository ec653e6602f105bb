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

Not served (404 ``general_route_not_found``): deletes, the TablesDB ``/columns`` and ``/indexes`` spellings, single
column or index reads, function and deployment lists, activating a deployment by hand, reading, changing or deleting
variables; other column types (float, email, url, ip, relationship, spatial, text), fulltext indexes.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote

from . import params
from .engine import EngineError
from .project import (
    INDEX_TYPES,
    KEY_PATTERN,
    ProjectState,
    attribute_view,
    check_id,
    column_model,
    index_model,
    stamp,
    table_column_view,
)
from .schema import FLOAT_MAX
from .versions import SERVER_VERSION

log = logging.getLogger("devstack.manage")

VERSION = SERVER_VERSION  # the one version the stack plays (devstack/versions.py)
Response = tuple[int, dict[str, str], bytes]
_QUERY_KEY = re.compile(r"^queries\[(\d*)\]$")
# What appwrite.json declares (devstack/schema.py), and `float` (stored as type `double`: Attributes/Float/Create.php)
COLUMN_TYPES = ("string", "integer", "boolean", "datetime", "enum", "float")
RUNTIMES = ("python-3.8", "python-3.9", "python-3.10", "python-3.11", "python-3.12")  # self-hosted 1.8 tops at 3.12
SPECIFICATIONS = ("s-0.5vcpu-512mb", "s-1vcpu-512mb", "s-1vcpu-1gb", "s-2vcpu-2gb", "s-2vcpu-4gb", "s-4vcpu-4gb",
                  "s-4vcpu-8gb", "s-8vcpu-4gb", "s-8vcpu-8gb")  # app/config/specifications.php (1.8.1)
SPECIFICATION_DEFAULT = "s-1vcpu-512mb"  # APP_COMPUTE_SPECIFICATION_DEFAULT
LIMIT_DEFAULT = 25
FUNCTION_TIMEOUT_MAX = 900  # _APP_FUNCTIONS_TIMEOUT default


class Request:
    """One parsed management request: path segments, query list, JSON or multipart params."""

    def __init__(self, method: str, segments: list[str], query: list[tuple[str, str]], headers: dict[str, str],
                 params: dict[str, Any], files: dict[str, tuple[str, bytes]]) -> None:
        self.method, self.segments, self.query, self.headers = method, segments, query, headers
        self.params, self.files = params, files

    def param(self, name: str, default: Any = None) -> Any:
        for key, value in self.query:
            if key == name:
                return value
        return self.params.get(name, default)

    def queries(self) -> list[dict[str, Any]]:
        raw = [(int(m.group(1)) if m.group(1) else i, v) for i, (k, v) in enumerate(self.query)
               if (m := _QUERY_KEY.match(k))] or list(enumerate(self.params.get("queries") or []))
        parsed = []
        for _, text in sorted(raw):
            try:
                query = json.loads(text) if isinstance(text, str) else text
            except ValueError:
                raise EngineError(400, "general_query_invalid", f"Invalid query: {text}") from None
            if not isinstance(query, dict) or "method" not in query:
                raise EngineError(400, "general_query_invalid", f"Invalid query: {text}")
            parsed.append(query)
        return parsed


Handler = Callable[[Request], Response]


class ManagementApi:
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

    # ---- databases

    def _database(self, r: Request) -> dict[str, Any]:
        database = self.state.get("databases", r.segments[1])
        if database is None:
            raise EngineError(404, "database_not_found", "Database not found")
        return database

    def _list_databases(self, r: Request) -> Response:
        return _json(200, _page(self.state.values("databases"), r.queries(), "databases"))

    def _create_database(self, r: Request) -> Response:
        database_id = check_id(_required(r, "databaseId"), "databaseId")
        name = _text(_required(r, "name"), "name", 128)
        if self.state.get("databases", database_id) is not None:
            raise EngineError(409, "database_already_exists", "Database already exists")
        created = stamp()
        database = {"$id": database_id, "name": name, "$createdAt": created, "$updatedAt": created,
                    "enabled": _bool(r.param("enabled", True), "enabled"), "type": "tablesdb"}
        self.state.put("databases", database_id, database)
        self.state.refresh_schema()
        return _json(201, database)

    def _get_database(self, r: Request) -> Response:
        return _json(200, self._database(r))

    def _update_database(self, r: Request) -> Response:
        self._database(r)
        name = _text(_required(r, "name"), "name", 128)
        enabled = _bool(r.param("enabled", True), "enabled")

        def change(item: dict[str, Any]) -> None:
            item.update(name=name, enabled=enabled, **{"$updatedAt": stamp()})
        return _json(200, self.state.update("databases", r.segments[1], change))

    # ---- tables

    def _table_key(self, r: Request, legacy: bool = False) -> str:
        self._database(r)
        key = f"{r.segments[1]}/{r.segments[3]}"
        if self.state.get("tables", key) is None:
            if legacy:
                raise EngineError(404, "collection_not_found", "Collection with the requested ID could not be found.")
            raise EngineError(404, "table_not_found", "Table with the requested ID could not be found.")
        return key

    def _table_view(self, table: dict[str, Any]) -> dict[str, Any]:
        return {**table, "columns": [table_column_view(c) for c in table["columns"]],
                "bytesMax": 65535, "bytesUsed": 0}

    def _list_tables(self, r: Request) -> Response:
        self._database(r)
        tables = [self._table_view(t) for t in self.state.values("tables") if t["databaseId"] == r.segments[1]]
        return _json(200, _page(tables, r.queries(), "tables"))

    def _create_table(self, r: Request) -> Response:
        self._database(r)
        table_id = check_id(_required(r, "tableId"), "tableId")
        key = f"{r.segments[1]}/{table_id}"
        if self.state.get("tables", key) is not None:
            raise EngineError(409, "table_already_exists", "Table with the requested ID already exists.")
        created = stamp()
        table = {"$id": table_id, "$createdAt": created, "$updatedAt": created,
                 "$permissions": _permissions(r.param("permissions", [])), "databaseId": r.segments[1],
                 "name": _text(_required(r, "name"), "name", 128),
                 "enabled": _bool(r.param("enabled", True), "enabled"),
                 "rowSecurity": _bool(r.param("rowSecurity", False), "rowSecurity"), "columns": [], "indexes": []}
        self.state.put("tables", key, table)
        self.state.refresh_schema()
        return _json(201, self._table_view(table))

    def _get_table(self, r: Request) -> Response:
        return _json(200, self._table_view(self.state.get("tables", self._table_key(r)) or {}))

    def _update_table(self, r: Request) -> Response:
        key = self._table_key(r)
        name = _text(_required(r, "name"), "name", 128)
        permissions = r.param("permissions")
        row_security = _bool(r.param("rowSecurity", False), "rowSecurity")
        enabled = _bool(r.param("enabled", True), "enabled")
        checked = _permissions(permissions) if permissions is not None else None

        def change(item: dict[str, Any]) -> None:
            item.update(name=name, rowSecurity=row_security, enabled=enabled, **{"$updatedAt": stamp()})
            if checked is not None:
                item["$permissions"] = checked
        table = self.state.update("tables", key, change)
        self.state.refresh_schema()
        return _json(200, self._table_view(table))

    # ---- columns (attributes)

    def _list_columns(self, r: Request) -> Response:
        table = self.state.get("tables", self._table_key(r, legacy=True)) or {}
        views = [attribute_view(c) for c in table["columns"]]
        return _json(200, _page(views, r.queries(), "attributes"))

    def _find_column(self, r: Request, key: str) -> tuple[str, dict[str, Any]]:
        table_key = self._table_key(r, legacy=True)
        for column in (self.state.get("tables", table_key) or {})["columns"]:
            if column["key"] == key:
                return table_key, column
        raise EngineError(404, "attribute_not_found", "Attribute with the requested key could not be found.")

    def _create_column(self, r: Request, type_: str) -> Response:
        kind = "attribute"
        table_key = self._table_key(r, legacy=True)
        if type_ not in COLUMN_TYPES:
            raise EngineError(400, "general_argument_invalid",
                              f"The local stack does not serve {type_} {kind}s (only {', '.join(COLUMN_TYPES)}).")
        key = r.param("key")
        if not isinstance(key, str) or not KEY_PATTERN.match(key):
            raise EngineError(400, "general_argument_invalid", "Invalid `key` param: Parameter must be a valid key.")
        if any(c["key"] == key for c in (self.state.get("tables", table_key) or {})["columns"]):
            raise EngineError(409, f"{kind}_already_exists", f"{kind.capitalize()} with the requested key already "
                              "exists. Attribute keys must be unique, try again with a different key.")
        if _bool(r.param("array", False), "array"):
            raise EngineError(400, "general_argument_invalid", f"The local stack does not serve array {kind}s.")
        spec = {"key": key, "type": "double" if type_ == "float" else type_,
                "required": _bool(_required(r, "required"), "required"),
                "array": False, "default": r.param("default")}
        if type_ == "string":
            spec["size"] = _int(_required(r, "size"), "size", 1, 1_073_741_824)
            if _bool(r.param("encrypt", False), "encrypt"):
                raise EngineError(400, "general_argument_invalid", "The local stack does not encrypt columns.")
        if type_ == "enum":
            spec["elements"] = _elements(_required(r, "elements"))
        if type_ == "integer":
            spec["min"], spec["max"] = r.param("min"), r.param("max")
        if type_ == "float":  # `$min ??= -PHP_FLOAT_MAX; $max ??= PHP_FLOAT_MAX`, kept as floats
            low, high = r.param("min"), r.param("max")
            spec["min"] = -FLOAT_MAX if low is None else _float(low, "min")
            spec["max"] = FLOAT_MAX if high is None else _float(high, "max")
            if spec["min"] > spec["max"]:
                raise EngineError(400, "attribute_value_invalid", "Minimum value must be lesser than maximum value")
        _check_column(spec, kind)
        column = column_model(spec, stamp(), status="processing")
        self.state.add_column(table_key, column)
        return _json(202, attribute_view(column))

    def _update_column(self, r: Request, type_: str, key: str) -> Response:
        table_key, column = self._find_column(r, key)
        kind = "attribute"
        declared = column.get("format") or column["type"]
        if {"float": "double"}.get(type_, type_) != declared:
            raise EngineError(400, f"{kind}_type_invalid", f"{kind.capitalize()} type is {declared}, not {type_}.")
        if r.param("newKey") not in (None, "", key):
            raise EngineError(400, "general_argument_invalid", "The local stack does not rename columns.")
        spec = {**column, "required": _bool(_required(r, "required"), "required"), "default": r.param("default")}
        if type_ == "enum":
            spec["elements"] = _elements(_required(r, "elements"))
        if type_ == "integer":
            spec["min"], spec["max"] = r.param("min", column.get("min")), r.param("max", column.get("max"))
        if type_ == "string" and r.param("size") is not None:
            spec["size"] = _int(r.param("size"), "size", 1, 1_073_741_824)
        _check_column(spec, kind)

        def change(table: dict[str, Any]) -> None:
            for item in table["columns"]:
                if item["key"] == key:
                    item.update(required=spec["required"], default=spec["default"], **{"$updatedAt": stamp()})
                    item.update({k: spec[k] for k in ("elements", "min", "max", "size") if k in item})
        updated = self.state.update("tables", table_key, change)
        self.state.refresh_schema()
        return _json(200, attribute_view(next(c for c in updated["columns"] if c["key"] == key)))

    # ---- indexes

    @staticmethod
    def _index_view(index: dict[str, Any]) -> dict[str, Any]:
        """An index as the legacy routes answer it: `attributes` for `columns`."""
        view = {k: v for k, v in index.items() if k != "columns"}
        view["attributes"] = index["columns"]
        return view

    def _list_indexes(self, r: Request) -> Response:
        table = self.state.get("tables", self._table_key(r, legacy=True)) or {}
        return _json(200, _page([self._index_view(i) for i in table["indexes"]], r.queries(), "indexes"))

    def _create_index(self, r: Request) -> Response:
        table_key = self._table_key(r, legacy=True)
        table = self.state.get("tables", table_key) or {}
        key, type_ = r.param("key"), r.param("type")
        columns = r.param("attributes") or []
        orders = r.param("orders") or []
        if not isinstance(key, str) or not KEY_PATTERN.match(key):
            raise EngineError(400, "general_argument_invalid", "Invalid `key` param: Parameter must be a valid key.")
        if type_ not in INDEX_TYPES:
            raise EngineError(400, "general_argument_invalid", f"Invalid `type` param: one of {INDEX_TYPES}.")
        if not isinstance(columns, list) or not columns or not all(isinstance(c, str) for c in columns):
            raise EngineError(400, "general_argument_invalid", "Invalid index columns.")
        if not isinstance(orders, list) or len(orders) > len(columns) or \
                not all(str(o).upper() in ("ASC", "DESC") for o in orders):
            raise EngineError(400, "general_argument_invalid", "Invalid `orders` param.")
        if any(i["key"] == key for i in table["indexes"]):
            raise EngineError(409, "index_already_exists", "Index with the requested key already exists.")
        known = {c["key"]: c for c in table["columns"]}
        for name in columns:
            if name.startswith("$"):
                if name not in ("$id", "$createdAt", "$updatedAt"):
                    raise EngineError(400, "index_invalid", f"Unknown system column {name}.")
            elif name not in known:
                raise EngineError(400, "attribute_unknown", f"Unknown column: {name}. Verify the column name or create "
                                  "it.")
            elif known[name]["status"] != "available":
                raise EngineError(400, "attribute_not_available", f"Column not available: {name}")
        # Stored as given, as Appwrite stores them (appwrite 1.9.6 `.../Collections/Indexes/Create.php`: `orders`
        # goes into the index document unpadded); the engine pads missing ones with ASC (devstack/schema.py). A CLI
        # that pushes again compares these with its file: padded, a fulltext index's `[]` would read as a change.
        orders = [str(o).upper() for o in orders]
        index = index_model(key, type_, columns, orders, stamp(), status="processing")
        self.state.add_index(table_key, index)
        return _json(202, self._index_view(index))

    # ---- functions

    def _function(self, r: Request) -> dict[str, Any]:
        function = self.state.get("functions", r.segments[1])
        if function is None:
            raise EngineError(404, "function_not_found", "Function with the requested ID could not be found.")
        return function

    def _function_view(self, function: dict[str, Any]) -> dict[str, Any]:
        variables = [_hide_secret(v) for v in self.state.values("variables") if v["resourceId"] == function["$id"]]
        return {**{k: v for k, v in function.items() if not k.startswith("_")}, "vars": variables}

    def _get_function(self, r: Request) -> Response:
        return _json(200, self._function_view(self._function(r)))

    def _function_settings(self, r: Request, current: dict[str, Any]) -> dict[str, Any]:
        settings = {
            "name": _text(_required(r, "name"), "name", 128),
            "execute": _roles(r.param("execute", current.get("execute", []))),
            "events": _string_list(r.param("events", current.get("events", [])), "events", 100),
            "schedule": _text(r.param("schedule", current.get("schedule", "")) or "", "schedule", 100),
            "timeout": _int(r.param("timeout", current.get("timeout", 15)), "timeout", 1, FUNCTION_TIMEOUT_MAX),
            "enabled": _bool(r.param("enabled", current.get("enabled", True)), "enabled"),
            "logging": _bool(r.param("logging", current.get("logging", True)), "logging"),
            "entrypoint": _text(r.param("entrypoint", current.get("entrypoint", "")) or "", "entrypoint", 1028),
            "commands": _text(r.param("commands", current.get("commands", "")) or "", "commands", 8192),
            "scopes": _string_list(r.param("scopes", current.get("scopes", [])), "scopes", 100),
            "specification": r.param("specification", current.get("specification")) or SPECIFICATION_DEFAULT,
        }
        if settings["specification"] not in SPECIFICATIONS:
            raise EngineError(400, "general_argument_invalid", "Invalid `specification` param: Specification must be "
                              f"one of: {', '.join(SPECIFICATIONS)}")
        runtime = r.param("runtime", current.get("runtime"))
        if runtime not in RUNTIMES:
            raise EngineError(404 if "runtime" in current else 400, "function_runtime_unsupported",
                              f'Runtime "{runtime}" is not supported (the local stack runs {", ".join(RUNTIMES)})')
        settings["runtime"] = runtime
        return settings

    def _create_function(self, r: Request) -> Response:
        function_id = check_id(_required(r, "functionId"), "functionId")
        if self.state.get("functions", function_id) is not None:
            raise EngineError(409, "function_already_exists", "Function with the requested ID already exists.")
        created = stamp()
        function = {"$id": function_id, "$createdAt": created, "$updatedAt": created, "live": True,
                    "deploymentId": "", "deploymentCreatedAt": "", "latestDeploymentId": "",
                    "latestDeploymentCreatedAt": "", "latestDeploymentStatus": "", "version": "v5",
                    "installationId": "", "providerRepositoryId": "", "providerBranch": "",
                    "providerRootDirectory": "", "providerSilentMode": False,
                    **self._function_settings(r, {})}
        self.state.put("functions", function_id, function)
        return _json(201, self._function_view(function))

    def _update_function(self, r: Request) -> Response:
        current = self._function(r)
        settings = self._function_settings(r, current)
        if settings["runtime"] != current["runtime"]:
            raise EngineError(400, "general_argument_invalid", "The local stack does not change a function's runtime.")

        def change(item: dict[str, Any]) -> None:
            item.update(settings, **{"$updatedAt": stamp()})
        return _json(200, self._function_view(self.state.update("functions", current["$id"], change)))

    # ---- deployments

    def _deployment(self, r: Request) -> dict[str, Any]:
        function = self._function(r)
        deployment = self.state.get("deployments", r.segments[3])
        if deployment is None or deployment["resourceId"] != function["$id"]:
            raise EngineError(404, "deployment_not_found", "Deployment with the requested ID could not be found.")
        return deployment

    def _get_deployment(self, r: Request) -> Response:
        return _json(200, self.deployments.view(self._deployment(r)))

    def _download(self, r: Request) -> Response:
        path = self.deployments.archive_path(self._deployment(r)["$id"])
        if path is None:
            raise EngineError(404, "deployment_not_found", "The deployment has no complete archive.")
        return 200, {"content-type": "application/gzip"}, path.read_bytes()

    def _create_deployment(self, r: Request) -> Response:
        function = self._function(r)
        entrypoint = r.param("entrypoint") or function["entrypoint"]
        commands = r.param("commands")
        commands = function["commands"] if commands is None else commands
        if not entrypoint:
            raise EngineError(404, "function_entrypoint_missing", "Entrypoint for your Appwrite Function is missing.")
        upload = r.files.get("code")
        if upload is None:
            raise EngineError(400, "storage_file_empty", "No file sent")
        filename, content = upload
        if not filename.endswith(".gz"):
            raise EngineError(400, "storage_file_type_unsupported", "The given file extension is not supported.")
        activate = _bool(r.param("activate", False), "activate")
        deployment = self.deployments.upload(function, entrypoint, str(commands), activate, content,
                                             r.headers.get("content-range", ""), r.headers.get("x-appwrite-id", ""),
                                             "cli" if r.headers.get("x-sdk-language") == "cli" else "manual")
        return _json(202, self.deployments.view(deployment))

    # ---- variables

    def _create_variable(self, r: Request) -> Response:
        """`variableId` is required from 1.9.x on (appwrite 1.9.6
        src/Appwrite/Platform/Modules/Functions/Http/Variables/Create.php); CLI 12's `--with-variables` does not send
        it, so that push fails on the supported line (docs/deploy.md)."""
        function = self._function(r)
        variable_id = check_id(_required(r, "variableId"), "variableId")
        key = _text(_required(r, "key"), "key", 255)
        value = _text(_required(r, "value"), "value", 8192)
        if any(v["key"] == key and v["resourceId"] == function["$id"] for v in self.state.values("variables")):
            raise EngineError(409, "variable_already_exists", "Variable with the same ID already exists in this "
                              "project. Try again with a different ID.")
        created = stamp()
        variable = {"$id": variable_id, "$createdAt": created,
                    "$updatedAt": created, "key": key, "value": value,
                    "secret": _bool(r.param("secret", False), "secret"), "resourceType": "function",
                    "resourceId": function["$id"]}
        self.state.put("variables", variable["$id"], variable)
        return _json(201, _hide_secret(variable))

    # ---- proxy rules

    def _list_rules(self, r: Request) -> Response:
        r.queries()  # validated, then nothing matches: rules need a console session to be created
        return _json(200, {"total": 0, "rules": []})


# --------------------------------------------------------------------------- helpers


def _json(status: int, payload: Any) -> Response:
    return status, {"content-type": "application/json"}, json.dumps(payload).encode()


def _error(code: int, type_: str, message: str) -> Response:
    body = {"message": message, "code": code, "type": type_, "version": VERSION}
    return code, {"content-type": "application/json"}, json.dumps(body).encode()


def _hide_secret(variable: dict[str, Any]) -> dict[str, Any]:
    return {**variable, "value": ""} if variable.get("secret") else variable


def _page(items: list[dict[str, Any]], queries: list[dict[str, Any]], wrapper: str) -> dict[str, Any]:
    """limit, offset and equal, the queries the CLI's ``paginate`` and list calls send."""
    limit, offset = LIMIT_DEFAULT, 0
    for query in queries:
        method, values = query.get("method"), query.get("values") or []
        if method == "limit" and values and isinstance(values[0], int) and values[0] >= 0:
            limit = values[0]
        elif method == "offset" and values and isinstance(values[0], int) and values[0] >= 0:
            offset = values[0]
        elif method == "equal" and isinstance(query.get("attribute"), str):
            items = [i for i in items if i.get(query["attribute"]) in values]
        else:
            raise EngineError(400, "general_query_invalid", f"Invalid query: {json.dumps(query)}")
    return {"total": len(items), wrapper: items[offset:offset + limit]}


def _parse_body(method: str, headers: dict[str, str], body: bytes) -> tuple[dict[str, Any], dict]:
    if method == "GET" or not body.strip():
        return {}, {}
    content_type = headers.get("content-type", "")
    if content_type.lower().startswith("multipart/form-data"):
        return parse_multipart(body, content_type)
    try:
        parsed = params.php_json(body)  # no NaN (a float column's bounds), no RecursionError (devstack/params.py)
    except ValueError:
        raise EngineError(400, "general_argument_invalid", "Invalid JSON body.") from None
    if not isinstance(parsed, dict):
        raise EngineError(400, "general_argument_invalid", "The request body must be a JSON object.")
    return parsed, {}


def parse_multipart(body: bytes, content_type: str) -> tuple[dict[str, Any], dict[str, tuple[str, bytes]]]:
    """``multipart/form-data`` fields and files; array fields ``name[0]`` become lists."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not match:
        raise EngineError(400, "general_argument_invalid", "Multipart body without a boundary.")
    delimiter = b"--" + match.group(1).encode()
    fields: dict[str, Any] = {}
    files: dict[str, tuple[str, bytes]] = {}
    for part in body.split(delimiter)[1:]:
        if part.startswith(b"--"):
            break
        head, sep, content = part.partition(b"\r\n\r\n")
        if not sep:
            raise EngineError(400, "general_argument_invalid", "Malformed multipart body.")
        content = content.removesuffix(b"\r\n")
        disposition = next((line for line in head.decode("utf-8", "replace").split("\r\n")
                            if line.lower().startswith("content-disposition")), "")
        name = re.search(r'\bname="([^"]*)"', disposition)
        filename = re.search(r'\bfilename="([^"]*)"', disposition)
        if name is None:
            continue
        if filename is not None:
            files[name.group(1)] = (filename.group(1), content)
            continue
        value = content.decode("utf-8", "replace")
        array = re.match(r"^(.+)\[\d*\]$", name.group(1))
        if array:
            fields.setdefault(array.group(1), []).append(value)
        else:
            fields[name.group(1)] = value
    return fields, files


def _required(r: Request, name: str) -> Any:
    value = r.param(name)
    if value is None:
        raise EngineError(400, "general_argument_invalid", f'Param "{name}" is not optional.')
    return value


def _text(value: Any, name: str, size: int) -> str:
    if not isinstance(value, str) or len(value) > size:
        raise EngineError(400, "general_argument_invalid",
                          f"Invalid `{name}` param: Value must be a valid string and at most {size} chars")
    return value


# Appwrite 1.9.6 declares `rowSecurity` (TablesDB/Tables/Create.php) and `activate` (Functions/Http/Deployments/
# Create.php) `Boolean(true)`; `enabled`, `required`, `array`, `encrypt`, `logging`, `secret` plain `Boolean()`, which
# takes only a JSON boolean (devstack/params.py).
_LOOSE_BOOLEANS = frozenset({"rowSecurity", "activate"})


def _bool(value: Any, name: str) -> bool:
    return params.boolean(value, name, loose=name in _LOOSE_BOOLEANS)


def _float(value: Any, name: str) -> float:
    """`FloatValidator` (not loose): a number, not a boolean."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise EngineError(400, "general_argument_invalid", f"Invalid `{name}` param: Value must be a valid float")
    return float(value)


def _int(value: Any, name: str, low: int, high: int) -> int:
    return params.integer_range(value, name, low, high)


def _string_list(value: Any, name: str, most: int) -> list[str]:
    if not isinstance(value, list) or len(value) > most or not all(isinstance(v, str) for v in value):
        raise EngineError(400, "general_argument_invalid", f"Invalid `{name}` param: Value must be an array of "
                          f"at most {most} strings")
    return value


def _roles(value: Any) -> list[str]:
    roles = _string_list(value, "execute", 100)
    for role in roles:
        if not re.match(r"^(any|users|guests|label:[A-Za-z0-9]+|team:[^/]+(/[^/]+)?|user:[^/]+(/[^/]+)?"
                        r"|member:[^/]+)$", role):
            raise EngineError(400, "general_argument_invalid", f'Invalid `execute` param: Role "{role}" is not '
                              "allowed.")
    return roles


def _permissions(value: Any) -> list[str]:
    permissions = _string_list(value, "permissions", 100)
    for permission in permissions:
        if not re.match(r'^(read|create|update|delete|write)\("[^"]+"\)$', permission):
            raise EngineError(400, "general_argument_invalid", f"Invalid `permissions` param: {permission}")
    return permissions


def _elements(value: Any) -> list[str]:
    elements = _string_list(value, "elements", 100)
    if not elements or any(not e or len(e) > 255 for e in elements):
        raise EngineError(400, "general_argument_invalid", "Invalid `elements` param: Value must be an array of "
                          "non-empty strings of at most 255 chars")
    return elements


def _check_column(spec: dict[str, Any], kind: str) -> None:
    """createAttribute's checks (``Attributes/Action.php``, 1.8.1): no default on required or array columns; the
    default must be a valid value of the column."""
    default = spec.get("default")
    if default is None:
        return
    if spec["required"]:
        raise EngineError(400, f"{kind}_default_unsupported", f"Cannot set default value for required {kind}")
    type_ = spec.get("format") if spec.get("format") == "enum" else spec["type"]
    valid = {
        "boolean": isinstance(default, bool),
        "integer": isinstance(default, int) and not isinstance(default, bool),
        "double": isinstance(default, (int, float)) and not isinstance(default, bool),
        "enum": default in (spec.get("elements") or []),
        "string": isinstance(default, str) and len(default) <= int(spec.get("size") or 0),
    }.get(type_, isinstance(default, str))
    if type_ in ("integer", "double") and valid:
        low, high = spec.get("min"), spec.get("max")
        valid = (low is None or default >= low) and (high is None or default <= high)
    if not valid:
        raise EngineError(400, f"{kind}_value_invalid", f"Default value {default!r} is not valid for this {kind}.")
