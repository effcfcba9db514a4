"""Run Compose on deploy/compose.yaml, whichever flavour the machine has, and read its containers.

Compose v2 (``docker compose``) is used where present, Debian's ``docker-compose`` v1.29
otherwise; both read the same file. Waiting for health is done here by polling ``docker inspect``
rather than ``up --wait`` (v1 has none), so both flavours behave the same. Containers are found by
Compose's labels, never by name: the file sets no ``container_name``.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from sampleapp.errors import PreflightError
from sampleapp.ops.engine import docker, run, tail

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
COMPOSE_FILE = DEPLOY / "compose.yaml"
ENV_FILE = DEPLOY / ".env"
DEFAULT_PROJECT = "sampleapp"


def project() -> str:
    """The Compose project name: SAMPLEAPP_PROJECT, so a second stack can run beside the first."""
    return environment().get("SAMPLEAPP_PROJECT") or DEFAULT_PROJECT


@dataclass(frozen=True)
class Flavour:
    command: tuple[str, ...]
    version: str


@cache
def flavour() -> Flavour:
    """Compose v2 if the docker CLI has it, else docker-compose v1, else a PreflightError."""
    for command in (("docker", "compose"), ("docker-compose",)):
        try:
            out = subprocess.run(
                [*command, "version", "--short"], capture_output=True, text=True, timeout=30
            )
        except FileNotFoundError:
            continue
        if out.returncode == 0 and out.stdout.strip():
            return Flavour(command, out.stdout.strip())
    raise PreflightError(
        "Neither `docker compose` (v2) nor `docker-compose` (v1) was found: "
        "install one, e.g. `apt-get install docker-compose`"
    )


def env_file_values(path: Path = ENV_FILE) -> dict[str, str]:
    """KEY=VALUE lines of deploy/.env (Compose's own format), without comments."""
    values: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                key, _, value = line.partition("=")
                values[key.strip()] = value.strip().strip("'\"")
    return values


def environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """What Compose will see: deploy/.env, overridden by the shell, overridden by ``extra``."""
    return {**env_file_values(), **os.environ, **(extra or {})}


def compose(
    *args: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 600,
    check: bool = True,
    capture: bool = True,
) -> str:
    """Run one Compose command on the project; returns stdout."""
    f = flavour()
    command = [*f.command, "--project-name", project(), "--file", str(COMPOSE_FILE), *args]
    if not capture:
        subprocess.run(command, env=environment(env), check=False)
        return ""
    return run(
        command,
        what=f"compose {' '.join(args[:2])}",
        env=environment(env),
        timeout=timeout,
        check=check,
        fix="run `sampleapp status` and `sampleapp logs` to see why",
    ).stdout


@dataclass(frozen=True)
class Container:
    id: str
    name: str
    service: str
    state: str  # running, exited, restarting, ...
    health: str  # healthy, unhealthy, starting, or "" without a healthcheck
    exit_code: int
    ip: dict[str, str]  # network -> address

    @property
    def ok(self) -> bool:
        return self.state == "running" and self.health in ("healthy", "")


def containers(service: str | None = None) -> list[Container]:
    """The project's containers (all states), optionally of one service."""
    name = project()
    filters = ["--filter", f"label=com.docker.compose.project={name}"]
    if service:
        filters += ["--filter", f"label=com.docker.compose.service={service}"]
    ids = docker("ps", "-aq", *filters).split()
    if not ids:
        return []
    found = []
    for item in json.loads(docker("inspect", *ids)):
        state = item["State"]
        networks = item["NetworkSettings"]["Networks"] or {}
        found.append(
            Container(
                id=item["Id"][:12],
                name=item["Name"].lstrip("/"),
                service=item["Config"]["Labels"].get("com.docker.compose.service", "?"),
                state=state["Status"],
                health=(state.get("Health") or {}).get("Status", ""),
                exit_code=int(state.get("ExitCode", 0)),
                ip={
                    network.removeprefix(f"{name}_"): net.get("IPAddress", "")
                    for network, net in networks.items()
                },
            )
        )
    return sorted(found, key=lambda c: (c.service, c.name))


def log_tail(container: Container, lines: int = 30) -> str:
    """The container's last log lines, stdout and stderr interleaved as written."""
    out = subprocess.run(
        ["docker", "logs", "--tail", str(lines), container.id],
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        check=False,
    )
    return tail(out.stdout, lines)
