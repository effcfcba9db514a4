"""The one-host stack: the Compose target of the deployment driver (``driver.Target``).

``apply`` starts the services in the order a person would check them (database and etcd, DNS,
migrate, app servers, proxy), waiting for each; failures carry the service's state and last log
lines, and the whole story is in var/sampleapp-up.log. A second ``up`` changes nothing.

What differs is rolled without a failed request: the image build is skipped when its inputs did
not change (``images``), and an app-only change leaves proxy, dns and db-dns on their infra image.
Compose v1.29 would stop every container of a service before starting its successor, so web and
the proxy are rolled here: the new containers start beside the old ones, which stop together
once the new are ready (an app server withdraws its key and drains; the old proxy's nginx hands
the shared port over). migrate runs again only when its image or configuration changed, or
its last run failed, and always before new servers start.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sampleapp.errors import StackError
from sampleapp.ops import bases, compose, driver, engine, images, preflight, tls
from sampleapp.ops.compose import Container, containers, log_tail
from sampleapp.ops.driver import Machine, Ran, Service, Unit
from sampleapp.ops.engine import docker, image_id
from sampleapp.ops.settings import REPO, Settings
from sampleapp.poll import Pending, poll
from sampleapp.progress import Progress

LOG_FILE = REPO / "var" / "sampleapp-up.log"
JOBS = ("migrate",)


@dataclass(frozen=True)
class Options:
    replicas: int = 3
    build: bool = True
    timeout: float = 180.0


@dataclass(frozen=True)
class Target:
    """What a service's containers should be: the config hash Compose gives and the image."""

    config_hash: str
    image: str  # ID

    def current(self, container: Container) -> bool:
        return container.config_hash == self.config_hash and container.image == self.image


# The services ``up`` converges itself, and the image variable each runs.
ROLLED = {"migrate": "SAMPLEAPP_IMAGE", "web": "SAMPLEAPP_IMAGE", "proxy": "SAMPLEAPP_INFRA_IMAGE"}


def service_state(name: str, found: Sequence[Container], wanted: int) -> Service:
    """A Compose service as the driver reads it: a job is done when each container exited 0;
    a server is converged when ``wanted`` containers run healthy. An exited or crash-looping
    server fails."""
    units = tuple(
        Unit(name, c.name, c.state, c.health, f"exit {c.exit_code}" if c.state == "exited" else "")
        for c in found
    )
    if name in JOBS:
        done = sum(c.state == "exited" and c.exit_code == 0 for c in found)
        bad = [c for c in found if c.state == "exited" and c.exit_code != 0]
        failed = f"failed (exit {bad[0].exit_code})" if bad else ""
        return Service(
            name, "job", done, len(found), bool(found) and done == len(found), failed, units
        )
    ready = sum(c.ok for c in found)
    looping = [c for c in found if c.looping]
    failed = "exited" if any(c.state == "exited" for c in found) else ""
    if looping and not failed:
        failed = f"keeps crashing ({looping[0].name} restarted {looping[0].restarts} times)"
    return Service(name, "replicated", ready, wanted, ready >= wanted > 0, failed, units)


@dataclass
class ComposeStack:
    """deploy/compose.yaml on this host's engine (``replicas``: app servers wanted; None when
    only reading, which takes what runs)."""

    settings: Settings
    options: Options = field(default_factory=Options)
    reading: bool = False
    name: str = "compose"
    front: str = "proxy"
    stages: tuple[tuple[str, ...], ...] = (
        ("db", "etcd"),
        ("dns", "db-dns"),
        ("migrate",),
        ("web",),
        ("edge", "proxy"),
    )

    @property
    def url(self) -> str:
        return self.settings.url

    def exists(self) -> bool:
        return bool(containers(self.settings))

    def preflight(self) -> None:
        preflight.stack(self.settings)

    def servers_wanted(self) -> int:
        return self.options.replicas

    def services(self) -> dict[str, Service]:
        by_service: dict[str, list[Container]] = {}
        for c in containers(self.settings):
            by_service.setdefault(c.service, []).append(c)
        return {
            name: service_state(
                name,
                found,
                len(found) if self.reading or name != "web" else self.options.replicas,
            )
            for name, found in by_service.items()
        }

    def machines(self) -> list[Machine]:
        return []

    def exec(
        self, names: Sequence[str], argv: Sequence[str], env: Mapping[str, str] | None = None
    ) -> Ran:
        for service in names:
            for c in containers(self.settings, service):
                if c.state == "running":
                    done = engine.exec_in(c.id, argv, env=env, where=f" ({c.name})")
                    return Ran(done.stdout, done.stderr, done.returncode, c.name)
        raise StackError(
            f"No container of {' or '.join(names)} runs in project {self.settings.project}: "
            f"`sampleapp logs {names[0]}` says why, `sampleapp up` starts it again"
        )

    def logs(self, service: str | None, lines: int, follow: bool) -> None:
        args = ["logs", "--tail", str(lines), *(["--follow"] if follow else [])]
        compose.compose(self.reader(), *args, *([service] if service else []), capture=False)

    def remove(self, progress: Progress, volumes: bool) -> None:
        progress.step("Stopping and removing the stack" + (" and its volumes" if volumes else ""))
        compose.compose(
            self.reader(), "down", "--remove-orphans", *(["--volumes"] if volumes else [])
        )
        progress.done("stack removed" + ("; data volumes deleted" if volumes else "; data kept"))

    def failure(self, service: str, headline: str) -> StackError:
        found = containers(self.settings, service)
        return _failure(service, [c for c in found if not c.ok] or found, headline)

    def reader(self) -> Settings:
        """Settings enough for Compose to read the file when it only stops or shows containers
        (the file requires POSTGRES_USER)."""
        user = self.settings.env.get("POSTGRES_USER") or "unset"
        return self.settings.with_values({"POSTGRES_USER": user})

    def apply(self, progress: Progress, timeout: float) -> None:
        env = self.settings.env
        found = (
            images.build_app_image(progress)
            if self.options.build or not engine.image_exists(images.APP_IMAGE)
            else bases.present()
        )
        # Images a person chose explicitly win over the ones found or built here.
        app = env.get("SAMPLEAPP_IMAGE") or images.APP_IMAGE
        infra = env.get("SAMPLEAPP_INFRA_IMAGE") or images.ensure_infra_image(app, progress)
        chosen = {k: v for k, v in env.items() if k in found}
        run = self.settings.with_values(
            {
                **found,
                **chosen,
                "SAMPLEAPP_IMAGE": app,
                "SAMPLEAPP_INFRA_IMAGE": infra,
                **tls.deployment_values(self.settings, self.url, progress),
            }
        )
        wanted = targets(run)

        def start(*names: str, args: tuple[str, ...] = ()) -> None:
            progress.step(f"Starting {', '.join(names)}")
            compose.compose(run, "up", "-d", "--no-build", *args, *names)

        start("db", "etcd")
        driver.wait_services(self, ("db", "etcd"), progress, timeout)
        start("dns", "db-dns", args=("--no-deps",))
        driver.wait_services(self, ("dns", "db-dns"), progress, timeout)
        run_migrate(self, wanted["migrate"], run, progress, timeout)
        roll(self, "web", self.options.replicas, wanted["web"], run, progress, timeout)
        start("edge", args=("--no-deps",))
        roll(self, "proxy", 1, wanted["proxy"], run, progress, timeout)
        pruned = images.prune_superseded_images()
        if pruned:
            progress.info(f"removed {pruned} superseded sampleapp image(s)")


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


