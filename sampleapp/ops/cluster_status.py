"""``sampleapp cluster status``: what the thesis read with fleetctl and etcdctl, in one view.

``fleetctl list-machines`` becomes the machines: each node container's state on the host, its
swarm status, manager role, address and labels. ``fleetctl list-units`` becomes each service of
the stack with its current task on every machine and that task's state (running, starting,
complete, failed with its error). ``etcdctl cluster-health`` and the registered app servers come
from ``sampleapp status`` run inside the cluster, in a proxy, web or dns container (they carry
ETCD_ENDPOINTS of the three members), so each member answers for itself over the overlay network
and a stopped one shows as unhealthy. It only reads; the exit status is 1 when a machine or a
member is down, so a script can wait on it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sampleapp.discovery.status import table
from sampleapp.errors import StackError
from sampleapp.ops import cluster, engine, nodes, swarm
from sampleapp.ops.nodes import Cluster

INSIDE = ("proxy", "web", "dns")  # services whose containers can run `sampleapp status`


@dataclass(frozen=True)
class MachineRow:
    hostname: str
    container: str
    state: str  # the node container on the host: running, exited
    swarm: str  # ready, down, or "-" when the swarm does not know it
    manager: str
    address: str
    labels: str


def machines(c: Cluster, via: int | None) -> list[MachineRow]:
    known = {n.hostname: n for n in swarm.swarm_nodes(c, via)} if via else {}
    rows = []
    for machine in nodes.nodes(c):
        node = known.get(c.hostname(machine.index))
        rows.append(
            MachineRow(
                hostname=c.hostname(machine.index),
                container=machine.name,
                state=machine.state,
                swarm=node.status if node else "-",
                manager=(node.manager or "worker") if node else "-",
                address=node.address if node else c.address(machine.index),
                labels=",".join(f"{k}={v}" for k, v in sorted(node.labels.items())) if node else "",
            )
        )
    return rows


def units(c: Cluster, via: int) -> list[swarm.Task]:
    """The current task of every slot: the one meant to run, else the newest (history left out)."""
    current: dict[str, swarm.Task] = {}
    for task in swarm.tasks(c, via):  # newest first within each slot
        held = current.get(task.slot)
        if held is None or (
            held.desired.lower() != "running" and task.desired.lower() == "running"
        ):
            current[task.slot] = task
    return sorted(current.values(), key=lambda t: (t.service, t.node))


def mode(found: dict[str, swarm.Service], name: str) -> str:
    return found[name].mode if name in found else "?"


def inside_status(c: Cluster) -> tuple[str, int]:
    """``sampleapp status`` from a container inside the cluster, and its exit status.

    Its exit status 1 (a member down, or its own ``error: ...``) is part of the report. docker
    failing to run it is not a status: the next machine is asked, and when none can be, the
    last failure is raised.
    """
    failure: StackError | None = None
    for machine in nodes.nodes(c):
        if machine.state != "running":
            continue
        try:
            if not nodes.engine_answers(c, machine.index):
                continue
            for service in INSIDE:
                container = swarm.container_of(c, machine.index, service)
                if container is not None:
                    text, code = run_status(c, machine.index, container)
                    return f"(from {service} on {c.hostname(machine.index)})\n{text}", code
        except StackError as exc:
            failure = exc
    if failure is not None:
        raise failure
    return "No proxy, web or dns container runs yet: `sampleapp cluster deploy`.", 1


def run_status(c: Cluster, index: int, container: str) -> tuple[str, int]:
    """``docker exec <container> sampleapp status``: its output and exit status (0 or 1)."""
    args = ["--host", f"unix://{c.socket(index)}", "exec", container, "sampleapp", "status"]
    result = engine.run(["docker", *args], check=False, timeout=60)
    text = engine.printed(result.stdout, result.stderr)
    # `sampleapp status` prints its table, or one `error: ...` line; docker's own failures
    # (no engine, no such container, exec failed: 126, 127) print neither.
    said = result.stdout.strip() or "\nerror: " in f"\n{result.stderr}"
    if result.returncode not in (0, 1) or (result.returncode and not said):
        what = f"docker exec {container} sampleapp status on {c.hostname(index)}"
        raise engine.failure(what, result.returncode, text, "see `sampleapp cluster status`")
    return text, result.returncode


def status(write: Callable[[str], None] = print) -> int:
    c = cluster.current()
    if not nodes.nodes(c):
        write(f"The cluster {c.name} does not exist: `sampleapp cluster create` makes it.")
        return 1
    count = cluster.count_nodes(c)
    try:
        via: int | None = swarm.manager(c, count)
    except StackError as exc:  # part of the report: why no machine answers as a manager
        via, no_manager = None, str(exc)
    rows = machines(c, via)
    write(f"Machines of {c.name} (fleetctl list-machines)")
    write(
        table(
            ("MACHINE", "CONTAINER", "STATE", "SWARM", "MANAGER", "ADDRESS", "LABELS"),
            [
                (r.hostname, r.container, r.state, r.swarm, r.manager, r.address, r.labels)
                for r in rows
            ],
        )
    )
    healthy = all(r.state == "running" and r.swarm == "ready" for r in rows)
    if via is None:
        write(f"\n{no_manager}")
        return 1
    tasks = units(c, via)
    write(f"\nUnits: the tasks of stack {swarm.STACK} per machine (fleetctl list-units)")
    if tasks:
        services = swarm.services(c, via)
        write(
            table(
                ("SERVICE", "MODE", "MACHINE", "STATE", "ERROR"),
                [
                    (t.service, mode(services, t.service), t.node or "-", t.current, t.error)
                    for t in tasks
                ],
            )
        )
    else:
        write("  none: `sampleapp cluster deploy` deploys the stack")
    write("\nDiscovery: registered app servers, DNS records, etcd members (etcdctl cluster-health)")
    text, code = inside_status(c)
    write(text)
    write(f"\nProxy: {c.url}")
    return 0 if healthy and code == 0 else 1
