"""The swarm inside the cluster: form it, label it, deploy the stack, read nodes, services, tasks.

Every call goes to one node's engine through ``nodes.node_docker`` (the host's docker CLI on that
node's socket), so this is what a person would type on a manager. The swarm is formed as on three
machines: ``swarm init`` on core-01 advertising its fixed address, ``swarm join`` of the others
as managers (three managers: like etcd, the swarm survives the loss of any one machine; nodes
past the third join as workers), then the labels ``compute=proxy`` on core-01 and ``compute=db``
on core-02 (fleet's MachineMetadata). Each step looks before it acts, so running it twice
changes nothing. Reads go to the first node whose engine answers as a manager, so a stopped
machine does not stop ``cluster status``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass

from sampleapp.errors import StackError
from sampleapp.ops import engine, nodes
from sampleapp.ops.driver import Service, Unit
from sampleapp.ops.nodes import Cluster, node_docker
from sampleapp.poll import Pending, poll

STACK = "sampleapp"
MANAGERS = 3
LABELS = {1: "proxy", 2: "db"}  # node index -> compute label


@dataclass(frozen=True)
class LocalState:
    state: str  # inactive, pending, active, error, locked
    node_id: str
    cluster_id: str
    manager: bool


def local_state(cluster: Cluster, index: int) -> LocalState | None:
    """The node's own view of its swarm membership; None when its engine does not answer."""
    if not nodes.engine_answers(cluster, index):
        return None
    info = json.loads(node_docker(cluster, index, "info", "--format", "{{json .Swarm}}"))
    state, node_id = str(info.get("LocalNodeState", "")), str(info.get("NodeID", ""))
    cluster_id = str((info.get("Cluster") or {}).get("ID", ""))
    return LocalState(state, node_id, cluster_id, bool(info.get("ControlAvailable")))


def manager(cluster: Cluster, count: int) -> int:
    """The index of the first node that answers as a swarm manager."""
    for index in range(1, count + 1):
        state = local_state(cluster, index)
        if state is not None and state.state == "active" and state.manager:
            return index
    raise StackError(
        f"No node of {cluster.name} answers as a swarm manager: "
        "`sampleapp cluster create` starts the nodes and forms the swarm"
    )


def ensure_swarm(cluster: Cluster, count: int) -> list[str]:
    """Init on core-01 and join the rest; returns what was done, one line per change."""
    done: list[str] = []
    for index in range(1, count + 1):
        state = local_state(cluster, index)
        if state is None:
            raise StackError(f"The engine of {cluster.container(index)} does not answer")
        if state.state != "inactive":
            continue
        address = cluster.address(index)
        addresses = ("--advertise-addr", address, "--listen-addr", address)
        if index == 1:
            node_docker(cluster, 1, "swarm", "init", *addresses)
            done.append(f"swarm initialised on {cluster.hostname(1)} ({address})")
            continue
        role = "manager" if index <= MANAGERS else "worker"
        token = node_docker(cluster, 1, "swarm", "join-token", "-q", role).strip()
        join = ("swarm", "join", "--token", token, *addresses, f"{cluster.address(1)}:2377")
        node_docker(cluster, index, *join)
        done.append(f"{cluster.hostname(index)} joined as a {role}")
    return done


@dataclass(frozen=True)
class SwarmNode:
    hostname: str
    node_id: str
    status: str  # ready, down
    manager: str  # leader, reachable, unreachable, or "" for a worker
    address: str
    labels: dict[str, str]


def swarm_nodes(cluster: Cluster, via: int) -> list[SwarmNode]:
    ids = node_docker(cluster, via, "node", "ls", "-q").split()
    found = []
    for item in json.loads(node_docker(cluster, via, "node", "inspect", *ids)):
        managed, status = item.get("ManagerStatus") or {}, item["Status"]
        role = "leader" if managed.get("Leader") else str(managed.get("Reachability", ""))
        hostname, address = item["Description"]["Hostname"], status.get("Addr", "")
        labels = dict(item["Spec"].get("Labels") or {})
        found.append(SwarmNode(hostname, item["ID"], status["State"], role, address, labels))
    return sorted(found, key=lambda n: n.hostname)


def ensure_labels(cluster: Cluster, via: int) -> list[str]:
    """compute=proxy on core-01 and compute=db on core-02, unless they already have them."""
    done = []
    current = {n.hostname: n for n in swarm_nodes(cluster, via)}
    for index, value in LABELS.items():
        node = current.get(cluster.hostname(index))
        if node is None:
            raise StackError(f"{cluster.hostname(index)} is not in the swarm: create again")
        if node.labels.get("compute") != value:
            label = f"compute={value}"
            node_docker(cluster, via, "node", "update", "--label-add", label, node.node_id)
            done.append(f"{node.hostname} labelled compute={value}")
    return done


