"""The local cluster's machines: ``sampleapp cluster create | destroy``.

``create`` checks first, then makes the machines (``nodes.py``), forms the swarm (``swarm.py``)
and pushes the images to the cluster's registry (``cluster_images.py``), which is where the nodes
pull from, as real machines would. What runs on them is the driver's Swarm target
(``cluster_stack.py``). Each step looks before it acts: a second ``create`` changes nothing.
"""

from __future__ import annotations

from sampleapp.errors import PreflightError, StackError
from sampleapp.ops import bases, engine, images, nodes, preflight, swarm
from sampleapp.ops.cluster_images import push_images
from sampleapp.ops.nodes import Cluster
from sampleapp.ops.settings import REPO, Settings
from sampleapp.progress import Progress

LOG_FILE = REPO / "var" / "sampleapp-cluster.log"
MIN_CLI = (20, 10)  # swarm jobs in the engine API
MAX_NODES = 9


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


def preflight_create(settings: Settings, count: int) -> None:
    """Everything `cluster create` needs, before it touches anything."""
    cluster = settings.cluster
    if not 3 <= count <= MAX_NODES:
        raise PreflightError(
            f"--nodes is {count}, expected 3 to {MAX_NODES}: the stack pins etcd-1..3 "
            "to core-01..03, so a cluster has at least three machines"
        )
    engine.ensure_engine()
    check_cli()
    preflight.credentials(settings)
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
    for port, variable in (
        (cluster.port, "SAMPLEAPP_CLUSTER_PORT"),
        (cluster.tls_port, "SAMPLEAPP_CLUSTER_TLS_PORT"),
    ):
        preflight.port_free(port, variable, owner_running=1 in running)


def create(settings: Settings, count: int = 3, progress: Progress | None = None) -> Cluster:
    progress = progress or Progress(LOG_FILE)
    cluster = settings.cluster
    progress.step("Pre-flight checks (nothing is changed yet)")
    preflight_create(settings, count)
    if not engine.image_exists(images.APP_IMAGE):
        images.build_app_image(progress)
    # The machines' own images, and the stack's bases (the edge's nginx only the cluster runs).
    machine_images = bases.resolve(progress, (*bases.CLUSTER_BASES, *bases.BASES, bases.EDGE_BASE))
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
    same = "" if changed else " (nothing changed)"
    progress.done(
        f"cluster {cluster.name} is ready: {members}{same}; next: `sampleapp cluster deploy`"
    )
    return cluster


def count_nodes(cluster: Cluster) -> int:
    found = nodes.nodes(cluster)
    if not found:
        raise PreflightError(
            f"The cluster {cluster.name} has no nodes: `sampleapp cluster create` first"
        )
    return max(m.index for m in found)


def destroy(settings: Settings, progress: Progress | None = None) -> nodes.Resources:
    progress = progress or Progress(LOG_FILE)
    cluster = settings.cluster
    engine.ensure_engine()
    progress.step(f"Removing the cluster {cluster.name}: nodes, registry, volumes, network")
    host_tags: list[str] = []
    if any(m.role == "registry" for m in nodes.machines(cluster)):
        try:
            prefix = nodes.registry_address(cluster) + "/"
        except StackError:
            prefix = ""
        # The tags pushed from here, and the digest references pushing left behind.
        fields = "{{.Repository}}:{{.Tag}} {{.Repository}}@{{.Digest}}"
        refs = engine.docker("images", "--digests", "--format", fields).split()
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
