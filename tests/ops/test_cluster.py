"""The three-node Swarm cluster on a real engine: create, deploy, spread, survive, update, destroy.

The tests share one cluster (``cluster_env``: its own name, host port, subnet, secrets and a 5 s
lease) and run in file order, like the thesis's own checks: machines and units where the
constraints say, requests on the three app servers, the example user posting, a machine stopped
under load and started again, a rolling update under load, and nothing left after destroy.
Traffic goes only to the proxy's published port on 127.0.0.1 and to the project's containers.
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from sampleapp.errors import ConfigError, PreflightError
from sampleapp.ops import cluster, cluster_status, engine, images, nodes, release, swarm
from sampleapp.ops.nodes import Cluster
from sampleapp.progress import Progress
from tests.discovery.servers import Load
from tests.ops.conftest import ClusterEnv
from tests.support import site
from tests.support.docker import free_cluster_subnet
from tests.support.etcd import wait_until

pytestmark = pytest.mark.docker


def machine_of(instance: str) -> str:
    """``core-03-<task id>`` (the web service's host name template) -> ``core-03``."""
    return instance.rsplit("-", 1)[0]


def served_by(url: str, requests: int) -> Counter[str]:
    with httpx.Client(timeout=20, trust_env=False) as http:
        return Counter(http.get(url + "/").headers["X-Served-By"] for _ in range(requests))


def snapshot(c: Cluster) -> dict[str, object]:
    """Everything `create` makes, with identities that change if it is made again."""
    found = nodes.resources(c)
    container_ids = engine.docker("inspect", "--format", "{{.Id}}", *found.containers).split()
    via = swarm.manager(c, 3)
    host = nodes.registry_address(c)
    return {
        "containers": container_ids,
        "volumes": found.volumes,
        "networks": engine.docker("network", "inspect", "--format", "{{.Id}}", c.network),
        "swarm": [swarm.local_state(c, i) for i in (1, 2, 3)],
        "nodes": swarm.swarm_nodes(c, via),
        "app": release.remote_digest(host, images.APP_REPOSITORY, "0.1"),
    }


@pytest.fixture(scope="module")
def created(app_image: dict[str, str], cluster_env: ClusterEnv) -> Cluster:
    return cluster.create(3, Progress())


@pytest.fixture(scope="module")
def deployed(created: Cluster, cluster_env: ClusterEnv) -> Cluster:
    cluster.deploy(Progress(), timeout=300)
    return created


def test_create_without_secrets_stops_before_anything_is_created(
    docker_engine: tuple[int, int], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SAMPLEAPP_CLUSTER", "sampleapp-nosecrets")
    monkeypatch.setenv("SAMPLEAPP_SECRETS_DIR", str(tmp_path))
    monkeypatch.setenv("POSTGRES_USER", "sampleapp")

    def everything() -> list[str]:
        return [engine.docker(kind, "ls", "-q") for kind in ("container", "volume", "network")]

    before = everything()
    with pytest.raises(PreflightError, match=r"POSTGRES_PASSWORD is not set: create .*postgres"):
        cluster.create(3, Progress())
    assert everything() == before


def test_cluster_settings_name_the_variable_to_fix() -> None:
    with pytest.raises(ConfigError, match=r"SAMPLEAPP_CLUSTER_PORT is 'eighty'.*8080"):
        nodes.settings({"SAMPLEAPP_CLUSTER_PORT": "eighty"})
    with pytest.raises(ConfigError, match=r"SAMPLEAPP_CLUSTER_SUBNET is '10.0.0.0/33'"):
        nodes.settings({"SAMPLEAPP_CLUSTER_SUBNET": "10.0.0.0/33"})
    with pytest.raises(ConfigError, match=r"SAMPLEAPP_CLUSTER is 'my_cluster'.*dashes"):
        nodes.settings({"SAMPLEAPP_CLUSTER": "my_cluster"})


def test_fewer_than_three_machines_are_refused_before_anything_is_created(
    cluster_env: ClusterEnv,
) -> None:
    with pytest.raises(PreflightError, match=r"--nodes is 2, expected 3 to 9: the stack pins"):
        cluster.create(2, Progress())
    assert nodes.resources(cluster.current()).empty()


def test_a_subnet_in_use_is_refused_naming_the_variable_to_change(
    cluster_env: ClusterEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"{cluster_env.name}-squatter"
    subnet = free_cluster_subnet()
    engine.docker("network", "create", "--subnet", subnet, name)
    try:
        monkeypatch.setenv("SAMPLEAPP_CLUSTER_SUBNET", subnet)
        with pytest.raises(PreflightError, match=rf"{name} \({subnet}\) uses it: set SAMPLEAPP_C"):
            cluster.create(3, Progress())
        assert nodes.resources(cluster.current()).empty()
    finally:
        engine.docker("network", "rm", name)


def test_deploy_and_status_before_create_name_the_command_to_run(
    cluster_env: ClusterEnv,
) -> None:
    with pytest.raises(PreflightError, match=r"has no nodes: `sampleapp cluster create` first"):
        cluster.deploy(Progress())
    output = io.StringIO()
    assert cluster_status.status(write=lambda line: print(line, file=output)) == 1
    assert "`sampleapp cluster create` makes it" in output.getvalue()


def test_a_taken_host_port_is_refused_naming_the_variable_to_change(
    cluster_env: ClusterEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        monkeypatch.setenv("SAMPLEAPP_CLUSTER_PORT", str(port))
        with pytest.raises(PreflightError, match=rf"Port {port} .* set SAMPLEAPP_CLUSTER_PORT"):
            cluster.create(3, Progress())
    assert nodes.resources(cluster.current()).empty()


def test_create_makes_three_labelled_machines_and_a_second_create_changes_nothing(
    created: Cluster,
) -> None:
    via = swarm.manager(created, 3)
    machines = {n.hostname: n for n in swarm.swarm_nodes(created, via)}
    assert sorted(machines) == ["core-01", "core-02", "core-03"]
    assert all(n.status == "ready" and n.manager for n in machines.values())
    assert machines["core-01"].labels == {"compute": "proxy"}
    assert machines["core-02"].labels == {"compute": "db"}
    assert [m.name for m in nodes.nodes(created)] == [created.container(i) for i in (1, 2, 3)]
    before = snapshot(created)
    cluster.create(3, Progress())
    assert snapshot(created) == before


def test_tasks_run_where_the_constraints_say(deployed: Cluster) -> None:
    tasks = cluster_status.units(deployed, swarm.manager(deployed, 3))
    where: dict[str, list[str]] = {}
    for task in tasks:
        if task.state in ("running", "complete"):
            where.setdefault(task.service, []).append(task.node)
    assert where["proxy"] == ["core-01"]
    assert where["db"] == ["core-02"]
    assert where["etcd-1"] == ["core-01"]
    assert where["etcd-2"] == ["core-02"]
    assert where["etcd-3"] == ["core-03"]
    assert sorted(where["web"]) == ["core-01", "core-02", "core-03"]
    assert sorted(where["dns"]) == ["core-01", "core-02", "core-03"]
    assert where["migrate"], "the migrate job did not complete"
    services = swarm.services(deployed, swarm.manager(deployed, 3))
    jobs = cluster.cli_version() >= cluster.JOBS_CLI  # else a one-shot service stands in
    assert services["migrate"].mode == ("replicated job" if jobs else "replicated")
    assert services["migrate"].job and services["migrate"].converged


def test_requests_through_the_proxy_reach_the_app_servers_on_all_three_machines(
    deployed: Cluster,
) -> None:
    served = served_by(deployed.url, 30)
    assert sorted(machine_of(i) for i in served) == ["core-01", "core-02", "core-03"], served
    assert set(served) == set(cluster.registered_backends(deployed))


def test_the_example_user_signs_in_and_posts(deployed: Cluster) -> None:
    site.demo_user_posts_and_sees_it_in_the_feed(deployed.url, "cluster")


def cluster_row_counts(c: Cluster) -> dict[str, int]:
    db = swarm.container_of(c, 2, "db")  # compute=db is core-02
    assert db is not None
    query = "SELECT count(*) FROM users UNION ALL SELECT count(*) FROM microposts"
    out = nodes.node_docker(
        c, 2, "exec", db, "psql", "-U", "sampleapp", "-d", "sample_app_production", "-tAc", query
    )
    users, microposts = (int(n) for n in out.split())
    return {"users": users, "microposts": microposts}


def test_debians_docker_cli_redeploys_and_migrate_runs_again_adding_nothing(
    deployed: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Debian bookworm's docker.io CLI (20.10) rejects `mode: replicated-job`: the deploy then
    makes migrate a one-shot service. Either way migrate runs once more and adds nothing."""
    debian_cli = Path("/usr/bin/docker")
    assert debian_cli.exists(), "Debian's docker.io is not installed: `apt-get install docker.io`"
    via = swarm.manager(deployed, 3)
    before = cluster_row_counts(deployed)
    first_runs = {t.task_id for t in swarm.tasks(deployed, via, "migrate")}
    (tmp_path / "docker").symlink_to(debian_cli)
    with monkeypatch.context() as patched:
        patched.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
        old = cluster.cli_version()
        cluster.deploy(Progress(), timeout=300)
        migrate = swarm.services(deployed, via)["migrate"]
        again = {t.task_id for t in swarm.tasks(deployed, via, "migrate")}
    assert migrate.converged and migrate.counts == (1, 1), migrate
    assert ("job" in migrate.mode) == (old >= cluster.JOBS_CLI), (old, migrate)
    assert again and not again & first_runs, "migrate did not run again"
    assert cluster_row_counts(deployed) == before
    assert httpx.get(deployed.url + "/", timeout=10, trust_env=False).status_code == 200
    # Back on the machine's CLI, migrate is what that CLI deploys.
    cluster.deploy(Progress(), timeout=300)
    mode = swarm.services(deployed, via)["migrate"].mode
    assert ("job" in mode) == (cluster.cli_version() >= cluster.JOBS_CLI), mode
    assert cluster_row_counts(deployed) == before


DNS_QUERY = """
import socket
from dnslib import DNSRecord
servers = sorted({a[4][0] for a in socket.getaddrinfo("dns", 53, proto=socket.IPPROTO_UDP)})
db = socket.gethostbyname("db")
for server in servers:
    for name in ("db.sampleapp.local", "some-postgres.sampleapp.local"):
        reply = DNSRecord.parse(DNSRecord.question(name, "A").send(server, 53, timeout=3))
        print(server, name, [str(r.rdata) for r in reply.rr if r.rtype == 1] == [db])
"""


def test_the_dns_on_every_machine_answers_for_the_database_well_past_its_lease(
    deployed: Cluster, cluster_env: ClusterEnv
) -> None:
    """register-db keeps its lease alive: the records outlive several TTLs, on every DNS."""
    via = swarm.manager(deployed, 3)
    first = {t.task_id for t in swarm.tasks(deployed, via, "register-db")}
    time.sleep(3 * cluster_env.lease_ttl)  # the behaviour under test is "still there later"
    web = swarm.container_of(deployed, 1, "web")
    assert web is not None
    out = nodes.node_docker(deployed, 1, "exec", web, "python3", "-c", DNS_QUERY)
    answers = [line.split()[-1] for line in out.splitlines()]
    assert answers == ["True"] * 6, out  # three DNS servers (one per machine), two names each
    assert {t.task_id for t in swarm.tasks(deployed, via, "register-db")} == first


def test_status_shows_machines_units_etcd_health_and_app_servers(deployed: Cluster) -> None:
    output = io.StringIO()
    code = cluster_status.status(write=lambda line: print(line, file=output))
    text = output.getvalue()
    assert code == 0, text
    assert "compute=proxy" in text and "compute=db" in text
    for service in ("etcd-1", "etcd-2", "etcd-3", "db", "proxy", "web", "dns", "migrate"):
        assert f"\n  {service} " in text, service
    assert "etcd members (3 of 3 healthy)" in text
    assert "App servers under /services/app/ (3)" in text


def test_stopping_core_03_under_load_fails_no_request_and_its_server_leaves_within_the_ttl(
    deployed: Cluster, cluster_env: ClusterEnv
) -> None:
    core_03 = next(i for i in cluster.registered_backends(deployed) if machine_of(i) == "core-03")
    with Load(deployed.url + "/", threads=4) as load:
        load.wait_for(40)
        # The machine's own shutdown decides when its server hears of it (the inner dockerd
        # leaves the swarm before it stops containers, seconds under load): the lease's promise
        # starts when the server is gone, so the deadline starts once `docker stop` has returned.
        stopping = subprocess.Popen(["docker", "stop", deployed.container(3)])
        try:
            assert stopping.wait(120) == 0
        finally:
            if stopping.poll() is None:
                stopping.kill()
                stopping.wait()
        wait_until(
            lambda: core_03 not in cluster.registered_backends(deployed),
            cluster_env.lease_ttl,
            f"{core_03}'s key to leave etcd",
            interval=0.2,
        )
        load.wait_for(60)
    assert load.failures == []
    assert {machine_of(i) for i in served_by(deployed.url, 12)} == {"core-01", "core-02"}
    text, _ = cluster_status.inside_status(deployed)
    assert "etcd members (2 of 3 healthy)" in text, text
    for member in ("etcd-1", "etcd-2"):
        assert f"  {member}  http://{member}:2379  healthy" in text, text


def test_core_03_started_again_rejoins_and_gets_traffic_again(deployed: Cluster) -> None:
    engine.docker("start", deployed.container(3))
    wait_until(
        lambda: any(machine_of(i) == "core-03" for i in cluster.registered_backends(deployed)),
        180,
        "core-03's app server to register again",
        interval=1,
    )
    via = swarm.manager(deployed, 3)
    assert {n.hostname: n.status for n in swarm.swarm_nodes(deployed, via)}["core-03"] == "ready"
    wait_until(
        lambda: any(machine_of(i) == "core-03" for i in served_by(deployed.url, 6)),
        30,
        "a request served on core-03",
        interval=0.5,
    )
    wait_until(
        lambda: "etcd members (3 of 3 healthy)" in cluster_status.inside_status(deployed)[0],
        120,
        "etcd-3 to be healthy again",
        interval=1,
    )


def test_a_rolling_update_of_web_to_a_new_tag_under_load_fails_no_request(
    deployed: Cluster,
) -> None:
    host = nodes.registry_address(deployed)
    engine.docker("tag", images.APP_IMAGE, f"{host}/{images.APP_REPOSITORY}:rolling")
    release.push(f"{host}/{images.APP_REPOSITORY}:rolling")
    before = set(cluster.registered_backends(deployed))
    via = swarm.manager(deployed, 3)
    image = f"{nodes.REGISTRY_ALIAS}/{images.APP_REPOSITORY}:rolling"
    with Load(deployed.url + "/", threads=4) as load:
        load.wait_for(20)
        nodes.node_docker(
            deployed, via, "service", "update", "--detach", "--image", image, "sampleapp_web"
        )
        wait_until(
            lambda: swarm.services(deployed, via)["web"].update == "completed",
            300,
            "the rolling update of web to complete",
            interval=1,
        )
        load.wait_for(20)
    assert load.failures == []
    spec = json.loads(nodes.node_docker(deployed, via, "service", "inspect", "sampleapp_web"))
    assert spec[0]["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"].startswith(image + "@")
    after = set(cluster.registered_backends(deployed))
    assert len(after) == 3 and after.isdisjoint(before), (before, after)
    assert set(served_by(deployed.url, 30)) == after


def test_destroy_leaves_no_node_network_or_volume_and_can_run_twice(deployed: Cluster) -> None:
    pushed_from_here = nodes.registry_address(deployed) + "/"
    removed = cluster.destroy(Progress())
    assert len(removed.containers) == 4  # three nodes and the registry
    refs = engine.docker("images", "--digests", "--format", "{{.Repository}}")
    assert pushed_from_here not in refs, "destroy left the tags it pushed on the host engine"
    assert nodes.resources(deployed).empty()
    leftovers = engine.docker("ps", "-a", "--format", "{{.Names}}").split()
    assert not [n for n in leftovers if n.startswith(deployed.name)]
    assert not deployed.socket(1).parent.exists()
    assert cluster.destroy(Progress()).empty()
