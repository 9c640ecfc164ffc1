"""Which of an app's files enter its image, the build context parity writes, and its digest.

Inside a git work tree the context is what `git ls-files -co --exclude-standard` lists
(tracked, plus untracked files that are not ignored: the developer's current tree). Outside
git it is the directory, minus VCS, virtualenv and cache directories. In both cases a
`.dockerignore` at the project root applies as `docker build` would apply it, and files that
look like secrets never enter, even when git tracks them.

Python dependencies enter as a wheelhouse built for the image's own interpreter
(parity.environments.images.wheelhouse).
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
import shutil
import tarfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from parity.support.errors import CommandError
from parity.support.proc import run

SECRET_PATTERNS = (
    ".env", ".env.*", "*.pem", "*.key", "*.p12", "*.pfx", "id_rsa*", "id_dsa*", "id_ecdsa*",
    "id_ed25519*", ".netrc", ".pypirc", ".htpasswd", "credentials*.json",
)
"""File names (any directory) that never enter a build context."""

SKIPPED_DIRS = frozenset({
    ".git", ".hg", ".svn", "__pycache__", ".tox", ".nox", ".mypy_cache", ".pytest_cache",
    ".ruff_cache",
})
"""Directory names left out when the context is a plain directory (outside git)."""

REPORT_FILES = frozenset({"parity-report.json", "parity-report.html"})
"""parity's own reports (default names): never app files, and new after every run."""

APP_DIR = "app"
WHEELS_DIR = "wheels"


@dataclass(frozen=True)
class ContextFiles:
    """The app files that enter the image: paths relative to `root`, POSIX separators."""

    root: Path
    files: tuple[str, ...]
    secrets_left_out: tuple[str, ...]
    source: Literal["git", "directory"]


def is_secret(relative: str) -> bool:
    parts = relative.split("/")
    if ".git" in parts[:-1] or parts[-1] == ".git":
        return True
    return any(fnmatch.fnmatchcase(parts[-1], pattern) for pattern in SECRET_PATTERNS)


