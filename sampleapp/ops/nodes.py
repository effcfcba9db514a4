"""The cluster's machines on the host engine: Docker-in-Docker nodes, their network, the registry.

A node is a container of the node image (``docker:27.3-dind`` or its Debian-built equivalent) named
``core-01``..``core-NN``, at a fixed address on its own bridge network (a restarted node keeps the
address its swarm peers know), ``/var/lib/docker`` on a named volume. It gets all capabilities but
SYS_RESOURCE and no seccomp, because ``--privileged`` fails on this kernel. Its dockerd also listens
on a unix socket bind-mounted to the host (``/run/sampleapp/<node>/docker.sock``): the host's docker
CLI drives the swarm through it, like a docker context, and no TCP port opens. The registry joins
the network as ``registry:5000`` (trusted by the nodes with ``--insecure-registry``) and publishes a
free 127.0.0.1 port for pushes. The label ``sampleapp.cluster=<name>`` is what destroy removes.
"""

from __future__ import annotations

import ipaddress
import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sampleapp.errors import ConfigError, StackError
from sampleapp.ops.engine import CANNOT_CONNECT, NO_SUCH_OBJECT, docker, probe, run
from sampleapp.poll import PENDING, poll

DEFAULT_NAME = "sampleapp-cluster"
DEFAULT_SUBNET = "10.213.60.0/24"
RUN_DIR = Path("/run/sampleapp")
LABEL = "sampleapp.cluster"
REGISTRY_ALIAS = "registry:5000"  # what the nodes pull from, on the cluster network
FIRST_HOST = 101  # core-01 is .101, as the thesis's 10.0.0.101..103


@dataclass(frozen=True)
class Cluster:
    """Names and addresses of one local cluster, all derived from its name and subnet."""

    name: str
    port: int  # host port (127.0.0.1) of the proxy node's port 80
    tls_port: int  # and of its port 443
    subnet: ipaddress.IPv4Network

    @property
    def network(self) -> str:
        return self.name

    @property
    def registry(self) -> str:
        return f"{self.name}-registry"

    def hostname(self, index: int) -> str:
        return f"core-{index:02d}"

    def container(self, index: int) -> str:
        """``core-01`` for the default cluster, ``<name>-core-01`` for another one."""
        host = self.hostname(index)
        return host if self.name == DEFAULT_NAME else f"{self.name}-{host}"

    def volume(self, index: int) -> str:
        return f"{self.name}-{self.hostname(index)}"

    def address(self, index: int) -> str:
        return str(self.subnet.network_address + FIRST_HOST - 1 + index)

    def socket(self, index: int) -> Path:
        return RUN_DIR / self.container(index) / "docker.sock"

    def docker(self, index: int) -> list[str]:
        """The docker CLI on node ``index``'s own engine."""
        return ["docker", "--host", f"unix://{self.socket(index)}"]

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.tls_port}"


def settings(env: Mapping[str, str]) -> Cluster:
    """SAMPLEAPP_CLUSTER (name), SAMPLEAPP_CLUSTER_PORT (8080; plain HTTP, which redirects),
    SAMPLEAPP_CLUSTER_TLS_PORT (8443), SAMPLEAPP_CLUSTER_SUBNET."""
    name = env.get("SAMPLEAPP_CLUSTER") or DEFAULT_NAME
    if not name.replace("-", "").isalnum() or not name[0].isalpha():
        raise ConfigError(
            f"SAMPLEAPP_CLUSTER is {name!r}, expected letters, digits and dashes: fix it"
        )
    port = port_setting(env, "SAMPLEAPP_CLUSTER_PORT", 8080)
    tls_port = port_setting(env, "SAMPLEAPP_CLUSTER_TLS_PORT", 8443)
    raw_subnet = env.get("SAMPLEAPP_CLUSTER_SUBNET") or DEFAULT_SUBNET
    try:
        subnet = ipaddress.IPv4Network(raw_subnet)
    except ValueError as exc:
        raise ConfigError(
            f"SAMPLEAPP_CLUSTER_SUBNET is {raw_subnet!r} ({exc}): expected e.g. 10.213.60.0/24"
        ) from exc
    if subnet.num_addresses < 256:
        raise ConfigError(f"SAMPLEAPP_CLUSTER_SUBNET {subnet} is too small: give a /24 or larger")
    return Cluster(name, port, tls_port, subnet)


