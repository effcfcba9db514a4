"""The image's build context as ``docker build`` sees it, and content hashes of it.

``sampleapp image build`` skips a build whose inputs did not change, and gives the roles that must
not restart on an app release (proxy, dns, register-db) an image tagged by a hash of only what
they run. Both hashes are computed here, from the files ``docker build`` would send: the
``.dockerignore`` patterns are read the way Docker's patternmatcher reads them (the last pattern
matching a path or one of its parents decides), so a file the build never sees changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# What proxy, dns and register-db run, besides the installed dependencies and the base image:
# the entry point and what it imports for them (healthcheck included), the discovery package, the
# nginx template and 503 page. The rest of sampleapp/ (the Django app, serve.py, ops/) is app-only.
INFRA_FILES = frozenset(
    {
        "Dockerfile",
        ".dockerignore",
        "requirements.lock",
        "sampleapp/__init__.py",
        "sampleapp/cli.py",
        "sampleapp/errors.py",
        "sampleapp/progress.py",
        "sampleapp/healthcheck.py",
    }
)
INFRA_TREES = ("sampleapp/discovery/", "deploy/nginx/")
# pyproject.toml's tables that change the installed package; not the linters' and tests' config.
INFRA_PYPROJECT = ("build-system", "project", "tool.setuptools")


def _ignore_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as Docker's patternmatcher reads it (``**``, ``*``, ``?``)."""
    out, i = "^", 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*" and pattern[i + 1 : i + 2] == "*":
            i += 1
            if pattern[i + 1 : i + 2] == "/":
                i += 1
            out += ".*" if i + 1 >= len(pattern) else "(.*/)?"
        elif ch == "*":
            out += "[^/]*"
        elif ch == "?":
            out += "[^/]"
        elif ch == "[" and "]" in pattern[i:]:
            end = pattern.index("]", i)
            out += pattern[i : end + 1]
            i = end
        elif ch == "\\" and i + 1 < len(pattern):
            i += 1
            out += re.escape(pattern[i])
        else:
            out += re.escape(ch)
        i += 1
    return re.compile(out + "$")


@dataclass(frozen=True)
class IgnoreRule:
    regex: re.Pattern[str]
    include: bool  # a `!pattern`
    literal: str  # the leading components without wildcards: where an include can apply


def ignore_rules(root: Path) -> list[IgnoreRule]:
    path = root / ".dockerignore"
    rules = []
    for line in path.read_text().splitlines() if path.exists() else []:
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        include = pattern.startswith("!")
        pattern = os.path.normpath(pattern.removeprefix("!").strip()).lstrip("/")
        literal = []
        for part in pattern.split("/"):
            if re.search(r"[*?\[\\]", part):
                break
            literal.append(part)
        rules.append(IgnoreRule(_ignore_regex(pattern), include, "/".join(literal)))
    return rules


def _ignored(path: str, rules: list[IgnoreRule]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = path.split("/")
    candidates = [path] + ["/".join(parts[:n]) for n in range(1, len(parts))]
    ignored = False
    for rule in rules:
        if any(rule.regex.match(candidate) for candidate in candidates):
            ignored = not rule.include
    return ignored


def context_files(root: Path = REPO) -> list[str]:
    """The build context's files, relative and sorted: what ``docker build root`` sends.

    The Dockerfile and .dockerignore are always sent. An ignored directory is not walked unless
    an include pattern may reach into it (``.venv`` and ``.git`` never are).
    """
    rules = ignore_rules(root)
    includes = [rule.literal for rule in rules if rule.include]
    found = {name for name in ("Dockerfile", ".dockerignore") if (root / name).exists()}
    for directory, dirs, files in os.walk(root):
        here = Path(directory).relative_to(root).as_posix()
        prefix = "" if here == "." else here + "/"
        kept = []
        for name in sorted(dirs):
            path = prefix + name
            reachable = any(
                not literal
                or literal.startswith(path + "/")
                or literal == path
                or path.startswith(literal + "/")
                for literal in includes
            )
            if reachable or not _ignored(path, rules):
                kept.append(name)
        dirs[:] = kept
        found.update(prefix + name for name in files if not _ignored(prefix + name, rules))
    return sorted(found)


def _digest(root: Path, paths: Iterable[str], extra: Iterable[str] = ()) -> str:
    """sha256 over each file's path, executable bit and content (a symlink: its target)."""
    total = hashlib.sha256()
    for path in sorted(paths):
        full = root / path
        info = full.lstat()
        if stat.S_ISLNK(info.st_mode):
            content = hashlib.sha256(os.readlink(full).encode()).hexdigest()
        else:
            content = hashlib.sha256(full.read_bytes()).hexdigest()
        executable = "x" if info.st_mode & 0o111 else "-"
        total.update(f"{path}\0{executable}\0{content}\n".encode())
    for item in extra:
        total.update(f"{item}\n".encode())
    return total.hexdigest()


def _pyproject_packaging(root: Path) -> str:
    """The packaging part of pyproject.toml (INFRA_PYPROJECT), as canonical JSON."""
    path = root / "pyproject.toml"
    data = tomllib.loads(path.read_text()) if path.exists() else {}
    picked: dict[str, object] = {}
    for dotted in INFRA_PYPROJECT:
        table: object = data
        for key in dotted.split("."):
            table = table.get(key, {}) if isinstance(table, dict) else {}
        if dotted == "project" and isinstance(table, dict):
            table = {k: v for k, v in table.items() if k != "optional-dependencies"}
        picked[dotted] = table
    return json.dumps(picked, sort_keys=True)


def _is_wheel(path: str) -> bool:
    return path.startswith("wheelhouse/") and path.endswith(".whl")


def _is_infra(path: str) -> bool:
    return path in INFRA_FILES or path.startswith(INFRA_TREES)


@dataclass(frozen=True)
class BuildInputs:
    """Digests of what the app image is built from; its two labels are computed from them.

    The project's own wheel (``wheelhouse/sampleapp-*.whl``) is left out: it is made from the
    sources on every build, and they are hashed themselves.
    """

    sources: str  # every context file but the wheelhouse's wheels
    infra: str  # the infra roles' files (INFRA_FILES, INFRA_TREES, pyproject's packaging)
    wheels: str  # the third-party wheels
    base: str  # the Python base image's ID
    revision: str  # the commit, written into a label

    @property
    def app_hash(self) -> str:
        parts = ("app", self.sources, self.wheels, self.base, self.revision)
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()

    @property
    def infra_hash(self) -> str:
        parts = ("infra", self.infra, self.wheels, self.base)
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def wheels_digest(root: Path = REPO) -> str:
    files = [p for p in context_files(root) if _is_wheel(p)]
    return _digest(root, [p for p in files if not p.startswith("wheelhouse/sampleapp-")])


def build_inputs(root: Path = REPO, *, base: str, revision: str = "unknown") -> BuildInputs:
    """Hash the build context under ``root`` for a build on the base image ``base`` (its ID)."""
    files = [p for p in context_files(root) if not _is_wheel(p)]
    return BuildInputs(
        sources=_digest(root, files),
        infra=_digest(root, [p for p in files if _is_infra(p)], [_pyproject_packaging(root)]),
        wheels=wheels_digest(root),
        base=base,
        revision=revision,
    )
