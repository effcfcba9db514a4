"""The Docker engine boundary: run ``docker`` commands, start the daemon, map failures.

Every call to the Docker CLI goes through :func:`docker` (or :func:`run` for other tools), so a
failing command becomes one :class:`StackError` that says what ran, what it printed last and
what to do next. On a machine where the engine is installed but not running (a CI container has
no init system) :func:`ensure_engine` starts ``dockerd`` in the background and waits for it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from sampleapp.errors import PreflightError, StackError

DOCKERD_LOG = Path("/var/log/sampleapp-dockerd.log")
MIN_ENGINE = (20, 10)


def tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


@contextmanager
def mapped_errors(what: str, fix: str) -> Iterator[None]:
    """Translate subprocess failures into a StackError naming the fix."""
    try:
        yield
    except subprocess.CalledProcessError as exc:
        output = tail(
            (exc.stderr or "") + (exc.stdout or "") if isinstance(exc.stderr, str) else ""
        )
        raise StackError(
            f"{what} failed (exit {exc.returncode}): {output or 'no output'}\n{fix}"
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise StackError(f"{what} did not finish within {exc.timeout:.0f} s: {fix}") from exc
    except FileNotFoundError as exc:
        raise PreflightError(f"{what}: {exc.filename} is not installed: {fix}") from exc


def run(
    args: Sequence[str],
    *,
    what: str | None = None,
    fix: str = "see the output above",
    input: str | None = None,
    timeout: float | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing its output; failures become StackError."""
    full_env = {**os.environ, **env} if env else None
    with mapped_errors(what or " ".join(args[:3]), fix):
        return subprocess.run(
            list(args),
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=full_env,
            cwd=cwd,
            check=check,
        )


def docker(
    *args: str,
    timeout: float | None = 300,
    check: bool = True,
    input: str | None = None,
    fix: str = "see the Docker engine's message above",
    env: Mapping[str, str] | None = None,
    what: str | None = None,
) -> str:
    """``docker <args>``, returning stdout."""
    return run(
        ["docker", *args],
        what=what or f"docker {' '.join(args[:2])}",
        fix=fix,
        timeout=timeout,
        check=check,
        input=input,
        env=env,
    ).stdout


def engine_version() -> tuple[int, int] | None:
    """The server's major.minor, or None when no engine answers."""
    try:
        out = subprocess.run(
            ["docker", "version", "--format", "{{.Server.Version}}"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0 or not out.stdout.strip():
        return None
    parts = out.stdout.strip().split("+")[0].split(".")
    return int(parts[0]), int(parts[1])


def ensure_engine(timeout: float = 60) -> tuple[int, int]:
    """Return the engine version, starting dockerd first when it is installed but not running."""
    if shutil.which("docker") is None:
        raise PreflightError("docker is not installed: install it with `apt-get install docker.io`")
    version = engine_version()
    if version is None:
        if shutil.which("dockerd") is None:
            raise PreflightError(
                "No Docker engine answers and dockerd is not installed: "
                "`apt-get install docker.io`, or start your engine"
            )
        if os.geteuid() != 0:
            raise PreflightError(
                "No Docker engine answers: start it with `sudo dockerd &` or "
                "`sudo systemctl start docker`"
            )
        # `setsid --fork` detaches the daemon: it outlives this process, is not our child to
        # reap, and the log file is only held open by the daemon itself.
        with DOCKERD_LOG.open("ab") as log:
            subprocess.run(
                ["setsid", "--fork", "dockerd"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                check=True,
            )
        deadline = time.monotonic() + timeout
        while (version := engine_version()) is None:
            if time.monotonic() > deadline:
                raise PreflightError(
                    f"dockerd did not answer within {timeout:.0f} s: see {DOCKERD_LOG}"
                )
            time.sleep(0.5)
    if version < MIN_ENGINE:
        raise PreflightError(
            f"Expected Docker ≥ {MIN_ENGINE[0]}.{MIN_ENGINE[1]} but found "
            f"{version[0]}.{version[1]}: upgrade the engine"
        )
    return version


def image_exists(ref: str) -> bool:
    return run(["docker", "image", "inspect", ref], check=False).returncode == 0


def image_id(ref: str) -> str | None:
    """The image's full ID (``sha256:...``), or None when the engine has no such image."""
    out = run(["docker", "image", "inspect", "--format", "{{.Id}}", ref], check=False)
    return out.stdout.strip() or None if out.returncode == 0 else None


def image_labels(ref: str) -> dict[str, str]:
    """The image's labels; empty when it has none or does not exist."""
    out = run(
        ["docker", "image", "inspect", "--format", "{{json .Config.Labels}}", ref], check=False
    )
    if out.returncode != 0:
        return {}
    labels = json.loads(out.stdout or "null")
    return dict(labels) if isinstance(labels, dict) else {}


def registry_reachable(ref: str) -> bool:
    """Whether a public base image can be pulled (fails fast when no registry answers)."""
    return run(["docker", "pull", "-q", ref], check=False, timeout=600).returncode == 0


def images_in_use() -> set[str]:
    """The image names containers on the engine (running or not) were created from."""
    ids = docker("ps", "-aq").split()
    if not ids:
        return set()
    return set(docker("inspect", "--format", "{{.Config.Image}}", *ids, check=False).split())
