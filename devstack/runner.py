"""One warm runtime for an activated deployment: runs inside the BUILD's own virtualenv, never the stack's.

    <build>/src/function/runtime-env/bin/python -I runner.py <build>/src <entrypoint> <path of context.py>

Like open-runtimes' Python server (``runtimes/python/versions/latest/src/server.py``): the code is the folder
``src/function``, the entrypoint is imported as ``function.<entrypoint without .py, "/" -> ".">`` with ``src`` on
``sys.path`` and as the working directory; a missing module or a syntax error answers 503 with the reason in the
errors, an exception in ``main`` a bare 500 with its traceback, a missing return 500. What the function prints
(``print``, or a library writing to stderr such as the SDK's ``X-Appwrite-Warning`` lines) is captured and added
to the logs after the line "Native logs detected. Use context.log() or context.error() for better experience."
(``logger.py``, ``override_native_logs`` / ``revert_native_logs``).

Protocol: one JSON request per line on stdin, one JSON answer per line on the original stdout (file descriptor 1
is pointed at stderr, so nothing the function writes at the C level can garble an answer). Standard library only:
the build's venv holds just what the function's ``commands`` installed.
"""

from __future__ import annotations

import asyncio
import base64
import importlib
import importlib.util
import io
import json
import os
import sys
import traceback

NATIVE_NOTICE = "Native logs detected. Use context.log() or context.error() for better experience."
MISSING_RETURN = "Return statement missing. return context.res.empty() if no response is expected."


def main() -> None:
    answers = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    src, entrypoint, context_file = sys.argv[1:4]
    sys.path.insert(0, src)
    os.chdir(src)
    spec = importlib.util.spec_from_file_location("_devstack_runtime_context", context_file)
    contexts = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(contexts)
    module_name = "function." + entrypoint.removesuffix(".py").replace("/", ".")
    stdout, stderr = sys.stdout, sys.stderr
    for line in sys.stdin:
        request = json.loads(line)
        context = contexts.RuntimeContext(contexts.RuntimeRequest(
            request["method"], request["path"], request["headers"], base64.b64decode(request["body"]),
            url=request["url"], query_string=request["queryString"]))
        native = io.StringIO()
        sys.stdout = sys.stderr = native
        try:
            output = _execute(module_name, context)
        finally:
            sys.stdout, sys.stderr = stdout, stderr
        logs = list(context.logs)
        if native.getvalue():
            logs += [NATIVE_NOTICE, native.getvalue()]
        body = output.get("body", b"")
        body = body.encode() if isinstance(body, str) else bytes(body)
        answers.write(json.dumps({
            "status": int(output.get("statusCode", 200)), "body": base64.b64encode(body).decode(),
            "headers": {str(k).lower(): str(v) for k, v in (output.get("headers") or {}).items()},
            "logs": logs, "errors": list(context.errors)}) + "\n")


def _execute(module_name: str, context: object) -> dict:
    try:
        module = importlib.import_module(module_name)
        if not callable(getattr(module, "main", None)):
            raise AttributeError("Function signature invalid. Did you forget to export a 'main' function?")
    except ModuleNotFoundError as exc:
        context.error("Module not found: " + str(exc.name))
        return context.res.text("", 503, {})
    except SyntaxError as exc:
        context.error(f"Syntax error in {exc.filename}:{exc.lineno}: {exc.msg}")
        return context.res.text("", 503, {})
    except Exception as exc:  # noqa: BLE001 - reported to the caller like the runtime does
        context.error("Failed to load module: " + "".join(traceback.TracebackException.from_exception(exc).format()))
        return context.res.text("", 503, {})
    try:
        result = module.main(context)
        if asyncio.iscoroutine(result):
            result = asyncio.run(result)
    except Exception as exc:  # noqa: BLE001
        context.error("".join(traceback.TracebackException.from_exception(exc).format()))
        return context.res.text("", 500, {})
    if not isinstance(result, dict) or "statusCode" not in result:
        context.error(MISSING_RETURN)
        return context.res.text("", 500, {})
    return result


if __name__ == "__main__":
    main()