def targets(settings: Settings) -> dict[str, Target]:
    """service -> Target, for the services in ROLLED."""
    hashes = compose.config_hashes(settings)
    return {
        service: Target(hashes.get(service, ""), image_id(settings.env[variable]) or "")
        for service, variable in ROLLED.items()
    }


def run_migrate(
    stack: ComposeStack, target: Target, run: Settings, progress: Progress, timeout: float
) -> None:
    """Run migrate unless its last run, of this image and configuration, succeeded."""
    found = containers(run, "migrate")
    if found and all(target.current(c) and c.state == "exited" and c.exit_code == 0 for c in found):
        progress.step("migrate already ran on this image: skipped")
        return
    progress.step("Starting migrate")
    compose.compose(run, "up", "-d", "--no-build", "--no-deps", "migrate")
    driver.wait_services(stack, ("migrate",), progress, timeout)


def wait_ready(
    stack: ComposeStack, service: str, ids: set[str], progress: Progress, timeout: float
) -> None:
    """Until each of these containers of ``service`` is healthy (web: and registered in etcd)."""
    what = "healthy and registered" if service == "web" else "healthy"
    late: list[Container] = []

    def check() -> bool | Pending:
        found = [c for c in containers(stack.settings, service) if c.id in ids]
        if crashed := [c for c in found if c.state == "exited" or c.looping]:
            raise _failure(
                service,
                crashed,
                f"{service} crashed while starting (the old containers still serve)",
            )
        if len(found) < len(ids):
            lost = len(ids) - len(found)
            raise _failure(
                service, found, f"{service} lost {lost} new container(s) while they started"
            )
        ready = {c.id for c in found if c.ok}
        if service == "web":
            ready &= set(driver.registered(stack))
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
    stack: ComposeStack,
    service: str,
    replicas: int,
    target: Target,
    run: Settings,
    progress: Progress,
    timeout: float,
) -> None:
    """``replicas`` containers of ``service`` of the target image and config, without a failed
    request: the new ones start beside the old, which stop once the new are ready.

    For web, each old server withdraws its key and drains on SIGTERM before gunicorn stops. For
    the proxy, the new nginx binds the port beside the old one in edge's network namespace
    (NGINX_REUSEPORT), and the old one's queued connections pass to it as it stops."""
    scale = ("up", "-d", "--no-build", "--no-deps", "--no-recreate", "--scale")
    found = containers(run, service)
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
        compose.compose(run, *scale, f"{service}={len(stale) + wanted}", service)
        new = {c.id for c in containers(run, service) if target.current(c)}
        wait_ready(stack, service, new, progress, timeout)
        grace = compose.stop_grace_seconds(service)
        names = ", ".join(c.name for c in stale)
        progress.step(f"Stopping {names} together (each hands over, drains, then stops)")
        ids = [c.id for c in stale]
        docker("stop", "-t", str(round(grace)), *ids, timeout=grace + 60)
        docker("rm", "--force", *ids)
    else:
        progress.step(f"Starting {service}")
    compose.compose(run, *scale, f"{service}={replicas}", service)
    driver.wait_services(stack, (service,), progress, timeout)
    if service == "web":
        driver.wait_registered(stack, replicas, progress, timeout)


def up(settings: Settings, options: Options, progress: Progress | None = None) -> str:
    """``sampleapp up``: the driver's story on this host."""
    target = ComposeStack(settings, options)
    return driver.deploy(target, progress or Progress(LOG_FILE), options.timeout)


def down(settings: Settings, volumes: bool = False, progress: Progress | None = None) -> None:
    ComposeStack(settings, reading=True).remove(progress or Progress(), volumes)


def scale(settings: Settings, service: str, replicas: int, progress: Progress | None = None) -> str:
    """``sampleapp scale web N``: ``up`` with N app servers and no build (what runs stays)."""
    if service != "web":
        raise StackError(f"Only web scales (asked for {service}): `sampleapp scale web N`")
    return up(settings, Options(replicas=replicas, build=False), progress)
