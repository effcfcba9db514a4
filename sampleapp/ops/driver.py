"""One deployment story for every target: pre-flight, apply, healthy, registered, serving.

A target is where the stack runs: the one-host Compose project (``stack.ComposeStack``) or the
Swarm cluster (``cluster_stack.SwarmStack``); the cloud machines of later work are a Swarm reached
over SSH, a third implementation of ``Target``. A target knows how to check before it changes
anything, how to make its services what deploy/ says, how to list them with their health, how to
run a command in one of them and how to show their logs. Everything else is told once, here:
the order of the waits, reading the registered app servers from etcd (etcdctl in an etcd
container, as a person would: no etcd port is published), the final 200 and the line that
prints the URL and the demo login.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from sampleapp import demo
from sampleapp.discovery import keys
from sampleapp.errors import SampleappError, StackError
from sampleapp.ops import tls
from sampleapp.ops.settings import Settings
from sampleapp.poll import Pending, poll
from sampleapp.progress import Progress

ETCD = ("etcd", "etcd-1", "etcd-2", "etcd-3")  # the etcd services of either target
INSIDE = ("proxy", "web", "dns")  # services whose containers can run `sampleapp status`


@dataclass(frozen=True)
class Unit:
    """One container (Compose) or task (Swarm) of a service."""

    service: str
    where: str  # the container's name, or the machine a task runs on
    state: str  # running, exited, starting, complete, ...
    health: str = ""  # healthy, unhealthy, starting; "" without a healthcheck
    error: str = ""  # why it ended, when it did


@dataclass(frozen=True)
class Service:
    name: str
    mode: str  # replicated, global, job
    ready: int  # units running healthy (a job: completed)
    wanted: int
    converged: bool  # every unit runs healthy on what the files now say (a job: done)
    failed: str = ""  # why waiting longer cannot help (exited, an update paused or rolled back)
    units: tuple[Unit, ...] = ()


@dataclass(frozen=True)
class Machine:
    """A machine of a cluster; a one-host target has none to list."""

    hostname: str
    state: str  # the machine itself: running, exited
    swarm: str  # ready, down, or "-" when the swarm does not know it
    manager: str  # leader, reachable, unreachable, worker
    address: str
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Ran:
    """What a command run in a service's container printed, its exit status and where it ran."""

    out: str
    err: str
    code: int
    where: str  # "etcd-2 on core-02", "sampleapp_etcd_1"


class Target(Protocol):
    name: str  # compose, cluster
    settings: Settings
    front: str  # the service that holds the public port
    stages: tuple[tuple[str, ...], ...]  # services in the order they must come up

    @property
    def url(self) -> str: ...

    def exists(self) -> bool: ...

    def preflight(self) -> None: ...

    def apply(self, progress: Progress, timeout: float) -> None: ...

    def servers_wanted(self) -> int: ...

    def services(self) -> dict[str, Service]: ...

    def machines(self) -> list[Machine]: ...

    def exec(
        self, names: Sequence[str], argv: Sequence[str], env: Mapping[str, str] | None = None
    ) -> Ran:
        """``argv`` in a running container of the first of ``names`` that has one. Raises
        when none runs or docker cannot run it; the command's own failure is in ``Ran``."""
        ...

    def logs(self, service: str | None, lines: int, follow: bool) -> None: ...

    def remove(self, progress: Progress, volumes: bool) -> None: ...

    def failure(self, service: str, headline: str) -> StackError: ...


def deploy(target: Target, progress: Progress, timeout: float) -> str:
    """The whole story; returns the URL."""
    progress.step("Pre-flight checks (nothing is changed yet)")
    target.preflight()
    target.apply(progress, timeout)
    for names in target.stages:
        wait_services(target, names, progress, timeout)
    wait_registered(target, target.servers_wanted(), progress, timeout)
    wait_serving(target, progress, timeout)
    email, password = demo.LOGIN
    cert = tls.certificate(target.settings)
    kind = "certificate" if cert.given else "self-signed certificate"
    progress.info(f"HTTPS {kind} {cert.cert}, SHA-256 fingerprint {cert.fingerprint}")
    progress.done(f"sampleapp is up at {target.url}  (sign in as {email} / {password})")
    return target.url


