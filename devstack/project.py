"""What an Appwrite project holds besides rows: databases, tables, columns, indexes, functions, variables and
deployments, as the management REST API (``devstack.manage``) creates and answers them.

The models follow Appwrite 1.8.1's response models (``open-api3-1.8.1-server.json``: ``database``, ``table``,
``columnString`` ..., ``columnIndex``, ``function``, ``variable``, ``deployment``). Column and index creation is
asynchronous in Appwrite: the create route answers ``status: processing`` and the database worker makes the column
``available`` (or ``failed``) later (``Attributes/Action.php`` ``createAttribute``, ``Workers/Databases.php``); the
CLI polls the attribute and index lists until every key it created is ``available`` (``lib/commands/push.js``
``awaitPools``). Here a single worker thread plays the database worker: it adds the column or index to the SQLite
engine, then flips the status.

State lives in memory; with a ``path`` it is also saved as JSON after every change (a project created by
``appwrite push`` survives a restart of the stack).
"""

from __future__ import annotations

import copy
import json
import logging
import os
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .schema import Schema, parse_schema
from .values import ID_PATTERN, EngineError, format_datetime, now, unique_id

log = logging.getLogger("devstack.project")

KEY_PATTERN = ID_PATTERN  # column and index keys (Key validator): the same 36 characters
INDEX_TYPES = ("key", "unique", "fulltext")  # what appwrite.json declares
STRING_FORMATS = ("enum",)  # the one string format appwrite.json declares


def stamp() -> str:
    return format_datetime(now())


def check_id(value: Any, what: str) -> str:
    """A client-chosen ID (``unique()`` asks for a generated one)."""
    if value == "unique()":
        return unique_id()
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise EngineError(400, "general_argument_invalid",
                          f"Invalid `{what}` param: UID must contain at most 36 chars. Valid chars are a-z, A-Z, "
                          "0-9, period, hyphen, and underscore. Can't start with a special char")
    return value


# --------------------------------------------------------------------------- column models


def column_model(spec: dict[str, Any], created: str, status: str = "available") -> dict[str, Any]:
    """A column as Appwrite stores and answers it, from appwrite.json's column keys or a create request.

    The type-specific keys are those of the 1.8.1 models: strings ``size, default, encrypt``; enums ``format,
    elements, default``; integers ``min, max, default``; boolean ``default``; datetime ``format`` (stored as ``""``)
    and ``default``.
    """
    declared = spec["type"]
    fmt = spec.get("format") or (declared if declared in STRING_FORMATS else "")
    kind = "string" if declared in STRING_FORMATS else declared
    model: dict[str, Any] = {"key": spec["key"], "type": kind, "status": status, "error": "",
                             "required": bool(spec.get("required", False)), "array": bool(spec.get("array", False)),
                             "$createdAt": created, "$updatedAt": created}
    if kind == "string" and fmt:
        model["format"] = fmt
        model["elements"] = list(spec.get("elements") or [])
    elif kind == "string":
        model["size"] = int(spec.get("size") or 0)
    elif kind in ("integer", "double"):
        model["min"], model["max"] = spec.get("min"), spec.get("max")
    elif kind == "datetime":
        model["format"] = ""  # createAttribute stores the request's format, empty for datetimes
    model["default"] = spec.get("default")
    return model


def table_column_view(column: dict[str, Any]) -> dict[str, Any]:
    """A column inside the table model: ``encrypt`` is not stored, so a string column answers it as null
    (``Response::output`` gives null for a non-required rule that is not set)."""
    view = dict(column)
    if view["type"] == "string" and "size" in view:
        view.setdefault("encrypt", None)
    return view


def attribute_view(column: dict[str, Any]) -> dict[str, Any]:
    """A column as the attribute list and get routes answer it: they set ``encrypt`` from the column's filters
    (``Collections/Attributes/XList.php`` and ``Get.php``, 1.8.1); nothing is encrypted here."""
    view = dict(column)
    if view["type"] == "string" and "size" in view:
        view["encrypt"] = False
    return view


def index_model(key: str, type_: str, columns: list[str], orders: list[str], created: str,
                status: str = "available") -> dict[str, Any]:
    return {"$id": key, "$createdAt": created, "$updatedAt": created, "key": key, "type": type_,
            "status": status, "error": "", "columns": list(columns), "lengths": [None] * len(columns),
            "orders": [o.upper() for o in orders]}


