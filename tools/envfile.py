"""The one `.env` reader of the dev tools (the local stack and the sessions CLI), built on python-dotenv.

python-dotenv is what the Python ecosystem means by `.env` (quotes, `export`, inline `# comments`, `${VAR}`
expansion, multi-line quoted values), so a file written for any other tool reads the same here. Dev-side only:
the deployed functions get their variables from Appwrite and never import this.

What python-dotenv cannot read it skips with an anonymous log line; here each skipped line comes back as a
warning that names the file and the line (never the line's text: it may hold a secret).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

_DOTENV_LOGGER = "dotenv.main"  # where python-dotenv reports "could not parse statement starting at line N"


@dataclass(frozen=True)
class EnvFile:
    """`values`: NAME -> value as python-dotenv reads them; `warnings`: one line per thing ignored."""

    values: dict[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[int | str] = []

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args if isinstance(record.args, tuple) else ()
        self.lines.append(args[0] if args and isinstance(args[0], int) else record.getMessage())


def read_env_file(path: str | Path) -> EnvFile:
    """Read `path` like python-dotenv's `dotenv_values`; a missing file is empty, never an error."""
    path = Path(path)
    if not path.is_file():
        return EnvFile()
    logger = logging.getLogger(_DOTENV_LOGGER)
    collect, propagate = _Collect(), logger.propagate
    logger.addHandler(collect)
    logger.propagate = False  # reported below, with the file's name, instead of anonymously on stderr
    try:
        raw = dotenv_values(path, encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return EnvFile(warnings=(f"{path}: cannot read it ({type(exc).__name__}); ignored",))
    finally:
        logger.removeHandler(collect)
        logger.propagate = propagate
    warnings = [f"{path} line {line}: not NAME=value; ignored" if isinstance(line, int) else f"{path}: {line}"
                for line in collect.lines]
    warnings += [f"{path}: {name} has no '=' and no value; ignored" for name, value in raw.items() if value is None]
    return EnvFile({name: value for name, value in raw.items() if value is not None}, tuple(warnings))
