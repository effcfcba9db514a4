"""The image's build context as ``docker build`` sees it, and content hashes of it.

``sampleapp image build`` skips a build whose inputs did not change, and gives the roles that must
not restart on an app release (proxy, dns, register-db) an image tagged by a hash of only what
they run. Both hashes are computed here, from the files ``docker build`` would send: the
``.dockerignore`` patterns are read the way Docker's patternmatcher reads them (the last pattern
matching a path or one of its parents decides), so a file the build never sees changes nothing.
(pathspec would not do: gitignore's ``!README.md`` re-includes a README.md at any depth.)
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

from sampleapp.ops.settings import REPO

# What proxy, dns and register-db run, besides the installed dependencies and the base image:
# the entry point and what it imports for them (healthcheck included), the discovery package, the
# nginx template and 503 page, and the static files the proxy serves (collected into the image).
# The rest of sampleapp/ (the Django app, serve.py, ops/) is app-only.
INFRA_FILES = frozenset({"Dockerfile", ".dockerignore", "requirements.lock"}) | {
    f"sampleapp/{name}.py" for name in ("__init__", "cli", "errors", "progress", "healthcheck")
}
INFRA_TREES = ("sampleapp/discovery/", "deploy/nginx/", "sampleapp/web/static/")
# A .dockerignore pattern's tokens: `**` (with its slash), `*`, `?`, a [class], an escaped char.
TOKENS = re.compile(r"\*\*/?|\*|\?|\[[^]]*\]|\\.|.", re.DOTALL)


def _ignore_regex(pattern: str) -> re.Pattern[str]:
    def token(found: re.Match[str]) -> str:
        text = found.group()
        if text.startswith("**"):
            return ".*" if found.end() == len(pattern) else "(.*/)?"
        if text in ("*", "?"):
            return "[^/]*" if text == "*" else "[^/]"
        return text if text[0] == "[" and len(text) > 1 else re.escape(text[-1])

    return re.compile("^" + TOKENS.sub(token, pattern) + "$")


@dataclass(frozen=True)
class IgnoreRule:
    regex: re.Pattern[str]
    include: bool  # a `!pattern`
    literal: str  # the leading components without wildcards: where an include can apply


def ignore_rules(root: Path) -> list[IgnoreRule]:
    path = root / ".dockerignore"
    lines = [line.strip() for line in path.read_text().splitlines()] if path.exists() else []
    rules = []
    for line in (line for line in lines if line and not line.startswith("#")):
        pattern = os.path.normpath(line.removeprefix("!").strip()).lstrip("/")
        literal = re.split(r"/?[^/]*[*?\[\\]", pattern, maxsplit=1)[0]
        rules.append(IgnoreRule(_ignore_regex(pattern), line.startswith("!"), literal))
    return rules


def context_files(root: Path = REPO) -> list[str]:
    """The build context's files, relative and sorted: what ``docker build root`` sends.

    The Dockerfile and .dockerignore are always sent. An ignored directory is not walked unless
    an include pattern may reach into it (``.venv`` and ``.git`` never are).
    """
    rules = ignore_rules(root)
    includes = [rule.literal for rule in rules if rule.include]

    def sent(path: str) -> bool:
        """Docker's rule: the last pattern matching the path or one of its parents decides."""
        parts = path.split("/")
        ancestry = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
        matching = (
            rule.include for rule in reversed(rules) if any(map(rule.regex.match, ancestry))
        )
        return next(matching, True)

    def reachable(directory: str) -> bool:
        inside = f"{directory}/"
        return any(
            not p or f"{p}/".startswith(inside) or inside.startswith(f"{p}/") for p in includes
        )

    found = {name for name in ("Dockerfile", ".dockerignore") if (root / name).exists()}
    for directory, dirs, files in os.walk(root):
        here = Path(directory).relative_to(root).as_posix()
        prefix = "" if here == "." else here + "/"
        dirs[:] = [name for name in dirs if sent(prefix + name) or reachable(prefix + name)]
        found.update(prefix + name for name in files if sent(prefix + name))
    return sorted(found)


def _digest(root: Path, paths: Iterable[str], extra: Iterable[str] = ()) -> str:
    """sha256 over each file's path, executable bit and content (a symlink: its target)."""
    total = hashlib.sha256()
    for path in sorted(paths):
        info = (root / path).lstat()
        link = stat.S_ISLNK(info.st_mode)
        data = os.readlink(root / path).encode() if link else (root / path).read_bytes()
        executable = "x" if info.st_mode & 0o111 else "-"
        total.update(f"{path}\0{executable}\0{hashlib.sha256(data).hexdigest()}\n".encode())
    for item in extra:
        total.update(f"{item}\n".encode())
    return total.hexdigest()


def _pyproject_packaging(root: Path) -> str:
    """pyproject.toml's tables that change the installed package (not the linters' and tests'
    config, nor the dev extras), as canonical JSON."""
    data = tomllib.loads((root / "pyproject.toml").read_text())
    project = {k: v for k, v in data.get("project", {}).items() if k != "optional-dependencies"}
    tables = {"build-system": data.get("build-system", {}), "project": project}
    tables["tool.setuptools"] = data.get("tool", {}).get("setuptools", {})
    return json.dumps(tables, sort_keys=True)


def _is_wheel(path: str) -> bool:
    return path.startswith("wheelhouse/") and path.endswith(".whl")


def _sha256(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


@dataclass(frozen=True)
class BuildInputs:
    """Digests of what the app image is built from; its two labels are computed from them.

    The project's own wheel (``wheelhouse/sampleapp-*.whl``) is left out: it is made from the
    sources on every build, and they are hashed themselves.
    """

    sources: str  # every context file but the wheelhouse's wheels
    infra: str  # the infra roles' files (INFRA_FILES, INFRA_TREES) and pyproject's packaging
    wheels: str  # the third-party wheels
    base: str  # the Python base image's ID
    revision: str  # the commit, written into a label

    @property
    def app_hash(self) -> str:
        return _sha256("app", self.sources, self.wheels, self.base, self.revision)

    @property
    def infra_hash(self) -> str:
        return _sha256("infra", self.infra, self.wheels, self.base)


def wheels_digest(root: Path = REPO) -> str:
    files = [p for p in context_files(root) if _is_wheel(p)]
    return _digest(root, [p for p in files if not p.startswith("wheelhouse/sampleapp-")])


def build_inputs(root: Path = REPO, *, base: str, revision: str = "unknown") -> BuildInputs:
    """Hash the build context under ``root`` for a build on the base image ``base`` (its ID)."""
    files = [p for p in context_files(root) if not _is_wheel(p)]
    infra = [p for p in files if p in INFRA_FILES or p.startswith(INFRA_TREES)]
    return BuildInputs(
        _digest(root, files),
        _digest(root, infra, [_pyproject_packaging(root)]),
        wheels_digest(root),
        base,
        revision,
    )