def column_spec(column: dict[str, Any]) -> dict[str, Any]:
    """Back to appwrite.json's column form, which ``devstack.schema`` reads."""
    spec = {k: column[k] for k in ("key", "type", "required", "array", "default") if k in column}
    for extra in ("size", "min", "max", "elements"):
        if column.get(extra) is not None:
            spec[extra] = column[extra]
    if column.get("format"):
        spec["format"] = column["format"]
    return spec


# --------------------------------------------------------------------------- the state


class ProjectState:
    """Databases, tables, functions and deployments of one project; thread-safe.

    ``on_schema(schema)`` is called (on the worker thread) with the schema of every ``available`` column and
    index before they are marked available; ``on_functions()`` after any function, variable or deployment
    change.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self._lock = threading.RLock()
        self.data: dict[str, Any] = {"databases": {}, "tables": {}, "functions": {}, "variables": {},
                                     "deployments": {}}
        if self.path is not None and self.path.is_file():
            self.data.update(json.loads(self.path.read_text(encoding="utf-8")))
        self.on_schema: Callable[[Schema], None] = lambda schema: None
        self.on_functions: Callable[[], None] = lambda: None
        self._jobs: queue.Queue[tuple[str, str, str, str] | None] = queue.Queue()
        self._idle = threading.Condition(self._lock)
        self._pending = 0
        self._worker = threading.Thread(target=self._work, name="devstack-database-worker", daemon=True)
        self._worker.start()

    # ---- seeding from appwrite.json (the working-tree stack)

    def seed(self, config: dict[str, Any]) -> None:
        """Databases and tables of an appwrite.json, already available (the stack created them at start)."""
        created = stamp()
        with self._lock:
            for db in config.get("tablesDB", []):
                self.data["databases"][db["$id"]] = {
                    "$id": db["$id"], "name": db.get("name", db["$id"]), "$createdAt": created,
                    "$updatedAt": created, "enabled": bool(db.get("enabled", True)), "type": "tablesdb"}
            for raw in config.get("tables", []):
                self.data["tables"][f"{raw['databaseId']}/{raw['$id']}"] = {
                    "$id": raw["$id"], "$createdAt": created, "$updatedAt": created,
                    "$permissions": list(raw.get("$permissions", [])), "databaseId": raw["databaseId"],
                    "name": raw.get("name", raw["$id"]), "enabled": bool(raw.get("enabled", True)),
                    "rowSecurity": bool(raw.get("rowSecurity", False)),
                    "columns": [column_model(c, created) for c in raw.get("columns", [])],
                    "indexes": [index_model(i["key"], i.get("type", "key"), i.get("columns") or [],
                                            i.get("orders") or [], created) for i in raw.get("indexes", [])]}

    def seed_functions(self, config: dict[str, Any]) -> None:
        """The functions of an appwrite.json, served from the working tree (deployment ``local``, no build)."""
        created = stamp()
        with self._lock:
            for raw in config.get("functions", []):
                self.data["functions"][raw["$id"]] = {
                    "$id": raw["$id"], "$createdAt": created, "$updatedAt": created, "live": True,
                    "name": raw.get("name", raw["$id"]), "runtime": raw.get("runtime", "python-3.12"),
                    "execute": list(raw.get("execute", [])), "events": list(raw.get("events", [])),
                    "schedule": raw.get("schedule", "") or "", "timeout": int(raw.get("timeout", 15) or 15),
                    "enabled": bool(raw.get("enabled", True)), "logging": bool(raw.get("logging", True)),
                    "entrypoint": raw["entrypoint"], "commands": raw.get("commands", ""),
                    "scopes": list(raw.get("scopes", [])), "specification": raw.get("specification", ""),
                    "deploymentId": "local", "deploymentCreatedAt": created, "latestDeploymentId": "local",
                    "latestDeploymentCreatedAt": created, "latestDeploymentStatus": "ready", "version": "v5",
                    "installationId": "", "providerRepositoryId": "", "providerBranch": "",
                    "providerRootDirectory": "", "providerSilentMode": False, "_path": raw.get("path", ".")}

    # ---- schema for the engine

    def schema(self, extra: tuple[str, str, str] | None = None) -> Schema:
        """The engine's view: every available column and index (plus ``extra``, one being made available)."""
        with self._lock:
            config: dict[str, Any] = {"tablesDB": [{"$id": d["$id"], "name": d["name"]}
                                                   for d in self.data["databases"].values()], "tables": []}
            for key, table in self.data["tables"].items():
                ready = [c for c in table["columns"] if c["status"] == "available"
                         or extra == ("column", key, c["key"])]
                names = {c["key"] for c in ready}
                indexes = [i for i in table["indexes"] if (i["status"] == "available" or extra == ("index", key,
                           i["key"])) and all(c in names or c.startswith("$") for c in i["columns"])]
                config["tables"].append({
                    "$id": table["$id"], "databaseId": table["databaseId"], "name": table["name"],
                    "$permissions": table["$permissions"], "rowSecurity": table["rowSecurity"],
                    "columns": [column_spec(c) for c in ready],
                    "indexes": [{"key": i["key"], "type": i["type"], "columns": i["columns"], "orders": i["orders"]}
                                for i in indexes]})
        return parse_schema(config)

    # ---- access helpers (callers hold no lock: each returns a deep copy)

    def get(self, section: str, key: str) -> dict[str, Any] | None:
        with self._lock:
            item = self.data[section].get(key)
            return copy.deepcopy(item) if item is not None else None

    def values(self, section: str) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(list(self.data[section].values()))

    def put(self, section: str, key: str, item: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.data[section][key] = copy.deepcopy(item)
            self.save()
        if section in ("functions", "variables", "deployments"):
            self.on_functions()
        return item

    def update(self, section: str, key: str, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """Apply ``change`` to the stored item under the lock; returns a copy of the result."""
        with self._lock:
            item = self.data[section][key]
            change(item)
            self.save()
            result = copy.deepcopy(item)
        if section in ("functions", "variables", "deployments"):
            self.on_functions()
        return result

    def remove(self, section: str, key: str) -> None:
        with self._lock:
            self.data[section].pop(key, None)
            self.save()
        if section in ("functions", "variables", "deployments"):
            self.on_functions()

    def save(self) -> None:
        if self.path is None:
            return
        with self._lock:
            text = json.dumps(self.data, indent=1)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, self.path)

    # ---- columns and indexes: created "processing", made "available" by the worker

    def add_column(self, table_key: str, column: dict[str, Any]) -> None:
        with self._lock:
            self.data["tables"][table_key]["columns"].append(copy.deepcopy(column))
            self.save()
            self._pending += 1
        self._jobs.put(("column", table_key, column["key"], ""))

    def add_index(self, table_key: str, index: dict[str, Any]) -> None:
        with self._lock:
            self.data["tables"][table_key]["indexes"].append(copy.deepcopy(index))
            self.save()
            self._pending += 1
        self._jobs.put(("index", table_key, index["key"], ""))

    def resume(self) -> None:
        """After a restart: columns and indexes still ``processing`` go back to the worker (call once ``on_schema``
        is set)."""
        with self._lock:
            waiting = [(kind, key, item["key"]) for key, table in self.data["tables"].items()
                       for kind, items in (("column", table["columns"]), ("index", table["indexes"]))
                       for item in items if item["status"] == "processing"]
            self._pending += len(waiting)
        for kind, key, item_key in waiting:
            self._jobs.put((kind, key, item_key, ""))

    def refresh_schema(self) -> None:
        """Hand the engine the current schema (after a database or table was created)."""
        self.on_schema(self.schema())

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """True once every queued column and index job has finished (tests; no polling)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def close(self) -> None:
        self._jobs.put(None)

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            kind, table_key, key, _ = job
            try:
                self.on_schema(self.schema(extra=(kind, table_key, key)))
                status, error = "available", ""
            except Exception as exc:  # a failed column answers "failed" with its error, like Appwrite's worker
                log.warning("%s %s of %s failed: %s", kind, key, table_key, exc)
                status, error = "failed", str(getattr(exc, "message", exc))
            with self._lock:
                items = self.data["tables"].get(table_key, {}).get("columns" if kind == "column" else "indexes", [])
                for item in items:
                    if item["key"] == key:
                        item.update(status=status, error=error, **{"$updatedAt": stamp()})
                self.save()
                self._pending -= 1
                self._idle.notify_all()
