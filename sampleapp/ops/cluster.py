"""The local three-node cluster: ``sampleapp cluster create | deploy | status | destroy``.

``create`` checks first, then makes the machines (``nodes.py``), forms the swarm (``swarm.py``)
and pushes the images to the cluster's registry (``cluster_images.py``), which is where the nodes
pull from, as real machines would. ``deploy`` pushes again what was built here (the current
build, or the host image given as ``--image``; a no-op when nothing changed), runs ``docker stack
deploy`` of deploy/stack.yaml on those images pinned by digest, with the host's docker CLI on a
manager's socket (a CLI older than 23.0 gets ``migrate`` as a one-shot service, not a replicated
job), then waits for each service in the order a person would check, up to a 200 through the
edge: host mode on core-01's port 80, which the core-01 container maps to
127.0.0.1:SAMPLEAPP_CLUSTER_PORT, passing connections to the proxy. A new app version changes
only web's and migrate's image, so only they roll (web start-first); the edge, the proxy, the DNS
and etcd keep running, and a new proxy rolls start-first behind the edge. Each step looks before
it acts: a second ``create`` or ``deploy`` changes nothing.
"""

from __future__ import annotations

import time
from pathlib import Path

import yaml

from sampleapp import demo
from sampleapp.discovery import keys
from sampleapp.errors import ConfigError, DiscoveryError, PreflightError, StackError
from sampleapp.ops import compose, engine, etcdctl, images, nodes, preflight, swarm
from sampleapp.ops.cluster_images import Pushed, push_images
from sampleapp.ops.nodes import Cluster
from sampleapp.ops.secrets import secrets_dir
from sampleapp.ops.waits import wait_serving
from sampleapp.poll import Pending, poll
from sampleapp.progress import Progress

STACK_FILE = compose.DEPLOY / "stack.yaml"
LOG_FILE = compose.REPO / "var" / "sampleapp-cluster.log"
MIN_CLI = (20, 10)  # swarm jobs in the engine API
JOBS_CLI = (23, 0)  # docker/cli#2907: `mode: replicated-job` in stack files
# Where an older CLI (Debian bookworm's docker.io 20.10) gets the stack file with the jobs made
# one-shot services; written by `deploy`, never edited.
ONE_SHOT_STACK_FILE = compose.REPO / "var" / "stack-one-shot.yaml"
EDGE_CONF = compose.DEPLOY / "nginx" / "edge.conf"
MAX_NODES = 9


def current() -> Cluster:
    return nodes.settings(compose.environment())


def cli_version() -> tuple[int, int]:
    """The docker CLI's major.minor (the engine must answer too: every caller then uses it)."""
    raw = engine.docker("version", "--format", "{{.Client.Version}}", what="docker version")
    return engine.version_tuple(raw, "docker version --format {{.Client.Version}}")


def check_cli() -> tuple[int, int]:
    found = cli_version()
    if found < MIN_CLI:
        raise PreflightError(
            f"Expected a docker CLI ≥ {MIN_CLI[0]}.{MIN_CLI[1]} but found "
            f"{found[0]}.{found[1]} first on PATH: `apt-get install docker.io`, or install "
            "docker-ce-cli ahead of it on PATH"
        )
    return found


def one_shot_stack(text: str) -> str:
    """The stack file for a CLI older than 23.0, which rejects ``mode: replicated-job``.

    Each job becomes a replicated service restarted only on failure (the pre-jobs idiom) and
    labelled ``ONE_SHOT_LABEL``, so waiting and ``cluster status`` read it as a job. The file
    also names the schema version that those CLIs require. Every other line means the same.
    """
    doc = yaml.safe_load(text)
    for service in doc["services"].values():
        spec = service.get("deploy") or {}
        if spec.get("mode") == "replicated-job":
            spec["mode"] = "replicated"
            spec["labels"] = {**(spec.get("labels") or {}), swarm.ONE_SHOT_LABEL: "true"}
            if (spec.get("restart_policy") or {}).get("condition") != "on-failure":
                raise ConfigError(
                    "A replicated-job in deploy/stack.yaml needs `restart_policy: condition: "
                    "on-failure` to run once on a docker CLI older than 23.0"
                )
    return yaml.safe_dump({"version": "3.9", **doc}, sort_keys=False)