# Set on a one-shot service (migrate): it runs once, restarted only on failure.
ONE_SHOT_LABEL = "org.sampleapp.one-shot"
UPDATING = {"updating", "rollback_started"}
STUCK = {"paused", "rollback_paused", "rollback_completed"}


def machine_of(instance: str) -> str:
    """``core-03-<task id>`` (web's host name template in deploy/stack.yaml) -> ``core-03``."""
    return instance.split("=", 1)[0].rsplit("-", 1)[0]


def update_state(status: Mapping[str, str] | None, since: float | None) -> str:
    """The last rolling update's state, or "" for a rollback that ended before ``since``.

    A service that a deploy leaves unchanged keeps the status of its last update: a rollback
    completed before this deploy is history (its tasks run the spec it went back to), not this
    deploy's failure. The nodes share this host's clock.
    """
    state = str((status or {}).get("State", ""))
    started = str((status or {}).get("StartedAt", ""))
    history = since is not None and state == "rollback_completed" and started
    if history and dt.datetime.fromisoformat(started).timestamp() < (since or 0):
        return ""
    return state


def services(cluster: Cluster, via: int, since: float | None = None) -> dict[str, Service]:
    """The stack's services as the driver reads them, with the current task of each slot.

    Counted as swarmkit counts for ``docker service ls``: a replicated service wants its
    replicas, a global one each task meant to run, a one-shot service (``ONE_SHOT_LABEL``) its
    completions. It has converged when every wanted task runs the
    image its spec names now (pinned by digest: right after ``stack deploy`` a rolling update may
    not have begun, and the old tasks would look converged) and no update is under way.
    ``since`` (a time.time()) is when the deploy being waited for began (``update_state``).
    """
    label = f"label=com.docker.stack.namespace={STACK}"
    ids = node_docker(cluster, via, "service", "ls", "-q", "--filter", label).split()
    if not ids:
        return {}
    # A service removed since the listing (`cluster deploy` replaces migrate) is left out.
    known = nodes.no_such("service", *ids)
    found = nodes.node_probe(cluster, via, "service", "inspect", *ids, known=known, partial=True)
    slots: dict[str, list[Task]] = {}
    for task in current_tasks(cluster, via):
        slots.setdefault(task.service, []).append(task)
    result = {}
    for item in json.loads(found or "[]"):
        spec, mode = item["Spec"], item["Spec"]["Mode"]
        name = spec["Name"].removeprefix(f"{STACK}_")
        held = slots.get(name, [])
        running = [t for t in held if t.state == "running" and t.desired.lower() == "running"]
        update = update_state(item.get("UpdateStatus"), since)
        if (spec.get("Labels") or {}).get(ONE_SHOT_LABEL) == "true":
            kind, wanted = "job", int(mode["Replicated"].get("Replicas") or 1)
            ready = sum(t.state == "complete" for t in held)
            converged = ready >= wanted
        else:
            kind = "global" if "Global" in mode else "replicated"
            meant = sum(t.desired.lower() == "running" for t in held)
            replicas = (mode.get("Replicated") or {}).get("Replicas", 0)
            wanted = meant if kind == "global" else replicas
            ready = len(running)
            image = spec["TaskTemplate"]["ContainerSpec"]["Image"]
            current = sum(t.image == image for t in running)
            converged = wanted > 0 and current >= wanted and update not in UPDATING | STUCK
        units = tuple(Unit(name, t.node or "-", t.current, "", t.error) for t in held)
        failed = f"update is {update}" if update in STUCK else ""
        result[name] = Service(name, kind, ready, wanted, converged, failed, units)
    return result


def current_tasks(cluster: Cluster, via: int) -> list[Task]:
    """The current task of every slot: the one meant to run, else the newest (history left out)."""
    current: dict[str, Task] = {}
    for task in tasks(cluster, via):  # newest first within each slot
        held = current.get(task.slot)
        if held is None or (
            held.desired.lower() != "running" and task.desired.lower() == "running"
        ):
            current[task.slot] = task
    return sorted(current.values(), key=lambda t: (t.service, t.node))