class IgnoreRules:
    """`.dockerignore` semantics: the last matching pattern wins, `!` re-includes, a pattern
    that matches a directory matches everything below it, and `**` spans directories."""

    def __init__(self, rules: Iterable[tuple[bool, re.Pattern[str]]] = ()) -> None:
        self.rules = tuple(rules)

    @classmethod
    def parse(cls, text: str) -> IgnoreRules:
        rules: list[tuple[bool, re.Pattern[str]]] = []
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            if negate:
                line = line[1:].strip()
            line = os.path.normpath(line).replace(os.sep, "/").lstrip("/")
            if line in ("", "."):
                continue
            rules.append((negate, re.compile(_pattern_regex(line))))
        return cls(rules)

    @classmethod
    def load(cls, directory: Path) -> IgnoreRules:
        try:
            return cls.parse((directory / ".dockerignore").read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()

    @property
    def has_negations(self) -> bool:
        return any(negate for negate, _ in self.rules)

    def ignored(self, relative: str) -> bool:
        parts = relative.split("/")
        candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        result = False
        for negate, regex in self.rules:
            if any(regex.fullmatch(candidate) for candidate in candidates):
                result = not negate
        return result


def _pattern_regex(pattern: str) -> str:
    """Translate a Go filepath.Match pattern, plus Docker's `**`, into a regular expression."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        elif char == "[":
            end = pattern.find("]", i + 2)
            if end == -1:
                out.append(re.escape(char))
            else:
                body = pattern[i + 1 : end].replace("\\", "\\\\")
                if body[0] in "!^":
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = end
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


def select_files(project_dir: Path) -> ContextFiles:
    """The files of `project_dir` that enter the app image (see the module docstring)."""
    root = project_dir.resolve()
    listed = _git_files(root)
    source: Literal["git", "directory"] = "git"
    if not listed:
        # Outside git, or a directory its enclosing repository ignores: git lists nothing.
        source = "directory"
        listed = list(_walk(root))
    rules = IgnoreRules.load(root)
    files: list[str] = []
    secrets: list[str] = []
    for relative in sorted(set(listed)):
        if rules.ignored(relative) or relative.rsplit("/", 1)[-1] in REPORT_FILES:
            continue
        if is_secret(relative):
            secrets.append(relative)
            continue
        path = root / relative
        if path.is_symlink() or path.is_file():
            files.append(relative)
    return ContextFiles(root, tuple(files), tuple(secrets), source)


def _git_files(root: Path) -> list[str]:
    try:
        done = run(["git", "-C", str(root), "ls-files", "-z", "-co", "--exclude-standard"],
                   timeout=60, check=False, what="git ls-files")
    except (OSError, UnicodeDecodeError, CommandError):
        return []
    if done.returncode != 0:
        return []
    listed: list[str] = []
    for name in done.stdout.split("\0"):
        if not name:
            continue
        path = root / name
        if path.is_dir() and not path.is_symlink():
            # A submodule is listed as one entry: take its files as a plain directory.
            listed.extend(f"{name}/{inner}" for inner in _walk(path))
        else:
            listed.append(name)
    return listed


def _walk(root: Path) -> Iterator[str]:
    rules = IgnoreRules.load(root)
    prune = not rules.has_negations
    for directory, dirnames, filenames in os.walk(root):
        base = Path(directory).relative_to(root).as_posix()
        prefix = "" if base == "." else base + "/"
        kept = []
        for name in sorted(dirnames):
            path = Path(directory, name)
            if name in SKIPPED_DIRS or (path / "pyvenv.cfg").exists():
                continue
            if path.is_symlink():
                yield prefix + name
                continue
            if prune and rules.ignored(prefix + name):
                continue
            kept.append(name)
        dirnames[:] = kept
        for name in filenames:
            if not name.endswith((".pyc", ".pyo")):
                yield prefix + name


def digest(
    context: ContextFiles, generated: Mapping[str, str | bytes], facts: Mapping[str, str]
) -> str:
    """sha256 over every input of the images: app file contents and modes, the generated
    Dockerfiles and configs, and `facts` (base image ids, wheelhouse key, recipe version)."""
    h = hashlib.sha256()

    def frame(kind: bytes, name: str, payload: bytes) -> None:
        encoded = name.encode("utf-8", "surrogateescape")
        h.update(b"%s %d %s %d\n" % (kind, len(encoded), encoded, len(payload)))
        h.update(payload)

    for key in sorted(facts):
        frame(b"fact", key, facts[key].encode())
    for name in sorted(generated):
        content = generated[name]
        frame(b"gen", name, content.encode() if isinstance(content, str) else content)
    for relative in context.files:
        path = context.root / relative
        if path.is_symlink():
            frame(b"link", relative, os.readlink(path).encode("utf-8", "surrogateescape"))
            continue
        executable = path.stat().st_mode & 0o111
        frame(b"exec" if executable else b"file", relative, path.read_bytes())
    return h.hexdigest()


def write_context(
    destination: Path,
    context: ContextFiles,
    generated: Mapping[str, str | bytes],
    wheelhouse: Path | None,
) -> None:
    """Write the build context: `app/` (the app's files), `wheels/`, and the generated files."""
    app = destination / APP_DIR
    app.mkdir(parents=True, exist_ok=True)
    for relative in context.files:
        source = context.root / relative
        target = app / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        else:
            shutil.copyfile(source, target)
            shutil.copystat(source, target)
    for name, content in generated.items():
        (destination / name).parent.mkdir(parents=True, exist_ok=True)
        (destination / name).write_bytes(content.encode() if isinstance(content, str) else content)
    wheels = destination / WHEELS_DIR
    wheels.mkdir(exist_ok=True)
    if wheelhouse is not None:
        for wheel in sorted(wheelhouse.glob("*.whl")):
            try:
                os.link(wheel, wheels / wheel.name)
            except OSError:
                shutil.copyfile(wheel, wheels / wheel.name)


def tar_context(context_dir: Path, members: Iterable[str], output: Path) -> Path:
    """Tar the named members of a written context, owned by root with normalized modes:
    files 0644 (0755 if executable), directories 0755. COPY then gives the app user
    read-only code whatever the umask and ownership on the host were."""

    def normalize(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        if info.isdir():
            info.mode = 0o755
        elif info.isfile():
            info.mode = 0o755 if info.mode & 0o111 else 0o644
        return info

    with tarfile.open(output, "w", format=tarfile.PAX_FORMAT) as tar:
        for member in members:
            tar.add(context_dir / member, arcname=member, recursive=True, filter=normalize)
    return output