def wait_services(
    target: Target, names: Sequence[str], progress: Progress, timeout: float
) -> dict[str, Service]:
    """Until every service in ``names`` has converged; a failed one is raised at once."""
    what = " and ".join(names)
    verb = "finish" if names == ("migrate",) else "run healthy"
    late: list[str] = []

    def check() -> dict[str, Service] | Pending:
        found = target.services()
        late[:] = [n for n in names if n not in found or not found[n].converged]
        if not late:
            return found
        if failed := [n for n in late if n in found and found[n].failed]:
            raise target.failure(failed[0], f"{failed[0]} {found[failed[0]].failed}")
        return Pending(
            ", ".join(f"{n} {found[n].ready}/{found[n].wanted}" for n in names if n in found)
            or "not created yet"
        )

    found = poll(
        f"Waiting for {what} to {verb}",
        check,
        timeout,
        progress=progress,
        fail=lambda why: target.failure(late[0] if late else names[0], why),
    )
    progress.info(", ".join(f"{n} {found[n].ready}/{found[n].wanted}" for n in names))
    return found


def registered(target: Target) -> dict[str, str]:
    """``/services/app/<instance>`` -> ``host:port``, read by etcdctl in an etcd container.

    Raises when no etcd member answers: empty means that no server is registered.
    """
    prefix = keys.SERVICES_PREFIX
    argv = ("etcdctl", "get", "--prefix", prefix)
    ran = target.exec(ETCD, argv, {"ETCDCTL_API": "3"})
    lines = ran.out.splitlines()
    if ran.code or len(lines) % 2:
        said = (ran.err if ran.code else ran.out).strip().splitlines() or ["nothing"]
        raise StackError(
            f"etcdctl get --prefix {prefix} in {ran.where} "
            + (f"exited {ran.code}" if ran.code else f"printed {len(lines)} lines, not pairs")
            + f"; the last line: {said[-1]!r}. Next: `sampleapp status --target {target.name}` "
            "shows which member is unhealthy"
        )
    return {k.removeprefix(prefix): v for k, v in zip(lines[::2], lines[1::2], strict=True)}


def discovered(target: Target) -> tuple[dict[str, Any] | None, str, str]:
    """What etcd holds (and the proxy sees), as ``sampleapp status --target host --json`` reads
    it inside the deployment, preferably in the proxy; where it was read; why not, if not."""
    try:
        ran = target.exec(INSIDE, ("sampleapp", "status", "--target", "host", "--json"))
    except SampleappError as exc:
        return None, "", str(exc)
    try:
        [report] = json.loads(ran.out)["targets"]
        return report["discovery"], ran.where, ""
    except (ValueError, KeyError, TypeError):
        said = (ran.err or ran.out).strip().splitlines() or ["nothing"]
        return None, ran.where, f"`sampleapp status` in {ran.where} exited {ran.code}: {said[-1]}"


def wait_registered(target: Target, count: int, progress: Progress, timeout: float) -> None:
    """Until exactly ``count`` servers are registered (stale keys of a crash expire first)."""

    def check() -> bool | Pending:
        n = len(registered(target))
        return True if n == count else Pending(f"{n} of {count} registered")

    poll(
        f"Waiting for {count} app servers to register in etcd",
        check,
        timeout,
        progress=progress,
        interval=0.5,
        fail=lambda why: target.failure("web", why),
    )
    progress.info(f"{count} of {count} servers registered")


def wait_serving(target: Target, progress: Progress, timeout: float) -> None:
    """Until the home page answers 200 through the published port, over HTTPS with the
    deployment's certificate verified; what was seen last (a refused connection, a 502 from
    the proxy, a 503 page) is in the timeout's message."""
    url = target.url + "/"
    # Asked as the site (SITE_URL's host, which its certificate names), through this machine.
    site = urlsplit(target.settings.site_url(target.url))
    trust = tls.verifying(tls.certificate(target.settings))

    def check(client: httpx.Client) -> bool | Pending:
        try:
            response = client.get(
                url,
                headers={"Host": site.netloc},
                extensions={"sni_hostname": site.hostname or ""},
            )
        except httpx.HTTPError as exc:
            return Pending(f"{type(exc).__name__}: {exc}")
        return True if response.status_code == 200 else Pending(f"HTTP {response.status_code}")

    with httpx.Client(verify=trust, trust_env=False, timeout=5) as client:
        poll(
            f"Waiting for the proxy to serve {url}",
            lambda: check(client),
            timeout,
            progress=progress,
            interval=0.5,
            fail=lambda why: target.failure(target.front, why),
        )