@dataclass(frozen=True)
class Task:
    service: str
    node: str
    desired: str
    current: str  # "Running 2 minutes ago", "Complete 1 minute ago", ...
    error: str
    task_id: str
    slot: str = ""  # the task's name: one per replica, or per node for a global service
    image: str = ""  # with its digest

    @property
    def state(self) -> str:
        return self.current.split(" ")[0].lower() if self.current else "?"


def tasks(
    cluster: Cluster, via: int, service: str | None = None, running_only: bool = False
) -> list[Task]:
    """Tasks of the stack (or one service), newest first, including ended ones; none when the
    stack (or the service) has none, or does not exist."""
    target = ["service", "ps", f"{STACK}_{service}"] if service else ["stack", "ps", STACK]
    filters = ["--filter", "desired-state=running"] if running_only else []
    fields = "{{.Name}}\t{{.Node}}\t{{.DesiredState}}\t{{.CurrentState}}\t{{.Error}}\t{{.ID}}"
    args = [*target, "--no-trunc", *filters, "--format", fields + "\t{{.Image}}"]
    known = ("nothing found in stack", *nodes.no_such("service", target[2]))
    out = nodes.node_probe(cluster, via, *args, known=known)
    found = []
    for line in (out or "").splitlines():
        name, node, desired, current, error, task_id, image = (line.split("\t") + [""] * 7)[:7]
        short = name.lstrip(" \\_").removeprefix(f"{STACK}_").split(".")[0]
        found.append(Task(short, node, desired, current, error, task_id, name.strip(" \\_"), image))
    return found


def deploy(cluster: Cluster, via: int, stack_file: str, env: Mapping[str, str]) -> str:
    """``docker stack deploy``: creates what is missing, updates what differs, prunes the rest."""
    args = ("stack", "deploy", "--prune", "--resolve-image", "always", "--compose-file")
    fix = (
        "fix the stack file or the variable named above, then `sampleapp cluster deploy` "
        "(Swarm secrets cannot change in place: after editing a secret file, "
        "`sampleapp cluster destroy` and create again)"
    )
    return node_docker(cluster, via, *args, stack_file, STACK, env=env, fix=fix)


def service_image(cluster: Cluster, via: int, service: str) -> str | None:
    """The image the service's spec names now (pinned by digest), None when not deployed."""
    name = f"{STACK}_{service}"
    image = "{{.Spec.TaskTemplate.ContainerSpec.Image}}"
    known = nodes.no_such("service", name)
    out = nodes.node_probe(cluster, via, "service", "inspect", "--format", image, name, known=known)
    return (out or "").strip() or None


def update_status(cluster: Cluster, via: int, service: str) -> str:
    """The service's last rolling update in one line (state, Swarm's message, when it started
    and ended), "" when it has had none. A rollback's own message is only "rollback completed":
    its cause is in the tasks, which ``cluster_stack.failure`` lists beside it."""
    name = f"{STACK}_{service}"
    known = nodes.no_such("service", name)
    out = nodes.node_probe(
        cluster, via, "service", "inspect", "--format", "{{json .UpdateStatus}}", name, known=known
    )
    status = json.loads(out or "null") or {}
    if not status:
        return ""
    when = ", ".join(f"{k} {status[k]}" for k in ("StartedAt", "CompletedAt") if status.get(k))
    return f"{status.get('State', '?')}: {status.get('Message', '')} ({when})"


def remove_service(cluster: Cluster, via: int, service: str) -> None:
    node_docker(cluster, via, "service", "rm", f"{STACK}_{service}")


def remove_stack(cluster: Cluster, via: int) -> None:
    """``docker stack rm``, then until no service of the stack is left (its tasks stop after)."""
    node_docker(cluster, via, "stack", "rm", STACK)
    poll(
        f"Waiting for the services of stack {STACK} to go",
        lambda: True if not services(cluster, via) else Pending(", ".join(services(cluster, via))),
        120,
    )


def service_logs(cluster: Cluster, via: int, service: str, lines: int = 30) -> str:
    """Only ever part of the message of a failure being raised (``cluster.failure``): when
    ``docker service logs`` itself fails, its own complaint is what shows there."""
    logs = ["service", "logs", "--tail", str(lines), f"{STACK}_{service}"]
    out = engine.run([*cluster.docker(via), *logs], check=False, timeout=30)
    return engine.tail(out.stdout + out.stderr, lines)


def container_of(cluster: Cluster, index: int, service: str) -> str | None:
    """The id of a running container of ``service`` on node ``index``, if any."""
    label = f"label=com.docker.swarm.service.name={STACK}_{service}"
    out = node_docker(cluster, index, "ps", "-q", "--filter", label, "--filter", "status=running")
    return next(iter(out.split()), None)
