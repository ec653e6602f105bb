"""The TablesDB management routes of the local stack (``devstack.manage``): databases and tables (create, get,
list, update), and their columns and indexes through the LEGACY ``/databases/{db}/collections/{table}/attributes|
indexes`` routes, the only ones CLI 12 calls, with their error names (``attribute_*``, ``collection_*``). Routes,
parameters and models from Appwrite's API description for 1.8.1 (``open-api3-1.8.1-server.json``) and
``src/Appwrite/Platform/Modules/Databases``.
"""

from __future__ import annotations

from typing import Any

from .engine import EngineError
from .manage_params import (
    Request,
    Response,
    _bool,
    _elements,
    _float,
    _int,
    _json,
    _page,
    _permissions,
    _required,
    _text,
)
from .project import (
    INDEX_TYPES,
    KEY_PATTERN,
    attribute_view,
    check_id,
    column_model,
    index_model,
    stamp,
    table_column_view,
)
from .schema import FLOAT_MAX

# What appwrite.json declares (devstack/schema.py), and `float` (stored as type `double`: Attributes/Float/Create.php)
COLUMN_TYPES = ("string", "integer", "boolean", "datetime", "enum", "float")


class TablesApi:
    """The database, table, column and index routes of ``ManagementApi`` (a mixin: the project state is the
    class's)."""

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
