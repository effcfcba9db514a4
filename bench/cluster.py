"""Benchmark the three-node Swarm cluster: time to the first page, throughput, failover.

A cluster of its own (``sampleapp-bench``, a free port and subnet, throwaway secrets, the stack's
default 10 s lease) is created from scratch, with the images already built (building them is
``sampleapp image build``'s cost, not the cluster's): the time from ``cluster create`` to the first
200 through the proxy, split into create and deploy. ``wrk`` on 127.0.0.1 then measures the home
page signed out and the feed signed in with an app server on each of the 3 machines, and with web
constrained to core-01 alone; all three machines share this host's cores, so no gain is expected.
Then core-03 is stopped (``docker stop``: its server withdraws and drains) and then killed
(``docker kill``: its lease must expire) under a steady load, to see how long the proxy keeps
sending it traffic, what the clients notice, and how long the machine takes to serve again once
started. Last, a new app version (the build with one more label: another digest, the same infra
inputs) is rolled out with ``cluster deploy --image`` under the same load and back: the failed
requests, and which services got new tasks (only web and migrate should); then the same with a
new proxy (other infra inputs), which rolls behind the edge.
"""

from __future__ import annotations

import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.measure import page_rows, sign_in, timed
from bench.report import percentile, table, write_section
from sampleapp.ops import bases, cluster, cluster_stack, driver, engine, images, nodes, swarm
from sampleapp.ops.cluster_stack import SwarmStack
from sampleapp.ops.settings import load as load_settings
from sampleapp.progress import Progress
from tests.support import site
from tests.support.docker import free_cluster_subnet, new_app_version
from tests.support.etcd import free_port

DURATION = 10
CONNECTIONS = (1, 8)
NAME = "sampleapp-bench"


def web_on(c: nodes.Cluster, machines: int, progress: Progress) -> None:
    """Web on every machine, or constrained to core-01 alone; waits until that many registered."""
    args = (
        ["--constraint-rm", "node.hostname==core-01"]
        if machines == 3
        else ["--constraint-add", "node.hostname==core-01"]
    )
    current = nodes.node_docker(
        c, 1, "service", "inspect", "--format", "{{.Spec.TaskTemplate.Placement}}", "sampleapp_web"
    )
    if (machines == 1) != ("core-01" in current):
        nodes.node_docker(c, 1, "service", "update", "--detach", *args, "sampleapp_web")
    deadline = time.monotonic() + 180
    while len(driver.registered(SwarmStack(load_settings()))) != machines or not all(
        s.converged for s in [swarm.services(c, 1)["web"]]
    ):
        if time.monotonic() > deadline:
            raise SystemExit(f"web did not settle on {machines} machine(s)")
        time.sleep(1)
    time.sleep(3)  # the renderer's reload reaches nginx's workers
    progress.info(f"web runs on {machines} machine(s)")


@dataclass
class Tracker:
    """Clients requesting ``url`` back to back, keeping every outcome with its time."""

    url: str
    threads: int = 4
    outcomes: list[tuple[float, float, str]] = field(default_factory=list)  # start, seconds, by
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> Tracker:
        self._workers = [
            threading.Thread(target=self._run, daemon=True) for _ in range(self.threads)
        ]
        for worker in self._workers:
            worker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(30)

    def _run(self) -> None:
        headers = {"Connection": "close", **site.PAST_THE_PAGE_CACHE}  # each one to a server
        with httpx.Client(
            timeout=30, trust_env=False, headers=headers, verify=site.trust()
        ) as http:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    response = http.get(self.url)
                    by = response.headers.get("X-Served-By", "")
                    by = (
                        by if response.status_code == 200 and by else f"HTTP {response.status_code}"
                    )
                except httpx.HTTPError as exc:
                    by = f"error {type(exc).__name__}"
                with self._lock:
                    self.outcomes.append((started, time.monotonic() - started, by))


