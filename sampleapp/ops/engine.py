"""The Docker engine boundary: run ``docker`` commands, start the daemon, map failures.

Every call to the Docker CLI goes through :func:`docker` (or :func:`run` for other tools), so a
failing command becomes one :class:`StackError` that says what ran, its exit status, what it
printed last and what to do next. No failure is read as an answer: a command whose failure has
one known meaning (no such image, no registry answers) runs through :func:`probe`, which tells
that meaning by the CLI's own message and raises for any other (no engine, no permission, a
timeout). :func:`stream` does the same for a command whose output goes to the terminal. On a
machine where the engine is installed but not running (a CI container has no init system)
:func:`ensure_engine` starts ``dockerd`` in the background and waits for it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from subprocess import PIPE, STDOUT

from sampleapp.errors import PreflightError, StackError
from sampleapp.poll import PENDING, poll

DOCKERD_LOG = Path("/var/log/sampleapp-dockerd.log")
MIN_ENGINE = (20, 10)
# What the docker CLI prints for the one known failure of a probe (see :func:`probe`).
CANNOT_CONNECT = ("Cannot connect to the Docker daemon", "error during connect")
NO_SUCH_IMAGE = ("No such image",)
NO_SUCH_OBJECT = ("No such object", "No such container")
ENGINE_FIX = "see the Docker engine's message above"


def tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def printed(stdout: object, stderr: object) -> str:
    """What a command printed, its error output last: that is where a CLI says why it failed."""
    return "\n".join(part.strip() for part in (stdout, stderr) if isinstance(part, str) and part)


def failure(what: str, code: int, output: str, fix: str) -> StackError:
    """The one message of a failed command: what ran, its exit status, its last lines, the fix."""
    return StackError(f"{what} failed (exit {code}): {tail(output) or 'no output'}\n{fix}")


@contextmanager
def mapped_errors(what: str, fix: str) -> Iterator[None]:
    """Translate subprocess failures into a StackError naming the fix."""
    try:
        yield
    except subprocess.CalledProcessError as exc:
        raise failure(what, exc.returncode, printed(exc.stdout, exc.stderr), fix) from exc
    except subprocess.TimeoutExpired as exc:
        raise StackError(f"{what} did not finish within {exc.timeout:.0f} s: {fix}") from exc
    except FileNotFoundError as exc:
        raise PreflightError(f"{what}: {exc.filename} is not installed: {fix}") from exc


def environment_without(*prefixes: str) -> dict[str, str]:
    """This process's environment for a child, without the variables starting with ``prefixes``."""
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


