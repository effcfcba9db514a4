"""The cluster's stack: the Swarm target of the deployment driver (``driver.Target``).

``apply`` pushes what was built here (the current build, or the host image given as ``--image``; a
no-op when nothing changed) to the cluster's registry, which is where the nodes pull from, as real
machines would; then it runs ``docker stack deploy`` of deploy/stack.yaml on those images pinned by
digest, with the host's docker CLI on a manager's socket. The driver then waits for each service
in the order a person would check, up to a 200 through the edge: host mode on core-01's port 80,
which the core-01 container maps to 127.0.0.1:SAMPLEAPP_CLUSTER_PORT, and 443, mapped to
SAMPLEAPP_CLUSTER_TLS_PORT, passing connections to the proxy, where TLS ends. A new app version
changes only web's and migrate's image, so only they roll (web start-first); the edge, the
proxy, the DNS and etcd keep running, and a new proxy rolls start-first behind the edge. A second
``deploy`` changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sampleapp.errors import PreflightError, StackError
from sampleapp.ops import cluster, driver, engine, nodes, preflight, swarm, tls
from sampleapp.ops.cluster_images import Pushed, push_images
from sampleapp.ops.driver import Machine, Ran, Service
from sampleapp.ops.nodes import Cluster
from sampleapp.ops.settings import DEPLOY, REPO, Settings
from sampleapp.poll import Pending, poll
from sampleapp.progress import Progress

STACK_FILE = DEPLOY / "stack.yaml"
LOG_FILE = REPO / "var" / "sampleapp-cluster.log"
EDGE_CONF = DEPLOY / "nginx" / "edge.conf"


def replace_finished_migrate(c: Cluster, via: int, progress: Progress) -> None:
    """migrate is a one-shot service (deploy/stack.yaml), which runs again only when made anew:
    so the previous one is removed before each deploy."""
    if "migrate" in swarm.services(c, via):
        swarm.remove_service(c, via, "migrate")
        progress.info("the previous migrate removed, to run again")


def stack_environment(settings: Settings, pushed: Pushed) -> Settings:
    """What deploy/stack.yaml reads: the images as the nodes pull them, secrets, settings."""
    c = settings.cluster
    values = {
        **pushed.images,
        "SAMPLEAPP_SECRETS_DIR": str(settings.secrets_dir.resolve()),
        "SAMPLEAPP_NGINX_CONF_DIR": str(EDGE_CONF.parent),
        **{f"SAMPLEAPP_CORE_{i:02d}_ADDR": c.address(i) for i in (1, 2, 3)},
    }
    # Always the images just pushed: the same variables name host-engine images for Compose.
    return settings.with_values(values)


@dataclass
class SwarmStack:
    """deploy/stack.yaml on the cluster of this host (``image``: deploy this host image as the
    app instead of the current build)."""

    settings: Settings
    image: str | None = None
    name: str = "cluster"
    front: str = "edge"
    stages: tuple[tuple[str, ...], ...] = (
        ("etcd-1", "etcd-2", "etcd-3"),
        ("db",),
        ("register-db", "dns"),
        ("migrate",),
        ("web",),
        ("proxy", "edge"),
    )
    since: float | None = None  # when this deploy began (see ``swarm.update_state``)
    _via: int | None = None

    @property
    def cluster(self) -> Cluster:
        return self.settings.cluster

    @property
    def url(self) -> str:
        return self.cluster.url

    def via(self) -> int:
        """The first node that answers as a manager, found once per target (a command)."""
        if self._via is None:
            self._via = swarm.manager(self.cluster, cluster.count_nodes(self.cluster))
        return self._via

    def exists(self) -> bool:
        return bool(nodes.nodes(self.cluster))

    def preflight(self) -> None:
        engine.ensure_engine()
        cluster.check_cli()
        preflight.credentials(self.settings)
        cluster.count_nodes(self.cluster)
        proxy_node = self.cluster.container(1)
        if not engine.docker("port", proxy_node, "443/tcp", check=False).strip():
            raise PreflightError(
                f"{proxy_node} maps no host port to its 443: the cluster was created before "
                "HTTPS. `sampleapp cluster destroy`, then `sampleapp cluster create` (the data "
                "volumes go with the machines)"
            )

    def apply(self, progress: Progress, timeout: float) -> None:
        via = self.via()
        pushed = push_images(self.cluster, self.image, progress, via)
        values = stack_environment(self.settings, pushed).with_values(
            tls.deployment_values(self.settings, self.url, progress)
        )
        progress.step(f"Deploying {STACK_FILE.relative_to(REPO)} as stack {swarm.STACK}")
        replace_finished_migrate(self.cluster, via, progress)
        self.since = time.time()
        progress.log(swarm.deploy(self.cluster, via, str(STACK_FILE), values.env))

    def servers_wanted(self) -> int:
        """web is global: one server on each machine that is ready."""
        return len([n for n in swarm.swarm_nodes(self.cluster, self.via()) if n.status == "ready"])

    def services(self) -> dict[str, Service]:
        return swarm.services(self.cluster, self.via(), self.since)

    def machines(self) -> list[Machine]:
        try:
            via: int | None = self.via()
        except StackError:  # the machines are still listed, each with its state
            via = None
        known = {n.hostname: n for n in swarm.swarm_nodes(self.cluster, via)} if via else {}
        rows = []
        for machine in nodes.nodes(self.cluster):
            hostname = self.cluster.hostname(machine.index)
            node = known.get(hostname)
            rows.append(
                Machine(
                    hostname=hostname,
                    state=machine.state,
                    swarm=node.status if node else "-",
                    manager=(node.manager or "worker") if node else "-",
                    address=node.address if node else self.cluster.address(machine.index),
                    labels=dict(node.labels) if node else {},
                )
            )
        return rows

    def exec(
        self, names: Sequence[str], argv: Sequence[str], env: Mapping[str, str] | None = None
    ) -> Ran:
        """On the first running machine that has a container of one of ``names``; a machine
        that fails to answer (stopping as it is asked) passes it to the next."""
        failures: list[StackError] = []
        for machine in nodes.nodes(self.cluster):
            if machine.state != "running":
                continue
            host = self.cluster.hostname(machine.index)
            try:
                if not nodes.engine_answers(self.cluster, machine.index):
                    continue
                for service in names:
                    container = swarm.container_of(self.cluster, machine.index, service)
                    if container is not None:
                        socket = f"unix://{self.cluster.socket(machine.index)}"
                        done = engine.exec_in(
                            container, argv, env=env, host=socket, where=f" on {host}"
                        )
                        return Ran(
                            done.stdout, done.stderr, done.returncode, f"{service} on {host}"
                        )
            except StackError as exc:
                failures.append(exc)
        why = f"the last failure: {failures[-1]}" if failures else "none runs"
        raise StackError(
            f"No container of {' or '.join(names)} in {self.cluster.name} could run "
            f"{argv[0]} ({why}). Next: `sampleapp status --target cluster`, then "
            "`sampleapp cluster deploy`"
        ) from (failures[-1] if failures else None)

    def logs(self, service: str | None, lines: int, follow: bool) -> None:
        via = self.via()
        names = [service] if service else sorted(swarm.services(self.cluster, via))
        if follow and len(names) != 1:
            raise StackError(
                "Follow one service of the cluster: `sampleapp logs SERVICE -f --target cluster`"
            )
        for name in names:
            args = ["service", "logs", "--tail", str(lines), *(["--follow"] if follow else [])]
            engine.stream(
                [*self.cluster.docker(via), *args, f"{swarm.STACK}_{name}"],
                what=f"docker service logs {name}",
                fix="`sampleapp status --target cluster` names the services",
            )

    def remove(self, progress: Progress, volumes: bool) -> None:
        via = self.via()
        progress.step(f"Removing stack {swarm.STACK} from {self.cluster.name} (machines kept)")
        swarm.remove_stack(self.cluster, via)
        progress.done(
            f"stack {swarm.STACK} removed; `sampleapp cluster destroy` removes the machines"
            + (" and their volumes" if volumes else "")
        )

    def failure(self, service: str, headline: str) -> StackError:
        """``headline``, then ``service``'s tasks with their errors and its last log lines."""
        via = self.via()
        lines = [headline.rstrip(".") + "."]
        if update := swarm.update_status(self.cluster, via, service):
            lines.append(f"  last update: {update}")
        for task in swarm.tasks(self.cluster, via, service)[:6]:
            digest = task.image.rpartition("@sha256:")[2][:12] or task.image
            lines.append(
                f"  task {task.task_id[:12]} on {task.node or '?'}: {task.current} "
                f"(desired {task.desired}), image {digest}"
                + (f" error: {task.error}" if task.error else "")
            )
        logs = swarm.service_logs(self.cluster, via, service)
        lines.append(f"--- last log lines of {service}:\n{logs}")
        lines.append(
            f"Full log: {LOG_FILE}. Next: `sampleapp status --target cluster`, fix, "
            "`sampleapp cluster deploy`."
        )
        return StackError("\n".join(lines))


