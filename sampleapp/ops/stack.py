"""The one-host stack as plain functions: up, down, status, logs, scale.

``up`` goes in the order a person would check by hand, with a progress line for each wait:
preflight (no impact yet), images, the database and etcd healthy, DNS and the database's DNS
record, the migrate job finished, N app servers registered in etcd, the proxy answering 200.
When a service fails, the error carries its name, health and last 30 log lines; the whole
story is in var/sampleapp-up.log. Every step is idempotent: ``up`` on a running stack changes
nothing but what differs.

What differs is rolled without a failed request. The image build is skipped when its inputs did
not change (see ``images``), and proxy, dns and db-dns run the infra image, which an app-only
change leaves as it was. The app servers and the proxy are replaced here rather than by Compose,
whose v1.29 recreates every container of a service at once, each stopped before its successor
starts: the new containers start beside the old ones, and once they are ready the old ones stop
one at a time (SIGTERM: an app server withdraws its key and drains before gunicorn stops; the
proxy's nginx, which shares the published port with its successor in edge's network namespace,
stops accepting and finishes its requests). migrate runs
again only when its image or configuration changed, or its last run failed, and always before
new servers start.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sampleapp import demo
from sampleapp.discovery import keys
from sampleapp.errors import StackError
from sampleapp.ops import compose, etcdctl, images, preflight
from sampleapp.ops.compose import Container, containers, log_tail
from sampleapp.ops.engine import docker, image_id
from sampleapp.ops.waits import wait_serving
from sampleapp.poll import PENDING, Pending, poll
from sampleapp.progress import Progress

LOG_FILE = compose.REPO / "var" / "sampleapp-up.log"


@dataclass(frozen=True)
class Options:
    replicas: int = 3
    build: bool = True
    timeout: float = 180.0


def url(env: dict[str, str]) -> str:
    return f"http://127.0.0.1:{env.get('SAMPLEAPP_PORT') or 8080}"


def _failure(service: str, found: list[Container], headline: str) -> StackError:
    """``headline``, then each container of ``found`` with its state and last log lines."""
    parts = [headline.rstrip(".") + "."]
    for c in found:
        parts.append(
            f"--- {c.name}: state={c.state} health={c.health or 'none'} "
            f"exit={c.exit_code}; last log lines:\n{log_tail(c)}"
        )
    parts.append(f"Full log: {LOG_FILE}. Next: `sampleapp logs {service}`, fix, `sampleapp up`.")
    return StackError("\n".join(parts))


def wait_healthy(service: str, progress: Progress, timeout: float, count: int = 1) -> None:
    """Until ``count`` containers of ``service`` are running and healthy."""
    last: list[Container] = []

    def check() -> bool | Pending:
        last[:] = found = containers(service)
        if sum(c.ok for c in found) >= count:
            return True
        # A container that exited is final; an unhealthy one may still recover in time.
        if crashed := [c for c in found if c.state == "exited"]:
            raise _failure(service, crashed, f"{service} exited")
        return Pending(", ".join(f"{c.name} {c.health or c.state}" for c in found))

    poll(
        f"Waiting for {service} to be healthy",
        check,
        timeout,
        progress=progress,
        fail=lambda why: _failure(service, [c for c in last if not c.ok], why),
    )


def wait_completed(service: str, progress: Progress, timeout: float) -> None:
    """Until the one-shot ``service`` has exited 0."""
    last: list[Container] = []

    def check() -> bool | Pending:
        last[:] = found = containers(service)
        if found and all(c.state == "exited" for c in found):
            if all(c.exit_code == 0 for c in found):
                return True
            raise _failure(service, found, f"{service} failed")
        return PENDING

    poll(
        f"Waiting for {service} to finish",
        check,
        timeout,
        progress=progress,
        fail=lambda why: _failure(service, last, why),
    )


def registered_backends() -> dict[str, str]:
    """``/services/app/<instance>`` -> ``host:port``, read through the etcd container.

    Raises when etcd does not run or does not answer: empty means no server is registered.
    """
    etcd = [c for c in containers("etcd") if c.state == "running"]
    if not etcd:
        raise StackError(
            f"etcd does not run in project {compose.project()}, so no registered server can be "
            "read: `sampleapp logs etcd` says why, `sampleapp up` starts it again"
        )
    found = etcdctl.get_prefix(etcd[0].id, keys.SERVICES_PREFIX)
    return {key.removeprefix(keys.SERVICES_PREFIX): value for key, value in found.items()}


def wait_registered(count: int, progress: Progress, timeout: float) -> None:
    """Until exactly ``count`` servers are registered (stale keys of a crash expire first)."""

    def check() -> bool | Pending:
        n = len(registered_backends())
        return True if n == count else Pending(f"{n} of {count} registered")

    poll(
        f"Waiting for {count} app servers to register",
        check,
        timeout,
        progress=progress,
        interval=0.5,
        fail=lambda why: _failure("web", containers("web"), why),
    )
    progress.info(f"{count} of {count} servers registered")


@dataclass(frozen=True)
class Target:
    """What a service's containers should be: the config hash Compose gives and the image."""

    config_hash: str
    image: str  # ID

    def current(self, container: Container) -> bool:
        return container.config_hash == self.config_hash and container.image == self.image


