"""The Functions management routes of the local stack (``devstack.manage``): functions (create, get, update), a
variable's create, deployments (create, get, download; builds run in ``devstack.builds``) and ``GET /proxy/rules``.
Routes, parameters and models from Appwrite's API description for 1.8.1 (``open-api3-1.8.1-server.json``) and
``src/Appwrite/Platform/Modules/{Functions,Proxy}``.
"""

from __future__ import annotations

from typing import Any

from .engine import EngineError
from .manage_params import Request, Response, _bool, _int, _json, _required, _roles, _string_list, _text
from .project import check_id, stamp

RUNTIMES = ("python-3.8", "python-3.9", "python-3.10", "python-3.11", "python-3.12")  # self-hosted 1.8 tops at 3.12
SPECIFICATIONS = ("s-0.5vcpu-512mb", "s-1vcpu-512mb", "s-1vcpu-1gb", "s-2vcpu-2gb", "s-2vcpu-4gb", "s-4vcpu-4gb",
                  "s-4vcpu-8gb", "s-8vcpu-4gb", "s-8vcpu-8gb")  # app/config/specifications.php (1.8.1)
SPECIFICATION_DEFAULT = "s-1vcpu-512mb"  # APP_COMPUTE_SPECIFICATION_DEFAULT
FUNCTION_TIMEOUT_MAX = 900  # _APP_FUNCTIONS_TIMEOUT default


class FunctionsApi:
    """The function, deployment, variable and proxy-rule routes of ``ManagementApi`` (a mixin: the project state and
    the deployments are the class's)."""

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


def _hide_secret(variable: dict[str, Any]) -> dict[str, Any]:
    return {**variable, "value": ""} if variable.get("secret") else variable