def deploy(
    settings: Settings,
    progress: Progress | None = None,
    timeout: float = 300,
    image: str | None = None,
) -> str:
    """``sampleapp cluster deploy``: the driver's story on the cluster."""
    target = SwarmStack(settings, image)
    return driver.deploy(target, progress or Progress(LOG_FILE), timeout)


def unreachable_machines(target: SwarmStack) -> dict[str, list[str]]:
    """hostname -> the registered servers on it that the proxy cannot connect to."""
    found, _, why = driver.discovered(target)
    if found is None:
        raise StackError(f"What the proxy reaches could not be read: {why}")
    machines: dict[str, list[str]] = {}
    for u in (found.get("proxy") or {}).get("unreachable", []):
        machines.setdefault(swarm.machine_of(u["server"]), []).append(u["server"])
    return machines


def heal(settings: Settings, progress: Progress | None = None, timeout: float = 300) -> list[str]:
    """``sampleapp cluster heal``: make the proxy reach every registered server again.

    Docker's overlay network can fail to learn the containers of a machine that restarted
    (moby#47728, #53141: the gossip that tells the other machines gives up; fixed only after
    Docker 29.7): its server registers, but the proxy's connects time out. Removing that
    machine's stack containers makes it leave the network, and Swarm starts them anew, which
    joins it again and announces each container (moby#53141's workaround, on one machine). Its
    other services (its DNS, its etcd member with its data volume) come back the same way.
    Returns the machines healed.
    """
    progress = progress or Progress(LOG_FILE)
    target = SwarmStack(settings)
    c = target.cluster
    broken = unreachable_machines(target)
    if not broken:
        progress.done("the proxy connects to every registered app server: nothing to heal")
        return []
    indexes = {c.hostname(m.index): m.index for m in nodes.nodes(c)}
    for hostname, servers in sorted(broken.items()):
        index = indexes.get(hostname)
        if index is None:
            raise StackError(f"{', '.join(servers)} names no machine of {c.name}")
        progress.step(
            f"{hostname}: the proxy cannot connect to {', '.join(servers)}; removing its "
            "containers of the stack, so that Swarm starts them anew on the network"
        )
        label = f"label=com.docker.stack.namespace={swarm.STACK}"
        ids = nodes.node_docker(c, index, "ps", "-q", "--filter", label).split()
        if ids:
            nodes.node_docker(c, index, "rm", "--force", *ids)
    for names in target.stages:
        driver.wait_services(target, names, progress, timeout)
    driver.wait_registered(target, target.servers_wanted(), progress, timeout)

    def check() -> bool | Pending:
        left = unreachable_machines(target)
        return True if not left else Pending(", ".join(s for v in left.values() for s in v))

    poll("Waiting for the proxy to connect to every server", check, timeout, progress=progress)
    progress.done(f"healed {', '.join(sorted(broken))}: the proxy connects to every server")
    return sorted(broken)