def port_setting(env: Mapping[str, str], name: str, default: int) -> int:
    """The port ``name`` sets (``default`` when unset), or a ConfigError naming it."""
    raw = env.get(name) or str(default)
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ConfigError(f"{name} is {raw!r}, expected a port like {default}")
    return int(raw)


@dataclass(frozen=True)
class Machine:
    """A container of the cluster on the host engine (a node or the registry)."""

    name: str
    role: str  # node | registry
    state: str  # running, exited, ...
    index: int  # node number, 0 for the registry


def machines(cluster: Cluster) -> list[Machine]:
    ids = docker("ps", "-aq", "--filter", f"label={LABEL}={cluster.name}").split()
    found = []
    for item in json.loads(docker("inspect", *ids)) if ids else []:
        label = item["Config"]["Labels"].get
        role, index = label(f"{LABEL}.role", "?"), int(label(f"{LABEL}.index", "0"))
        found.append(Machine(item["Name"].lstrip("/"), role, item["State"]["Status"], index))
    return sorted(found, key=lambda m: (m.role, m.index))


def nodes(cluster: Cluster) -> list[Machine]:
    return [m for m in machines(cluster) if m.role == "node"]


def network_owner(cluster: Cluster) -> str | None:
    """The cluster label of the network named like ours ('' if someone else's), None if absent."""
    known = no_such("network", cluster.network)
    out = probe(["docker", "network", "inspect", cluster.network], known)
    if out is None:
        return None
    labels = json.loads(out)[0].get("Labels") or {}
    return str(labels.get(LABEL, ""))


def no_such(kind: str, *names: str) -> tuple[str, ...]:
    """What the CLI prints for a network or service that does not exist (20.10, and 23.0 on);
    ``probe`` matches it in any case."""
    return (f"no such {kind}", *(f"{kind} {name} not found" for name in names))


def subnet_users(cluster: Cluster) -> list[str]:
    """Networks on the engine, other than ours, whose subnet overlaps the cluster's."""
    users = []
    ids = docker("network", "ls", "-q").split()
    # A network removed between `ls` and `inspect` (another stack's `down`) is not listed.
    found = probe(["docker", "network", "inspect", *ids], no_such("network", *ids), partial=True)
    for network in json.loads(found or "[]"):
        if network["Name"] == cluster.network:
            continue
        for config in network.get("IPAM", {}).get("Config") or []:
            subnet = config.get("Subnet", "")  # an IPv6 one overlaps no IPv4 subnet
            if subnet and cluster.subnet.overlaps(ipaddress.ip_network(subnet, strict=False)):
                users.append(f"{network['Name']} ({subnet})")
    return users


def ensure_network(cluster: Cluster) -> bool:
    """Create the cluster's bridge network unless it exists; True when created."""
    if network_owner(cluster) is not None:
        return False
    label = f"{LABEL}={cluster.name}"
    docker("network", "create", "--subnet", str(cluster.subnet), "--label", label, cluster.network)
    return True


def _state(name: str) -> str | None:
    """The container's state (running, exited, ...), None when there is no such container."""
    out = probe(["docker", "inspect", "--format", "{{.State.Status}}", name], NO_SUCH_OBJECT)
    return None if out is None else out.strip()


def _ensure(cluster: Cluster, index: int, mount: str, *args: str) -> bool:
    """Run (or start) node ``index``, or the registry for 0; True when something changed. Its
    volume (on ``mount``) is made first, to carry the cluster's label: one ``docker run`` makes
    has none."""
    name = cluster.container(index) if index else cluster.registry
    state = _state(name)
    if state == "running":
        return False
    if state is not None:
        docker("start", name)
        return True
    volume = cluster.volume(index) if index else name
    docker("volume", "create", "--label", f"{LABEL}={cluster.name}", volume)
    role = "node" if index else "registry"
    labels = (f"{LABEL}={cluster.name}", f"{LABEL}.role={role}", f"{LABEL}.index={index}")
    docker(
        *("run", "--detach", "--restart", "unless-stopped", "--name", name),
        *[arg for label in labels for arg in ("--label", label)],
        *("--network", cluster.network, "--volume", f"{volume}:{mount}", *args),
    )
    return True


def ensure_registry(cluster: Cluster, image: str) -> bool:
    alias = REGISTRY_ALIAS.partition(":")[0]
    publish = ("--publish", "127.0.0.1::5000")
    return _ensure(cluster, 0, "/var/lib/registry", "--network-alias", alias, *publish, image)