def stack_file(cli: tuple[int, int], progress: Progress) -> Path:
    """deploy/stack.yaml, or its one-shot form for an older CLI (said in the progress)."""
    if cli >= JOBS_CLI:
        return STACK_FILE
    progress.info(
        f"docker CLI {cli[0]}.{cli[1]} cannot deploy replicated jobs (23.0 can): migrate runs "
        f"as a one-shot service instead ({ONE_SHOT_STACK_FILE.relative_to(compose.REPO)})"
    )
    ONE_SHOT_STACK_FILE.parent.mkdir(parents=True, exist_ok=True)
    ONE_SHOT_STACK_FILE.write_text(one_shot_stack(STACK_FILE.read_text()))
    return ONE_SHOT_STACK_FILE


def replace_finished_jobs(cluster: Cluster, via: int, one_shot: bool, progress: Progress) -> None:
    """A one-shot service runs again only when made anew, and Swarm cannot turn a job into a
    service or back: so remove ``migrate`` first in those cases (a job re-runs on deploy)."""
    found = swarm.services(cluster, via).get("migrate")
    if found is not None and (one_shot or "job" not in found.mode):
        swarm.remove_service(cluster, via, "migrate")
        progress.info("the previous migrate removed, to run again")


def preflight_create(cluster: Cluster, count: int, env: dict[str, str]) -> None:
    """Everything `cluster create` needs, before it touches anything."""
    if not 3 <= count <= MAX_NODES:
        raise PreflightError(
            f"--nodes is {count}, expected 3 to {MAX_NODES}: the stack pins etcd-1..3 "
            "to core-01..03, so a cluster has at least three machines"
        )
    engine.ensure_engine()
    check_cli()
    preflight.credentials(env)
    owner = nodes.network_owner(cluster)
    if owner is not None and owner != cluster.name:
        raise PreflightError(
            f"A network named {cluster.network} exists and is not this cluster's: remove it "
            "or set SAMPLEAPP_CLUSTER to another name"
        )
    if owner is None and (users := nodes.subnet_users(cluster)):
        raise PreflightError(
            f"Expected {cluster.subnet} to be free but {', '.join(users)} uses it: "
            "set SAMPLEAPP_CLUSTER_SUBNET to a free /24"
        )
    running = {m.index for m in nodes.nodes(cluster) if m.state == "running"}
    try:
        preflight.port_free(cluster.port, owner_running=1 in running)
    except PreflightError as exc:
        raise PreflightError(
            f"Port {cluster.port} on 127.0.0.1 is taken: stop what uses it "
            f"(`ss -ltnp 'sport = :{cluster.port}'`) or set SAMPLEAPP_CLUSTER_PORT"
        ) from exc


def create(count: int = 3, progress: Progress | None = None) -> Cluster:
    progress = progress or Progress(LOG_FILE)
    env = compose.environment()
    cluster = nodes.settings(env)
    progress.step("Pre-flight checks (nothing is changed yet)")
    preflight_create(cluster, count, env)
    if not engine.image_exists(images.APP_IMAGE):
        images.build_app_image(progress)
    machine_images = images.resolve_bases(progress, images.CLUSTER_BASES)
    progress.step(
        f"Machines: network {cluster.network} ({cluster.subnet}), registry, {count} nodes"
    )
    changed: list[str] = []

    def report(lines: list[str]) -> None:
        changed.extend(lines)
        for line in lines:
            progress.info(line)

    report(["network created"] if nodes.ensure_network(cluster) else [])
    if nodes.ensure_registry(cluster, machine_images["SAMPLEAPP_REGISTRY_IMAGE"]):
        report([f"{cluster.registry} started ({nodes.REGISTRY_ALIAS} for the nodes)"])
    for index in range(1, count + 1):
        if nodes.ensure_node(cluster, index, machine_images["SAMPLEAPP_DIND_IMAGE"]):
            report([f"{cluster.container(index)} started at {cluster.address(index)}"])
    with progress.waiting(f"Waiting for the engines of {count} nodes") as ticker:
        for index in range(1, count + 1):
            nodes.wait_engine(cluster, index)
            ticker.tick(f"{cluster.container(index)} answers")
    progress.step("Swarm: init on core-01, join the others, label compute=proxy and compute=db")
    report(swarm.ensure_swarm(cluster, count))
    report(swarm.ensure_labels(cluster, swarm.manager(cluster, count)))
    changed += push_images(cluster, None, progress).changed
    members = ", ".join(cluster.container(i) for i in range(1, count + 1))
    progress.done(
        f"cluster {cluster.name} is ready: {members}"
        + ("" if changed else " (nothing changed)")
        + "; next: `sampleapp cluster deploy`"
    )
    return cluster


