"""``sampleapp status``: one view of whatever runs, with one exit rule.

The thesis answered four questions with four commands: ``fleetctl list-machines`` (the
machines, here with their swarm state, role and labels), ``fleetctl list-units`` (each service's
containers or tasks, where they run, their state and health), ``etcdctl ls /services/app`` (the
registered app servers with their lease TTL) and ``etcdctl cluster-health`` (each member asked
for itself), to which the DNS records are added. Here one command answers all of them for each
deployment it finds (``--target`` chooses): the host's own processes (ETCD_ENDPOINTS set), the
Compose stack, the cluster. Discovery is read inside the deployment, by ``sampleapp status
--target host --json`` in a proxy, web or dns container, because no etcd port is published.

It only reads. Every problem it sees is named on a line of its own, and the exit status is 1
when there is any, so a script can wait on it; ``--json`` prints the same report as data.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from sampleapp.discovery import config as discovery_config
from sampleapp.discovery import status as discovery
from sampleapp.discovery.status import table
from sampleapp.errors import SampleappError
from sampleapp.ops import driver, engine
from sampleapp.ops.cluster_stack import SwarmStack
from sampleapp.ops.driver import Target
from sampleapp.ops.settings import Settings
from sampleapp.ops.stack import ComposeStack

TARGETS = ("host", "compose", "cluster")
Report = dict[str, Any]


def target(settings: Settings, name: str) -> Target:
    if name == "compose":
        return ComposeStack(settings, reading=True)
    return SwarmStack(settings)


def found_targets(settings: Settings) -> list[str]:
    """Where to look when no ``--target`` is given: the host's etcd when ETCD_ENDPOINTS is set
    (inside a container, or a person's own processes); else each deployment the engine runs."""
    if discovery_config.etcd_configured(settings.env):
        return ["host"]
    if engine.engine_version() is None:
        return []
    return [name for name in ("cluster", "compose") if target(settings, name).exists()]


def report(target: str, url: str = "", **parts: Any) -> Report:
    """One target's report: what was found, each part empty unless given."""
    empty: Report = {"machines": [], "services": [], "discovery": None, "discovered_in": ""}
    return {"target": target, "url": url, "problems": [], **empty, **parts}


def host_report(settings: Settings) -> Report:
    found = discovery.collect(settings.env)
    problems = discovery.problems(found)
    return report("host", discovery=found, discovered_in="ETCD_ENDPOINTS", problems=problems)


def deployment_report(settings: Settings, name: str) -> Report:
    t = target(settings, name)
    if not t.exists():
        up = "`sampleapp up`" if name == "compose" else "`sampleapp cluster create`"
        return report(name, t.url, problems=[f"nothing is deployed: {up} starts it"])
    machines = t.machines()
    problems = [
        f"machine {m.hostname} is {m.state} (swarm: {m.swarm})"
        for m in machines
        if m.state != "running" or m.swarm not in ("ready", "-")
    ]
    try:
        services = t.services()
    except SampleappError as exc:
        services = {}
        problems.append(f"the services could not be listed: {exc}")
    for s in services.values():
        if s.failed or not s.converged:
            verb = "finished" if s.mode == "job" else "ready"
            problems.append(f"{s.name} {s.failed or f'{s.ready} of {s.wanted} {verb}'}")
    found, where, why = driver.discovered(t)
    if found is None:
        problems.append(f"discovery could not be read: {why}")
    else:
        problems += discovery.problems(found)
        web = services.get("web")
        if web is not None and len(found["servers"]) != web.wanted:
            problems.append(f"{len(found['servers'])} app servers registered, {web.wanted} wanted")
    return report(
        name,
        t.url,
        machines=[asdict(m) for m in machines],
        services=[asdict(s) for s in services.values()],
        discovery=found,
        discovered_in=where,
        problems=problems,
    )


def render(report: Report) -> str:
    parts = [f"== {report['target']}" + (f": {report['url']}" if report["url"] else "")]
    if machines := report["machines"]:
        head: tuple[str, ...] = ("MACHINE", "STATE", "SWARM", "MANAGER", "ADDRESS", "LABELS")
        rows: list[tuple[object, ...]] = [
            (
                *(m[k] for k in ("hostname", "state", "swarm", "manager", "address")),
                ",".join(f"{k}={v}" for k, v in sorted(m["labels"].items())),
            )
            for m in machines
        ]
        parts.append("Machines (fleetctl list-machines)\n" + table(head, rows))
    if services := report["services"]:
        head = ("SERVICE", "MODE", "READY", "WHERE", "STATE", "HEALTH", "ERROR")
        unit = ("where", "state", "health", "error")
        none = [dict.fromkeys(unit, "")]
        rows = [
            (s["name"], s["mode"], f"{s['ready']}/{s['wanted']}", *(u[k] or "-" for k in unit))
            for s in services
            for u in s["units"] or none
        ]
        parts.append("Services (fleetctl list-units)\n" + table(head, rows))
    if report["discovery"] is not None:
        found = discovery.render(report["discovery"])
        parts.append(f"Discovery, read in {report['discovered_in']}\n{found}")
    problems = report["problems"]
    listed = "".join(f"\n  - {p}" for p in problems)
    parts.append(f"Problems ({len(problems)}):{listed}" if problems else "No problem found.")
    return "\n\n".join(parts)


def main(
    settings: Settings,
    name: str | None = None,
    as_json: bool = False,
    write: Callable[[str], None] = print,
) -> int:
    """Print the report of ``name`` (one of TARGETS), or of every deployment found; 1 when
    anything is unhealthy or nothing is found."""
    names = [name] if name else found_targets(settings)
    reports = [
        host_report(settings) if n == "host" else deployment_report(settings, n) for n in names
    ]
    if as_json:
        write(json.dumps({"targets": reports}, indent=2, sort_keys=True))
    elif not reports:
        write(
            "Nothing is deployed here: `sampleapp up` (one host) or `sampleapp cluster create` "
            "then `sampleapp cluster deploy`; with your own processes, set ETCD_ENDPOINTS."
        )
    else:
        write("\n\n".join(render(r) for r in reports))
    return 1 if not reports or any(r["problems"] for r in reports) else 0
