"""A three-member etcd cluster loses its leader; registration and routing go on.

Every component is given all three endpoints with the leader first, so the member they all talk
to is the one killed and the survivors must elect a new leader. Then a new app server registers,
nginx routes to it, and a killed app server's key still expires: the surviving majority does
everything the full cluster did.
"""

from __future__ import annotations

import os
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sampleapp.discovery.etcd import EtcdClient
from tests.discovery.conftest import StartRenderer, StartServer
from tests.discovery.servers import Load
from tests.support.etcd import EtcdCluster, wait_until
from tests.support.nginx import SAMPLEAPP

TTL = 3


@pytest.fixture(scope="module")
def cluster(base_dir: Path) -> Iterator[EtcdCluster]:
    cluster = EtcdCluster(base_dir, size=3, name="cluster").start()
    yield cluster
    cluster.stop()


def status_of(endpoints: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], "ETCD_ENDPOINTS": endpoints, "ETCD_TIMEOUT": "1"}
    return subprocess.run(
        [SAMPLEAPP, "status"], env=env, capture_output=True, text=True, timeout=60
    )


def test_losing_the_leader_of_three_members_stops_neither_registration_nor_routing(
    cluster: EtcdCluster, start_server: StartServer, start_renderer: StartRenderer
) -> None:
    with EtcdClient(cluster.endpoints) as client:
        leader = next(m for m in cluster.members if client.status(m.client_url).leader)
    survivors = [m for m in cluster.members if m is not leader]
    endpoints = ",".join(m.client_url for m in [leader, *survivors])
    renderer = start_renderer("cluster", endpoints, "/services/app/")
    first = [start_server(f"c-{i}", endpoints) for i in (1, 2)]
    renderer.wait_for_servers(2, timeout=60)
    pid = renderer.nginx_pid
    healthy = status_of(endpoints)
    assert healthy.returncode == 0 and "3 of 3 healthy" in healthy.stdout

    leader.kill()
    degraded = status_of(endpoints)
    assert degraded.returncode == 1 and "2 of 3 healthy" in degraded.stdout, degraded.stderr

    third = start_server("c-3", endpoints)
    renderer.wait_for_servers(3, timeout=30)
    served = Counter(
        httpx.get(renderer.url + "/healthz", timeout=10, trust_env=False).headers["X-Served-By"]
        for _ in range(9)
    )
    assert served == {"c-1": 3, "c-2": 3, "c-3": 3}

    with (
        Load(renderer.url + "/healthz") as load,
        EtcdClient([m.client_url for m in survivors]) as client,
    ):
        load.wait_for(20)
        first[0].kill()
        wait_until(lambda: client.get("/services/app/c-1") is None, TTL + 3, "c-1's key to expire")
        renderer.wait_for_servers(2)
        load.wait_for(50)
        # Kept alive through the survivors: one registered before the loss, one after.
        assert {kv.key: kv.value for kv in client.get_prefix("/services/app/")[0]} == {
            "/services/app/c-2": first[1].address,
            "/services/app/c-3": third.address,
        }
    assert load.failures == []
    assert renderer.nginx_pid == pid
