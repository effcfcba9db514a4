"""Run Compose on deploy/compose.yaml, whichever flavour the machine has, and read its containers.

Compose v2 (``docker compose``) is used where present, Debian's ``docker-compose`` v1.29
otherwise; both read the same file. Waiting for health is done here by polling ``docker inspect``
rather than ``up --wait`` (v1 has none), so both flavours behave the same. Containers are found by
Compose's labels, never by name: the file sets no ``container_name``. Whether a container runs
what the file now says is read the way Compose decides it (``config --hash``, the container's
config-hash label) plus its image ID, so ``sampleapp up`` can roll a service itself.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from functools import cache

import yaml

from sampleapp.errors import PreflightError
from sampleapp.ops.engine import NO_SUCH_OBJECT, docker, printed, probe, run, stream, tail
from sampleapp.ops.settings import DEPLOY, Settings

COMPOSE_FILE = DEPLOY / "compose.yaml"


@dataclass(frozen=True)
class Flavour:
    command: tuple[str, ...]
    version: str


@cache
def flavour() -> Flavour:
    """Compose v2 if the docker CLI has it, else docker-compose v1, else a PreflightError
    that shows what each of them said."""
    said = []
    for command in (("docker", "compose"), ("docker-compose",)):
        try:
            out = subprocess.run(
                [*command, "version", "--short"], capture_output=True, text=True, timeout=30
            )
        except FileNotFoundError:
            said.append(f"`{' '.join(command)}`: not installed")
            continue
        if out.returncode == 0 and out.stdout.strip():
            return Flavour(command, out.stdout.strip())
        last = tail(printed(out.stdout, out.stderr), 1) or "no output"
        said.append(f"`{' '.join(command)} version --short` exited {out.returncode}: {last}")
    raise PreflightError(
        f"Neither `docker compose` (v2) nor `docker-compose` (v1) works ({'; '.join(said)}): "
        "install one, e.g. `apt-get install docker-compose`"
    )


def compose(
    settings: Settings,
    *args: str,
    timeout: float = 600,
    check: bool = True,
    capture: bool = True,
) -> str:
    """Run one Compose command on the project, with ``settings`` as its environment; returns
    stdout (``capture=False``: shows it as it comes, and returns "")."""
    f = flavour()
    project = ["--project-name", settings.project, "--file", str(COMPOSE_FILE)]
    command = [*f.command, *project, *args]
    what = f"compose {' '.join(args[:2])}"
    fix = "run `sampleapp status` and `sampleapp logs` to see why"
    env = {**settings.deployment_defaults(settings.url), **settings.env}
    if not capture:
        stream(command, what=what, env=env, fix=fix)
        return ""
    return run(command, what=what, env=env, timeout=timeout, check=check, fix=fix).stdout


@dataclass(frozen=True)
class Container:
    id: str
    name: str
    service: str
    state: str  # running, exited, restarting, ...
    health: str  # healthy, unhealthy, starting, or "" without a healthcheck
    exit_code: int
    restarts: int  # how often Docker restarted it (its restart policy)
    image: str  # the ID (sha256:...) of the image it was created from
    config_hash: str  # Compose's hash of the service's configuration it was created with

    @property
    def ok(self) -> bool:
        return self.state == "running" and self.health in ("healthy", "")

    @property
    def looping(self) -> bool:
        """Crashed twice and waiting to start again: a crash loop, which waiting does not end."""
        return self.state == "restarting" and self.restarts >= 2


def containers(settings: Settings, service: str | None = None) -> list[Container]:
    """The project's containers (all states), optionally of one service."""
    filters = ["--filter", f"label=com.docker.compose.project={settings.project}"]
    if service:
        filters += ["--filter", f"label=com.docker.compose.service={service}"]
    ids = docker("ps", "-aq", *filters).split()
    if not ids:
        return []
    found = []
    # A container removed between `ps` and `inspect` (a roll, a scale) is simply not listed:
    # docker prints the others and fails; any other failure is raised.
    inspected = probe(["docker", "inspect", *ids], NO_SUCH_OBJECT, partial=True)
    for item in json.loads(inspected or "[]"):
        state, labels = item["State"], item["Config"]["Labels"] or {}
        found.append(
            Container(
                id=item["Id"][:12],
                name=item["Name"].lstrip("/"),
                service=labels.get("com.docker.compose.service", "?"),
                state=state["Status"],
                health=(state.get("Health") or {}).get("Status", ""),
                exit_code=int(state.get("ExitCode", 0)),
                restarts=int(item.get("RestartCount", 0)),
                image=item.get("Image", ""),
                config_hash=labels.get("com.docker.compose.config-hash", ""),
            )
        )
    return sorted(found, key=lambda c: (c.service, c.name))


def config_hashes(settings: Settings) -> dict[str, str]:
    """service -> the config hash Compose gives a container created now (``config --hash``)."""
    out = compose(settings, "config", "--hash", "*")
    return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)


def stop_grace_seconds(service: str) -> float:
    """The service's ``stop_grace_period`` in deploy/compose.yaml (Compose's default: 10 s)."""
    period = (yaml.safe_load(COMPOSE_FILE.read_text())["services"][service]).get(
        "stop_grace_period", "10s"
    )
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|us|m|s)", str(period))
    return sum(float(value) * units[unit] for value, unit in parts) or 10.0


def log_tail(container: Container, lines: int = 30) -> str:
    """The container's last log lines, stdout and stderr interleaved as written.

    Only ever part of the message of a failure being raised: when ``docker logs`` itself fails,
    its own complaint is what shows there, and the failure being reported still is raised.
    """
    out = subprocess.run(
        ["docker", "logs", "--tail", str(lines), container.id],
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        check=False,
    )
    return tail(out.stdout, lines)