def failover(c: nodes.Cluster, how: str, url: str) -> list[str]:
    """Stop or kill core-03 under load; what the clients saw, relative to the command."""
    victim = next(
        i
        for i in driver.registered(SwarmStack(load_settings()))
        if swarm.machine_of(i) == "core-03"
    )
    with Tracker(url + "/") as tracker:
        time.sleep(3)
        t0 = time.monotonic()
        command = subprocess.Popen(["docker", how, c.container(3)], stdout=subprocess.DEVNULL)
        while victim in driver.registered(SwarmStack(load_settings())):
            time.sleep(0.1)
        key_gone = time.monotonic() - t0
        command.wait(60)
        time.sleep(8)
    after = [(s - t0, d, by) for s, d, by in tracker.outcomes if s >= t0 - 1]
    from_victim = [s + d for s, d, by in after if by == victim]
    slowed = [s + d for s, d, by in after if d > 0.9 and by.startswith("core-")]
    failed = [by for _, _, by in after if not by.startswith("core-")]
    latencies = [d * 1000 for _, d, _ in after]
    engine.docker("start", c.container(3))
    started = time.monotonic()
    while not any(
        swarm.machine_of(i) == "core-03" for i in driver.registered(SwarmStack(load_settings()))
    ):
        time.sleep(1)
    back = time.monotonic() - started
    return [
        f"`docker {how}` core-03",
        f"{key_gone:.1f} s",
        f"{max(from_victim, default=0.0):.1f} s",
        f"{max(slowed, default=0.0):.1f} s" if slowed else "none",
        f"{len(failed)} of {len(after)}",
        f"{statistics.median(latencies):.0f} / {percentile(latencies, 99):.0f} / "
        f"{max(latencies):.0f} ms",
        f"{back:.0f} s",
    ]


SERVICES = ("edge", "proxy", "dns", "register-db", "etcd-1", "etcd-2", "etcd-3", "db", "web")


def new_version(c: nodes.Cluster, url: str, progress: Progress, *, new_infra: bool) -> list[str]:
    """`cluster deploy --image` of a new app version under load (with ``new_infra``, one whose
    infra inputs differ too, so the proxy rolls behind the edge), then of the current build
    again: what the clients saw during both, and which services got new tasks."""
    tag = new_app_version(f"{images.APP_REPOSITORY}:bench-{os.getpid()}", new_infra=new_infra)

    def running() -> dict[str, set[str]]:
        return {s: {t.task_id for t in swarm.tasks(c, 1, s, running_only=True)} for s in SERVICES}

    before = running()
    try:
        with Tracker(url + "/") as tracker:
            time.sleep(3)
            t0 = time.monotonic()
            cluster_stack.deploy(load_settings(), progress, image=tag)
            took = time.monotonic() - t0
            changed = running()
            cluster_stack.deploy(load_settings(), progress)
            time.sleep(3)
    finally:
        engine.docker("rmi", tag, *([images.infra_image(tag)] if new_infra else []), check=False)
    during = [(d, by) for s, d, by in tracker.outcomes if s >= t0]
    failed = [by for _, by in during if not by.startswith("core-")]
    latencies = [d * 1000 for d, _ in during]
    what = "a new proxy (new infra inputs)" if new_infra else "a new app version"
    return [
        f"`cluster deploy --image` of {what}, then back",
        f"{took:.0f} s",
        f"{len(failed)} of {len(during)}",
        f"{statistics.median(latencies):.0f} / {percentile(latencies, 99):.0f} / "
        f"{max(latencies):.0f} ms",
        ", ".join(s for s in SERVICES if changed[s] != before[s]) or "none",
    ]