def registry_address(cluster: Cluster) -> str:
    """host:port of the registry as the host engine reaches it (for pushes)."""
    out = docker("port", cluster.registry, "5000/tcp").split()
    if not out:
        raise StackError(
            f"{cluster.registry} publishes no port: `sampleapp cluster destroy`, then create"
        )
    return out[0].replace("0.0.0.0", "127.0.0.1")


def ensure_node(cluster: Cluster, index: int, image: str) -> bool:
    published = (f"127.0.0.1:{cluster.port}:80", f"127.0.0.1:{cluster.tls_port}:443")
    ports = [a for p in published for a in ("--publish", p)] if index == 1 else []
    return _ensure(
        cluster,
        index,
        "/var/lib/docker",
        *("--hostname", cluster.hostname(index), "--ip", cluster.address(index), *ports),
        *("--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE"),
        *("--security-opt", "seccomp=unconfined", "--tmpfs", "/run"),
        *("--volume", "/sys/fs/cgroup:/sys/fs/cgroup:rw"),
        *("--volume", f"{cluster.socket(index).parent}:/run/outer"),
        # dockerd stops its containers on SIGTERM (web withdraws from etcd and drains): let it.
        *("--stop-timeout", "30", image),
        *("--host=unix:///run/outer/docker.sock", f"--insecure-registry={REGISTRY_ALIAS}"),
    )


def node_docker(
    cluster: Cluster,
    index: int,
    *args: str,
    timeout: float = 300,
    check: bool = True,
    env: Mapping[str, str] | None = None,
    fix: str = "see `sampleapp status --target cluster`",
) -> str:
    """``docker <args>`` against node ``index``'s own engine; returns stdout."""
    what = f"docker {' '.join(args[:2])} on {cluster.hostname(index)}"
    host = cluster.docker(index)[1:]
    return docker(*host, *args, what=what, fix=fix, timeout=timeout, check=check, env=env)


def node_probe(
    cluster: Cluster, index: int, *args: str, known: tuple[str, ...], partial: bool = False
) -> str | None:
    """``node_docker`` for a command whose failure has one known meaning (see engine.probe)."""
    what = f"docker {' '.join(args[:2])} on {cluster.hostname(index)}"
    fix = "see `sampleapp status --target cluster`"
    return probe([*cluster.docker(index), *args], known, what=what, fix=fix, partial=partial)


def engine_answers(cluster: Cluster, index: int) -> bool:
    """Whether the node's engine answers; False only when nothing listens on its socket (a node
    stopped or starting). Any other failure, a timeout included, raises."""
    if not cluster.socket(index).exists():
        return False
    what = f"docker version on {cluster.hostname(index)}"
    version = [*cluster.docker(index), "version", "--format", "ok"]
    return probe(version, CANNOT_CONNECT, what=what, timeout=20) is not None


def wait_engine(cluster: Cluster, index: int, timeout: float = 90) -> None:
    def gave_up(why: str) -> StackError:
        # Part of the error raised: if `docker logs` fails, its complaint shows there.
        logs = run(["docker", "logs", "--tail", "20", cluster.container(index)], check=False)
        return StackError(
            f"{why}; the node's last log lines:\n{logs.stdout}{logs.stderr}\n"
            "Check the node's capabilities (`docker inspect`), then `sampleapp cluster create`"
        )

    poll(
        f"Waiting for the engine of {cluster.container(index)} to answer",
        lambda: engine_answers(cluster, index) or PENDING,
        timeout,
        interval=0.5,
        fail=gave_up,
    )


@dataclass(frozen=True)
class Resources:
    containers: list[str]
    volumes: list[str]
    networks: list[str]

    def empty(self) -> bool:
        return not (self.containers or self.volumes or self.networks)


def resources(cluster: Cluster) -> Resources:
    def listed(*args: str) -> list[str]:
        return sorted(docker(*args, "--filter", f"label={LABEL}={cluster.name}").split())

    ps, volumes = listed("ps", "-a", "--format", "{{.Names}}"), listed("volume", "ls", "-q")
    return Resources(ps, volumes, listed("network", "ls", "--format", "{{.Name}}"))


def remove(cluster: Cluster) -> Resources:
    """Remove every container, volume and network of the cluster; returns what was there."""
    found = resources(cluster)
    if found.containers:
        docker("rm", "--force", "--volumes", *found.containers)
    if found.volumes:
        docker("volume", "rm", "--force", *found.volumes)
    if found.networks:
        docker("network", "rm", *found.networks)
    for name in found.containers:  # a node's socket directory is named after its container
        shutil.rmtree(RUN_DIR / name, ignore_errors=True)
    return found