def stack_environment(cluster: Cluster, env: dict[str, str], pushed: Pushed) -> dict[str, str]:
    """What deploy/stack.yaml reads: the images as the nodes pull them, secrets, settings."""
    values = {
        **pushed.images,
        "SAMPLEAPP_SECRETS_DIR": str(secrets_dir().resolve()),
        "SAMPLEAPP_NGINX_CONF_DIR": str(EDGE_CONF.parent),
        **{f"SAMPLEAPP_CORE_{i:02d}_ADDR": cluster.address(i) for i in (1, 2, 3)},
    }
    # Always the images just pushed: the same variables name host-engine images for Compose.
    return {**env, **values}


def count_nodes(cluster: Cluster) -> int:
    found = nodes.nodes(cluster)
    if not found:
        raise PreflightError(
            f"The cluster {cluster.name} has no nodes: `sampleapp cluster create` first"
        )
    return max(m.index for m in found)


def deploy(progress: Progress | None = None, timeout: float = 300, image: str | None = None) -> str:
    """Push the app (``image``, a host engine's image, or else the current build) and the images
    the stack needs, deploy the stack on them, and wait until it serves. Only what changed rolls:
    web and migrate for a new app; proxy, dns and register-db only when their own inputs did."""
    progress = progress or Progress(LOG_FILE)
    env = compose.environment()
    cluster = nodes.settings(env)
    progress.step("Pre-flight checks (nothing is changed yet)")
    engine.ensure_engine()
    cli = check_cli()
    preflight.credentials(env)
    count = count_nodes(cluster)
    via = swarm.manager(cluster, count)
    values = stack_environment(cluster, env, push_images(cluster, image, progress, via))
    progress.step(f"Deploying {STACK_FILE.relative_to(compose.REPO)} as stack {swarm.STACK}")
    chosen = stack_file(cli, progress)
    replace_finished_jobs(cluster, via, chosen != STACK_FILE, progress)
    since = time.time()
    progress.log(swarm.deploy(cluster, via, str(chosen), values))
    ready = len([n for n in swarm.swarm_nodes(cluster, via) if n.status == "ready"])
    for names in (("etcd-1", "etcd-2", "etcd-3"), ("db",), ("register-db", "dns"), ("migrate",)):
        wait_services(cluster, via, names, progress, timeout, since)
    wait_services(cluster, via, ("web",), progress, timeout, since)
    wait_registered(cluster, ready, progress, timeout)
    wait_services(cluster, via, ("proxy", "edge"), progress, timeout, since)
    wait_serving(
        cluster.url + "/",
        progress,
        timeout,
        fail=lambda why: failure(cluster, via, "edge", why),
    )
    email, password = demo.LOGIN
    progress.done(f"sampleapp is up at {cluster.url}  (sign in as {email} / {password})")
    return cluster.url


def failure(cluster: Cluster, via: int, service: str, headline: str) -> StackError:
    """``headline``, then ``service``'s tasks with their errors and its last log lines."""
    lines = [headline.rstrip(".") + "."]
    for task in swarm.tasks(cluster, via, service)[:6]:
        lines.append(
            f"  task on {task.node or '?'}: {task.current} (desired {task.desired})"
            + (f" error: {task.error}" if task.error else "")
        )
    lines.append(f"--- last log lines of {service}:\n{swarm.service_logs(cluster, via, service)}")
    lines.append(
        f"Full log: {LOG_FILE}. Next: `sampleapp cluster status`, fix, `sampleapp cluster deploy`."
    )
    return StackError("\n".join(lines))