def main() -> None:
    engine.ensure_engine()
    secrets_dir = Path(tempfile.mkdtemp(prefix="sampleapp-bench-cluster-"))
    for name in ("postgres_password", "secret_key"):
        (secrets_dir / f"{name}.txt").write_text(secrets.token_urlsafe(32))
    port, tls_port = free_port(), free_port()
    os.environ.update(
        {
            "SAMPLEAPP_CLUSTER": NAME,
            "SAMPLEAPP_CLUSTER_PORT": str(port),
            "SAMPLEAPP_CLUSTER_TLS_PORT": str(tls_port),
            "EMAIL_URL": "console://",
            "SAMPLEAPP_CLUSTER_SUBNET": free_cluster_subnet(),
            "SAMPLEAPP_SECRETS_DIR": str(secrets_dir),
            "POSTGRES_USER": "sampleapp",
        }
    )
    os.environ.pop("SAMPLEAPP_LEASE_TTL", None)
    base = f"https://127.0.0.1:{tls_port}"
    site.CERTIFICATES.append(secrets_dir / "tls_cert.pem")  # made by the first up/deploy
    progress = Progress(secrets_dir / "bench.log")
    if not engine.image_exists(images.APP_IMAGE):
        images.build_app_image(progress)
    bases.resolve(progress, bases.CLUSTER_BASES)
    cluster.destroy(load_settings(), progress)
    load_before = os.getloadavg()[0]
    rows: list[list[object]] = []
    try:
        create = timed("cluster create", lambda: cluster.create(load_settings(), 3, progress))
        deploy = timed(
            "cluster deploy (to the first 200)",
            lambda: cluster_stack.deploy(load_settings(), progress),
        )
        c = load_settings().cluster
        cookie = sign_in(base)
        for machines in (3, 1):
            web_on(c, machines, progress)
            rows += page_rows(base, cookie, machines, CONNECTIONS, DURATION)
        web_on(c, 3, progress)
        failovers = [failover(c, how, base) for how in ("stop", "kill")]
        rollouts = [new_version(c, base, progress, new_infra=n) for n in (False, True)]
    finally:
        cluster.destroy(load_settings(), progress)
    body = (
        "Three Docker-in-Docker machines on this one host (`docker:27.3-dind` equivalent from "
        "Debian's docker.io 20.10), images already built and pulled by the nodes from the "
        f"cluster's registry. Load average (1 min) before: {load_before:.1f}, at the end: "
        f"{os.getloadavg()[0]:.1f}, on 2 cores.\n\n"
        + table(
            ["measure", "value"],
            [
                [
                    "`cluster create` (network, registry, 3 nodes, swarm, labels, 5 pushes: "
                    "the app's version and commit tags, infra, etcd, PostgreSQL)",
                    f"{create:.1f} s",
                ],
                [
                    "`cluster deploy` to the first 200 through the proxy (etcd, db, migrate + "
                    "populate, 3 servers registered)",
                    f"{deploy:.1f} s",
                ],
                ["from `cluster create` to the first 200", f"{create + deploy:.1f} s"],
            ],
        )
        + "\n\nThroughput through the proxy on 127.0.0.1 (`wrk -t1 "
        f"-d{DURATION}s --latency` after a warm-up; each app server is gunicorn with 2 workers). "
        "Every machine shares the same 2 cores, so 3 app machines cannot beat 1 here; on three "
        "real machines the app tier would scale with them.\n\n"
        + table(["Page", "App machines", "Connections", "Requests/s", "p50", "p99"], rows)
        + "\n\nA machine leaving under load (4 clients, a new connection per request, `/`), "
        "times from the command; the lease is the stack's default 10 s. \"Last response from "
        'core-03" is when the proxy stopped sending it traffic that it served; "last retried" '
        "is the last request that took over 0.9 s (nginx's 1 s connect timeout to a dead "
        "server, then the next one).\n\n"
        + table(
            [
                "event",
                "core-03's key gone",
                "last response from core-03",
                "last retried request",
                "failed requests",
                "p50 / p99 / max",
                "back in the pool after `docker start`",
            ],
            failovers,
        )
        + "\n\n`docker stop` lets core-03's server withdraw from etcd and drain before it stops, "
        "so nothing fails. `docker kill` takes the machine away mid-request: no reset comes back, "
        "so a request that is inside it at that moment waits for nginx's read timeout (60 s, the "
        "default) before nginx retries it elsewhere, past these clients' 30 s timeout (counted "
        "as failed when it happens); new requests only pay the 1 s connect timeout until the "
        "lease expires and the renderer drops the server.\n\n"
        "A new version under the same load (4 clients, a new connection per request), then the "
        "current build again: `cluster deploy --image` pushes it and the stack names it by "
        "digest. A new app version changes only web (start-first, one machine at a time) and "
        "the migrate job; the edge, the proxy, the DNS, register-db, etcd and the database run "
        "the infra tag and the pinned bases, which did not change, so they keep their tasks. "
        "A new proxy (an image with other infra inputs) rolls start-first behind the edge, which "
        'holds the port and keeps its task. "deploy took" is the first deploy; the failed '
        "requests count both.\n\n"
        + table(
            [
                "event",
                "deploy took",
                "failed requests",
                "p50 / p99 / max",
                "services with new tasks",
            ],
            rollouts,
        )
    )
    print(body)
    write_section("cluster", "Three-node cluster (Docker Swarm)", body)


if __name__ == "__main__":
    main()
