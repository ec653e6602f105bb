"""`python -m tools.sessions_cli`: the `sessions` command, for when it is run through a Python.

It needs the dev venv (`make venv`): its Python has chat_core and the Appwrite SDK; another Python gets one line
that says so instead of a traceback.
"""
import sys

try:
    from .cli import main
except ModuleNotFoundError as exc:  # e.g. the system's python3: neither chat_core nor appwrite installed
    sys.stderr.write(f"error: {exc.name} is not installed for {sys.executable}; run the CLI from the dev venv: "
                     f"make venv, then .venv/bin/sessions (or .venv/bin/python -m tools.sessions_cli)\n")
    sys.exit(2)

sys.exit(main(prog="python -m tools.sessions_cli"))