def run(
    args: Sequence[str],
    *,
    what: str | None = None,
    fix: str = "see the output above",
    input: str | None = None,
    timeout: float | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing its output; failures become StackError."""
    env = {**os.environ, **env} if env else None
    with mapped_errors(what or " ".join(args[:3]), fix):
        return subprocess.run(
            args, input=input, capture_output=True, text=True, timeout=timeout, env=env, check=check
        )


def probe(
    args: Sequence[str],
    known: Sequence[str],
    *,
    what: str | None = None,
    fix: str = ENGINE_FIX,
    timeout: float | None = 300,
    partial: bool = False,
) -> str | None:
    """Run a command whose failure has one known meaning: stdout, or None for that failure.

    The meaning (an object that does not exist, a registry that does not answer) is told by the
    CLI's message: every line it printed on stderr must contain one of ``known`` (any case).
    Any other failure (no engine, no permission, a timeout) raises like :func:`run`. With
    ``partial``, that failure returns what was printed for the objects that do exist (``docker
    inspect a b`` prints a's and fails on b) instead of None.
    """
    what = what or " ".join(args[:3])
    result = run(args, what=what, fix=fix, timeout=timeout, check=False)
    if result.returncode == 0:
        return result.stdout
    said = [line.lower() for line in result.stderr.splitlines() if line.strip()]
    if said and all(any(k.lower() in line for k in known) for line in said):
        return result.stdout if partial else None
    raise failure(what, result.returncode, printed(result.stdout, result.stderr), fix)


def stream(
    args: Sequence[str],
    *,
    what: str | None = None,
    fix: str = "see the output above",
    env: Mapping[str, str] | None = None,
) -> None:
    """Run a command with its output (stderr merged) on this terminal as it comes; a failure
    raises like :func:`run`, with the last 30 lines it printed kept for the message."""
    what = what or " ".join(args[:3])
    last: deque[str] = deque(maxlen=30)
    env = {**os.environ, **env} if env else None
    with (
        mapped_errors(what, fix),
        subprocess.Popen(
            args, stdout=PIPE, stderr=STDOUT, text=True, errors="replace", env=env
        ) as process,
    ):
        for line in process.stdout or ():
            print(line, end="", flush=True)
            last.append(line)
    if process.returncode != 0:
        raise failure(what, process.returncode, "".join(last), fix)


def docker(
    *args: str,
    timeout: float | None = 300,
    check: bool = True,
    input: str | None = None,
    fix: str = ENGINE_FIX,
    env: Mapping[str, str] | None = None,
    what: str | None = None,
) -> str:
    """``docker <args>``, returning stdout."""
    return run(
        ["docker", *args], what=what, fix=fix, timeout=timeout, check=check, input=input, env=env
    ).stdout


def exec_in(
    container: str,
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    host: str | None = None,
    where: str = "",
) -> subprocess.CompletedProcess[str]:
    """``docker exec``: the command's output and exit status, whatever it is. docker's own
    failure (no engine, no such container, the command not found: 125-127) raises."""
    sets = [a for k, v in (env or {}).items() for a in ("-e", f"{k}={v}")]
    args = ["docker", *(["--host", host] if host else []), "exec", *sets, container, *argv]
    result = run(args, check=False, timeout=60)
    docker_said = (*CANNOT_CONNECT, *NO_SUCH_OBJECT, "Error response from daemon")
    if result.returncode in (125, 126, 127) or (
        result.returncode and any(line in result.stderr for line in docker_said)
    ):
        what = f"docker exec {container}{where} {' '.join(argv)}"
        said = printed(result.stdout, result.stderr)
        raise failure(what, result.returncode, said, "see `sampleapp status`")
    return result


def version_tuple(raw: str, what: str) -> tuple[int, int]:
    """``20.10.24+dfsg1`` -> (20, 10); what a command printed that is no version raises."""
    parts = raw.strip().split("+")[0].split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (ValueError, IndexError):
        raise StackError(
            f"{what} printed {raw.strip()!r}, expected a version like 20.10.24: "
            "check which `docker` is first on PATH (`command -v docker`)"
        ) from None


def engine_version() -> tuple[int, int] | None:
    """The server's major.minor, or None when no engine answers (a daemon that is not running).

    Any other failure (no permission on the socket, a daemon that hangs) raises: starting
    another dockerd would not help.
    """
    args = ["docker", "version", "--format", "{{.Server.Version}}"]
    fix = "if it says permission denied: `sudo usermod -aG docker $USER`, then log in again"
    out = probe(args, CANNOT_CONNECT, timeout=20, fix=fix)
    return None if out is None else version_tuple(out, "docker version (server)")


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
        with (
            DOCKERD_LOG.open("ab") as log,
            mapped_errors("setsid --fork dockerd", f"see {DOCKERD_LOG}"),
        ):
            detach = ["setsid", "--fork", "dockerd"]
            subprocess.run(detach, stdin=subprocess.DEVNULL, stdout=log, stderr=log, check=True)
        version = poll(
            "Waiting for dockerd to answer",
            lambda: engine_version() or PENDING,
            timeout,
            interval=0.5,
            fail=lambda why: PreflightError(f"{why}: see {DOCKERD_LOG}"),
        )
    if version < MIN_ENGINE:
        raise PreflightError(
            f"Expected Docker ≥ {MIN_ENGINE[0]}.{MIN_ENGINE[1]} but found "
            f"{version[0]}.{version[1]}: upgrade the engine"
        )
    return version


def image_exists(ref: str) -> bool:
    return image_id(ref) is not None


def image_id(ref: str) -> str | None:
    """The image's full ID (``sha256:...``), or None when the engine has no such image."""
    out = probe(["docker", "image", "inspect", "--format", "{{.Id}}", ref], NO_SUCH_IMAGE)
    return (out or "").strip() or None


def image_labels(ref: str) -> dict[str, str]:
    """The image's labels; empty when it has none or does not exist."""
    args = ["docker", "image", "inspect", "--format", "{{json .Config.Labels}}", ref]
    labels = json.loads(probe(args, NO_SUCH_IMAGE) or "null")
    return dict(labels) if isinstance(labels, dict) else {}


def registry_reachable(ref: str) -> bool:
    """Whether a public base image can be pulled (fails fast when no registry answers).

    Only a refusal the daemon gives (no registry answers, no such image there, a rate limit) is
    a no; the CLI failing to reach the daemon is not an answer about registries, and raises.
    """
    args, refused = ["docker", "pull", "-q", ref], ("Error response from daemon",)
    return probe(args, refused, what=f"docker pull {ref}", timeout=600) is not None


def images_in_use() -> set[str]:
    """The image names containers on the engine (running or not) were created from."""
    ids = docker("ps", "-aq").split()
    if not ids:
        return set()
    # A container removed between `ps` and `inspect` is simply not listed.
    args = ["docker", "inspect", "--format", "{{.Config.Image}}", *ids]
    return set((probe(args, NO_SUCH_OBJECT, partial=True) or "").split())