def wait_services(
    cluster: Cluster,
    via: int,
    names: tuple[str, ...],
    progress: Progress,
    timeout: float,
    since: float | None = None,
) -> None:
    """Until every service in ``names`` runs all its tasks healthy on its current image (or its
    job is done), with no rolling update under way (none of those begun before ``since`` that
    ended in a rollback: see ``swarm.update_state``)."""
    what = " and ".join(names)
    verb = "finish" if names == ("migrate",) else "run healthy"
    late: list[str] = []

    def check() -> dict[str, swarm.Service] | Pending:
        found = swarm.services(cluster, via, since)
        late[:] = [n for n in names if n not in found or not found[n].converged]
        if not late:
            return found
        if stuck := [n for n in late if n in found and found[n].stuck]:
            raise failure(
                cluster, via, stuck[0], f"{stuck[0]}'s update is {found[stuck[0]].update}"
            )
        return Pending(", ".join(f"{n} {found[n].replicas}" for n in names if n in found))

    found = poll(
        f"Waiting for {what} to {verb}",
        check,
        timeout,
        progress=progress,
        fail=lambda why: failure(cluster, via, late[0], why),
    )
    progress.info(", ".join(f"{n} {found[n].replicas}" for n in names))


def registered_backends(cluster: Cluster) -> dict[str, str]:
    """``/services/app/<instance>`` -> ``ip:port``, read by etcdctl in a running member.

    A machine that fails to answer (stopping as it is read) passes the read to the next one;
    when none answers this raises, so an empty result means that etcd has no server registered.
    """
    failures: list[StackError] = []
    for machine in nodes.nodes(cluster):
        if machine.state != "running":
            continue
        host = cluster.hostname(machine.index)
        try:
            if not nodes.engine_answers(cluster, machine.index):
                continue
            for member in ("etcd-1", "etcd-2", "etcd-3"):
                container = swarm.container_of(cluster, machine.index, member)
                if container is not None:
                    socket = str(cluster.socket(machine.index))
                    found = etcdctl.get_prefix(
                        container, keys.SERVICES_PREFIX, socket=socket, where=f" on {host}"
                    )
                    return {k.removeprefix(keys.SERVICES_PREFIX): v for k, v in found.items()}
        except StackError as exc:
            failures.append(exc)
    why = f"the last failure: {failures[-1]}" if failures else "no etcd member runs"
    raise DiscoveryError(
        f"No etcd member of {cluster.name} could be read ({why}). "
        "Next: `sampleapp cluster status`, then `sampleapp cluster deploy`"
    ) from (failures[-1] if failures else None)


def wait_registered(cluster: Cluster, count: int, progress: Progress, timeout: float) -> None:
    def check() -> bool | Pending:
        n = len(registered_backends(cluster))
        return True if n >= count else Pending(f"{n} of {count} registered")

    poll(
        f"Waiting for {count} app servers to register in etcd",
        check,
        timeout,
        progress=progress,
        fail=lambda why: failure(cluster, swarm.manager(cluster, count_nodes(cluster)), "web", why),
    )
    progress.info(f"{count} of {count} servers registered")


def destroy(progress: Progress | None = None) -> nodes.Resources:
    progress = progress or Progress(LOG_FILE)
    cluster = current()
    engine.ensure_engine()
    progress.step(f"Removing the cluster {cluster.name}: nodes, registry, volumes, network")
    host_tags: list[str] = []
    if any(m.role == "registry" for m in nodes.machines(cluster)):
        try:
            prefix = nodes.registry_address(cluster) + "/"
        except StackError:
            prefix = ""
        # The tags pushed from here, and the digest references pushing left behind.
        refs = engine.docker(
            "images",
            "--digests",
            "--format",
            "{{.Repository}}:{{.Tag}} {{.Repository}}@{{.Digest}}",
        ).split()
        host_tags = [r for r in refs if prefix and r.startswith(prefix) and "<none>" not in r]
    removed = nodes.remove(cluster)
    if host_tags:
        # A tag a host container still runs stays (docker refuses: "conflict"); the others go.
        engine.probe(["docker", "rmi", *host_tags], ("conflict: unable to", "No such image"))
    what = len(removed.containers), len(removed.volumes), len(removed.networks)
    progress.done(
        f"cluster {cluster.name} removed ({what[0]} containers, {what[1]} volumes, "
        f"{what[2]} networks)"
        if any(what)
        else f"cluster {cluster.name} does not exist: nothing to remove"
    )
    return removed
