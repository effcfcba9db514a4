"""The one-host stack as plain functions: up, down, status, logs, scale.

``up`` goes in the order a person would check by hand, with a progress line for each wait:
preflight (no impact yet), images, the database and etcd healthy, DNS and the database's DNS
record, the migrate job finished, N app servers registered in etcd, the proxy answering 200.
When a service fails, the error carries its name, health and last 30 log lines; the whole
story is in var/sampleapp-up.log. Every step is idempotent: ``up`` on a running stack changes
nothing but what differs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from sampleapp.errors import StackError
from sampleapp.ops import compose, images, preflight
from sampleapp.ops.compose import Container, containers, log_tail
from sampleapp.ops.engine import docker
from sampleapp.progress import Progress

DEMO_LOGIN = ("example@railstutorial.org", "foobar")
SERVICES_PREFIX = "/services/app/"
LOG_FILE = compose.REPO / "var" / "sampleapp-up.log"


@dataclass(frozen=True)
class Options:
    replicas: int = 3
    build: bool = True
    timeout: float = 180.0


def url(env: dict[str, str]) -> str:
    return f"http://127.0.0.1:{env.get('SAMPLEAPP_PORT') or 8080}"


def _failure(service: str, found: list[Container], why: str) -> StackError:
    parts = [f"{service} {why}."]
    for c in found:
        parts.append(
            f"--- {c.name}: state={c.state} health={c.health or 'none'} "
            f"exit={c.exit_code}; last log lines:\n{log_tail(c)}"
        )
    parts.append(f"Full log: {LOG_FILE}. Next: `sampleapp logs {service}`, fix, `sampleapp up`.")
    return StackError("\n".join(parts))


def wait_healthy(service: str, progress: Progress, timeout: float, count: int = 1) -> None:
    """Until ``count`` containers of ``service`` are running and healthy."""
    with progress.waiting(f"Waiting for {service} to be healthy") as ticker:
        while True:
            found = containers(service)
            if sum(c.ok for c in found) >= count:
                return
            # A container that exited is final; an unhealthy one may still recover in time.
            crashed = [c for c in found if c.state == "exited"]
            if crashed:
                raise _failure(service, crashed, "exited")
            if ticker.elapsed > timeout:
                late = [c for c in found if not c.ok]
                raise _failure(service, late, f"was not healthy within {timeout:.0f} s")
            ticker.tick(", ".join(f"{c.name} {c.health or c.state}" for c in found))
            time.sleep(1)


def wait_completed(service: str, progress: Progress, timeout: float) -> None:
    """Until the one-shot ``service`` has exited 0."""
    with progress.waiting(f"Waiting for {service} to finish") as ticker:
        while True:
            found = containers(service)
            if found and all(c.state == "exited" for c in found):
                if all(c.exit_code == 0 for c in found):
                    return
                raise _failure(service, found, "failed")
            if ticker.elapsed > timeout:
                raise _failure(service, found, f"did not finish within {timeout:.0f} s")
            ticker.tick()
            time.sleep(1)


def registered_backends() -> dict[str, str]:
    """``/services/app/<instance>`` -> ``host:port``, read through the etcd container."""
    etcd = [c for c in containers("etcd") if c.state == "running"]
    if not etcd:
        return {}
    out = docker(
        "exec",
        "-e",
        "ETCDCTL_API=3",
        etcd[0].id,
        "etcdctl",
        "get",
        "--prefix",
        SERVICES_PREFIX,
        check=False,
    )
    lines = out.splitlines()
    return {
        k.removeprefix(SERVICES_PREFIX): v for k, v in zip(lines[::2], lines[1::2], strict=False)
    }


def wait_registered(count: int, progress: Progress, timeout: float) -> None:
    """Until exactly ``count`` servers are registered (stale keys of a crash expire first)."""
    with progress.waiting(f"Waiting for {count} app servers to register") as ticker:
        while (n := len(registered_backends())) != count:
            if ticker.elapsed > timeout:
                raise _failure(
                    "web",
                    containers("web"),
                    f"has {n} of {count} servers registered after {timeout:.0f} s",
                )
            ticker.tick(f"{n} of {count} registered")
            time.sleep(0.5)
        progress.info(f"{count} of {count} servers registered")


def wait_serving(base: str, progress: Progress, timeout: float) -> None:
    with progress.waiting(f"Waiting for the proxy to serve {base}/") as ticker:
        while True:
            try:
                if httpx.get(base + "/", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if ticker.elapsed > timeout:
                raise _failure("proxy", containers("proxy"), f"did not answer 200 on {base}/")
            ticker.tick()
            time.sleep(0.5)


def up(options: Options, progress: Progress | None = None) -> str:
    progress = progress or Progress(LOG_FILE)
    env = compose.environment()
    progress.step("Pre-flight checks (nothing is changed yet)")
    preflight.stack(env)
    if options.build or not docker("images", "-q", images.APP_IMAGE).strip():
        bases = images.build_app_image(progress)
    else:
        bases = images.resolve_bases(progress)
    # Images a person chose explicitly win over the ones found or built here.
    chosen = {k: v for k, v in env.items() if k in bases or k == "SAMPLEAPP_IMAGE"}
    extra = {**bases, "SAMPLEAPP_IMAGE": images.APP_IMAGE, **chosen}
    env = compose.environment(extra)
    t = options.timeout

    def start(*names: str, args: tuple[str, ...] = ()) -> None:
        progress.step(f"Starting {', '.join(names)}")
        compose.compose("up", "-d", "--no-build", *args, *names, env=extra)

    start("db", "etcd")
    wait_healthy("db", progress, t)
    wait_healthy("etcd", progress, t)
    start("dns", "db-dns", args=("--no-deps",))
    wait_healthy("dns", progress, t)
    wait_healthy("db-dns", progress, t)
    start("migrate", args=("--no-deps",))
    wait_completed("migrate", progress, t)
    start("web", "proxy", args=("--no-deps", "--scale", f"web={options.replicas}"))
    wait_healthy("web", progress, t, count=options.replicas)
    wait_registered(options.replicas, progress, t)
    wait_healthy("proxy", progress, t)
    base = url(env)
    wait_serving(base, progress, t)
    email, password = DEMO_LOGIN
    progress.done(f"sampleapp is up at {base}  (sign in as {email} / {password})")
    return base


def down(volumes: bool = False, progress: Progress | None = None) -> None:
    progress = progress or Progress()
    progress.step("Stopping and removing the stack" + (" and its volumes" if volumes else ""))
    compose.compose(
        "down",
        "--remove-orphans",
        *(["--volumes"] if volumes else []),
        env={"POSTGRES_USER": compose.environment().get("POSTGRES_USER") or "unset"},
    )
    progress.done("stack removed" + ("; data volumes deleted" if volumes else "; data kept"))


def scale(
    service: str, replicas: int, progress: Progress | None = None, timeout: float = 120.0
) -> None:
    if service != "web":
        raise StackError(f"Only web scales (asked for {service}): `sampleapp scale web N`")
    progress = progress or Progress(LOG_FILE)
    progress.step(f"Scaling web to {replicas}")
    compose.compose(
        "up",
        "-d",
        "--no-build",
        "--no-deps",
        "--no-recreate",
        "--scale",
        f"web={replicas}",
        "web",
        env={"SAMPLEAPP_IMAGE": images.APP_IMAGE, **images.resolve_bases(progress)},
    )
    wait_healthy("web", progress, timeout, count=replicas)
    wait_registered(replicas, progress, timeout)
    progress.done(f"web has {replicas} servers registered")


def status(write: Callable[[str], None] = print) -> None:
    found = containers()
    if not found:
        write("The stack is not running: `sampleapp up` starts it.")
        return
    write(f"{'SERVICE':<10} {'CONTAINER':<28} {'STATE':<10} {'HEALTH':<10} ADDRESSES")
    for c in found:
        addresses = " ".join(f"{n}={ip}" for n, ip in sorted(c.ip.items()) if ip)
        write(f"{c.service:<10} {c.name:<28} {c.state:<10} {c.health or '-':<10} {addresses}")
    backends = registered_backends()
    write(f"\nRegistered app servers ({len(backends)}) under {SERVICES_PREFIX}:")
    for instance, address in sorted(backends.items()):
        write(f"  {instance:<20} {address}")
    write(f"\nProxy: {url(compose.environment())}")


def logs(service: str | None = None, follow: bool = False, lines: int = 100) -> None:
    args = ["logs", "--tail", str(lines), *(["--follow"] if follow else [])]
    compose.compose(
        *args,
        *([service] if service else []),
        capture=False,
        env={"POSTGRES_USER": compose.environment().get("POSTGRES_USER") or "unset"},
    )
