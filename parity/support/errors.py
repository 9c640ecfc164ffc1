"""Errors parity raises, each with a one-line message that says what, where and how to fix.

    ParityError                       base: caught by the CLI and the plugin, printed as one line
    ├── ParityConfigError             [tool.parity] is missing, malformed or names missing files
    ├── SettingsError                 the app's own settings cannot work with parity (its database)
    ├── MissingDependencyError        a machine part is absent: Docker engine, compose, Postgres, image
    ├── CommandError                  a subprocess failed: carries argv, exit code, output tail
    ├── StartupError                  an environment failed to come up: names env, step, log tail
    ├── ParityTimeoutError            a readiness wait ran out: names service, URL, seconds, logs
    └── DatabaseRefusedError          refused to drop or write a database parity did not create
"""

from __future__ import annotations

import re
from collections.abc import Sequence


class ParityError(Exception):
    """Base of every error parity raises on purpose. Exit codes are documented in the README."""

    exit_code = 1

    def one_line(self) -> str:
        return str(self).splitlines()[0] if str(self) else type(self).__name__


class ParityConfigError(ParityError):
    """A bad `[tool.parity]`: names the file, the key, the bad value and the fix."""

    exit_code = 4

    def __init__(self, file: str, key: str, problem: str, fix: str, value: object = None) -> None:
        self.file = file
        self.key = key
        self.value = value
        self.problem = problem
        self.fix = fix
        shown = f" = {value!r}" if value is not None else ""
        super().__init__(f"{file}: {key}{shown}: {problem}; {fix}")


class SettingsError(ParityError):
    """The app's own settings do what parity cannot run: they ignore the database it provides."""

    exit_code = 4


class MissingDependencyError(ParityError):
    """Something the machine must provide is absent (engine, compose, binaries, image)."""

    exit_code = 6


class CommandError(ParityError):
    """A subprocess exited non-zero or timed out."""

    def __init__(
        self, argv: Sequence[str], returncode: int | None, output: str, what: str | None = None
    ) -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.output = output
        status = "timed out" if returncode is None else f"exited {returncode}"
        label = what or " ".join(self.argv[:3])
        tail = "\n".join(output.rstrip().splitlines()[-20:])
        super().__init__(f"{label} {status}: {tail.splitlines()[-1] if tail else 'no output'}"
                         + (f"\n{tail}" if tail else ""))


class StartupError(ParityError):
    """An environment (local or stack) failed to come up at a named step."""

    exit_code = 7

    def __init__(self, environment: str, step: str, cause: str, log_tail: str = "") -> None:
        self.environment = environment
        self.step = step
        self.cause = cause
        self.log_tail = log_tail
        message = f"{environment}: {step} failed: {cause}"
        if log_tail:
            message += "\n" + log_tail
        super().__init__(message)


class ParityTimeoutError(ParityError):
    """A readiness wait gave up: names the service, what was probed, and how long."""

    exit_code = 7


class DatabaseRefusedError(ParityError):
    """parity refuses to drop or write a database it did not create."""

    exit_code = 8


_TELLING = re.compile(r"\b[A-Za-z_][\w.]*(Error|Exception|Exit)\b|Unknown command|\b(error|fatal|ERROR|FATAL)\b:")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_LOG_PREFIX = re.compile(r"^[\w.-]+-\d+\s+\| ")  # `compose logs`: "app-1  | ..."
_NOT_TELLING = re.compile(r"HaltServer|^Traceback \(most recent call last\)|^During handling of the above")


def telling_line(text: str) -> str:
    """The line of a command's output most likely to say why it failed: the last one that
    names an error ("ModuleNotFoundError: ...", "Unknown command: ...", "error: ..."),
    else the last line; '' for no output. A traceback's last line, not its frames."""
    lines = [_ANSI.sub("", line).strip() for line in text.strip().splitlines()]
    lines = [_LOG_PREFIX.sub("", line) for line in lines if line]
    for line in reversed(lines):
        if _TELLING.search(line) and not _NOT_TELLING.search(line) and not line.startswith("File "):
            return line
    return lines[-1] if lines else ""


def tail(text: str, lines: int = 20) -> str:
    """The last lines of a command's output or a service's log, for an error message."""
    return "\n".join(text.rstrip().splitlines()[-lines:])
