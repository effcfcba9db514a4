"""Three real app servers, etcd, the renderer and nginx: traffic follows the registrations.

The fleet is the thesis's: app servers registered under /services/app/, nginx in front. Servers
that a test stops or kills are extra ones, so the three stay up for every test; nginx's master
PID is checked after each disruption (reloads, never restarts).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import httpx
import pytest

from sampleapp.discovery.etcd import EtcdClient
from tests.discovery.conftest import StartRenderer, StartServer
from tests.discovery.servers import AppServer, Load
from tests.support.etcd import EtcdCluster, wait_until
from tests.support.nginx import RendererProcess

TTL = 3
PATIENCE = 30.0  # generous polls: their expiry is a failure, never what is tested


@dataclass
class Fleet:
    renderer: RendererProcess
    servers: list[AppServer]
    nginx_pid: int

    def get(self, path: str = "/healthz") -> httpx.Response:
        return httpx.get(self.renderer.url + path, timeout=10, trust_env=False)

    def served_by(self, count: int) -> list[str]:
        return [self.get().headers.get("X-Served-By", "?") for _ in range(count)]


@pytest.fixture(scope="module")
def fleet(etcd: EtcdCluster, start_server: StartServer, start_renderer: StartRenderer) -> Fleet:
    renderer = start_renderer("fleet", etcd.env_endpoints, "/services/app/")
    servers = [start_server(f"web-{i}", etcd.env_endpoints) for i in (1, 2, 3)]
    renderer.wait_for_servers(3, timeout=60)
    return Fleet(renderer, servers, renderer.nginx_pid)


def wait_until_key_gone(client: EtcdClient, instance: str, timeout: float) -> None:
    wait_until(
        lambda: client.get(f"/services/app/{instance}") is None, timeout, f"{instance}'s key to go"
    )


def test_every_server_receives_requests_in_turn(fleet: Fleet) -> None:
    order = fleet.served_by(12)
    assert Counter(order) == {"web-1": 4, "web-2": 4, "web-3": 4}
    first = order[:3]
    assert sorted(first) == ["web-1", "web-2", "web-3"]
    assert order == first * 4  # one rotation, repeated: round robin across nginx's workers


def test_a_fourth_server_receives_traffic_once_it_registers(
    fleet: Fleet, start_server: StartServer, etcd: EtcdCluster
) -> None:
    fourth = start_server("web-4", etcd.env_endpoints)
    fleet.renderer.wait_for_servers(4, timeout=30)
    assert Counter(fleet.served_by(8)) == {"web-1": 2, "web-2": 2, "web-3": 2, "web-4": 2}
    fourth.stop()
    fleet.renderer.wait_for_servers(3)
    assert fleet.renderer.nginx_pid == fleet.nginx_pid


def test_sigterm_under_load_drops_the_server_without_failing_a_request(
    fleet: Fleet, start_server: StartServer, etcd: EtcdCluster, etcd_client: EtcdClient
) -> None:
    leaving = start_server("web-5", etcd.env_endpoints)
    fleet.renderer.wait_for_servers(4, timeout=30)
    # POSTs too: nginx never retries one that reached a server, so only the drain keeps them whole.
    url = fleet.renderer.url + "/healthz"
    with Load(url, threads=3) as gets, Load(url, threads=2, method="POST") as posts:
        wait_until(
            lambda: min(gets.served_by["web-5"], posts.served_by["web-5"]) >= 5, 30, "web-5 busy"
        )
        leaving.terminate()  # SIGTERM to its supervisor: withdraw, drain, then stop gunicorn
        wait_until_key_gone(etcd_client, "web-5", timeout=PATIENCE)
        assert leaving.wait_exit() == 0
        gets.wait_for(100)
        posts.wait_for(50)
    assert gets.failures == [] and posts.failures == []
    assert {"web-1", "web-2", "web-3", "web-5"} <= set(gets.served_by) & set(posts.served_by)
    assert fleet.renderer.nginx_pid == fleet.nginx_pid


def test_kill_9_under_load_fails_no_request_and_the_key_goes_within_the_ttl(
    fleet: Fleet, start_server: StartServer, etcd: EtcdCluster, etcd_client: EtcdClient
) -> None:
    doomed = start_server("web-6", etcd.env_endpoints)
    fleet.renderer.wait_for_servers(4, timeout=30)
    with Load(fleet.renderer.url + "/healthz") as load:
        wait_until(lambda: load.served_by["web-6"] >= 5, 30, "web-6 to serve under load")
        doomed.kill()
        wait_until_key_gone(etcd_client, "web-6", timeout=TTL)
        fleet.renderer.wait_for_servers(3)
        load.wait_for(100)
    assert load.failures == []
    assert {"web-1", "web-2", "web-3"} <= set(load.served_by)
    assert fleet.renderer.nginx_pid == fleet.nginx_pid


def test_the_thesis_static_root_and_page_cache_are_served_by_nginx_itself(fleet: Fleet) -> None:
    root = fleet.renderer.static_root
    (root / "page_cache").mkdir(mode=0o755, exist_ok=True)
    (root / "robots.txt").write_text("User-agent: *\n")
    (root / "page_cache" / "about.html").write_text("<h1>About (cached)</h1>")
    for path in (root / "robots.txt", root / "page_cache" / "about.html"):
        path.chmod(0o644)
    static, cached, dynamic = fleet.get("/robots.txt"), fleet.get("/about"), fleet.get("/healthz")
    assert static.text == "User-agent: *\n" and "X-Served-By" not in static.headers
    assert cached.text == "<h1>About (cached)</h1>" and "X-Served-By" not in cached.headers
    assert dynamic.headers["X-Served-By"].startswith("web-")


def test_nginx_kept_one_master_through_every_change(fleet: Fleet) -> None:
    status = fleet.renderer.status()
    assert status["nginx_pid"] == fleet.nginx_pid
    assert status["reloads"] >= 6  # each server added or removed above was a reload
    assert status["rejected"] == 0