# The services ``up`` converges itself, and the image variable each runs.
ROLLED = {"migrate": "SAMPLEAPP_IMAGE", "web": "SAMPLEAPP_IMAGE", "proxy": "SAMPLEAPP_INFRA_IMAGE"}


def targets(env: dict[str, str]) -> dict[str, Target]:
    """service -> Target, for the services in ROLLED."""
    hashes = compose.config_hashes(env)
    return {
        service: Target(hashes.get(service, ""), image_id(env[variable]) or "")
        for service, variable in ROLLED.items()
    }


def run_migrate(target: Target, env: dict[str, str], progress: Progress, timeout: float) -> None:
    """Run migrate unless its last run, of this image and configuration, succeeded."""
    found = containers("migrate")
    if found and all(target.current(c) and c.state == "exited" and c.exit_code == 0 for c in found):
        progress.step("migrate already ran on this image: skipped")
        return
    progress.step("Starting migrate")
    compose.compose("up", "-d", "--no-build", "--no-deps", "migrate", env=env)
    wait_completed("migrate", progress, timeout)


def wait_ready(service: str, ids: set[str], progress: Progress, timeout: float) -> None:
    """Until each of these containers of ``service`` is healthy (web: and registered in etcd)."""
    what = "healthy and registered" if service == "web" else "healthy"
    late: list[Container] = []

    def check() -> bool | Pending:
        found = [c for c in containers(service) if c.id in ids]
        if crashed := [c for c in found if c.state == "exited"]:
            raise _failure(
                service,
                crashed,
                f"{service} exited while starting (the old containers still serve)",
            )
        if len(found) < len(ids):
            lost = len(ids) - len(found)
            raise _failure(
                service, found, f"{service} lost {lost} new container(s) while they started"
            )
        ready = {c.id for c in found if c.ok}
        if service == "web":
            ready &= set(registered_backends())
        if ready == ids:
            return True
        late[:] = [c for c in found if c.id not in ready]
        return Pending(f"{len(ready)} of {len(ids)} ready")

    poll(
        f"Waiting for {len(ids)} new {service} container(s) to be {what}",
        check,
        timeout,
        progress=progress,
        fail=lambda why: _failure(service, late, why),
    )


def roll(
    service: str,
    replicas: int,
    target: Target,
    env: dict[str, str],
    progress: Progress,
    timeout: float,
) -> None:
    """``replicas`` containers of ``service`` of the target image and config, without a failed
    request: the new ones start beside the old, which stop once the new are ready.

    For web, each old server withdraws its key and drains on SIGTERM before gunicorn stops. For
    the proxy, the new nginx binds the port beside the old one in edge's network namespace
    (NGINX_REUSEPORT), and the old one's queued connections pass to it as it stops."""
    scale = ("up", "-d", "--no-build", "--no-deps", "--no-recreate", "--scale")
    found = containers(service)
    stale = [c for c in found if not target.current(c)]
    for c in stale:
        if c.state != "running":  # serves nothing: nothing to hand over
            docker("rm", "--force", c.id)
    stale = [c for c in stale if c.state == "running"]
    current = [c for c in found if target.current(c)]
    if stale:
        wanted = max(replicas, len(current))
        progress.step(
            f"Rolling {service}: {wanted - len(current)} new container(s) start beside the "
            f"{len(stale)} running an older image or configuration"
        )
        compose.compose(*scale, f"{service}={len(stale) + wanted}", service, env=env)
        new = {c.id for c in containers(service) if target.current(c)}
        wait_ready(service, new, progress, timeout)
        grace = compose.stop_grace_seconds(service)
        for c in stale:
            progress.step(f"Stopping {c.name} (it hands over, drains, then stops)")
            docker("stop", "-t", str(round(grace)), c.id, timeout=grace + 60)
            docker("rm", "--force", c.id)
    else:
        progress.step(f"Starting {service}")
    compose.compose(*scale, f"{service}={replicas}", service, env=env)
    wait_healthy(service, progress, timeout, count=replicas)
    if service == "web":
        wait_registered(replicas, progress, timeout)


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
    app = env.get("SAMPLEAPP_IMAGE") or images.APP_IMAGE
    infra = env.get("SAMPLEAPP_INFRA_IMAGE") or images.ensure_infra_image(app, progress)
    chosen = {k: v for k, v in env.items() if k in bases}
    extra = {**bases, **chosen, "SAMPLEAPP_IMAGE": app, "SAMPLEAPP_INFRA_IMAGE": infra}
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
    wanted = targets(env)
    run_migrate(wanted["migrate"], extra, progress, t)
    roll("web", options.replicas, wanted["web"], extra, progress, t)
    start("edge", args=("--no-deps",))
    roll("proxy", 1, wanted["proxy"], extra, progress, t)
    base = url(env)
    wait_serving(
        base + "/",
        progress,
        t,
        fail=lambda why: _failure("proxy", containers("proxy"), why),
    )
    pruned = images.prune_superseded_images()
    if pruned:
        progress.info(f"removed {pruned} superseded sampleapp image(s)")
    email, password = demo.LOGIN
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
    write(f"\nRegistered app servers ({len(backends)}) under {keys.SERVICES_PREFIX}:")
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
